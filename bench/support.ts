/** Shared helpers of the benchmarks: timing, medians, results files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as discovery from '../src/discovery.js';
import { defineAdapter, type BackendContext, type PeerInfo } from '../src/discovery.js';
import { SimNetwork } from '../src/discovery/testing/sim.js';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** The value at quantile `q` (0..1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

/** Median and p99 over trials; with few trials p99 is the worst one. */
export function stats(values: number[]) {
  return { median: round(median(values)), p99: round(quantile(values, 0.99)) };
}

/**
 * One trial's simulated network, as every gossip benchmark sets it up: the
 * `lan` profile, one-way delay 0.5 to 1.5 ms, no loss, no event record. With
 * `n`, the cluster starts converged (built directly, no join traffic) and runs
 * `settleMs` before the trial measures anything.
 */
export function simTrial(seed: number, n = 0, settleMs = 5000) {
  const wallStart = performance.now();
  const sim = new SimNetwork({ seed, recordEvents: false, delayMs: 0.5, jitterMs: 1 });
  const names = n > 0 ? sim.addConverged(n) : [];
  const buildSeconds = (performance.now() - wallStart) / 1000;
  if (n > 0) sim.runFor(settleMs);
  return { sim, names, buildSeconds, wallSeconds: () => (performance.now() - wallStart) / 1000 };
}

/** Runs `fn` `iterations` times after `warmup` runs and returns each run's duration in ms. */
export function timeEach(fn: () => void, iterations: number, warmup = Math.min(100, iterations)): number[] {
  for (let i = 0; i < warmup; i++) fn();
  const out: number[] = new Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    fn();
    out[i] = performance.now() - start;
  }
  return out;
}

/** Writes `figures` to `bench/results/<name>.json` with the machine it ran on. */
export function writeResults(name: string, command: string, figures: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  // The load average says how busy the shared machine was while the figures were taken.
  const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30), loadAverage1m: round(os.loadavg()[0]!, 3) };
  writeFileSync(file, `${JSON.stringify({ command, date: new Date().toISOString(), machine, figures }, null, 2)}\n`);
  return file;
}

export const round = (value: number, digits = 4) => Number(value.toPrecision(digits));

/** A backend the benchmark fills by hand: every peer it reports goes straight into the table. */
export function benchAdapter() {
  let context: BackendContext | undefined;
  const adapter = defineAdapter('bench', async (ctx) => {
    context = ctx;
    return { self: ctx.input.self, sync: async () => ({}), close: () => {} };
  });
  return { adapter, report: (changes: Parameters<BackendContext['report']>[0]) => context!.report(changes) };
}

export const makePeer = (i: number, version = 0): PeerInfo => ({
  id: `node-${i}`,
  address: `10.0.${(i >> 8) & 255}.${i & 255}:7946`,
  metadata: { zone: `z${i % 3}`, version: String(version) },
});

/** A started adapter whose table holds `count` peers, and the facade bound to it. */
export async function withPeers(count: number) {
  const name = `bench-${count}-${Math.random()}`;
  const { adapter, report } = benchAdapter();
  const started = await discovery.startLink({ name, adapter, syncIntervalMs: 60_000 });
  if (!started.ok) throw new Error(started.error.message);
  report(Array.from({ length: count }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) })));
  return { facade: discovery.bind({ name }), report };
}
