/**
 * Partition heal time in the simulated network, `lan` profile. Two cases:
 * - split: a converged cluster of N is split in two halves for longer than
 *   the dead are remembered (`deadReclaimMs`, a minute), so each half has
 *   forgotten the other altogether; then the network returns;
 * - apart: two converged halves of N/2 that never met (clusters formed
 *   apart, or a split long forgotten) until one push-pull crosses, as a seed
 *   lookup or a failed member's address brings about. The same state as
 *   after a long split without simulating the split. At 5,000 members a run
 *   holds over 7 GB of heap and takes hours on a shared 2-core machine, so
 *   the sizes stop at 1,000; `apart 5000` runs it on purpose.
 * Measured from the network's return (the crossing push-pull): the first
 * member to learn one on the other side, and convergence, every member
 * seeing every other alive (checked every 500 ms of simulated time, up to
 * `LIMIT_MS`). Beside them, the push-pull interval of a half
 * (`pushPullIntervalFor(n/2)`). One-way delay 0.5 to 1.5 ms, no loss.
 *
 *   node --import tsx bench/gossip-partition.ts                 (writes bench/results/gossip-partition.json)
 *   node --import tsx bench/gossip-partition.ts apart 100 1000  (only these; prints, writes nothing)
 *   node --import tsx bench/gossip-partition.ts --out NAME      (all, written to bench/results/NAME.json)
 */
import { lanProfile, pushPullIntervalFor } from '../src/discovery/gossip/protocol/config.js';
import type { SimNetwork } from '../src/discovery/testing/sim.js';
import { round, simTrial, stats, writeResults } from './support.js';

type Case = 'split' | 'apart';
const SIZES: Record<Case, number[]> = { split: [100, 1000], apart: [100, 1000] };
const TRIALS: Record<Case, Record<number, number>> = { split: { 100: 10, 1000: 1 }, apart: { 100: 10, 1000: 3, 5000: 1 } };
/** How long each split lasts, simulated: ten minutes at 100, three at 1,000 (still three times `deadReclaimMs`). */
const SPLIT_MS: Record<number, number> = { 100: 10 * 60_000, 1000: 3 * 60_000 };
/** Longest wait for convergence after the heal: past several push-pull intervals up to 1,000, one minute at 5,000 (its wall time). */
const LIMIT_MS: Record<number, number> = { 100: 30 * 60_000, 1000: 30 * 60_000, 5000: 60_000 };

interface Trial {
  seed: number;
  firstContactMs: number;
  convergedMs: number;
  wallSeconds: number;
}

/** Splits a converged cluster past forgetting; returns the two halves, the network healed. */
function split(sim: SimNetwork, n: number): string[][] {
  const names = sim.addConverged(n);
  sim.runFor(2000);
  const halves = [names.slice(0, n / 2), names.slice(n / 2)];
  sim.partition(halves[0]!, halves[1]!);
  sim.runFor(SPLIT_MS[n] ?? 3 * 60_000);
  if (sim.statusOf(names[0]!, names[n - 1]!) !== undefined) throw new Error('The split was too short: a side still remembers the other');
  sim.heal();
  return halves;
}

/** Two converged halves that never met; one push-pull crosses. */
function apart(sim: SimNetwork, n: number): string[][] {
  const halves = [sim.addConverged(n / 2, 'a'), sim.addConverged(n / 2, 'b')];
  sim.runFor(2000);
  sim.member('a0').driver.step({ type: 'seedAddresses', addresses: ['b0'] });
  return halves;
}

function trial(kind: Case, n: number, seed: number): Trial {
  const { sim, wallSeconds } = simTrial(seed);
  let firstContact = Number.NaN;
  let healedAt = Number.NaN;
  let left = new Set<string>();
  sim.onEvent((e) => {
    if (Number.isNaN(firstContact) && e.event.type === 'join' && left.has(e.observer) !== left.has(e.event.member.id)) firstContact = e.at;
  });
  if (kind === 'split') {
    left = new Set(split(sim, n)[0]);
    healedAt = sim.now;
  } else {
    healedAt = sim.now + 2000;
    left = new Set(apart(sim, n)[0]);
  }
  const converged = sim.runUntil(() => sim.unconverged().length === 0, LIMIT_MS[n] ?? 30 * 60_000, 500);
  return { seed, firstContactMs: firstContact - healedAt, convergedMs: converged ? sim.now - healedAt : Number.NaN, wallSeconds: wallSeconds() };
}


const args = process.argv.slice(2);
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const only = out === undefined && args.length > 0 ? { kind: args[0] as Case, sizes: args.slice(1).map(Number) } : undefined;
const figures: Record<string, unknown> = {};
const rows: Record<string, string | number>[] = [];
for (const kind of only ? [only.kind] : (['apart', 'split'] as Case[])) {
  for (const n of only ? only.sizes : SIZES[kind]) {
    const runs: Trial[] = [];
    for (let i = 0; i < (TRIALS[kind][n] ?? 1); i++) {
      const run = trial(kind, n, 2000 + i);
      runs.push(run);
      console.error(`  ${kind} N=${n} seed ${run.seed}: first contact ${round(run.firstContactMs)} ms, converged ${round(run.convergedMs)} ms, wall ${round(run.wallSeconds)} s`);
    }
    const interval = pushPullIntervalFor(lanProfile(), n / 2);
    const summary = {
      trials: runs.length,
      seeds: runs.map((r) => r.seed),
      ...(kind === 'split' ? { splitMs: SPLIT_MS[n] } : {}),
      limitMs: LIMIT_MS[n],
      pushPullIntervalOfAHalfMs: interval,
      firstCrossingPushPullMs: stats(runs.map((r) => r.firstContactMs)),
      convergedAfterHealMs: stats(runs.map((r) => r.convergedMs)),
      notConverged: runs.filter((r) => Number.isNaN(r.convergedMs)).length,
      wallSecondsPerTrial: stats(runs.map((r) => r.wallSeconds)),
    };
    figures[`${kind} N=${n}`] = summary;
    rows.push({
      case: `${kind} N=${n}`,
      'push-pull interval ms': interval,
      'first contact ms (med/p99)': `${summary.firstCrossingPushPullMs.median} / ${summary.firstCrossingPushPullMs.p99}`,
      'converged ms (med/p99)': `${summary.convergedAfterHealMs.median} / ${summary.convergedAfterHealMs.p99}`,
      'not converged': summary.notConverged,
    });
  }
}
console.table(rows);
if (!only) {
  const file = writeResults(out ?? 'gossip-partition', 'node --import tsx bench/gossip-partition.ts', {
    profile: 'lan',
    network: 'one-way delay 0.5–1.5 ms, no loss; split: a converged cluster split in halves past deadReclaimMs, then healed; apart: two converged halves that never met, one push-pull crossing',
    ...figures,
  });
  console.log(`written to ${file}`);
}
