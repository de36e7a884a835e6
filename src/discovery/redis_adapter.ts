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
 * disconnected. No keyspace notifications are used. After a reconnect,
 * removals seen in a list wait one refresh interval, so members that stayed
 * alive through a server restart (even one that lost all data) have time to
 * register again before anyone calls them gone.
 *
 * Needs the `ioredis` package (an optional peer dependency), loaded only when
 * the adapter starts.
 */
import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type { Redis, RedisOptions } from 'ioredis';
import { defineAdapter } from './adapter.js';
import type { Adapter, BackendContext, BackendSession, MembershipChange } from './backend.js';
import {
  checkUrl,
  decodeEntry,
  encodeEntry,
  entryPeer,
  every,
  importModule,
  KnownPeers,
  loadClient,
  MAX_ENTRY_BYTES,
  resolveStoreOptions,
  SkippedEntries,
  type ResolvedStoreOptions,
  type StoreEntry,
  type StoreOptions,
} from './store.js';
import { DiscoveryErrors, type DiscoveryError, type PeerInfo, type PeerMetadata } from './types.js';

/** Options of the Redis adapter. */
export interface RedisAdapterOptions extends StoreOptions {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url: string;
  /** TLS options for `rediss://` (CA, client certificate), passed to the client. */
  readonly tls?: ConnectionOptions;
  /** Further client options passed to ioredis as they are (e.g. `sentinels` and `name` for Sentinel). */
  readonly clientOptions?: Readonly<Record<string, unknown>>;
}

const MIN_TTL_MS = 300;

interface RedisConfig extends ResolvedStoreOptions {
  readonly url: string;
  readonly tls: ConnectionOptions | undefined;
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
  return { ...store, url: options.url, tls: options.tls, clientOptions: options.clientOptions ?? {} };
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
  if ('type' in config) {
    const problem = config;
    return { ...defineAdapter('redis', () => Promise.reject(new Error(problem.message))), validate: () => problem };
  }
  return defineAdapter('redis', (context) => startRedis(context, config));
}

// KEYS: members, entries, seq. Server time in ms.
const NOW = `local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;
const FIRST = `local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2] or false`;
const publish = (type: string, entry: string) =>
  `redis.call('PUBLISH', ARGV[1], cjson.encode({t='${type}', id=ARGV[2], e=${entry}, s=redis.call('INCR', KEYS[3])}))`;

/** ARGV: channel, id, entry, ttl, address. Refuses an id a live member at another address holds. */
const REGISTER = `${NOW}
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if score and tonumber(score) > now then
  local held = redis.call('HGET', KEYS[2], ARGV[2])
  if held then
    local ok, e = pcall(cjson.decode, held)
    if ok and type(e) == 'table' and e.address ~= ARGV[5] and not e.leaving then return {'held', held} end
  end
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
${publish('up', 'ARGV[3]')}
return {'ok', tostring(now)}`;

/** ARGV: channel, id, entry, ttl. Extends the score; writes the entry again if the server lost it. */
const REFRESH = `${NOW}
local readded = 0
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 0 then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
  ${publish('up', 'ARGV[3]')}
  readded = 1
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
${FIRST}
return {readded, tostring(now), first}`;

/** ARGV: channel, id, entry, ttl. New metadata: rewrite and announce. */
const UPDATE = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
${publish('up', 'ARGV[3]')}
return 1`;

/** ARGV: channel, id. A graceful leave. */
const LEAVE = `redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
${publish('left', 'false')}
return 1`;

/** ARGV: channel. Removes every entry whose expiry has passed and announces each. */
const SWEEP = `${NOW}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('PUBLISH', ARGV[1], cjson.encode({t='expired', id=id, s=redis.call('INCR', KEYS[3])}))
end
${FIRST}
return {#expired, tostring(now), first}`;

/** ARGV: channel, max entry bytes. The live members at one seq; oversized entries are not read. */
const LIST = `${NOW}
local seq = redis.call('GET', KEYS[3]) or '0'
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')
local out = {}
for _, id in ipairs(ids) do
  local size = redis.call('HSTRLEN', KEYS[2], id)
  if size > tonumber(ARGV[2]) then out[#out + 1] = {id, false, size}
  else out[#out + 1] = {id, redis.call('HGET', KEYS[2], id) or false, size} end
end
return {seq, tostring(now), out}`;

interface Script {
  readonly source: string;
  readonly sha: string;
}
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const scripts = {
  register: script(REGISTER),
  refresh: script(REFRESH),
  update: script(UPDATE),
  leave: script(LEAVE),
  sweep: script(SWEEP),
  list: script(LIST),
};

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

async function startRedis(context: BackendContext, config: RedisConfig): Promise<BackendSession> {
  const { input, log } = context;
  const { Redis: Client } = await redisModule();
  const clientOptions: RedisOptions = {
    lazyConnect: true,
    // Fail at once while disconnected: the statechart counts failures and backs off.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: config.requestTimeoutMs,
    commandTimeout: config.requestTimeoutMs,
    retryStrategy: (times) => Math.min(times * 100, 1000),
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.clientOptions as RedisOptions),
  };
  const redis: Redis = new Client(config.url, clientOptions);
  const sub: Redis = redis.duplicate();
  const base = `${config.prefix}:${config.cluster ?? input.name}:`;
  const keys = [`${base}members`, `${base}entries`, `${base}seq`];
  const channel = `${base}events`;
  const selfId = input.self.id;
  const refreshMs = Math.max(100, Math.floor(config.ttlMs / 3));
  const known = new KnownPeers();
  const skipped = new SkippedEntries(log);
  const counters = { lists: 0, refreshes: 0, reregistrations: 0, sweeps: 0, malformedMessages: 0, reconnects: 0 };
  let entry: StoreEntry = { address: config.address, metadata: input.self.metadata, started: Date.now() };
  let closed = false;
  let left = false;
  let graceUntil = 0;
  let disconnected = false;
  let sweepTimer: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  // Messages that arrive while a list is in flight wait for it, then only those after its seq apply.
  let buffered: Message[] | undefined;
  let listGeneration = 0;

  const run = async (which: Script, args: (string | number)[]): Promise<unknown> => {
    const all = [...keys, channel, ...args];
    try {
      return await redis.evalsha(which.sha, keys.length, ...all);
    } catch (error) {
      if (!String((error as Error).message).startsWith('NOSCRIPT')) throw error;
      return redis.eval(which.source, keys.length, ...all);
    }
  };

  const apply = (message: Message): MembershipChange[] => {
    if (message.id === selfId) return [];
    if (message.t === 'left') return known.down(message.id, { type: 'Left' });
    if (message.t === 'expired') {
      return known.down(message.id, { type: 'Failed', message: 'TTL expired: the member stopped refreshing its entry' });
    }
    const decoded = decodeEntry(message.e!);
    if ('problem' in decoded) {
      skipped.skip(message.id, decoded.problem, message.e!);
      return [];
    }
    return known.up(entryPeer(message.id, decoded.entry));
  };

  /** Schedules a sweep for when the earliest entry expires, by the server's clock. */
  const scheduleSweep = (serverNow: string, first: string | null) => {
    clearTimeout(sweepTimer);
    if (closed || first === null) return;
    const delay = Math.max(0, Number(first) - Number(serverNow)) + 20;
    sweepTimer = setTimeout(() => void sweep(), delay);
  };

  async function sweep(): Promise<void> {
    if (closed) return;
    if (performance.now() < graceUntil) {
      sweepTimer = setTimeout(() => void sweep(), graceUntil - performance.now() + 20);
      return;
    }
    try {
      const [count, now, first] = (await run(scripts.sweep, [])) as [number, string, string | null];
      if (count > 0) counters.sweeps++;
      scheduleSweep(now, first);
    } catch (error) {
      log.debug({ err: error }, 'Sweep failed');
    }
  }

  async function refresh(): Promise<void> {
    if (closed || left) return;
    try {
      const [readded, now, first] = (await run(scripts.refresh, [selfId, encodeEntry(entry), config.ttlMs])) as [
        number,
        string,
        string | null,
      ];
      counters.refreshes++;
      if (readded) counters.reregistrations++;
      scheduleSweep(now, first);
    } catch (error) {
      log.debug({ err: error }, 'Refresh failed');
    }
  }

  /** Lists the live members and reconciles; removals only once any grace has passed. */
  async function list(): Promise<void> {
    const generation = ++listGeneration;
    buffered ??= [];
    let reply: [string, string, [string, string | null, number][]];
    try {
      reply = (await run(scripts.list, [MAX_ENTRY_BYTES])) as typeof reply;
    } catch (error) {
      if (generation === listGeneration) buffered = undefined;
      throw error;
    }
    if (generation !== listGeneration || closed) return;
    const [seq, , rows] = reply;
    counters.lists++;
    const listed = new Map<string, PeerInfo>();
    for (const [id, raw, size] of rows) {
      if (id === selfId) continue;
      if (raw === null) {
        if (size > 0) skipped.skip(id, `entry of ${size} bytes exceeds ${MAX_ENTRY_BYTES}`, '');
        continue;
      }
      const decoded = decodeEntry(raw);
      if ('problem' in decoded) {
        skipped.skip(id, decoded.problem, raw);
        continue;
      }
      listed.set(id, entryPeer(id, decoded.entry));
    }
    const trustRemovals = performance.now() >= graceUntil;
    const changes = known.reconcile(listed, trustRemovals, 'Entry gone from Redis');
    const after = buffered ?? [];
    buffered = undefined;
    for (const message of after) if (message.s > Number(seq)) changes.push(...apply(message));
    context.report(changes);
  }

  sub.on('message', (from: string, text: string) => {
    if (from !== channel || closed) return;
    const message = parseMessage(text);
    if (!message) {
      counters.malformedMessages++;
      return;
    }
    if (buffered) buffered.push(message);
    else context.report(apply(message));
  });

  // After any disconnect: register again at once, list (adds only), and trust removals one refresh later.
  const onClose = () => {
    if (!closed) disconnected = true;
  };
  const onReady = () => {
    if (closed || !disconnected) return;
    disconnected = false;
    counters.reconnects++;
    listGeneration++;
    buffered = undefined;
    graceUntil = performance.now() + refreshMs + 250;
    void refresh().then(() => list().catch(() => undefined));
    clearTimeout(graceTimer);
    graceTimer = setTimeout(() => void list().catch(() => undefined), refreshMs + 300);
  };
  redis.on('close', onClose);
  redis.on('ready', onReady);
  // Errors are reported through failing syncs; without a listener ioredis would print them.
  let lastError: Error | undefined;
  const onError = (error: Error) => {
    lastError = error;
    log.debug({ err: error }, 'Redis connection error');
  };
  redis.on('error', onError);
  sub.on('error', onError);

  let stopRefresh: (() => void) | undefined;
  const shutdown = () => {
    closed = true;
    stopRefresh?.();
    clearTimeout(sweepTimer);
    clearTimeout(graceTimer);
    redis.disconnect();
    sub.disconnect();
  };

  try {
    await redis.connect();
    await sub.connect();
    await sub.subscribe(channel);
    const reply = (await run(scripts.register, [selfId, encodeEntry(entry), config.ttlMs, config.address])) as [string, string];
    if (reply[0] === 'held') {
      const holder = decodeEntry(reply[1]);
      const where = 'entry' in holder ? `${holder.entry.address} (registered ${new Date(holder.entry.started).toISOString()})` : 'another address';
      throw new Error(`Node id ${JSON.stringify(selfId)} is held by a live member at ${where}; stop it or choose another id`);
    }
    await list();
    await sweep();
  } catch (error) {
    shutdown();
    // A refused password closes the connection; the reason is in the last connection error.
    if (lastError && lastError !== error) throw new Error(`${(error as Error).message} (${lastError.message})`);
    throw error;
  }
  stopRefresh = every(refreshMs, refresh);

  return {
    self: { id: selfId, address: config.address, metadata: input.self.metadata },
    async sync() {
      await list();
      return {};
    },
    async setMetadata(metadata: PeerMetadata) {
      entry = { ...entry, metadata };
      await run(scripts.update, [selfId, encodeEntry(entry), config.ttlMs]);
    },
    async leave() {
      left = true;
      stopRefresh?.();
      await run(scripts.leave, [selfId]);
    },
    close: shutdown,
    counters: () => ({ ...counters, skippedEntries: skipped.count, members: known.size }),
  };
}
