/**
 * How incarnations compare. They are serial numbers modulo 2^48 (RFC 1982
 * arithmetic): a member raising its incarnation past the top wraps to 0 and
 * is still newer, so no claim can push a member to where it could no longer
 * refute. And claims from others may move a member's incarnation only a
 * bounded window from what we know: a forged jump far ahead (or behind) is
 * dropped rather than believed, so one packet cannot burn a member's future.
 */

/** The size of the incarnation space; the codec's largest value, 2^48, is the same as 0. */
export const INCARNATION_SPACE = 2 ** 48;
/**
 * How far from what we know of a member a claim about it may move its
 * incarnation. A member raises its own by one per refutation or metadata
 * change, and a restarted one starts at the Unix time in seconds, so honest
 * news stays within it (a million changes, or twelve days of downtime,
 * before the dead are forgotten anyway).
 */
export const INCARNATION_WINDOW = 2 ** 20;

const HALF = INCARNATION_SPACE / 2;

/** How far `a` is ahead of `b`, in [0, 2^48). */
function ahead(a: number, b: number): number {
  const d = (a - b) % INCARNATION_SPACE;
  return d < 0 ? d + INCARNATION_SPACE : d;
}

/**
 * Whether incarnation `a` is newer than `b`.
 *
 * @example
 * isNewer(5, 4); // true
 * isNewer(0, 2 ** 48 - 1); // true: it wrapped
 */
export function isNewer(a: number, b: number): boolean {
  const d = ahead(a, b);
  return d > 0 && d < HALF;
}

/**
 * Whether a claim at `claim` is within {@link INCARNATION_WINDOW} of `known`, either way.
 *
 * @example
 * withinWindow(1_700_000_001, 1_700_000_000); // true
 * withinWindow(2 ** 48 - 1, 1_700_000_000); // false
 */
export function withinWindow(claim: number, known: number): boolean {
  const d = ahead(claim, known);
  return d <= INCARNATION_WINDOW || d >= INCARNATION_SPACE - INCARNATION_WINDOW;
}

/**
 * The incarnation after `a`: one more, wrapping past the top.
 *
 * @example
 * nextIncarnation(2 ** 48 - 1); // 0
 */
export function nextIncarnation(a: number): number {
  return (a + 1) % INCARNATION_SPACE;
}

/**
 * The newer of two incarnations.
 *
 * @example
 * newest(0, 2 ** 48 - 1); // 0
 */
export function newest(a: number, b: number): number {
  return isNewer(b, a) ? b : a;
}
