/**
 * The facade: the functions of \`distribute/discovery\`, bound to one adapter
 * by name (\`bind\`) or to the default one. Short methods that find the
 * adapter, read it through the machine's selectors, and turn what they find
 * into a \`Result\`; commands go to the adapter machine, which hands them to
 * the backend in order.
 *
 * @module
 */
import type { ActorSystem } from 'xstate';
import { waitFor } from 'xstate';
import type { AdapterCommand } from '../../machines/adapter.machine.js';
import {
  isRunning,
  selectConfig,
  selectHealth,
  selectHealthInfo,
  selectMetrics,
  selectOwners,
  selectPeer,
  selectPeers,
  selectSelf,
  type AdapterSnapshot,
} from '../../machines/selectors.js';
import { QueuedEventStream, type EventStream } from './event-stream.js';
import type { DiscoveryActorRef } from './handle.js';
import { DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, type DiscoveryCallback, type SubscribeOptions } from './hub.js';
import { keyFunctions, type KeyList, type KeyringRequest } from './kit/keys.js';
import { defaultAdapterName, validateMetadata } from './kit/adapter.js';
import { lookupRegistration, release } from './registry.js';
import {
  DiscoveryErrors,
  attempt,
  err,
  ok,
  type DiscoveryError,
  type DiscoveryEvent,
  type DiscoveryMetrics,
  type HealthInfo,
  type HealthStatus,
  type PeerInfo,
  type PeerMetadata,
  type Result,
  type SubscriptionId,
} from './types.js';

/** Which adapter a bound facade talks to. */
export interface DiscoveryTarget {
  /** Registered name. Default `defaultAdapterName`. */
  readonly name?: string;
  /** Look the adapter up in this XState system instead of the process registry. */
  readonly system?: ActorSystem<any>;
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
  /** The member that owns `key`; see {@link owner}. */
  owner(key: string): Result<PeerInfo>;
  /** The `n` members that own `key`, best first; see {@link owners}. */
  owners(key: string, n: number): Result<PeerInfo[]>;
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

/** A subscription as an object: `unsubscribe()` ends it, and so does the end of a `using` scope. */
export interface Subscription {
  readonly id: SubscriptionId;
  /** Ends it; a second call is no error. */
  unsubscribe(): Result<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

const NOT_FOUND = 'Discovery process not found';

/** A running adapter and the snapshot it was found with. */
interface Live {
  readonly actor: DiscoveryActorRef;
  readonly snapshot: AdapterSnapshot;
}

/** Checks subscribe options once; `SubscriptionFailed` says which is wrong. */
function checkSubscriber(callback: unknown, options: SubscribeOptions): Result<{ maxPending: number; maxPendingAgeMs: number }> {
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
  return ok({ maxPending, maxPendingAgeMs });
}

/** A subscription id as an object whose end is idempotent. */
function subscriptionObject(id: SubscriptionId, unsubscribe: (id: SubscriptionId) => Result<void>): Subscription {
  let ended: Result<void> | undefined;
  const end = () => (ended ??= unsubscribe(id));
  return { id, unsubscribe: end, [Symbol.dispose]: () => void end(), [Symbol.asyncDispose]: async () => void end() };
}

/**
 * The facade bound to one adapter: short methods that find the adapter, read
 * it through the machine's selectors, and turn what they find into a `Result`.
 */
export class DiscoveryImpl implements Discovery {
  readonly name: string;
  private readonly keys: ReturnType<typeof keyFunctions>;

  constructor(private readonly target: DiscoveryTarget = {}) {
    this.name = target.name ?? defaultAdapterName;
    this.keys = keyFunctions(this.name, this.keyring);
  }

  /** The adapter actor under this name, running or not. */
  private actor(): DiscoveryActorRef | undefined {
    return this.target.system ? this.target.system.get(this.name) : lookupRegistration(this.name)?.actor;
  }

  /** Asks the running adapter's machine for the backend's keyring; no answer while none runs. */
  readonly keyring: KeyringRequest = (use) => {
    const actor = this.actor();
    if (actor && actor.getSnapshot().status === 'active') actor.send({ type: 'keys', use });
  };

  /** The adapter and its snapshot while it runs; otherwise an error of the given kind. */
  private live(fail: (message: string) => DiscoveryError = DiscoveryErrors.syncFailed): Result<Live> {
    const actor = this.actor();
    const snapshot = actor?.getSnapshot();
    if (actor && snapshot && isRunning(snapshot)) return ok({ actor, snapshot });
    return err(fail(this.notRunning()));
  }

  private read<T>(select: (snapshot: AdapterSnapshot) => T): Result<T> {
    const live = this.live();
    return live.ok ? ok(select(live.value.snapshot)) : live;
  }

  private send(command: AdapterCommand): Result<void> {
    const live = this.live();
    if (live.ok) live.value.actor.send(command);
    return live.ok ? ok(undefined) : live;
  }

  async stop(timeoutMs?: number): Promise<Result<void>> {
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
      return err(DiscoveryErrors.invalidConfiguration('timeoutMs', timeoutMs, 'a positive number of milliseconds'));
    }
    const live = this.live(DiscoveryErrors.stopFailed);
    if (!live.ok) return live;
    const { actor, snapshot } = live.value;
    // By default, wait for the adapter's own bound on a graceful leave, plus a little.
    const bound = timeoutMs ?? selectConfig(snapshot).stopTimeoutMs + 1000;
    const root = lookupRegistration(this.name)?.root ?? false;
    const finished = settle(actor, (s) => !isRunning(s), bound);
    actor.send({ type: 'stop' });
    const stopped = await finished;
    // Subscribers hear nothing once stop has resolved.
    release(this.name);
    if (stopped) return ok(undefined);
    // A root adapter is stopped outright; an invoked one ends with its leave timeout.
    if (root) actor.stop();
    return err(DiscoveryErrors.shutdownTimeout(bound));
  }

  subscribe(callback: DiscoveryCallback, options: SubscribeOptions = {}): Result<SubscriptionId> {
    return this.addSubscriber(callback, options);
  }

  subscription(callback: DiscoveryCallback, options: SubscribeOptions = {}): Result<Subscription> {
    const subscribed = this.addSubscriber(callback, options);
    return subscribed.ok ? ok(subscriptionObject(subscribed.value, (id) => this.unsubscribe(id))) : subscribed;
  }

  unsubscribe(id: SubscriptionId): Result<void> {
    const hub = lookupRegistration(this.name)?.hub;
    if (!hub) return err(DiscoveryErrors.subscriptionFailed(this.notRunning()));
    // As in the Gleam module, removing a subscription that is not there is not a failure.
    hub.remove(id);
    return ok(undefined);
  }

  events(options: SubscribeOptions = {}): Result<EventStream> {
    const stream = new QueuedEventStream();
    const subscribed = this.addSubscriber(stream.deliver, options, stream.closed);
    if (!subscribed.ok) return subscribed;
    stream.attach(() => void this.unsubscribe(subscribed.value));
    return ok(stream);
  }

  snapshot(): Result<PeerInfo[]> {
    return this.read(selectPeers);
  }

  lookup(peerId: string): Result<PeerInfo> {
    const live = this.live();
    if (!live.ok) return live;
    const peer = typeof peerId === 'string' ? selectPeer(live.value.snapshot, peerId) : undefined;
    return peer ? ok(peer) : err(DiscoveryErrors.peerNotFound(String(peerId)));
  }

  owner(key: string): Result<PeerInfo> {
    const found = this.owners(key, 1);
    return found.ok ? ok(found.value[0]!) : found;
  }

  owners(key: string, n: number): Result<PeerInfo[]> {
    if (typeof key !== 'string') return err(DiscoveryErrors.invalidConfiguration('key', key, 'a string'));
    if (!(Number.isSafeInteger(n) && n > 0)) return err(DiscoveryErrors.invalidConfiguration('n', n, 'a positive whole number of owners'));
    return this.read((snapshot) => selectOwners(snapshot, key, n));
  }

  health(): HealthStatus {
    const actor = this.actor();
    return actor ? selectHealth(actor.getSnapshot()) : { type: 'Down', reason: NOT_FOUND };
  }

  healthInfo(): Result<HealthInfo> {
    return this.read(selectHealthInfo);
  }

  metrics(): Result<DiscoveryMetrics> {
    return this.read(selectMetrics);
  }

  self(): Result<PeerInfo> {
    return this.read(selectSelf);
  }

  setMetadata(metadata: PeerMetadata): Result<void> {
    const valid = attempt(() => validateMetadata(metadata));
    return valid.ok ? this.send({ type: 'setMetadata', metadata: valid.value }) : valid;
  }

  join(seeds: readonly string[]): Result<void> {
    if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every((s) => typeof s === 'string' && s.length > 0)) {
      return err(DiscoveryErrors.invalidConfiguration('seeds', seeds, 'a non-empty array of host:port strings'));
    }
    return this.send({ type: 'join', seeds: [...seeds] });
  }

  installKey(key: string): Result<void> {
    return this.keys.installKey(key);
  }

  useKey(key: string): Result<void> {
    return this.keys.useKey(key);
  }

  removeKey(key: string): Result<void> {
    return this.keys.removeKey(key);
  }

  listKeys(): Result<KeyList> {
    return this.keys.listKeys();
  }

  private notRunning(): string {
    return `Discovery is not running: no adapter named ${JSON.stringify(this.name)}`;
  }

  private addSubscriber(
    callback: DiscoveryCallback,
    options: SubscribeOptions,
    onClose?: (cutOff: Error | undefined) => void,
  ): Result<SubscriptionId> {
    const checked = checkSubscriber(callback, options);
    if (!checked.ok) return checked;
    const live = this.live(DiscoveryErrors.subscriptionFailed);
    const hub = lookupRegistration(this.name)?.hub;
    if (!live.ok) return live;
    if (!hub) return err(DiscoveryErrors.subscriptionFailed(this.notRunning()));
    // Reading the table and adding the subscriber happen in one synchronous step,
    // so no event can fall between the replayed peers and the live ones.
    const initial: DiscoveryEvent[] = options.replay ? selectPeers(live.value.snapshot).map((peer) => ({ type: 'PeerUp', peer })) : [];
    return ok(hub.add(callback, initial, checked.value.maxPending, onClose, checked.value.maxPendingAgeMs));
  }
}

/**
 * Waits, with XState's `waitFor`, until `predicate` holds for the actor's
 * snapshot; false when `timeoutMs` passes, the signal aborts, or the actor
 * ends without it holding.
 */
export async function settle(
  actor: DiscoveryActorRef,
  predicate: (snapshot: AdapterSnapshot) => boolean,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  try {
    await waitFor(actor, predicate, { timeout: timeoutMs, ...(signal ? { signal } : {}) });
    return true;
  } catch {
    // An actor that crashed or completed may still satisfy it (e.g. "no longer running").
    return !signal?.aborted && predicate(actor.getSnapshot());
  }
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
  return new DiscoveryImpl(target);
}

const defaultDiscovery = bind();

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

/**
 * The member that owns `key`: the live members, self included, ranked by
 * rendezvous (highest-random-weight) hashing, the same on every member with
 * the same view. When a member goes, only its keys move; one that comes takes
 * about 1/N of them. A member's `distribute.weight` metadata (a number,
 * default 1) scales its share. For sharding work or picking a leader per key.
 *
 * @example
 * ```ts
 * const leader = discovery.owner('jobs:nightly');
 * const self = discovery.self();
 * if (leader.ok && self.ok && leader.value.id === self.value.id) console.log('this node runs the nightly job');
 * ```
 */
export const owner = (key: string): Result<PeerInfo> => defaultDiscovery.owner(key);

/**
 * The `n` members that own `key`, best first (an owner and its replicas);
 * every member when there are fewer. `InvalidConfiguration` when `n` is not
 * a positive whole number. See {@link owner}.
 *
 * @example
 * ```ts
 * const replicas = discovery.owners('user:42', 3);
 * if (replicas.ok) console.log(replicas.value.map((peer) => peer.id));
 * ```
 */
export const owners = (key: string, n: number): Result<PeerInfo[]> => defaultDiscovery.owners(key, n);

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
