/**
 * The `redis` adapter. Under `<prefix>:<name>:` it keeps
 *
 * - `members`, a sorted set of node ids scored by expiry, in the server's
 *   milliseconds (from `TIME`, inside Lua scripts: members' clocks never matter);
 * - `entries`, a hash of node id → entry (address, metadata, start stamp);
 * - `seq`, a counter every change increments;
 * - `events`, a pub/sub channel every change is published on, with its seq.
 *
 * Members refresh their score every third of the TTL; whoever sees the
 * earliest expiry pass removes the expired entries and publishes that. A list
 * taken at seq S plus the messages after S gives the membership with nothing
 * missed or doubled; a periodic list catches what pub/sub lost while
 * disconnected. No keyspace notifications are used. After a reconnect each
 * member writes its whole entry again, and for one refresh interval lists
 * only add members not known yet: members that stayed alive through a server
 * restart (even one that lost all data) or a Sentinel failover (the promoted
 * replica may miss the last writes: replication is asynchronous) have time to
 * register again before anyone calls them gone or takes a stale entry for a
 * change.
 *
 * Needs the `ioredis` package (an optional peer dependency), loaded only when
 * the adapter starts.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Redis, RedisOptions } from 'ioredis';
import { defineAdapter, invalidAdapter } from '../kit/adapter.js';
import { errorMessage, type Adapter, type BackendContext, type BackendSession, type MembershipChange, type SyncResult } from '../kit/backend.js';
import { checkUrl, decodeEntry, encodeEntry, entryPeer, every, importModule, KnownPeers, loadClient, loggableError, MAX_ENTRY_BYTES, resolveStoreOptions, SkippedEntries, tlsProblem, type ResolvedStoreOptions, type StoreEntry, type StoreOptions } from './store.js';
import { scripts, type Script } from './redis-scripts.js';
import { DiscoveryErrors, type DiscoveryError, type PeerInfo, type PeerMetadata } from '../types.js';

/** Options of the Redis adapter. */
export interface RedisAdapterOptions extends StoreOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** TLS options for `rediss://` (CA, client certificate), passed to the client. */
  readonly tls?: ConnectionOptions;
  /**
   * An ACL user and its password (or only a password, for the `default`
   * user); wins over any in the URL, and keeps the password out of it.
   */
  readonly auth?: { readonly username?: string; readonly password: string };
  /** Further client options passed to ioredis as they are (e.g. `sentinels` and `name` for Sentinel). */
  readonly clientOptions?: Readonly<Record<string, unknown>>;
}

const MIN_TTL_MS = 300;

interface RedisConfig extends ResolvedStoreOptions {
  readonly url: string;
  readonly tls: ConnectionOptions | undefined;
  readonly auth: RedisAdapterOptions['auth'];
  readonly clientOptions: Readonly<Record<string, unknown>>;
}

function resolveRedisOptions(options: RedisAdapterOptions): RedisConfig | DiscoveryError {
  if (typeof options !== 'object' || options === null) {
    return DiscoveryErrors.invalidConfiguration('options', options, 'an object with url');
  }
  const problem = checkUrl('url', options.url, ['redis:', 'rediss:']);
  if (problem) return problem;
  const store = resolveStoreOptions(options, MIN_TTL_MS);
  if ('type' in store) return store;
  const { auth } = options;
  if (auth !== undefined && (typeof auth?.password !== 'string' || (auth.username !== undefined && typeof auth.username !== 'string'))) {
    return DiscoveryErrors.invalidConfiguration('auth', auth === null ? auth : '(an object)', 'an object with a password and maybe a username');
  }
  return { ...store, url: options.url, tls: options.tls, auth, clientOptions: options.clientOptions ?? {} };
}

/**
 * An adapter that keeps the membership in Redis.
 *
 * @example
 * ```ts
 * await startLink({ adapter: redisAdapter({ url: 'redis://127.0.0.1:6379', ttlMs: 10_000 }) });
 * ```
 */
export function redisAdapter(options: RedisAdapterOptions): Adapter {
  const config = resolveRedisOptions(options);
  if ('type' in config) return invalidAdapter('redis', config);
  return defineAdapter('redis', (context) => startRedis(context, config));
}

/** A pub/sub message as members publish it. */
interface Message {
  readonly t: 'up' | 'left' | 'expired';
  readonly id: string;
  readonly e?: string;
  readonly s: number;
}

function parseMessage(text: string): Message | undefined {
  if (text.length > MAX_ENTRY_BYTES * 2) return undefined;
  try {
    const value = JSON.parse(text) as Partial<Message>;
    if (typeof value !== 'object' || value === null) return undefined;
    if (value.t !== 'up' && value.t !== 'left' && value.t !== 'expired') return undefined;
    if (typeof value.id !== 'string' || typeof value.s !== 'number') return undefined;
    if (value.t === 'up' && typeof value.e !== 'string') return undefined;
    return value as Message;
  } catch {
    return undefined;
  }
}

const redisModule = (): Promise<typeof import('ioredis')> => loadClient('ioredis', 'redis', importModule);

function clientOptionsOf(config: RedisConfig): RedisOptions {
  return {
    lazyConnect: true,
    // Fail at once while disconnected: the statechart counts failures and backs off.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: config.requestTimeoutMs,
    commandTimeout: config.requestTimeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.auth ? { password: config.auth.password, ...(config.auth.username !== undefined ? { username: config.auth.username } : {}) } : {}),
    ...(config.clientOptions as RedisOptions),
  };
}

async function startRedis(context: BackendContext, config: RedisConfig): Promise<BackendSession> {
  const { Redis: Client } = await redisModule();
  const redis: Redis = new Client(config.url, clientOptionsOf(config));
  const session = new RedisSession(context, config, redis, redis.duplicate());
  await session.open();
  return session;
}

/**
 * What a refused start means in the terms of the adapter's options; `base`
 * is the prefix of the keys and channel the member uses.
 */
function explainStartFailure(message: string, config: Pick<RedisConfig, 'url' | 'auth' | 'tls'>, base: string): string {
  const url = new URL(config.url);
  const where = `Redis at ${url.protocol}//${url.host}`;
  const user = JSON.stringify(config.auth ? (config.auth.username ?? 'default') : decodeURIComponent(url.username) || 'default');
  const names = { ca: 'tls.ca', clientCertificate: 'tls.cert and tls.key' };
  const tls = url.protocol === 'rediss:' ? tlsProblem(message, where, names, config.tls?.cert !== undefined) : undefined;
  if (tls) return tls;
  if (/WRONGPASS|invalid password|NOAUTH/.test(message)) {
    return `${where} refused user ${user}: authentication failed, wrong user name or password (${message.replace(/^Connection is closed\. /, '')})`;
  }
  if (/NOPERM/.test(message)) {
    return `${where}: user ${user} has no permission on the keys and channels under ${JSON.stringify(base)} (its ACL needs ~${base}* &${base}* and the scripting and pub/sub commands) (${message})`;
  }
  return message;
}

/** One member's entry in Redis, its refresh, and the pub/sub feed of the others. */
class RedisSession implements BackendSession {
  readonly self: PeerInfo;
  private readonly keys: string[];
  private readonly channel: string;
  /** What every key and the channel start with. */
  private readonly base: string;
  /** Set by a reconnect until the whole entry is written again. */
  private rewriteEntry = false;
  private readonly selfId: string;
  private readonly refreshMs: number;
  private readonly known = new KnownPeers();
  private readonly skipped: SkippedEntries;
  private readonly counts = { lists: 0, refreshes: 0, reregistrations: 0, sweeps: 0, malformedMessages: 0, reconnects: 0 };
  private entry: StoreEntry;
  private closed = false;
  private left = false;
  private graceUntil = 0;
  private disconnected = false;
  /** Why the pub/sub connection is down, while it is: health says so until it is back and listed. */
  private feedDown: string | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** Messages that arrive while a list is in flight wait for it, then only those after its seq apply. */
  private buffered: Message[] | undefined;
  private listGeneration = 0;
  private lastError: Error | undefined;
  private subError: Error | undefined;
  private stopRefresh: (() => void) | undefined;

  constructor(
    private readonly context: BackendContext,
    private readonly config: RedisConfig,
    private readonly redis: Redis,
    private readonly sub: Redis,
  ) {
    const { input } = context;
    const base = `${config.prefix}:${config.cluster ?? input.name}:`;
    this.base = base;
    this.keys = [`${base}members`, `${base}entries`, `${base}seq`];
    this.channel = `${base}events`;
    this.selfId = input.self.id;
    this.refreshMs = Math.max(100, Math.floor(config.ttlMs / 3));
    this.skipped = new SkippedEntries(context.log);
    this.entry = { address: config.address, metadata: input.self.metadata, started: Date.now() };
    this.self = { id: this.selfId, address: config.address, metadata: input.self.metadata };
    this.listen();
  }

  /** Connects, subscribes, registers, lists; on failure releases everything before rethrowing. */
  async open(): Promise<void> {
    try {
      await this.redis.connect();
      await this.sub.connect();
      await this.sub.subscribe(this.channel);
      await this.register();
      await this.list();
      await this.sweep();
    } catch (error) {
      this.close();
      // A refused password or handshake closes the connection; the reason is in the last connection error.
      const last = this.lastError;
      const message = last && last !== error ? `${(error as Error).message} (${last.message})` : errorMessage(error);
      throw new Error(explainStartFailure(message, this.config, this.base));
    }
    this.stopRefresh = every(this.refreshMs, () => this.refresh());
  }

  async sync(): Promise<SyncResult> {
    // A list that starts with the subscriber up covers whatever it missed while down.
    const subscribed = this.sub.status === 'ready';
    await this.list();
    if (subscribed) this.feedDown = undefined;
    return this.feedDown ? { degraded: this.feedDown } : {};
  }

  async setMetadata(metadata: PeerMetadata): Promise<void> {
    this.entry = { ...this.entry, metadata };
    await this.run(scripts.update, [this.selfId, encodeEntry(this.entry), this.config.ttlMs]);
  }

  async leave(): Promise<void> {
    this.left = true;
    this.stopRefresh?.();
    await this.run(scripts.leave, [this.selfId]);
  }

  close(): void {
    this.closed = true;
    this.stopRefresh?.();
    clearTimeout(this.sweepTimer);
    clearTimeout(this.graceTimer);
    this.redis.disconnect();
    this.sub.disconnect();
  }

  counters(): Readonly<Record<string, number>> {
    return { ...this.counts, skippedEntries: this.skipped.count, members: this.known.size };
  }

  private async register(): Promise<void> {
    const { selfId, config } = this;
    const reply = (await this.run(scripts.register, [selfId, encodeEntry(this.entry), config.ttlMs, config.address])) as [string, string];
    if (reply[0] !== 'held') return;
    const holder = decodeEntry(reply[1]);
    const where = 'entry' in holder ? `${holder.entry.address} (registered ${new Date(holder.entry.started).toISOString()})` : 'another address';
    throw new Error(`Node id ${JSON.stringify(selfId)} is held by a live member at ${where}; stop it or choose another id`);
  }

  private listen(): void {
    this.sub.on('message', (from: string, text: string) => this.onMessage(from, text));
    // After any disconnect: register again at once, list (adds only), and trust removals one refresh later.
    this.redis.on('close', () => {
      if (!this.closed) this.disconnected = true;
    });
    this.redis.on('ready', () => this.onReady());
    // Messages published while the subscriber is away are lost: say so at once, list when it is back.
    this.sub.on('close', () => this.onFeedLost());
    this.sub.on('ready', () => this.onFeedBack());
    // Errors are reported through failing syncs; without a listener ioredis would print them.
    const onError = (error: Error) => {
      this.lastError = error;
      this.context.log.debug({ err: loggableError(error) }, 'Redis connection error');
    };
    this.redis.on('error', onError);
    this.sub.on('error', (error: Error) => {
      this.subError = error;
      onError(error);
    });
  }

  private onMessage(from: string, text: string): void {
    if (from !== this.channel || this.closed) return;
    const message = parseMessage(text);
    if (!message) {
      this.counts.malformedMessages++;
      return;
    }
    if (this.buffered) this.buffered.push(message);
    else this.context.report(this.apply(message));
  }

  private onReady(): void {
    if (this.closed || !this.disconnected) return;
    this.disconnected = false;
    this.counts.reconnects++;
    this.listGeneration++;
    this.buffered = undefined;
    this.graceUntil = performance.now() + this.refreshMs + 250;
    this.rewriteEntry = true;
    void this.reregister().then(() => this.list().catch(() => undefined));
    clearTimeout(this.graceTimer);
    this.graceTimer = setTimeout(() => void this.list().catch(() => undefined), this.refreshMs + 300);
  }

  private onFeedLost(): void {
    if (this.feedDown !== undefined || this.closed || this.left) return;
    this.feedDown = `Redis pub/sub connection lost${this.subError ? `: ${this.subError.message}` : ''}`;
    this.context.interrupted(this.feedDown);
  }

  private onFeedBack(): void {
    this.subError = undefined;
    if (this.feedDown === undefined || this.closed) return;
    // ioredis subscribes again on reconnect; the list then covers what was published meanwhile
    // (if it fails, the next sync lists).
    void this.list().then(
      () => (this.feedDown = undefined),
      () => undefined,
    );
  }

  private async run(which: Script, args: (string | number)[]): Promise<unknown> {
    const { keys } = this;
    const all = [...keys, this.channel, ...args];
    try {
      return await this.redis.evalsha(which.sha, keys.length, ...all);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      return this.redis.eval(which.source, keys.length, ...all);
    }
  }

  private apply(message: Message): MembershipChange[] {
    if (message.id === this.selfId) return [];
    if (message.t === 'left') return this.known.down(message.id, { type: 'Left' });
    if (message.t === 'expired') {
      return this.known.down(message.id, { type: 'Failed', message: 'TTL expired: the member stopped refreshing its entry' });
    }
    const decoded = decodeEntry(message.e!);
    if ('problem' in decoded) {
      this.skipped.skip(message.id, decoded.problem, message.e!);
      return [];
    }
    return this.known.up(entryPeer(message.id, decoded.entry));
  }

  /** Schedules a sweep for when the earliest entry expires, by the server's clock. */
  private scheduleSweep(serverNow: string, first: string | null): void {
    clearTimeout(this.sweepTimer);
    if (this.closed || first === null) return;
    const delay = Math.max(0, Number(first) - Number(serverNow)) + 20;
    this.sweepTimer = setTimeout(() => void this.sweep(), delay);
  }

  private async sweep(): Promise<void> {
    if (this.closed) return;
    if (performance.now() < this.graceUntil) {
      this.sweepTimer = setTimeout(() => void this.sweep(), this.graceUntil - performance.now() + 20);
      return;
    }
    try {
      const [count, now, first] = (await this.run(scripts.sweep, [])) as [number, string, string | null];
      if (count > 0) this.counts.sweeps++;
      this.scheduleSweep(now, first);
    } catch (error) {
      this.context.log.debug({ err: loggableError(error) }, 'Sweep failed');
    }
  }

  /**
   * Writes this member's whole entry again after a reconnect: the server may
   * be a promoted replica that never got the last writes (replication is
   * asynchronous), or one that lost its data, and a metadata change made
   * while disconnected never reached any server.
   */
  private async reregister(): Promise<void> {
    if (this.closed || this.left) return;
    try {
      await this.run(scripts.update, [this.selfId, encodeEntry(this.entry), this.config.ttlMs]);
      this.rewriteEntry = false;
      this.counts.reregistrations++;
    } catch (error) {
      this.context.log.debug({ err: loggableError(error) }, 'Registering again after a reconnect failed; the next refresh retries');
    }
  }

  private async refresh(): Promise<void> {
    if (this.closed || this.left) return;
    if (this.rewriteEntry) return this.reregister();
    try {
      const reply = (await this.run(scripts.refresh, [this.selfId, encodeEntry(this.entry), this.config.ttlMs])) as [number, string, string | null];
      const [readded, now, first] = reply;
      this.counts.refreshes++;
      if (readded) this.counts.reregistrations++;
      this.scheduleSweep(now, first);
    } catch (error) {
      this.context.log.debug({ err: loggableError(error) }, 'Refresh failed');
    }
  }

  /** The live members in a listing (self, oversized and unreadable entries left out). */
  private listed(rows: readonly [string, string | null, number][]): Map<string, PeerInfo> {
    const listed = new Map<string, PeerInfo>();
    for (const [id, raw, size] of rows) {
      if (id === this.selfId) continue;
      if (raw === null) {
        if (size > 0) this.skipped.skip(id, `entry of ${size} bytes exceeds ${MAX_ENTRY_BYTES}`, '');
        continue;
      }
      const decoded = decodeEntry(raw);
      if ('problem' in decoded) {
        this.skipped.skip(id, decoded.problem, raw);
        continue;
      }
      listed.set(id, entryPeer(id, decoded.entry));
    }
    return listed;
  }

  /**
   * Lists the live members and reports only the differences from what was
   * reported before (removals only once any grace has passed), then the
   * messages that came during the list.
   */
  private async list(): Promise<void> {
    const generation = ++this.listGeneration;
    this.buffered ??= [];
    let reply: [string, string, [string, string | null, number][]];
    try {
      reply = (await this.run(scripts.list, [MAX_ENTRY_BYTES])) as typeof reply;
    } catch (error) {
      if (generation === this.listGeneration) this.buffered = undefined;
      throw error;
    }
    if (generation !== this.listGeneration || this.closed) return;
    const [seq, , rows] = reply;
    this.counts.lists++;
    // Just after a reconnect the server may hold stale entries (a promoted replica) that their
    // members are about to write again: only members not known yet are taken from it then.
    const settled = performance.now() >= this.graceUntil;
    const listed = this.listed(rows);
    const taken = settled ? listed : new Map([...listed].filter(([id]) => !this.known.has(id)));
    const changes = this.known.reconcile(taken, settled, 'Entry gone from Redis');
    const after = this.buffered ?? [];
    this.buffered = undefined;
    for (const message of after) if (message.s > Number(seq)) changes.push(...this.apply(message));
    this.context.report(changes);
  }
}
