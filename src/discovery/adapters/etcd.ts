/**
 * The `etcd` adapter: each member keeps an entry under
 * `<prefix>/<name>/members/<nodeId>` on a lease it keeps alive; members list
 * that prefix, then watch it from the listed revision + 1, so nothing between
 * the two is missed or seen twice.
 *
 * Needs the `etcd3` package (an optional peer dependency), loaded only when
 * the adapter starts.
 */
import type { Etcd3, IKeyValue, IOptions, Watcher } from 'etcd3';
import { defineAdapter, invalidAdapter } from '../kit/adapter.js';
import { errorMessage, type Adapter, type BackendContext, type BackendSession, type SyncResult } from '../kit/backend.js';
import { checkUrl, decodeEntry, encodeEntry, entryPeer, every, importModule, KnownPeers, loadClient, resolveStoreOptions, SkippedEntries, tlsProblem, type ResolvedStoreOptions, type StoreEntry, type StoreOptions } from './store.js';
import { DiscoveryErrors, type DiscoveryError, type PeerInfo, type PeerMetadata } from '../types.js';

/** Options of the etcd adapter. */
export interface EtcdAdapterOptions extends StoreOptions {
  /**
   * One or more etcd client URLs (`http://host:2379`, `https://...` for TLS);
   * requests go to any of them.
   */
  readonly endpoints: string | readonly string[];
  /**
   * TLS material (PEM), passed to the client as its credentials: the CA that
   * signed etcd's certificate (the system's CAs when left out), and a client
   * certificate with its key when etcd checks clients (`--client-cert-auth`).
   */
  readonly tls?: { readonly rootCertificate?: Buffer; readonly privateKey?: Buffer; readonly certChain?: Buffer };
  /** User name and password, when etcd has authentication enabled. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** gRPC channel options, passed through as they are (e.g. `grpc.keepalive_time_ms`). */
  readonly grpcOptions?: Readonly<Record<string, string | number>>;
}

/** etcd grants leases in whole seconds and refuses less than its minimum (2 s by default). */
const MIN_TTL_MS = 1000;
/** Longest wait between two attempts to re-attach a broken watch. */
const MAX_WATCH_BACKOFF_MS = 1000;

interface EtcdConfig extends ResolvedStoreOptions {
  readonly endpoints: readonly string[];
  readonly tls: EtcdAdapterOptions['tls'];
  readonly auth: EtcdAdapterOptions['auth'];
  readonly grpcOptions: EtcdAdapterOptions['grpcOptions'];
}

function resolveEtcdOptions(options: EtcdAdapterOptions): EtcdConfig | DiscoveryError {
  if (typeof options !== 'object' || options === null) {
    return DiscoveryErrors.invalidConfiguration('options', options, 'an object with endpoints');
  }
  const endpoints = typeof options.endpoints === 'string' ? [options.endpoints] : options.endpoints;
  if (!Array.isArray(endpoints) || endpoints.length === 0) {
    return DiscoveryErrors.invalidConfiguration('endpoints', options.endpoints, 'one or more URLs such as http://127.0.0.1:2379');
  }
  for (const endpoint of endpoints) {
    const problem = checkUrl('endpoints', endpoint, ['http:', 'https:']);
    if (problem) return problem;
  }
  const secure = endpoints.filter((endpoint) => endpoint.startsWith('https:')).length;
  if ((secure > 0 || options.tls !== undefined) && secure < endpoints.length) {
    return DiscoveryErrors.invalidConfiguration('endpoints', endpoints, 'all https:// (TLS) or all http:// URLs; tls needs https://');
  }
  const store = resolveStoreOptions(options, MIN_TTL_MS);
  if ('type' in store) return store;
  if (options.auth !== undefined && (typeof options.auth?.username !== 'string' || typeof options.auth?.password !== 'string')) {
    return DiscoveryErrors.invalidConfiguration('auth', options.auth, 'an object with username and password');
  }
  return { ...store, endpoints: [...endpoints], tls: options.tls, auth: options.auth, grpcOptions: options.grpcOptions };
}

/**
 * An adapter that keeps the membership in etcd.
 *
 * @example
 * ```ts
 * await startLink({ adapter: etcdAdapter({ endpoints: 'http://127.0.0.1:2379', ttlMs: 10_000 }) });
 * ```
 */
export function etcdAdapter(options: EtcdAdapterOptions): Adapter {
  const config = resolveEtcdOptions(options);
  if ('type' in config) return invalidAdapter('etcd', config);
  return defineAdapter('etcd', (context) => startEtcd(context, config));
}

/** A fault policy that only runs the call: the adapter statechart owns retries. */
const passThrough = { execute: async <T>(fn: () => Promise<T> | T) => fn() };

/** Tries each endpoint once (the client picks another on each try) before a call fails. */
const eachEndpoint = (count: number, recoverable: (error: Error) => boolean) => ({
  execute: async <T>(fn: () => Promise<T> | T) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (attempt >= count || !recoverable(error as Error)) throw error;
      }
    }
  },
});

/** Doubling delays up to a small cap, so a watch comes back soon after etcd does. */
class CappedBackoff {
  constructor(readonly duration: number) {}
  next(): CappedBackoff {
    return new CappedBackoff(Math.min(this.duration * 2, MAX_WATCH_BACKOFF_MS));
  }
}

const etcdModule = (): Promise<typeof import('etcd3')> => loadClient('etcd3', 'etcd', importModule);

function clientOptions(config: EtcdConfig, isRecoverableError: (error: Error) => boolean): IOptions {
  return {
    hosts: [...config.endpoints],
    dialTimeout: config.requestTimeoutMs,
    defaultCallOptions: (call) => (call.isStream ? {} : { deadline: Date.now() + config.requestTimeoutMs }),
    faultHandling: {
      host: () => passThrough,
      global: eachEndpoint(config.endpoints.length, isRecoverableError),
      watchBackoff: new CappedBackoff(100),
    } as unknown as IOptions['faultHandling'],
    ...(config.tls ? { credentials: { ...config.tls } as NonNullable<IOptions['credentials']> } : {}),
    ...(config.auth ? { auth: { username: config.auth.username, password: config.auth.password } } : {}),
    // Reconnect soon after etcd is back; the statechart owns the longer backoff.
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000, ...config.grpcOptions },
  };
}

async function startEtcd(context: BackendContext, config: EtcdConfig): Promise<BackendSession> {
  const { Etcd3: Client, isRecoverableError } = await etcdModule();
  const session = new EtcdSession(context, config, new Client(clientOptions(config, isRecoverableError)));
  try {
    await session.open();
  } catch (error) {
    throw new Error(explainStartFailure(errorMessage(error), config, session.membersPrefix));
  }
  return session;
}

/**
 * What a refused start means in the terms of the adapter's options: the
 * client's errors name gRPC codes and OpenSSL alerts, not which option to fix.
 */
function explainStartFailure(message: string, config: Pick<EtcdConfig, 'endpoints' | 'auth' | 'tls'>, prefix: string): string {
  const where = `etcd at ${config.endpoints.join(', ')}`;
  const user = JSON.stringify(config.auth?.username ?? '');
  const names = { ca: 'tls.rootCertificate', clientCertificate: 'tls.certChain and tls.privateKey' };
  const tls = config.endpoints[0]!.startsWith('https:') ? tlsProblem(message, where, names, config.tls?.certChain !== undefined) : undefined;
  if (tls) return tls;
  if (/authentication failed/i.test(message)) return `${where} refused user ${user}: authentication failed, wrong user name or password`;
  if (/permission denied/i.test(message)) {
    return `${where}: user ${config.auth ? user : '(none)'} has no permission on the keys under ${JSON.stringify(prefix)} (grant its role readwrite on that prefix) (${message})`;
  }
  if (/user name is empty|authentication is not enabled|invalid auth token/i.test(message)) return `${where}: ${message}`;
  return message;
}

/** One member's entry in etcd, its lease, and the watch over the others. */
class EtcdSession implements BackendSession {
  readonly self: PeerInfo;
  private readonly selfId: string;
  readonly membersPrefix: string;
  private readonly key: string;
  private readonly known = new KnownPeers();
  private readonly skipped: SkippedEntries;
  private readonly counts = { relists: 0, registrations: 0, watchErrors: 0, keepalives: 0, keepaliveFailures: 0 };
  private entry: StoreEntry;
  private lease: string | undefined;
  private leaseTtlMs: number;
  private watcher: Watcher | undefined;
  private generation = 0;
  private recovering = false;
  /** Why the watch stream is down, while it is: health says so until a list re-attaches it. */
  private feedDown: string | undefined;
  private closed = false;
  /** Set by a graceful leave: a sync still running must not register this member again. */
  private left = false;
  private stopKeepalive: (() => void) | undefined;

  constructor(
    private readonly context: BackendContext,
    private readonly config: EtcdConfig,
    private readonly client: Etcd3,
  ) {
    const { input } = context;
    this.selfId = input.self.id;
    this.membersPrefix = `${config.prefix}/${config.cluster ?? input.name}/members/`;
    this.key = this.membersPrefix + this.selfId;
    this.skipped = new SkippedEntries(context.log);
    this.entry = { address: config.address, metadata: input.self.metadata, started: Date.now() };
    this.leaseTtlMs = config.ttlMs;
    this.self = { id: this.selfId, address: config.address, metadata: input.self.metadata };
  }

  /** Registers and lists; on failure releases everything before rethrowing. */
  async open(): Promise<void> {
    try {
      await this.register();
      await this.relist();
    } catch (error) {
      this.stopKeepalive?.();
      this.generation++;
      void this.watcher?.cancel().catch(() => undefined);
      this.client.close();
      throw error;
    }
  }

  async sync(): Promise<SyncResult> {
    try {
      if (!this.lease) await this.register();
      const own = (await this.client.get(this.key).exec()).kvs[0];
      if (!own || own.lease !== this.lease) {
        // Our entry is gone (lease expired while etcd was away): register again and reconcile.
        this.lease = undefined;
        await this.register();
        await this.relist();
      } else if (!this.watcher || this.recovering || this.feedDown !== undefined) {
        // A watch still not attached again by the time of a sync is replaced by a fresh list and watch.
        await this.relist();
      }
      this.recovering = false;
      return this.feedDown ? { degraded: this.feedDown } : {};
    } catch (error) {
      this.recovering = true;
      throw error;
    }
  }

  async setMetadata(metadata: PeerMetadata): Promise<void> {
    this.entry = { ...this.entry, metadata };
    if (this.lease) await this.writeEntry(this.lease, this.entry);
  }

  async leave(): Promise<void> {
    this.left = true;
    this.stopKeepalive?.();
    const id = this.lease;
    if (!id) return;
    this.lease = undefined;
    try {
      await this.writeEntry(id, { ...this.entry, leaving: true });
    } finally {
      // Even when the mark did not go out, the entry goes now rather than after the TTL.
      await this.client.leaseClient.leaseRevoke({ ID: id });
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generation++;
    this.stopKeepalive?.();
    const current = this.watcher;
    this.watcher = undefined;
    void (current ? current.cancel().catch(() => undefined) : Promise.resolve()).finally(() => this.client.close());
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.counts, skippedEntries: this.skipped.count, members: this.known.size };
  }

  private idOf(kv: IKeyValue): string {
    return kv.key.toString().slice(this.membersPrefix.length);
  }

  /** Only over our own entry: one taken over by a restart of this member stays as it is. */
  private async writeEntry(id: string, next: StoreEntry): Promise<void> {
    const { client, key } = this;
    await client.if(key, 'Lease', '==', id).then(client.put(key).value(encodeEntry(next)).lease(id)).commit();
  }

  /** Puts our entry on a fresh lease; refuses when a live member at another address holds the id. */
  private async register(): Promise<void> {
    const granted = await this.client.leaseClient.leaseGrant({ TTL: Math.ceil(this.config.ttlMs / 1000) });
    const id = granted.ID;
    try {
      await this.putEntry(id);
      // A leave that ran meanwhile wins: the new lease (and the entry on it) goes.
      if (this.left || this.closed) throw new Error('The member has left');
    } catch (error) {
      await this.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      throw error;
    }
    this.lease = id;
    this.leaseTtlMs = Number(granted.TTL) * 1000 || this.config.ttlMs;
    this.counts.registrations++;
    this.restartKeepalive();
  }

  /** Writes our entry on lease `id` unless a live member at another address holds the id; retries a lost race twice. */
  private async putEntry(id: string): Promise<void> {
    const { client, key } = this;
    for (let attempt = 0; ; attempt++) {
      const existing = (await client.get(key).exec()).kvs[0];
      const holder = existing ? decodeEntry(existing.value) : undefined;
      if (holder && 'entry' in holder && holder.entry.address !== this.config.address && !holder.entry.leaving) {
        throw new Error(
          `Node id ${JSON.stringify(this.selfId)} is held by a live member at ${holder.entry.address} ` +
            `(registered ${new Date(holder.entry.started).toISOString()}); stop it or choose another id`,
        );
      }
      if (this.left || this.closed) throw new Error('The member has left');
      const put = await client
        .if(key, 'Mod', '==', existing?.mod_revision ?? '0')
        .then(client.put(key).value(encodeEntry(this.entry)).lease(id))
        .commit();
      if (put.succeeded) {
        // The same member restarted: its old lease holds nothing now, so let it go at once.
        if (existing && existing.lease !== '0' && existing.lease !== id) {
          await client.leaseClient.leaseRevoke({ ID: existing.lease }).catch(() => undefined);
        }
        return;
      }
      if (attempt >= 2) throw new Error(`Could not register ${JSON.stringify(this.selfId)}: the entry kept changing`);
    }
  }

  private restartKeepalive(): void {
    this.stopKeepalive?.();
    this.stopKeepalive = every(Math.max(200, Math.floor(this.leaseTtlMs / 3)), () => this.keepalive());
  }

  private async keepalive(): Promise<void> {
    const id = this.lease;
    if (!id || this.closed) return;
    try {
      const stream = await this.client.leaseClient.leaseKeepAlive();
      const ttl = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('Lease keepalive timed out')), this.config.requestTimeoutMs);
        stream.on('data', (res) => {
          clearTimeout(timer);
          resolve(Number(res.TTL));
        });
        stream.on('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
        stream.write({ ID: id });
      }).finally(() => stream.end());
      this.counts.keepalives++;
      // TTL 0: the lease expired (etcd was away too long); the next sync registers again.
      if (ttl <= 0 && this.lease === id) this.lease = undefined;
    } catch (error) {
      this.counts.keepaliveFailures++;
      this.context.log.debug({ err: error }, 'Lease keepalive failed');
    }
  }

  private onPut(kv: IKeyValue): void {
    const id = this.idOf(kv);
    if (id === this.selfId) return;
    const decoded = decodeEntry(kv.value);
    const { known } = this;
    if ('problem' in decoded) {
      this.skipped.skip(kv.key.toString(), decoded.problem, kv.value);
      // A member that was known and now writes garbage is no longer a member we can describe.
      this.context.report(known.down(id, { type: 'Failed', message: `Entry became unreadable: ${decoded.problem}` }));
      return;
    }
    this.context.report(decoded.entry.leaving ? known.down(id, { type: 'Left' }) : known.up(entryPeer(id, decoded.entry)));
  }

  private onDelete(kv: IKeyValue): void {
    const id = this.idOf(kv);
    if (id === this.selfId) return;
    this.context.report(this.known.down(id, { type: 'Failed', message: 'Lease expired: the member stopped renewing its entry' }));
  }

  /** The live members in a listing (self and unreadable entries left out). */
  private listed(kvs: readonly IKeyValue[]): Map<string, PeerInfo> {
    const listed = new Map<string, PeerInfo>();
    for (const kv of kvs) {
      const id = this.idOf(kv);
      if (id === this.selfId) continue;
      const decoded = decodeEntry(kv.value);
      if ('problem' in decoded) {
        this.skipped.skip(kv.key.toString(), decoded.problem, kv.value);
        continue;
      }
      if (!decoded.entry.leaving) listed.set(id, entryPeer(id, decoded.entry));
    }
    return listed;
  }

  /** Lists the members, reconciles, then watches from the listed revision + 1. */
  private async relist(): Promise<void> {
    const gen = ++this.generation;
    const previous = this.watcher;
    this.watcher = undefined;
    if (previous) await previous.cancel().catch(() => undefined);
    const listing = await this.client.getAll().prefix(this.membersPrefix).exec();
    if (gen !== this.generation || this.closed) return;
    this.counts.relists++;
    const listed = this.listed(listing.kvs);
    const next = await this.client
      .watch()
      .prefix(this.membersPrefix)
      .startRevision(String(BigInt(listing.header.revision) + 1n))
      .create();
    if (gen !== this.generation || this.closed) {
      void next.cancel().catch(() => undefined);
      return;
    }
    // Reconciled only once the watch holds, so a failed attach leaves the table for the retry;
    // the reconcile reports only the differences from what was reported before.
    this.context.report(this.known.reconcile(listed, true, 'Entry gone from etcd'));
    this.feedDown = undefined;
    this.attachWatch(next);
  }

  /**
   * The watch stream dropped: say so at once. The client attaches the watch
   * again from the last revision it saw (`connected`), so nothing is missed;
   * a revision compacted meanwhile cancels it, and a list follows.
   */
  private onDisconnected(error: Error): void {
    if (this.feedDown !== undefined || this.closed || this.left) return;
    this.feedDown = `etcd watch stream lost: ${error.message}`;
    this.context.interrupted(this.feedDown);
  }

  private attachWatch(next: Watcher): void {
    this.watcher = next;
    next.on('put', (kv) => this.watcher === next && this.onPut(kv));
    next.on('delete', (kv) => this.watcher === next && this.onDelete(kv));
    next.on('disconnected', (error: Error) => this.watcher === next && this.onDisconnected(error));
    next.on('connected', () => {
      if (this.watcher === next) this.feedDown = undefined;
    });
    next.on('error', (error) => {
      if (this.watcher !== next) return;
      // Cancelled by etcd, e.g. its revision was compacted while reconnecting: list again.
      this.counts.watchErrors++;
      this.context.log.warn({ err: error }, 'etcd watch cancelled; listing again');
      this.watcher = undefined;
      this.relist().catch((e: unknown) => this.onDisconnected(e as Error));
    });
  }
}
