/**
 * Lifeguard's dynamic suspicion timeout. A suspicion starts with the longest
 * timeout, so a member that is only slow has time to refute; each
 * independent confirmation (another member whose own probe failed) shrinks
 * it logarithmically towards the shortest, so a member that is really gone
 * is declared dead quickly once several agree.
 */
import type { GossipConfig } from './config.js';

/** One member under suspicion, as this node sees it. */
export interface Suspicion {
  /** When this node began suspecting; timeouts count from here. */
  readonly startedAt: number;
  /** Who first reported it and who confirmed it since; the first report is not a confirmation. */
  readonly reporters: Set<string>;
  /** Confirmations counted so far (reporters other than the first). */
  confirmations: number;
  /** Confirmations after which the timeout is at its floor; 0 when the cluster is too small to expect any. */
  readonly expected: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** When the member is to be declared dead unless refuted. */
  deadline: number;
}

/**
 * The shortest suspicion timeout in a cluster of `n`:
 * `suspicionMult × max(1, log10(n)) × probeIntervalMs`.
 *
 * @example
 * suspicionMinMs(lanProfile(), 1000); // 1 × 3 × 1000 = 3000
 */
export function suspicionMinMs(config: GossipConfig, n: number): number {
  return config.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * config.probeIntervalMs;
}

/**
 * The longest suspicion timeout in a cluster of `n`: `suspicionMaxTimeoutMult × min`.
 *
 * @example
 * suspicionMaxMs(lanProfile(), 1000); // 3 × 3000 = 9000
 */
export function suspicionMaxMs(config: GossipConfig, n: number): number {
  return config.suspicionMaxTimeoutMult * suspicionMinMs(config, n);
}

/**
 * Confirmations to expect in a cluster of `n`: `suspicionConfirmations`, or
 * none when fewer than that many members besides this one and the suspect
 * exist (then the timeout is the shortest from the start).
 *
 * @example
 * expectedConfirmations(lanProfile(), 3); // 0: only 1 other could confirm
 * expectedConfirmations(lanProfile(), 4); // 2
 */
export function expectedConfirmations(config: GossipConfig, n: number): number {
  return n - 2 < config.suspicionConfirmations ? 0 : config.suspicionConfirmations;
}

/**
 * The timeout after `confirmations` of `expected`:
 * `max − (max − min) × ln(confirmations + 1) / ln(expected + 1)`, never under
 * `min`; `min` when none are expected.
 *
 * @example
 * suspicionTimeoutMs(1000, 6000, 0, 3); // 6000
 * suspicionTimeoutMs(1000, 6000, 3, 3); // 1000
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, expected: number): number {
  if (expected < 1) return minMs;
  const fraction = Math.min(1, Math.log(confirmations + 1) / Math.log(expected + 1));
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * fraction));
}

/**
 * A new suspicion of a member, first reported by `from`, in a cluster of `n`.
 *
 * @example
 * const s = startSuspicion(lanProfile(), 100, 'b', 0);
 * s.deadline; // suspicionMaxMs(lanProfile(), 100) = 3 × 2 × 1000 = 6000
 */
export function startSuspicion(config: GossipConfig, n: number, from: string, now: number): Suspicion {
  const minMs = suspicionMinMs(config, n);
  const maxMs = config.suspicionMaxTimeoutMult * minMs;
  const expected = expectedConfirmations(config, n);
  return { startedAt: now, reporters: new Set([from]), confirmations: 0, expected, minMs, maxMs, deadline: now + suspicionTimeoutMs(minMs, maxMs, 0, expected) };
}

/**
 * Counts `from` as a confirmation unless it reported already or the timeout
 * is at its floor; moves the deadline in. Returns whether it counted (then
 * it is worth passing on, so that others' timers shrink too; past the floor
 * passing it on would change nothing).
 *
 * @example
 * const s = startSuspicion(lanProfile(), 100, 'b', 0);
 * confirmSuspicion(s, 'c'); // true, and s.deadline is sooner
 * confirmSuspicion(s, 'c'); // false
 */
export function confirmSuspicion(suspicion: Suspicion, from: string): boolean {
  if (suspicion.confirmations >= suspicion.expected || suspicion.reporters.has(from)) return false;
  suspicion.reporters.add(from);
  suspicion.confirmations++;
  suspicion.deadline = suspicion.startedAt + suspicionTimeoutMs(suspicion.minMs, suspicion.maxMs, suspicion.confirmations, suspicion.expected);
  return true;
}
