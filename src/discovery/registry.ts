/**
 * The process-wide registry of running adapters, by name. XState has no
 * global system (each root actor makes its own), so the facade finds the
 * singleton here. Each name also owns an `EventHub`, which outlives a crashed
 * adapter so that subscribers carry over to its restart.
 */
import type { AnyActorRef } from 'xstate';
import type { BackendLog } from './behaviour.js';
import { EventHub } from './hub.js';
import type { DiscoveryEvent, PeerSuspicionEvent } from './types.js';

export interface Registration {
  readonly name: string;
  /** The running adapter, or undefined while a crashed one awaits restart. */
  actor: AnyActorRef | undefined;
  readonly hub: EventHub;
  /** Removes the listener that feeds the hub from the actor's emitted events. */
  unlisten: (() => void) | undefined;
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

/** Registers `actor` under `name` and routes its emitted events to the name's hub. */
export function attach(
  name: string,
  actor: AnyActorRef,
  log: BackendLog,
): { ok: true; hub: EventHub } | { ok: false; message: string } {
  let registration = registrations.get(name);
  if (registration?.actor && registration.actor !== actor && registration.actor.getSnapshot().status === 'active') {
    return { ok: false, message: nameTakenMessage(name) };
  }
  if (!registration) {
    registration = { name, actor: undefined, hub: new EventHub(log), unlisten: undefined };
    registrations.set(name, registration);
  }
  registration.unlisten?.();
  registration.actor = actor;
  const hub = registration.hub;
  // Suspicion changes go through the hub too, in order, but only to subscribers that asked for them.
  const subscription = actor.on('*', (event: DiscoveryEvent | PeerSuspicionEvent) => hub.publish(event));
  registration.unlisten = () => subscription.unsubscribe();
  return { ok: true, hub };
}

/**
 * Releases `name` if `actor` holds it. With `keepSubscribers` (a crash that a
 * supervisor may restart) the hub stays; otherwise it is closed and dropped.
 */
export function detach(name: string, actor: AnyActorRef, keepSubscribers: boolean): void {
  const registration = registrations.get(name);
  if (!registration || (registration.actor !== undefined && registration.actor !== actor)) return;
  registration.unlisten?.();
  registration.unlisten = undefined;
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
  registration.unlisten?.();
  registration.hub.close();
  registrations.delete(name);
}
