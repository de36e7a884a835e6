/**
 * Members restarted at new addresses, in the simulated network (`lan`
 * profile): 30% of a converged cluster of N = 200 and 1,000 come back at once
 * with the same ids from new addresses (rescheduled pods), their old hosts
 * silent. Measured per trial:
 * - time until every running member sees every other alive at its current address;
 * - `fail` events that hit a new incarnation (should be none);
 * - `fail` events of old incarnations (members that found the old host silent
 *   before they heard of the restart).
 * One-way delay 0.5 to 1.5 ms, no loss; each cluster runs 5 s before the restarts.
 *
 *   node --import tsx bench/gossip-restart.ts          (writes bench/results/gossip-restart.json)
 *   node --import tsx bench/gossip-restart.ts 200      (only this size; prints, writes nothing)
 */
import { round, simTrial, stats, writeResults } from './support.js';

const SIZES = [200, 1000];
const TRIALS: Record<number, number> = { 200: 10, 1000: 5 };
const SHARE = 0.3;
const MAX_MS = 300_000;

interface Trial {
  seed: number;
  allSeeAllMs: number;
  newIncarnationFails: number;
  oldIncarnationFails: number;
  wallSeconds: number;
}

function trial(n: number, seed: number): Trial {
  const { sim, names, wallSeconds } = simTrial(seed, n);
  const moved = new Set<string>();
  let newIncarnationFails = 0;
  let oldIncarnationFails = 0;
  sim.onEvent((e) => {
    if (e.event.type !== 'fail') return;
    if (moved.has(e.event.member.address)) newIncarnationFails++;
    else oldIncarnationFails++;
  });
  // Every third-ish member, spread over the ring; each rejoins through a member that stays.
  const count = Math.round(n * SHARE);
  const step = n / count;
  const restarted = new Set(Array.from({ length: count }, (_, i) => names[Math.floor(i * step)]!));
  const stays = names.filter((name) => !restarted.has(name));
  const start = sim.now;
  let i = 0;
  for (const name of restarted) {
    const address = `${name}-b`;
    moved.add(address);
    sim.restartElsewhere(name, address, [stays[i++ % stays.length]!]);
  }
  const done = sim.runUntil(() => sim.unconverged().length === 0, MAX_MS, 50);
  return {
    seed,
    allSeeAllMs: done ? sim.now - start : Number.NaN,
    newIncarnationFails,
    oldIncarnationFails,
    wallSeconds: wallSeconds(),
  };
}

const args = process.argv.slice(2);
const sizes = args.length > 0 ? args.map(Number) : SIZES;
const figures: Record<string, unknown> = {};
for (const n of sizes) {
  const runs: Trial[] = [];
  for (let t = 0; t < (TRIALS[n] ?? 3); t++) {
    const run = trial(n, 1000 + t);
    runs.push(run);
    console.error(`  N=${n} seed ${run.seed}: all see all ${round(run.allSeeAllMs)} ms, fails of new ${run.newIncarnationFails}, of old ${run.oldIncarnationFails}, wall ${round(run.wallSeconds)} s`);
  }
  figures[`N=${n}`] = {
    trials: runs.length,
    restarted: Math.round(n * SHARE),
    allSeeAllMs: stats(runs.map((r) => r.allSeeAllMs)),
    newIncarnationFails: runs.reduce((s, r) => s + r.newIncarnationFails, 0),
    oldIncarnationFails: stats(runs.map((r) => r.oldIncarnationFails)),
  };
}
console.log(JSON.stringify(figures, null, 2));
if (args.length === 0) {
  const file = writeResults('gossip-restart', 'node --import tsx bench/gossip-restart.ts', {
    profile: 'lan',
    network: 'one-way delay 0.5–1.5 ms, no loss; clusters start converged and run 5 s; 30% restart at once at new addresses',
    ...figures,
  });
  console.log(`written to ${file}`);
}
