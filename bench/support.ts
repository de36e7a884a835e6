/** Shared helpers of the benchmarks: timing, medians, results files. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

/** The value at quantile `q` (0..1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

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
  const machine = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) };
  writeFileSync(file, `${JSON.stringify({ command, date: new Date().toISOString(), machine, figures }, null, 2)}\n`);
  return file;
}

export const round = (value: number, digits = 4) => Number(value.toPrecision(digits));
