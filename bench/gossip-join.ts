/**
 * A mass join in the simulated network, `lan` profile: N members start
 * within one second (a Deployment scaled up, a whole cluster restarted),
 * all through one seed that is up already. Measured from the first start:
 * - all see all: every member sees every other alive (checked every 250 ms
 *   of simulated time);
 * - per member, when it first sees every other alive (median, p99);
 * - the load on the seed: push-pull frames and bytes it sent, and the most
 *   bytes any member sent over TCP, while joining;
 * - push-pull frames and bytes sent by everyone, per member.
 * One-way delay 0.5 to 1.5 ms, no loss.
 *
 *   node --import tsx bench/gossip-join.ts              (writes bench/results/gossip-join.json)
 *   node --import tsx bench/gossip-join.ts 200 1000     (only these sizes; prints, writes nothing)
 *   node --import tsx bench/gossip-join.ts --out NAME   (all sizes, written to bench/results/NAME.json)
 */
import { memberOf } from '../src/discovery/gossip/protocol/core.js';
import { Rng } from '../src/discovery/rng.js';
import { median, quantile, round, simTrial, writeResults } from './support.js';

const SIZES = [200, 1000];
const TRIALS: Record<number, number> = { 200: 5, 1000: 3 };
const START_WINDOW_MS = 1000;
const LIMIT_MS = 120_000;

interface Trial {
  seed: number;
  allSeeAllMs: number;
  perMemberMedianMs: number;
  perMemberP99Ms: number;
  seedStreams: number;
  seedStreamMiB: number;
  maxMemberStreamMiB: number;
  streamsPerMember: number;
  streamMiBPerMember: number;
  wallSeconds: number;
}

function trial(n: number, seed: number): Trial {
  const { sim, wallSeconds } = simTrial(seed);
  sim.addMember('seed');
  sim.runFor(1000);
  const start = sim.now;
  const names = Array.from({ length: n - 1 }, (_, i) => `j${i}`);
  const rng = new Rng(seed);
  const at = names.map(() => start + rng.next() * START_WINDOW_MS).sort((a, b) => a - b);
  for (let i = 0; i < names.length; i++) {
    sim.runFor(at[i]! - sim.now);
    sim.addMember(names[i]!, { seeds: ['seed'] });
  }
  const everyone = ['seed', ...names];
  const sawAll = new Map<string, number>();
  const check = () => {
    for (const name of everyone) {
      if (sawAll.has(name)) continue;
      const core = sim.member(name).core;
      if (everyone.every((o) => o === name || memberOf(core, o)?.status === 'alive')) sawAll.set(name, sim.now - start);
    }
    return sawAll.size === everyone.length;
  };
  const done = sim.runUntil(check, LIMIT_MS, 250);
  const members = [...sim.members.values()];
  const seedMember = sim.member('seed');
  const mib = (bytes: number) => bytes / 2 ** 20;
  const perMember = [...sawAll.values()];
  return {
    seed,
    allSeeAllMs: done ? sim.now - start : Number.NaN,
    perMemberMedianMs: median(perMember),
    perMemberP99Ms: quantile(perMember, 0.99),
    seedStreams: seedMember.streamsSent,
    seedStreamMiB: round(mib(seedMember.streamBytesSent)),
    maxMemberStreamMiB: round(mib(Math.max(...members.map((m) => m.streamBytesSent)))),
    streamsPerMember: round(members.reduce((s, m) => s + m.streamsSent, 0) / members.length),
    streamMiBPerMember: round(mib(members.reduce((s, m) => s + m.streamBytesSent, 0) / members.length)),
    wallSeconds: wallSeconds(),
  };
}

const stats = (values: number[]) => ({ median: round(median(values)), max: round(Math.max(...values)) });

const args = process.argv.slice(2);
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : undefined;
const sizes = out === undefined && args.length > 0 ? args.map(Number) : SIZES;
const figures: Record<string, unknown> = {};
const rows: Record<string, string | number>[] = [];
for (const n of sizes) {
  const runs: Trial[] = [];
  for (let i = 0; i < (TRIALS[n] ?? 3); i++) {
    const run = trial(n, 3000 + i);
    runs.push(run);
    console.error(`  N=${n} seed ${run.seed}: ${JSON.stringify({ ...run, wallSeconds: round(run.wallSeconds) })}`);
  }
  const keys = ['allSeeAllMs', 'perMemberMedianMs', 'perMemberP99Ms', 'seedStreams', 'seedStreamMiB', 'maxMemberStreamMiB', 'streamsPerMember', 'streamMiBPerMember', 'wallSeconds'] as const;
  const summary = Object.fromEntries(keys.map((k) => [k, stats(runs.map((r) => r[k]))]));
  figures[`N=${n}`] = { trials: runs.length, seeds: runs.map((r) => r.seed), notConverged: runs.filter((r) => Number.isNaN(r.allSeeAllMs)).length, ...summary };
  rows.push({ size: `N=${n}`, ...Object.fromEntries(keys.map((k) => [k, summary[k]!.median])) });
}
console.table(rows);
if (out !== undefined || args.length === 0) {
  const file = writeResults(out ?? 'gossip-join', 'node --import tsx bench/gossip-join.ts', {
    profile: 'lan',
    network: `one-way delay 0.5–1.5 ms, no loss; one seed up, then N − 1 members start within ${START_WINDOW_MS} ms, all joining through it`,
    ...figures,
  });
  console.log(`written to ${file}`);
}
