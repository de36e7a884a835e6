/** The running adapter as its creator holds it: the typed actor and the handle `startLink` returns. */
import type { AdapterActorRef } from '../../machines/adapter.machine.js';
import type { PeerInfo, Result } from './types.js';

/**
 * The adapter actor, typed: its tags are the health (`up`, `degraded`,
 * `down`, `stopped`), its context the membership and counters. Narrow
 * `system.get(defaultAdapterName)` to it to read them without casts.
 *
 * @example
 * ```ts
 * const adapter: DiscoveryActorRef | undefined = actor.system.get(defaultAdapterName);
 * if (adapter?.getSnapshot().hasTag('up')) console.log(adapter.getSnapshot().context.peers.size);
 * ```
 */
export type DiscoveryActorRef = AdapterActorRef;

/** A running adapter, as `startLink` returns it. */
export interface AdapterHandle {
  /** The registered name. */
  readonly name: string;
  /** This node as the cluster sees it (id, metadata, address). */
  readonly self: PeerInfo;
  /** The adapter actor itself: inspect it, subscribe to its snapshots. */
  readonly actor: DiscoveryActorRef;
  /** Leaves gracefully and stops; same as the facade's `stop` for this name. */
  stop(timeoutMs?: number): Promise<Result<void>>;
  /** `await using handle = ...`: stops the adapter at the end of the scope, if it still runs. */
  [Symbol.asyncDispose](): Promise<void>;
}
