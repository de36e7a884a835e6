/**
 * The `distribute agent` command: time from spawning it to its first line,
 * and to the line saying it joined a running agent, on loopback.
 *
 *   npm run build && node --import tsx bench/cli-startup.ts   (writes bench/results/cli-startup.json)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readLines } from '../test/children.js';
import { median, quantile, round, writeResults } from './support.js';

const cli = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');
const TRIALS = 9;

function agent(args: string[]) {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [cli, 'agent', '--bind', '127.0.0.1:0', '--control', '127.0.0.1:0', '--profile', 'local', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen = new Map<string, { at: number; line: Record<string, unknown> }>();
  readLines(child.stdout!, (line) => {
    if (typeof line === 'object' && !seen.has(String(line.event))) seen.set(String(line.event), { at: performance.now(), line });
  });
  const waitFor = async (event: string) => {
    const deadline = Date.now() + 10_000;
    while (!seen.has(event)) {
      if (Date.now() > deadline) throw new Error(`no ${event} line`);
      await new Promise((r) => setTimeout(r, 1));
    }
    return seen.get(event)!;
  };
  return { child, spawnedAt, waitFor };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

async function main() {
  const firstLine: number[] = [];
  const joined: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const a = agent(['--name', `a${t}`]);
    const started = await a.waitFor('AgentStarted');
    firstLine.push(started.at - a.spawnedAt);
    const b = agent(['--name', `b${t}`, '--join', String(started.line.address)]);
    const done = await b.waitFor('Joined');
    joined.push(done.at - b.spawnedAt);
    await Promise.all([stop(b.child), stop(a.child)]);
  }
  const figures = {
    'spawn to first line': { medianMs: round(median(firstLine)), p99Ms: round(quantile(firstLine, 0.99)), samples: TRIALS },
    'spawn to joined': { medianMs: round(median(joined)), p99Ms: round(quantile(joined, 0.99)), samples: TRIALS },
    note: 'includes Node.js start-up and module loading; loopback, local profile',
  };
  const file = writeResults('cli-startup', 'npm run build && node --import tsx bench/cli-startup.ts', figures);
  console.log(figures);
  console.log(`written to ${file}`);
}

await main();
