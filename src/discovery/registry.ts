/**
 * The process-wide registry of running adapters: a map from name to handle.
 * XState has no global system (each root actor makes its own), so the facade
 * finds the singleton here. Each name also owns an `EventHub`, which outlives
 * a crashed adapter so that subscribers carry over to its restart.
 *
 * Whoever creates an adapter actor (`startLink`, the supervisor) calls
 * `register`, which feeds the actor's emitted events to the hub; the actor
 * itself knows nothing of the registry.
 */
import type { AdapterActorRef } from '../../machines/adapter.machine.js';
import type { BackendLog } from './kit/backend.js';
import { DEFAULT_MAX_PENDING, EventHub } from './hub.js';
import type { DiscoveryEvent, PeerInfo, PeerSuspicionEvent } from './types.js';

/** A registered name: its running adapter (if any) and its subscribers. */
export interface Registration {
  readonly name: string;
  /** The running adapter, or undefined while a crashed one awaits restart. */
  actor: AdapterActorRef | undefined;
  /** Whether the actor is a root actor (stopped outright on a stop timeout) or a supervised child. */
  root: boolean;
  readonly hub: EventHub;
}

const registrations = new Map<string, Registration>();

/** The registration under `name`, if any. */
export function lookupRegistration(name: string): Registration | undefined {
  return registrations.get(name);
}

/**
 * Why a second adapter under `name` cannot start: the registry is
 * process-wide (like a registered name on a BEAM node), so one adapter per
 * name per process, whatever XState system it runs in.
 */
export function nameTakenMessage(name: string): string {
  return (
    `An adapter named ${JSON.stringify(name)} is already running in this process (one adapter per name per process); ` +
    `give this one its own name, e.g. childSpec({ name: 'other_discovery' }) or startLink({ name: 'other_discovery' })`
  );
}

/** Whether a live adapter holds `name`. */
export function isNameTaken(name: string): boolean {
  const actor = registrations.get(name)?.actor;
  return actor !== undefined && actor.getSnapshot().status === 'active';
}

/** What `register` needs besides the actor. */
export interface RegisterOptions {
  readonly log: BackendLog;
  /** Whether the creator owns the actor as a root (see `Registration.root`). */
  readonly root: boolean;
  /** Called for every `PeerUp`, through the hub like any subscriber. */
  readonly onPeerUp?: ((peer: PeerInfo) => void) | undefined;
}

/**
 * Registers `actor` under `name` (the caller has checked `isNameTaken`),
 * feeds its emitted events to the name's hub, and unregisters it when it
 * ends. A crash keeps the hub for a restart; any other end closes it.
 */
export function register(name: string, actor: AdapterActorRef, options: RegisterOptions): Registration {
  let registration = registrations.get(name);
  if (!registration) {
    registration = { name, actor: undefined, root: options.root, hub: new EventHub(options.log) };
    registrations.set(name, registration);
  }
  registration.actor = actor;
  registration.root = options.root;
  const { hub } = registration;
  // Suspicion changes go through the hub too, in order, but only to subscribers that asked for them.
  const listener = actor.on('*', (event: DiscoveryEvent | PeerSuspicionEvent) => hub.publish(event));
  const { onPeerUp } = options;
  const hook = onPeerUp
    ? hub.add((event) => (event.type === 'PeerUp' ? onPeerUp(event.peer) : undefined), [], DEFAULT_MAX_PENDING)
    : undefined;
  const end = (crashed: boolean) => {
    listener.unsubscribe();
    if (hook) hub.remove(hook);
    detach(name, actor, crashed);
  };
  actor.subscribe({ complete: () => end(false), error: () => end(true) });
  return registration;
}

/**
 * Releases `name` if `actor` holds it. With `keepSubscribers` (a crash that a
 * supervisor may restart) the hub stays; otherwise it is closed and dropped.
 */
function detach(name: string, actor: AdapterActorRef, keepSubscribers: boolean): void {
  const registration = registrations.get(name);
  if (!registration || (registration.actor !== undefined && registration.actor !== actor)) return;
  registration.actor = undefined;
  if (!keepSubscribers) {
    registration.hub.close();
    registrations.delete(name);
  }
}

/** Closes the hub of `name` and forgets it (after a deliberate stop). */
export function release(name: string): void {
  const registration = registrations.get(name);
  if (!registration) return;
  registration.hub.close();
  registrations.delete(name);
}
