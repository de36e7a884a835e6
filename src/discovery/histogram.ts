/**
 * A fixed-bucket histogram of durations in ms: an observation is one
 * increment, so the protocol core and the session runner can keep one at any
 * rate. `/metrics` serves it as a Prometheus histogram (in seconds).
 */

/** What a histogram holds, as `metrics().histograms` shows it. */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, in ms, ascending; a last bucket above them is implied (`+Inf`). */
  readonly boundsMs: readonly number[];
  /** Observations per bucket, not cumulative: `boundsMs.length + 1` entries, the last above every bound. */
  readonly counts: readonly number[];
  /** Sum of the observations, in ms. */
  readonly sumMs: number;
  readonly count: number;
}

/** Bucket bounds for round trips and syncs on a LAN: 0.5 ms to 10 s. */
export const DURATION_BOUNDS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000];

/**
 * @example
 * ```ts
 * const rtt = new Histogram();
 * rtt.observe(0.8);
 * rtt.snapshot().count; // 1
 * ```
 */
export class Histogram {
  private readonly counts: number[];
  private sumMs = 0;
  private count = 0;

  constructor(private readonly boundsMs: readonly number[] = DURATION_BOUNDS_MS) {
    this.counts = new Array<number>(boundsMs.length + 1).fill(0);
  }

  /** Counts one duration; one that is not a finite number of ms or more is left out. */
  observe(ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) return;
    let at = 0;
    while (at < this.boundsMs.length && ms > this.boundsMs[at]!) at++;
    this.counts[at]!++;
    this.sumMs += ms;
    this.count++;
  }

  snapshot(): HistogramSnapshot {
    return { boundsMs: this.boundsMs, counts: [...this.counts], sumMs: this.sumMs, count: this.count };
  }
}
