/** Counts of a core for metrics: its table, what it has done, and its probes' round trips. */
import type { HistogramSnapshot } from '../../histogram.js';
import type { Core } from './state.js';

/** What {@link tally} counts. */
export interface CoreTally {
  /** Members held, this node and the not yet forgotten dead included. */
  readonly members: number;
  /** Of those, members that left. */
  readonly left: number;
  /** Of those, members declared dead. */
  readonly failed: number;
  /** Members this node started to suspect. */
  readonly suspicions: number;
  /** Times this node refuted a suspicion of itself. */
  readonly refutations: number;
  /** Claims dropped because their incarnation was too far from what this node knew. */
  readonly claimsOutOfWindow: number;
  /** News of new members dropped by `maxMembers` or `newMembersPerSecond`. */
  readonly newMembersDropped: number;
  /** Probes answered over TCP only (the fallback saved them from failing). */
  readonly tcpFallbacks: number;
  /** Times news of a new member was sent at once to `joinNewsFanout` members. */
  readonly joinNewsSent: number;
  /** Times it was left to the gossip round instead, beyond `joinNewsPerSecond`. */
  readonly joinNewsDeferred: number;
}

/**
 * Counts for metrics: the table's size, the left and failed in it, and
 * suspicions, refutations and probes saved by the TCP fallback so far.
 *
 * @example
 * tally(core); // { members: 1, left: 0, failed: 0, suspicions: 0, refutations: 0, claimsOutOfWindow: 0, newMembersDropped: 0, tcpFallbacks: 0, joinNewsSent: 0, joinNewsDeferred: 0 } for a new core
 */
export function tally(core: Core): CoreTally {
  let left = 0;
  let failed = 0;
  for (const m of core.members.values()) {
    if (m.status === 'left') left++;
    else if (m.status === 'dead') failed++;
  }
  return { members: core.members.size, left, failed, ...core.stats };
}

/**
 * The round-trip time of the last direct probe each live member answered, in ms, by id.
 *
 * @example
 * probeRtts(core); // { b: 0.8, c: 1.2 }
 */
export function probeRtts(core: Core): Record<string, number> {
  return Object.fromEntries(core.probeRttMs);
}

/** Every direct probe's round trip so far, bucketed. */
export function probeRttHistogram(core: Core): HistogramSnapshot {
  return core.probeRtt.snapshot();
}

