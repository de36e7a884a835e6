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
import { defineAdapter } from './adapter.js';
import type { Adapter, BackendContext, BackendSession } from './backend.js';
import {
  checkUrl,
  decodeEntry,
  encodeEntry,
  entryPeer,
  every,
  importModule,
  KnownPeers,
  loadClient,
  resolveStoreOptions,
  SkippedEntries,
  type ResolvedStoreOptions,
  type StoreEntry,
  type StoreOptions,
} from './store.js';
import { DiscoveryErrors, type DiscoveryError, type PeerInfo, type PeerMetadata } from './types.js';

/** Options of the etcd adapter. */
export interface EtcdAdapterOptions extends StoreOptions {
  /**
   * One or more etcd client URLs (`http://host:2379`, `https://...` for TLS);
   * requests go to any of them.
   */
  readonly endpoints: string | readonly string[];
  /** TLS material (PEM), passed to the client as its credentials. */
  readonly tls?: { readonly rootCertificate: Buffer; readonly privateKey?: Buffer; readonly certChain?: Buffer };
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
  if ('type' in config) {
    const problem = config;
    return { ...defineAdapter('etcd', () => Promise.reject(new Error(problem.message))), validate: () => problem };
  }
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

async function startEtcd(context: BackendContext, config: EtcdConfig): Promise<BackendSession> {
  const { input, log } = context;
  const { Etcd3: Client, isRecoverableError } = await etcdModule();
  const clientOptions: IOptions = {
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
  const client: Etcd3 = new Client(clientOptions);
  const selfId = input.self.id;
  const membersPrefix = `${config.prefix}/${config.cluster ?? input.name}/members/`;
  const key = membersPrefix + selfId;
  const known = new KnownPeers();
  const skipped = new SkippedEntries(log);
  const counters = { relists: 0, registrations: 0, watchErrors: 0, keepalives: 0, keepaliveFailures: 0 };
  let entry: StoreEntry = { address: config.address, metadata: input.self.metadata, started: Date.now() };
  let lease: string | undefined;
  let leaseTtlMs = config.ttlMs;
  let watcher: Watcher | undefined;
  let generation = 0;
  let recovering = false;
  let closed = false;
  // Set by a graceful leave: a sync still running must not register this member again.
  let left = false;
  let stopKeepalive: (() => void) | undefined;

  const idOf = (kv: IKeyValue) => kv.key.toString().slice(membersPrefix.length);

  /** Puts our entry on a fresh lease; refuses when a live member at another address holds the id. */
  async function register(): Promise<void> {
    const granted = await client.leaseClient.leaseGrant({ TTL: Math.ceil(config.ttlMs / 1000) });
    const id = granted.ID;
    try {
      for (let attempt = 0; ; attempt++) {
        const existing = (await client.get(key).exec()).kvs[0];
        const holder = existing ? decodeEntry(existing.value) : undefined;
        if (holder && 'entry' in holder && holder.entry.address !== config.address && !holder.entry.leaving) {
          throw new Error(
            `Node id ${JSON.stringify(selfId)} is held by a live member at ${holder.entry.address} ` +
              `(registered ${new Date(holder.entry.started).toISOString()}); stop it or choose another id`,
          );
        }
        if (left || closed) throw new Error('The member has left');
        const put = await client
          .if(key, 'Mod', '==', existing?.mod_revision ?? '0')
          .then(client.put(key).value(encodeEntry(entry)).lease(id))
          .commit();
        if (put.succeeded) {
          // The same member restarted: its old lease holds nothing now, so let it go at once.
          if (existing && existing.lease !== '0' && existing.lease !== id) {
            await client.leaseClient.leaseRevoke({ ID: existing.lease }).catch(() => undefined);
          }
          break;
        }
        if (attempt >= 2) throw new Error(`Could not register ${JSON.stringify(selfId)}: the entry kept changing`);
      }
      // A leave that ran meanwhile wins: the new lease (and the entry on it) goes.
      if (left || closed) throw new Error('The member has left');
    } catch (error) {
      await client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
      throw error;
    }
    lease = id;
    leaseTtlMs = Number(granted.TTL) * 1000 || config.ttlMs;
    counters.registrations++;
    restartKeepalive();
  }

  function restartKeepalive(): void {
    stopKeepalive?.();
    stopKeepalive = every(Math.max(200, Math.floor(leaseTtlMs / 3)), keepalive);
  }

  async function keepalive(): Promise<void> {
    const id = lease;
    if (!id || closed) return;
    try {
      const stream = await client.leaseClient.leaseKeepAlive();
      const ttl = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('Lease keepalive timed out')), config.requestTimeoutMs);
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
      counters.keepalives++;
      // TTL 0: the lease expired (etcd was away too long); the next sync registers again.
      if (ttl <= 0 && lease === id) lease = undefined;
    } catch (error) {
      counters.keepaliveFailures++;
      log.debug({ err: error }, 'Lease keepalive failed');
    }
  }

  function onPut(kv: IKeyValue): void {
    const id = idOf(kv);
    if (id === selfId) return;
    const decoded = decodeEntry(kv.value);
    if ('problem' in decoded) {
      skipped.skip(kv.key.toString(), decoded.problem, kv.value);
      // A member that was known and now writes garbage is no longer a member we can describe.
      context.report(known.down(id, { type: 'Failed', message: `Entry became unreadable: ${decoded.problem}` }));
      return;
    }
    context.report(decoded.entry.leaving ? known.down(id, { type: 'Left' }) : known.up(entryPeer(id, decoded.entry)));
  }

  function onDelete(kv: IKeyValue): void {
    const id = idOf(kv);
    if (id === selfId) return;
    context.report(known.down(id, { type: 'Failed', message: 'Lease expired: the member stopped renewing its entry' }));
  }

  /** Lists the members, reconciles, then watches from the listed revision + 1. */
  async function relist(): Promise<void> {
    const gen = ++generation;
    const previous = watcher;
    watcher = undefined;
    if (previous) await previous.cancel().catch(() => undefined);
    const listing = await client.getAll().prefix(membersPrefix).exec();
    if (gen !== generation || closed) return;
    counters.relists++;
    const listed = new Map<string, PeerInfo>();
    for (const kv of listing.kvs) {
      const id = idOf(kv);
      if (id === selfId) continue;
      const decoded = decodeEntry(kv.value);
      if ('problem' in decoded) {
        skipped.skip(kv.key.toString(), decoded.problem, kv.value);
        continue;
      }
      if (!decoded.entry.leaving) listed.set(id, entryPeer(id, decoded.entry));
    }
    const next = await client
      .watch()
      .prefix(membersPrefix)
      .startRevision(String(BigInt(listing.header.revision) + 1n))
      .create();
    if (gen !== generation || closed) {
      void next.cancel().catch(() => undefined);
      return;
    }
    // Reconciled only once the watch holds, so a failed attach leaves the table for the retry.
    context.report(known.reconcile(listed, true, 'Entry gone from etcd'));
    watcher = next;
    next.on('put', (kv) => watcher === next && onPut(kv));
    next.on('delete', (kv) => watcher === next && onDelete(kv));
    next.on('error', (error) => {
      if (watcher !== next) return;
      // Cancelled by etcd, e.g. its revision was compacted while reconnecting: list again.
      counters.watchErrors++;
      log.warn({ err: error }, 'etcd watch cancelled; listing again');
      watcher = undefined;
      relist().catch((e: unknown) => log.debug({ err: e }, 'Re-list failed; the next sync retries'));
    });
  }

  try {
    await register();
    await relist();
  } catch (error) {
    stopKeepalive?.();
    generation++;
    void watcher?.cancel().catch(() => undefined);
    client.close();
    throw error;
  }

  // Only over our own entry: one taken over by a restart of this member stays as it is.
  const writeEntry = async (id: string, next: StoreEntry) => {
    await client.if(key, 'Lease', '==', id).then(client.put(key).value(encodeEntry(next)).lease(id)).commit();
  };

  const close = () => {
    if (closed) return;
    closed = true;
    generation++;
    stopKeepalive?.();
    const current = watcher;
    watcher = undefined;
    void (current ? current.cancel().catch(() => undefined) : Promise.resolve()).finally(() => client.close());
  };

  return {
    self: { id: selfId, address: config.address, metadata: input.self.metadata },
    async sync() {
      try {
        if (!lease) await register();
        const own = (await client.get(key).exec()).kvs[0];
        if (!own || own.lease !== lease) {
          // Our entry is gone (lease expired while etcd was away): register again and reconcile.
          lease = undefined;
          await register();
          await relist();
        } else if (!watcher || recovering) {
          await relist();
        }
        recovering = false;
        return {};
      } catch (error) {
        recovering = true;
        throw error;
      }
    },
    async setMetadata(metadata: PeerMetadata) {
      entry = { ...entry, metadata };
      if (lease) await writeEntry(lease, entry);
    },
    async leave() {
      left = true;
      stopKeepalive?.();
      const id = lease;
      if (!id) return;
      lease = undefined;
      try {
        await writeEntry(id, { ...entry, leaving: true });
      } finally {
        // Even when the mark did not go out, the entry goes now rather than after the TTL.
        await client.leaseClient.leaseRevoke({ ID: id });
      }
    },
    close,
    counters: () => ({ ...counters, skippedEntries: skipped.count, members: known.size }),
  };
}
