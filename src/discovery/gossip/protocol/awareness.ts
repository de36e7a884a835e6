/**
 * Lifeguard's local health: a score that rises when this node shows signs of
 * being the slow one (its probes fail while the members it asks for help do
 * not even send nacks back, or it hears itself suspected) and falls with
 * each probe answered. Probe interval and timeout are stretched by it, so a
 * node in trouble probes others less eagerly and declares fewer of them
 * suspect wrongly.
 */

/**
 * The score after `delta`, kept within `[0, maxMultiplier − 1]`.
 *
 * @example
 * adjustAwareness(0, 1, 8); // 1
 * adjustAwareness(7, 3, 8); // 7
 * adjustAwareness(0, -1, 8); // 0
 */
export function adjustAwareness(score: number, delta: number, maxMultiplier: number): number {
  return Math.max(0, Math.min(maxMultiplier - 1, score + delta));
}

/**
 * A timeout or interval stretched by the score: `ms × (score + 1)`.
 *
 * @example
 * scaleByAwareness(500, 0); // 500
 * scaleByAwareness(500, 3); // 2000
 */
export function scaleByAwareness(ms: number, score: number): number {
  return ms * (score + 1);
}

/**
 * What a failed probe says about our own health: each relay that sent no
 * nack counts one (we may be the one not hearing); with no relays to ask,
 * the failure itself counts one.
 *
 * @example
 * failedProbePenalty(3, 3); // 0: the relays answered, the target is the problem
 * failedProbePenalty(3, 0); // 3
 * failedProbePenalty(0, 0); // 1
 */
export function failedProbePenalty(expectedNacks: number, nacks: number): number {
  return expectedNacks === 0 ? 1 : Math.max(0, expectedNacks - nacks);
}
