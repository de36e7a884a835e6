/**
 * `distribute/discovery`: find the other processes of a cluster, track who
 * is up, and hear when a peer joins, changes its metadata or leaves.
 *
 * The facade's functions talk to one adapter actor registered under
 * `defaultAdapterName`; `bind()` gives the same functions for another name
 * or XState system. Every function returns a `Result`; none throws.
 *
 * @example
 * ```ts
 * import * as discovery from 'distribute/discovery';
 *
 * const started = await discovery.startLink();
 * if (!started.ok) throw new Error(started.error.message);
 * discovery.subscribe((event) => console.log(event.type, event.peer.id));
 * ```
 *
 * @module
 */
import type { ActorSystem, InspectionEvent, Observer, SnapshotFrom } from 'xstate';
import { createActor } from 'xstate';
import { getPeer, listPeers } from '../machines/peer-table.js';
import type { AdapterContext } from '../machines/adapter.machine.js';
import {
  adapterLogger,
  buildAdapterLogic,
  defaultAdapterName,
  machineInput,
  validateMetadata,
  type AdapterOptionsInput,
} from './discovery/adapter.js';
import type { Adapter } from './discovery/behaviour.js';
import { DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, type DiscoveryCallback, type SubscribeOptions } from './discovery/hub.js';
import { keyFunctions, type KeyList } from './discovery/keys.js';
import { isNameTaken, lookupRegistration, nameTakenMessage, release, type Registration } from './discovery/registry.js';
import { discoveryLogic, prepare, type DiscoveryInput, type DiscoveryOptions } from './discovery/supervisor.js';
import {
  DiscoveryErrors,
  err,
  ok,
  type AdapterHandle,
  type AdapterOptions,
  type DiscoveryActorRef,
  type DiscoveryError,
  type DiscoveryEvent,
  type DiscoveryMetrics,
  type HealthInfo,
  type HealthStatus,
  type PeerInfo,
  type PeerMetadata,
  type Result,
  type SubscriptionId,
} from './discovery/types.js';

export * from './discovery/types.js';
export type {
  Adapter,
  BackendCommand,
  BackendContext,
  BackendInput,
  BackendLogic,
  BackendReport,
  BackendSession,
  MembershipChange,
  SyncResult,
} from './discovery/behaviour.js';
export type { DiscoveryCallback, SubscribeOptions } from './discovery/hub.js';
export type { AdapterOptionsInput } from './discovery/adapter.js';
export type { DiscoveryInput, DiscoveryLogic, DiscoveryOptions, RestartPolicy } from './discovery/supervisor.js';
export type { AdapterContext } from '../machines/adapter.machine.js';
export { adapterMachine } from '../machines/adapter.machine.js';
export {
  defaultAdapterName,
  defaultOptions,
  defaultRetryConfig,
  defineAdapter,
  MAX_METADATA_BYTES,
  MAX_METADATA_ENTRIES,
} from './discovery/adapter.js';
export { DiscoveryFailure, defaultAdapter, discoveryLogic } from './discovery/supervisor.js';
export { memoryAdapter, type MemoryAdapterOptions } from './discovery/memory_adapter.js';
export { staticAdapter, type StaticAdapterOptions, type StaticPeer } from './discovery/static_adapter.js';
export { gossipAdapter, DEFAULT_GOSSIP_PORT, type GossipAdapterOptions } from './discovery/gossip_adapter.js';
export { dnsAdapter, type DnsAdapterOptions } from './discovery/dns_adapter.js';
export type { DnsRecordType } from './discovery/dns.js';
export type { GossipConfig, GossipProfile } from './discovery/gossip/config.js';
export { etcdAdapter, type EtcdAdapterOptions } from './discovery/etcd_adapter.js';
export { redisAdapter, type RedisAdapterOptions } from './discovery/redis_adapter.js';
export type { StoreOptions } from './discovery/store.js';
export { generateKey } from './discovery/gossip/crypto.js';
export type { KeyList } from './discovery/keys.js';
export { httpHandler, type HttpHandler, type HttpHandlerOptions } from './http/handler.js';
export type { HealthEvent, StreamEvent } from './http/events.js';
export type { MemberRow, MemberStatus } from './http/members.js';
export type { Statechart, StatechartState, StatechartTransition } from './http/statechart.js';

/** Options of `startLink`: `signal` cancels a start still in progress. */
export type StartOptions = DiscoveryOptions & {
  /** Aborting it before the adapter runs stops it and resolves `StartFailed`. */
  readonly signal?: AbortSignal;
};

/** Which adapter a bound facade talks to. */
export interface DiscoveryTarget {
  /** Registered name. Default `defaultAdapterName`. */
  readonly name?: string;
  /** Look the adapter up in this XState system instead of the process registry. */
  readonly system?: ActorSystem<any>;
}

const NOT_FOUND = 'Discovery process not found';

interface Running {
  readonly actor: DiscoveryActorRef;
  readonly context: AdapterContext;
  readonly registration: Registration | undefined;
}

function notRunning(name: string): string {
  return `Discovery is not running: no adapter named ${JSON.stringify(name)}`;
}

function findRunning(target: DiscoveryTarget): Running | undefined {
  const name = target.name ?? defaultAdapterName;
  const registration = lookupRegistration(name);
  const actor: DiscoveryActorRef | undefined = target.system ? target.system.get(name) : registration?.actor;
  if (!actor) return undefined;
  const snapshot = actor.getSnapshot();
  if (snapshot.status !== 'active') return undefined;
  return { actor, context: snapshot.context, registration };
}

function statusOf(actor: DiscoveryActorRef): HealthStatus {
  const snapshot = actor.getSnapshot();
  const context = snapshot.context;
  if (snapshot.status !== 'active') {
    return { type: 'Down', reason: snapshot.status === 'error' ? `Adapter crashed: ${String(snapshot.error)}` : context?.reason || 'Stopped' };
  }
  if (snapshot.hasTag('up')) return { type: 'Up' };
  if (snapshot.hasTag('degraded')) return { type: 'Degraded', reason: context.reason };
  return { type: 'Down', reason: context.reason };
}

function waitUntil(
  actor: DiscoveryActorRef,
  predicate: (snapshot: SnapshotFrom<DiscoveryActorRef>) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    if (predicate(actor.getSnapshot())) return resolve(true);
    if (signal?.aborted) return resolve(false);
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(false);
    const finish = (value: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      subscription.unsubscribe();
      resolve(value);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const subscription = actor.subscribe({
      next: (snapshot) => predicate(snapshot) && finish(true),
      error: () => finish(predicate(actor.getSnapshot())),
      complete: () => finish(predicate(actor.getSnapshot())),
    });
    timer = setTimeout(() => finish(false), timeoutMs);
  });
}

/** The functions of the facade, bound to one adapter. */
export interface Discovery {
  readonly name: string;
  stop(timeoutMs?: number): Promise<Result<void>>;
  subscribe(callback: DiscoveryCallback, options?: SubscribeOptions): Result<SubscriptionId>;
  subscription(callback: DiscoveryCallback, options?: SubscribeOptions): Result<Subscription>;
  unsubscribe(id: SubscriptionId): Result<void>;
  events(options?: SubscribeOptions): Result<EventStream>;
  snapshot(): Result<PeerInfo[]>;
  lookup(peerId: string): Result<PeerInfo>;
  health(): HealthStatus;
  healthInfo(): Result<HealthInfo>;
  metrics(): Result<DiscoveryMetrics>;
  self(): Result<PeerInfo>;
  setMetadata(metadata: PeerMetadata): Result<void>;
  join(seeds: readonly string[]): Result<void>;
  /** Adds a key (32 bytes, base64) that opens traffic; see {@link installKey}. */
  installKey(key: string): Result<void>;
  /** Makes an installed key the one that seals; see {@link useKey}. */
  useKey(key: string): Result<void>;
  /** Removes a key other than the primary; see {@link removeKey}. */
  removeKey(key: string): Result<void>;
  /** The keys, primary first; see {@link listKeys}. */
  listKeys(): Result<KeyList>;
}

/** Live events as an async iterator; `close()` (or `break`, or the end of an `await using` scope) ends it. */
export interface EventStream extends AsyncIterableIterator<DiscoveryEvent> {
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A subscription as an object: `unsubscribe()` ends it, and so does the end of a `using` scope. */
export interface Subscription {
  readonly id: SubscriptionId;
  /** Ends it; a second call is no error. */
  unsubscribe(): Result<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * The facade bound to another adapter name, or to an adapter registered in
 * a given XState system.
 *
 * @example
 * ```ts
 * const other = bind({ name: 'cache_discovery' });
 * other.snapshot();
 * ```
 */
export function bind(target: DiscoveryTarget = {}): Discovery {
  const name = target.name ?? defaultAdapterName;

  const stop = async (timeoutMs?: number): Promise<Result<void>> => {
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      return err(DiscoveryErrors.invalidConfiguration('timeoutMs', timeoutMs, 'a positive number of milliseconds'));
    }
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.stopFailed(notRunning(name)));
    const { actor } = running;
    // By default, wait for the adapter's own bound on a graceful leave, plus a little.
    timeoutMs ??= running.context.config.stopTimeoutMs + 1000;
    const finished = waitUntil(actor, (s) => s.status !== 'active', timeoutMs);
    actor.send({ type: 'stop' });
    const stopped = await finished;
    // Subscribers hear nothing once stop has resolved.
    release(name);
    if (!stopped) {
      // A root adapter is stopped outright; an invoked one ends with its leave timeout.
      if (!actor._parent) actor.stop();
      return err(DiscoveryErrors.shutdownTimeout(timeoutMs));
    }
    return ok(undefined);
  };

  const addSubscriber = (
    callback: DiscoveryCallback,
    options: SubscribeOptions,
    onClose?: () => void,
  ): Result<SubscriptionId> => {
    if (typeof callback !== 'function') {
      return err(DiscoveryErrors.subscriptionFailed(`The callback must be a function, got ${callback === null ? 'null' : typeof callback}`));
    }
    const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    if (!(Number.isInteger(maxPending) && maxPending > 0)) {
      return err(DiscoveryErrors.subscriptionFailed(`maxPending must be a positive integer, got ${String(maxPending)}`));
    }
    const maxPendingAgeMs = options.maxPendingAgeMs ?? DEFAULT_MAX_PENDING_AGE_MS;
    if (!(Number.isFinite(maxPendingAgeMs) && maxPendingAgeMs > 0)) {
      return err(DiscoveryErrors.subscriptionFailed(`maxPendingAgeMs must be a positive number of milliseconds, got ${String(maxPendingAgeMs)}`));
    }
    const running = findRunning(target);
    const hub = running?.registration?.hub ?? lookupRegistration(name)?.hub;
    if (!running || !hub) return err(DiscoveryErrors.subscriptionFailed(notRunning(name)));
    // Reading the table and adding the subscriber happen in one synchronous step,
    // so no event can fall between the replayed peers and the live ones.
    const initial: DiscoveryEvent[] = options.replay
      ? listPeers(running.context.peers).map((peer) => ({ type: 'PeerUp', peer }))
      : [];
    return ok(hub.add(callback, initial, maxPending, onClose, maxPendingAgeMs));
  };

  const subscribe = (callback: DiscoveryCallback, options: SubscribeOptions = {}): Result<SubscriptionId> =>
    addSubscriber(callback, options);

  const subscription = (callback: DiscoveryCallback, options: SubscribeOptions = {}): Result<Subscription> => {
    const subscribed = addSubscriber(callback, options);
    if (!subscribed.ok) return subscribed;
    const id = subscribed.value;
    let ended: Result<void> | undefined;
    const end = () => (ended ??= unsubscribe(id));
    return ok({
      id,
      unsubscribe: end,
      [Symbol.dispose]: () => void end(),
      [Symbol.asyncDispose]: async () => void end(),
    });
  };

  const unsubscribe = (id: SubscriptionId): Result<void> => {
    const hub = lookupRegistration(name)?.hub;
    if (!hub) return err(DiscoveryErrors.subscriptionFailed(notRunning(name)));
    // As in the Gleam module, removing a subscription that is not there is not a failure.
    hub.remove(id);
    return ok(undefined);
  };

  const events = (options: SubscribeOptions = {}): Result<EventStream> => {
    const buffer: DiscoveryEvent[] = [];
    const limit = options.maxPending ?? DEFAULT_MAX_PENDING;
    let waiting: ((result: IteratorResult<DiscoveryEvent>) => void) | undefined;
    let failure: Error | undefined;
    let ended = false;
    const finish = () => {
      ended = true;
      waiting?.({ value: undefined, done: true });
      waiting = undefined;
    };
    // The hub closes the subscription when the adapter stops: the stream ends then too.
    const subscribed = addSubscriber(
      (event) => {
        if (waiting) {
          const wake = waiting;
          waiting = undefined;
          wake({ value: event, done: false });
        } else if (buffer.length >= limit) {
          failure = new Error(`Event stream fell more than ${limit} events behind and was closed`);
          close();
        } else {
          buffer.push(event);
        }
      },
      options,
      finish,
    );
    if (!subscribed.ok) return subscribed;
    const id = subscribed.value;
    const close = () => {
      if (ended) return;
      unsubscribe(id);
      finish();
    };
    const stream: EventStream = {
      next() {
        if (buffer.length > 0) return Promise.resolve({ value: buffer.shift()!, done: false });
        if (failure) return Promise.reject(failure);
        if (ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (waiting = resolve));
      },
      return() {
        close();
        return Promise.resolve({ value: undefined, done: true });
      },
      close,
      [Symbol.asyncIterator]() {
        return stream;
      },
      [Symbol.asyncDispose]: async () => close(),
    };
    return ok(stream);
  };

  const snapshot = (): Result<PeerInfo[]> => {
    const running = findRunning(target);
    return running ? ok(listPeers(running.context.peers)) : err(DiscoveryErrors.syncFailed(notRunning(name)));
  };

  const lookup = (peerId: string): Result<PeerInfo> => {
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.syncFailed(notRunning(name)));
    const peer = typeof peerId === 'string' ? getPeer(running.context.peers, peerId) : undefined;
    return peer ? ok(peer) : err(DiscoveryErrors.peerNotFound(String(peerId)));
  };

  const health = (): HealthStatus => {
    const actor = target.system ? target.system.get(name) : lookupRegistration(name)?.actor;
    return actor ? statusOf(actor) : { type: 'Down', reason: NOT_FOUND };
  };

  const healthInfo = (): Result<HealthInfo> => {
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.syncFailed(notRunning(name)));
    const { context } = running;
    return ok({
      status: statusOf(running.actor),
      lastSyncTimeMs: context.lastSyncTimeMs,
      lastError: context.lastError,
      knownPeersCount: context.peers.size,
      consecutiveFailures: context.consecutiveFailures,
    });
  };

  const metrics = (): Result<DiscoveryMetrics> => {
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.syncFailed(notRunning(name)));
    const { context } = running;
    return ok({
      syncCount: context.syncCount,
      syncFailures: context.syncFailures,
      lastSyncDurationMs: context.lastSyncDurationMs,
      syncDurationTotalMs: context.syncDurationTotalMs,
      eventsEmitted: context.eventsEmitted,
      knownPeersCount: context.peers.size,
      errorRate: context.syncCount === 0 ? 0 : context.syncFailures / context.syncCount,
      backend: context.backendCounters,
      eventsByType: context.eventsByType,
      probeRttMs: context.probeRttMs,
    });
  };

  const self = (): Result<PeerInfo> => {
    const running = findRunning(target);
    return running ? ok(running.context.self) : err(DiscoveryErrors.syncFailed(notRunning(name)));
  };

  const setMetadata = (metadata: PeerMetadata): Result<void> => {
    const valid = validateMetadata(metadata);
    if (!valid.ok) return valid;
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.syncFailed(notRunning(name)));
    running.actor.send({ type: 'setMetadata', metadata: valid.value });
    return ok(undefined);
  };

  const join = (seeds: readonly string[]): Result<void> => {
    if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => typeof s === 'string' && s.length > 0)) {
      return err(DiscoveryErrors.invalidConfiguration('seeds', seeds, 'a non-empty array of host:port strings'));
    }
    const running = findRunning(target);
    if (!running) return err(DiscoveryErrors.syncFailed(notRunning(name)));
    running.actor.send({ type: 'join', seeds: [...seeds] });
    return ok(undefined);
  };

  return { name, stop, subscribe, subscription, unsubscribe, events, snapshot, lookup, health, healthInfo, metrics, self, setMetadata, join, ...keyFunctions(name) };
}

const defaultDiscovery = bind();

/**
 * An invoke config for a user's machine: `invoke: discovery.childSpec()`, the
 * one-line form of `{ src: discoveryLogic, input: options }`. In a `setup()`
 * machine, register `discoveryLogic` under `actors` and invoke it by key
 * instead. The adapter is registered as `system.get(defaultAdapterName)` (or
 * the given name) and restarted if it crashes, at most `restart.maxRestarts`
 * times within `restart.withinMs`. A start that cannot happen fails the
 * invoke with a `DiscoveryFailure` whose `error` says why.
 *
 * @example
 * ```ts
 * const app = createMachine({ invoke: discovery.childSpec({ adapter: memoryAdapter() }) });
 * const actor = createActor(app).start();
 * actor.system.get(discovery.defaultAdapterName); // the adapter
 * ```
 */
export function childSpec(options: DiscoveryInput = {}) {
  const name = typeof options?.name === 'string' ? options.name : defaultAdapterName;
  return { id: `${name}.supervisor`, src: discoveryLogic, input: options } as const;
}

/**
 * The adapter as an actor, not started: for users who spawn or inspect it
 * themselves. Prefer `startLink` or `childSpec`.
 *
 * @example
 * ```ts
 * const created = adapterActor({ adapter: memoryAdapter() });
 * if (created.ok) created.value.start();
 * ```
 */
export function adapterActor(options: DiscoveryOptions = {}) {
  const prepared = prepare(options);
  if (!prepared.ok) return prepared;
  return ok(createAdapterActor(prepared.value.options, prepared.value.adapter, options.inspect));
}

function createAdapterActor(resolved: AdapterOptions, adapter: Adapter, inspect: DiscoveryOptions['inspect']) {
  return createActor(buildAdapterLogic(resolved, adapter), {
    input: machineInput(resolved),
    systemId: resolved.name,
    ...(inspect ? { inspect } : {}),
  });
}

/**
 * Starts the adapter without a supervisor. Resolves once it is bound and
 * running, or with `StartFailed` (`InvalidConfiguration` for bad options).
 *
 * @example
 * ```ts
 * const started = await discovery.startLink({ adapter: memoryAdapter(), nodeId: 'a' });
 * if (started.ok) await started.value.stop();
 * ```
 */
export async function startLink(options: StartOptions = {}): Promise<Result<AdapterHandle>> {
  const { signal, ...discoveryOptions } = options ?? {};
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return err(DiscoveryErrors.invalidConfiguration('signal', signal, 'an AbortSignal'));
  }
  if (signal?.aborted) return err(DiscoveryErrors.startFailed(abortedMessage(signal)));
  const prepared = prepare(discoveryOptions);
  if (!prepared.ok) return prepared;
  const resolved = prepared.value.options;
  const { name } = resolved;
  if (isNameTaken(name)) {
    return err(DiscoveryErrors.startFailed(nameTakenMessage(name)));
  }
  const actor = createAdapterActor(resolved, prepared.value.adapter, options.inspect);
  const logger = adapterLogger(resolved);
  // An error observer keeps a crash from becoming an uncaught exception.
  actor.subscribe({
    error: (error) => logger.error({ err: error }, 'Discovery adapter crashed'),
  });
  actor.start();
  const started = await waitUntil(actor, (s) => s.status !== 'active' || !s.matches('starting'), resolved.syncTimeoutMs, signal);
  const snapshot = actor.getSnapshot();
  if (!started || snapshot.status !== 'active' || signal?.aborted) {
    const reason = signal?.aborted
      ? abortedMessage(signal)
      : !started
      ? `Adapter did not start within ${resolved.syncTimeoutMs} ms`
      : snapshot.status === 'error'
        ? `Adapter crashed while starting: ${String(snapshot.error)}`
        : (snapshot.context.startError ?? 'Adapter stopped while starting');
    actor.stop();
    return err(DiscoveryErrors.startFailed(reason));
  }
  const bound = bind({ name });
  return ok({
    name,
    self: snapshot.context.self,
    actor,
    stop: (timeoutMs?: number) => bound.stop(timeoutMs),
    // `await using` stops it at the end of the scope; an adapter already stopped is no error there.
    [Symbol.asyncDispose]: async () => {
      if (findRunning({ name })?.actor === actor) await bound.stop();
    },
  });
}

const abortedMessage = (signal: AbortSignal) =>
  `Start aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : signal.reason !== undefined ? `: ${String(signal.reason)}` : ''}`;

/** Leaves gracefully and stops the default adapter. `ShutdownTimeout` if it takes longer than `timeoutMs`. */
export const stop = (timeoutMs?: number): Promise<Result<void>> => defaultDiscovery.stop(timeoutMs);

/**
 * Subscribes to membership events. The callback runs asynchronously, in order;
 * if it returns a promise, the next event waits for it.
 *
 * @example
 * ```ts
 * const id = discovery.subscribe((event) => {
 *   if (event.type === 'PeerUp') console.log('Peer joined:', event.peer.id);
 * }, { replay: true });
 * ```
 */
export const subscribe = (callback: DiscoveryCallback, options?: SubscribeOptions): Result<SubscriptionId> =>
  defaultDiscovery.subscribe(callback, options);

/**
 * Subscribes like `subscribe`, but gives the subscription as an object that
 * ends it with `unsubscribe()` or at the end of a `using` scope.
 *
 * @example
 * ```ts
 * const subscribed = discovery.subscription((event) => console.log(event.type));
 * if (subscribed.ok) {
 *   using subscription = subscribed.value;
 *   // events arrive until the end of this block
 * }
 * ```
 */
export const subscription = (callback: DiscoveryCallback, options?: SubscribeOptions): Result<Subscription> =>
  defaultDiscovery.subscription(callback, options);

/** Ends a subscription. */
export const unsubscribe = (id: SubscriptionId): Result<void> => defaultDiscovery.unsubscribe(id);

/**
 * Membership events as an async iterator.
 *
 * @example
 * ```ts
 * const stream = discovery.events({ replay: true });
 * if (stream.ok) for await (const event of stream.value) console.log(event.type);
 * ```
 */
export const events = (options?: SubscribeOptions): Result<EventStream> => defaultDiscovery.events(options);

/** A consistent copy of the known peers (self excluded). */
export const snapshot = (): Result<PeerInfo[]> => defaultDiscovery.snapshot();

/** One peer by id, or `PeerNotFound`. */
export const lookup = (peerId: string): Result<PeerInfo> => defaultDiscovery.lookup(peerId);

/** `Up`, `Degraded(reason)` or `Down(reason)`; `Down("Discovery process not found")` when none runs. */
export const health = (): HealthStatus => defaultDiscovery.health();

/** Health with its facts: last sync, last error, peer count. */
export const healthInfo = (): Result<HealthInfo> => defaultDiscovery.healthInfo();

/** Sync and event counters. */
export const metrics = (): Result<DiscoveryMetrics> => defaultDiscovery.metrics();

/** This node as the cluster sees it. */
export const self = (): Result<PeerInfo> => defaultDiscovery.self();

/** Publishes new metadata for this node; the others receive `PeerUpdate`. */
export const setMetadata = (metadata: PeerMetadata): Result<void> => defaultDiscovery.setMetadata(metadata);

/**
 * Contacts more members (`host:port`) and joins the cluster through them, as
 * a running node; new peers arrive as `PeerUp`. Adapters with a fixed list
 * (static, memory) ignore it.
 *
 * @example
 * ```ts
 * discovery.join(['10.0.0.7:7946']);
 * ```
 */
export const join = (seeds: readonly string[]): Result<void> => defaultDiscovery.join(seeds);

/**
 * Installs a key (32 bytes, base64, as {@link generateKey} makes) in the
 * running gossip adapter's keyring: from now on it opens traffic sealed
 * with it; the primary key still seals. The first of the four steps of a
 * rotation without restart (install everywhere, use everywhere, remove the
 * old key everywhere). `InvalidConfiguration` for a malformed key,
 * `KeysUnavailable` when the adapter does not seal its traffic.
 *
 * @example
 * ```ts fragment
 * const next = generateKey();
 * installKey(next); // on every member, then useKey(next) on every member, then removeKey(old)
 * ```
 */
export const installKey = (key: string): Result<void> => defaultDiscovery.installKey(key);

/**
 * Makes an installed key the primary one, which seals everything this
 * member sends. `InvalidConfiguration` when the key is not installed.
 *
 * @example
 * ```ts fragment
 * useKey(next); // once every member has installed it
 * ```
 */
export const useKey = (key: string): Result<void> => defaultDiscovery.useKey(key);

/**
 * Removes a key: traffic sealed with it no longer opens here.
 * `InvalidConfiguration` when it is the primary key or not installed.
 *
 * @example
 * ```ts fragment
 * removeKey(old); // once every member uses the new key
 * ```
 */
export const removeKey = (key: string): Result<void> => defaultDiscovery.removeKey(key);

/**
 * The running adapter's keys as base64, the primary first.
 *
 * @example
 * ```ts fragment
 * const listed = listKeys();
 * if (listed.ok) console.log(listed.value.primary, listed.value.keys.length);
 * ```
 */
export const listKeys = (): Result<KeyList> => defaultDiscovery.listKeys();

export type { DiscoveryError };
