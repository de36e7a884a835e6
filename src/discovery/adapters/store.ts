/**
 * What the store-backed adapters (etcd, Redis) share: the entry a member
 * writes about itself, reading entries written by anyone (garbage included),
 * loading an optional client package, and checking common options.
 */
import { hostname } from 'node:os';
import { validateMetadata } from '../kit/adapter.js';
import type { BackendLog, MembershipChange } from '../kit/backend.js';
import { DiscoveryErrors, attempt, type DiscoveryError, type PeerDownReason, type PeerInfo, type PeerMetadata } from '../types.js';
import { isRecord } from '../values.js';
import { samePeer } from '../peers.js';

/** Largest entry a member writes or reads, in bytes; anything bigger is skipped unread. */
export const MAX_ENTRY_BYTES = 4096;
/** Longest address an entry may carry. */
const MAX_ADDRESS_LENGTH = 256;

/** What a member stores about itself. */
export interface StoreEntry {
  readonly address: string;
  readonly metadata: PeerMetadata;
  /** Epoch ms when this member started (its own clock; only shown, never compared). */
  readonly started: number;
  /** Set by a graceful leave just before the entry is removed. */
  readonly leaving?: true;
}

export function encodeEntry(entry: StoreEntry): string {
  return JSON.stringify(entry);
}

/** Reads an entry written by anyone; `undefined` with a reason for anything that is not one. */
export function decodeEntry(raw: string | Buffer): { entry: StoreEntry } | { problem: string } {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_ENTRY_BYTES) return { problem: `entry of ${size} bytes exceeds ${MAX_ENTRY_BYTES}` };
  let value: unknown;
  try {
    value = JSON.parse(raw.toString());
  } catch {
    return { problem: 'entry is not JSON' };
  }
  if (!isRecord(value)) return { problem: 'entry is not an object' };
  const { address, metadata, started, leaving } = value;
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH) {
    return { problem: 'entry has no valid address' };
  }
  if (typeof started !== 'number' || !Number.isFinite(started)) return { problem: 'entry has no valid start stamp' };
  if (leaving !== undefined && leaving !== true) return { problem: 'entry has an invalid leaving mark' };
  const meta = attempt(() => validateMetadata(metadata ?? {}));
  if (!meta.ok) return { problem: `entry metadata: ${meta.error.message}` };
  return { entry: { address, metadata: meta.value, started, ...(leaving ? { leaving } : {}) } };
}

/**
 * Entries that could not be read: counted, and logged once per key and
 * content so that a periodic reconcile does not repeat the same line.
 */
export class SkippedEntries {
  count = 0;
  private readonly logged = new Set<string>();
  constructor(private readonly log: BackendLog) {}

  skip(key: string, problem: string, raw: string | Buffer): void {
    this.count++;
    const mark = `${key}\u0000${raw.length}\u0000${problem}`;
    if (this.logged.has(mark)) return;
    if (this.logged.size > 1000) this.logged.clear();
    this.logged.add(mark);
    this.log.warn({ key, problem }, 'Skipped an entry in the store that is not a member entry');
  }
}

/**
 * The peers this member has reported, so that a full listing turns into
 * changes only where something really differs.
 */
export class KnownPeers {
  private readonly peers = new Map<string, PeerInfo>();

  get size(): number {
    return this.peers.size;
  }

  has(id: string): boolean {
    return this.peers.has(id);
  }

  /** An up change when `peer` is new or different, else nothing. */
  up(peer: PeerInfo): MembershipChange[] {
    const current = this.peers.get(peer.id);
    this.peers.set(peer.id, peer);
    return current && samePeer(current, peer) ? [] : [{ type: 'up', peer }];
  }

  down(id: string, reason: PeerDownReason): MembershipChange[] {
    return this.peers.delete(id) ? [{ type: 'down', id, reason }] : [];
  }

  /**
   * Changes that turn what is known into `listed`; those missing from it are
   * reported down only when `removals` is true.
   */
  reconcile(listed: ReadonlyMap<string, PeerInfo>, removals: boolean, message: string): MembershipChange[] {
    const changes: MembershipChange[] = [];
    for (const peer of listed.values()) changes.push(...this.up(peer));
    if (removals) {
      for (const id of [...this.peers.keys()]) {
        if (!listed.has(id)) changes.push(...this.down(id, { type: 'Failed', message }));
      }
    }
    return changes;
  }
}

/** The peer an entry describes. */
export const entryPeer = (id: string, entry: StoreEntry): PeerInfo => ({ id, address: entry.address, metadata: entry.metadata });

/** What a user's dynamic import of a client package resolves to. */
export type ModuleLoader = (specifier: string) => Promise<unknown>;

/**
 * Loads an optional client package; a missing one becomes an error saying
 * which package to install.
 */
export async function loadClient<T>(specifier: string, adapterKind: string, load: ModuleLoader): Promise<T> {
  try {
    return (await load(specifier)) as T;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error(
        `The ${adapterKind} adapter needs the '${specifier}' package, which is not installed: run 'npm install ${specifier}'`,
      );
    }
    throw error;
  }
}

/** Default module loader: the runtime's own dynamic import. */
export const importModule: ModuleLoader = (specifier) => import(specifier);

/** Options both store adapters take. */
export interface StoreOptions {
  /** Key prefix everything is stored under. Default `distribute`. */
  readonly prefix?: string;
  /**
   * The name members of one cluster share under the prefix. Default: the
   * adapter's registered name (`defaultAdapterName` unless `name` is given).
   */
  readonly cluster?: string;
  /** How long an entry outlives its member's last refresh, in ms. Default 10000. */
  readonly ttlMs?: number;
  /**
   * The address others should know this member by (e.g. the service it
   * offers, `host:port`). Default: this host's name. Two members with the
   * same id and a different address are refused; the same id and address
   * take the entry over (a restart).
   */
  readonly address?: string;
  /** Bound on each request to the store, in ms. Default 5000. */
  readonly requestTimeoutMs?: number;
}

export interface ResolvedStoreOptions {
  readonly prefix: string;
  readonly cluster: string | undefined;
  readonly ttlMs: number;
  readonly address: string;
  readonly requestTimeoutMs: number;
}

/** Defaults merged once, then each field checked. */
export function resolveStoreOptions(options: StoreOptions, minTtlMs: number): ResolvedStoreOptions | DiscoveryError {
  const prefix = options.prefix ?? 'distribute';
  const ttlMs = options.ttlMs ?? 10_000;
  const address = options.address ?? hostname();
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 256) {
    return DiscoveryErrors.invalidConfiguration('prefix', prefix, 'a non-empty string of at most 256 characters');
  }
  if (typeof ttlMs !== 'number' || !Number.isInteger(ttlMs) || ttlMs < minTtlMs || ttlMs > 24 * 3_600_000) {
    return DiscoveryErrors.invalidConfiguration('ttlMs', ttlMs, `a whole number of milliseconds from ${minTtlMs} to 86400000`);
  }
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADDRESS_LENGTH) {
    return DiscoveryErrors.invalidConfiguration('address', address, `a non-empty string of at most ${MAX_ADDRESS_LENGTH} characters`);
  }
  if (typeof requestTimeoutMs !== 'number' || !Number.isFinite(requestTimeoutMs) || requestTimeoutMs <= 0) {
    return DiscoveryErrors.invalidConfiguration('requestTimeoutMs', requestTimeoutMs, 'a positive number of milliseconds');
  }
  const { cluster } = options;
  if (cluster !== undefined && (typeof cluster !== 'string' || cluster.length === 0 || cluster.length > 256)) {
    return DiscoveryErrors.invalidConfiguration('cluster', cluster, 'a non-empty string of at most 256 characters');
  }
  return { prefix, cluster, ttlMs, address, requestTimeoutMs };
}

/** A URL as it may be shown: any password in it replaced by `***`. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*:)[^@/]*@/i, '$1***@');
}

/** Checks a store URL: parses, and has one of `protocols`. The error shows it without its password. */
export function checkUrl(field: string, value: unknown, protocols: readonly string[]): DiscoveryError | undefined {
  const expected = `a URL such as ${protocols[0]}//127.0.0.1:${protocols[0] === 'redis:' ? 6379 : 2379}`;
  if (typeof value !== 'string') return DiscoveryErrors.invalidConfiguration(field, value, expected);
  const shown = redactUrl(value);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return DiscoveryErrors.invalidConfiguration(field, shown, expected);
  }
  if (!protocols.includes(url.protocol) || url.hostname === '') {
    return DiscoveryErrors.invalidConfiguration(field, shown, `${expected} (scheme ${protocols.join(' or ')})`);
  }
  return undefined;
}

/** The names of a store adapter's TLS options, for messages saying which to fix. */
export interface TlsOptionNames {
  readonly ca: string;
  readonly clientCertificate: string;
}

/**
 * What a failed TLS handshake with the store at `where` means, from the
 * OpenSSL message; undefined when `message` is no TLS failure.
 */
export function tlsProblem(message: string, where: string, names: TlsOptionNames, clientCertificateGiven: boolean): string | undefined {
  if (/alert (bad certificate|certificate required|handshake failure)|alert number (40|42|116)\b/i.test(message)) {
    return `TLS handshake refused by ${where}: it wants a client certificate its CA signed (${names.clientCertificate}) (${message})`;
  }
  // With TLS 1.3 the server refuses a client after the handshake: the alert may be lost to the reset.
  if (!clientCertificateGiven && /ECONNRESET|EPIPE|socket hang up/.test(message)) {
    return `TLS connection reset by ${where}: it most likely wants a client certificate (${names.clientCertificate}), and none was given (${message})`;
  }
  if (/unable to verify|self[- ]signed certificate|certificate (has expired|is not yet valid)|altnames|Hostname\/IP does not match/i.test(message)) {
    return `TLS to ${where} failed: its server certificate does not check out against ${names.ca} (the CA) (${message})`;
  }
  return undefined;
}

/**
 * An error as it may be logged: its name, message and code only. Client
 * errors carry more (ioredis puts the failed command's arguments on a
 * refused `AUTH`, password included).
 */
export function loggableError(error: unknown): { type: string; message: string; code?: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error) };
  const code = (error as { code?: unknown }).code;
  return { type: error.name, message: error.message, ...(typeof code === 'string' ? { code } : {}) };
}

/** A timer that runs `fn` every `ms` until stopped; one run at a time. */
export function every(ms: number, fn: () => Promise<void>): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    timer = setTimeout(() => {
      void fn().finally(() => {
        if (!stopped) tick();
      });
    }, ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
