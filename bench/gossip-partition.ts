/**
 * Partition heal time in the simulated network, `lan` profile: a converged
 * cluster of N is split in two halves for longer than the dead are
 * remembered (`deadReclaimMs`, a minute), so each half has forgotten the
 * other altogether; then the network returns. Measured from that moment:
 * - the first push-pull that crosses (a member on one side learns one on the
 *   other again);
 * - convergence: every member sees every other alive (checked every 500 ms
 *   of simulated time).
 * Beside them, the push-pull interval of a half (`pushPullIntervalFor(n/2)`),
 * the bound the design aims under. One-way delay 0.5 to 1.5 ms, no loss.
 *
 *   node --import tsx bench/gossip-partition.ts          (writes bench/results/gossip-partition.json)
 *   node --import tsx bench/gossip-partition.ts 100      (only this size; prints, writes nothing)
 */
import { lanProfile, pushPullIntervalFor } from '../src/discovery/gossip/config.js';
import { SimNetwork } from '../src/discovery/gossip/sim.js';
import { median, quantile, round, writeResults } from './support.js';

const SIZES = [100, 1000];
const TRIALS: Record<number, number> = { 100: 20, 1000: 5 };
/** How long each split lasts, simulated: ten minutes at 100, three at 1,000 (still three times `deadReclaimMs`). */
const SPLIT_MS: Record<number, number> = { 100: 10 * 60_000, 1000: 3 * 60_000 };

interface Trial {
  seed: number;
  firstContactMs: number;
  convergedMs: number;
  wallSeconds: number;
}

function trial(n: number, seed: number): Trial {
  const wallStart = performance.now();
  const sim = new SimNetwork({ seed, recordEvents: false, delayMs: 0.5, jitterMs: 1 });
  const names = sim.addConverged(n);
  sim.runFor(2000);
  const left = new Set(names.slice(0, n / 2));
  sim.partition(names.slice(0, n / 2), names.slice(n / 2));
  sim.runFor(SPLIT_MS[n] ?? 3 * 60_000);
  const forgotten = names.slice(0, n / 2).every((a) => sim.statusOf(a, names[n - 1]!) === undefined);
  if (!forgotten) throw new Error('The split was too short: a side still remembers the other');

  let firstContact = Number.NaN;
  sim.onEvent((e) => {
    if (Number.isNaN(firstContact) && e.event.type === 'join' && left.has(e.observer) !== left.has(e.event.member.id)) firstContact = e.at;
  });
  const healedAt = sim.now;
  sim.heal();
  const converged = sim.runUntil(() => sim.unconverged().length === 0, 30 * 60_000, 500);
  return {
    seed,
    firstContactMs: firstContact - healedAt,
    convergedMs: converged ? sim.now - healedAt : Number.NaN,
    wallSeconds: (performance.now() - wallStart) / 1000,
  };
}

function stats(values: number[]) {
  return { median: round(median(values)), p99: round(quantile(values, 0.99)) };
}

const args = process.argv.slice(2);
const sizes = args.length > 0 ? args.map(Number) : SIZES;
const figures: Record<string, unknown> = {};
const rows: Record<string, string | number>[] = [];
for (const n of sizes) {
  const runs: Trial[] = [];
  for (let i = 0; i < (TRIALS[n] ?? 3); i++) {
    const run = trial(n, 2000 + i);
    runs.push(run);
    console.error(`  N=${n} seed ${run.seed}: first contact ${round(run.firstContactMs)} ms, converged ${round(run.convergedMs)} ms, wall ${round(run.wallSeconds)} s`);
  }
  const interval = pushPullIntervalFor(lanProfile(), n / 2);
  const summary = {
    trials: runs.length,
    seeds: runs.map((r) => r.seed),
    splitMs: SPLIT_MS[n],
    pushPullIntervalOfAHalfMs: interval,
    firstCrossingPushPullMs: stats(runs.map((r) => r.firstContactMs)),
    convergedAfterHealMs: stats(runs.map((r) => r.convergedMs)),
    notConverged: runs.filter((r) => Number.isNaN(r.convergedMs)).length,
    wallSecondsPerTrial: stats(runs.map((r) => r.wallSeconds)),
  };
  figures[`N=${n}`] = summary;
  rows.push({
    size: `N=${n}`,
    'split min': (SPLIT_MS[n] ?? 0) / 60_000,
    'push-pull interval ms': interval,
    'first contact ms (med/p99)': `${summary.firstCrossingPushPullMs.median} / ${summary.firstCrossingPushPullMs.p99}`,
    'converged ms (med/p99)': `${summary.convergedAfterHealMs.median} / ${summary.convergedAfterHealMs.p99}`,
  });
}
console.table(rows);
if (args.length === 0) {
  const file = writeResults('gossip-partition', 'node --import tsx bench/gossip-partition.ts', {
    profile: 'lan',
    network: 'one-way delay 0.5–1.5 ms, no loss; clusters start converged, split in halves past deadReclaimMs, then healed',
    ...figures,
  });
  console.log(`written to ${file}`);
}
