/**
 * Start-up and footprint of the `distribute agent` command on loopback:
 *
 * - `node -e 0`, spawn to exit: the floor nobody here controls;
 * - importing the facade (`dist/src/discovery.js`), spawn to exit and the
 *   import alone as the process measures it;
 * - spawn to the agent's first line with `--json`;
 * - spawn to being seen (its PeerUp line) by an agent already running;
 * - resident memory after 10 s idle: the agent, `node` alone, and `node` with
 *   `xstate` imported.
 *
 * Each figure is a median and p99 over TRIALS runs (20 by default; the first
 * argument overrides).
 *
 *   npm run build && node --import tsx bench/cli-startup.ts   (writes bench/results/cli-startup.json)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ownAgentDirectory, readLines } from '../test/support/processes.js';
import { median, quantile, round, writeResults } from './support.js';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli.cjs');
const facade = pathToFileURL(join(root, 'dist', 'src', 'discovery.js')).href;
const TRIALS = Number(process.argv[2] ?? 20);
const IDLE_MS = 10_000;

const stats = (samples: number[]) => ({ medianMs: round(median(samples)), p99Ms: round(quantile(samples, 0.99)), samples: samples.length });

// On a machine shared with other work, wall-clock start-up stretches with the
// load; the CPU time a process used until the moment measured stretches far
// less, so both are recorded.
const PRINT_CPU = "process.on('exit', () => { const u = process.cpuUsage(); console.log((u.user + u.system) / 1000); })";
/** CPU time (user + system, all threads) a running process has used so far, in ms (10 ms ticks). */
const cpuMs = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** Spawn to exit of `node ...args`, in ms; rejects on a non-zero exit. */
function timeToExit(args: string[]): Promise<{ ms: number; stdout: string }> {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve({ ms: performance.now() - spawnedAt, stdout }) : reject(new Error(`node ${args.join(' ')} exited ${code}`)))),
  );
}

interface Agent {
  readonly child: ChildProcess;
  readonly spawnedAt: number;
  /** Resolves with the time (performance.now) and content of the first line matching. */
  line(match: (line: Record<string, unknown>) => boolean): Promise<{ at: number; line: Record<string, unknown> }>;
}

function agent(args: string[]): Agent {
  const spawnedAt = performance.now();
  const child = spawn(process.execPath, [cli, 'agent', '--bind', '127.0.0.1:0', '--control', '127.0.0.1:0', '--profile', 'local', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const seen: { at: number; line: Record<string, unknown> }[] = [];
  const waiters = new Set<() => void>();
  readLines(child.stdout!, (line) => {
    if (typeof line !== 'object') return;
    seen.push({ at: performance.now(), line });
    for (const wake of waiters) wake();
  });
  const line: Agent['line'] = (match) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching line within 10 s')), 10_000);
      const check = () => {
        const found = seen.find((s) => match(s.line));
        if (!found) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(found);
      };
      waiters.add(check);
      check();
    });
  return { child, spawnedAt, line };
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** RSS after IDLE_MS of each of `count` processes of each kind, all idling side by side. */
async function idleRss(count: number) {
  const kinds = {
    agent: () => spawn(process.execPath, [cli, 'agent', '--bind', '127.0.0.1:0', '--control', '127.0.0.1:0', '--json'], { stdio: 'ignore' }),
    node: () => spawn(process.execPath, ['-e', 'setInterval(() => {}, 60_000)'], { stdio: 'ignore' }),
    'node + xstate': () =>
      spawn(process.execPath, ['--input-type=module', '-e', "import 'xstate'; setInterval(() => {}, 60_000)"], { cwd: root, stdio: 'ignore' }),
  };
  const running = Object.entries(kinds).map(([kind, start]) => ({ kind, children: Array.from({ length: count }, start) }));
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const figures: Record<string, { medianMiB: number; p99MiB: number; samples: number }> = {};
  for (const { kind, children } of running) {
    const rss = children.map((c) => rssMiB(c.pid!));
    figures[kind] = { medianMiB: round(median(rss), 3), p99MiB: round(quantile(rss, 0.99), 3), samples: rss.length };
  }
  await Promise.all(running.flatMap(({ children }) => children.map(stop)));
  return figures;
}

async function main() {
  // Agents started here, and killed, leave nothing in the user's agent directory.
  process.once('exit', ownAgentDirectory('distribute-bench-'));
  const nodeAlone: number[] = [];
  const nodeCpu: number[] = [];
  const facadeCpu: number[] = [];
  const firstLineCpu: number[] = [];
  const facadeSpawn: number[] = [];
  const facadeImport: number[] = [];
  const firstLine: number[] = [];
  const seenByMember: number[] = [];
  const timedImport = `${PRINT_CPU}; const t = performance.now(); await import(${JSON.stringify(facade)}); console.log(performance.now() - t);`;
  const member = agent(['--name', 'member']);
  const started = await member.line((l) => l.event === 'AgentStarted');
  // One of each per trial, interleaved, so that load from elsewhere on the machine falls on all alike.
  for (let t = 0; t < TRIALS; t++) {
    nodeAlone.push((await timeToExit(['-e', '0'])).ms);
    nodeCpu.push(Number((await timeToExit(['-e', PRINT_CPU])).stdout.trim()));
    const imported = await timeToExit(['--input-type=module', '-e', timedImport]);
    const [importMs, cpu] = imported.stdout.trim().split('\n').map(Number);
    facadeSpawn.push(imported.ms);
    facadeImport.push(importMs!);
    facadeCpu.push(cpu!);
    const name = `newcomer-${t}`;
    const b = agent(['--name', name, '--join', String(started.line.address)]);
    const [first, seen] = await Promise.all([
      b.line(() => true).then((found) => ({ ...found, cpu: cpuMs(b.child.pid!) })),
      member.line((l) => l.event === 'PeerUp' && l.peer === name),
    ]);
    firstLineCpu.push(first.cpu);
    firstLine.push(first.at - b.spawnedAt);
    seenByMember.push(seen.at - b.spawnedAt);
    await stop(b.child);
    await member.line((l) => l.event === 'PeerDown' && l.peer === name);
  }
  await stop(member.child);

  const rss = await idleRss(TRIALS);
  const nodeMedian = median(nodeAlone);
  const figures = {
    'node -e 0': stats(nodeAlone),
    'node importing the facade, spawn to exit': stats(facadeSpawn),
    'import of the facade, in process': stats(facadeImport),
    'spawn to first line (agent --json)': stats(firstLine),
    'spawn to seen by a running member': stats(seenByMember),
    'CPU time used (user + system, ms)': {
      'node -e 0': stats(nodeCpu),
      'node importing the facade': stats(facadeCpu),
      'agent --json until its first line': stats(firstLineCpu),
    },
    'above node -e 0 (medians)': {
      facadeMs: round(median(facadeSpawn) - nodeMedian),
      firstLineMs: round(median(firstLine) - nodeMedian),
      seenMs: round(median(seenByMember) - nodeMedian),
    },
    [`idle RSS after ${IDLE_MS / 1000} s`]: rss,
    note: 'loopback, local profile; one run of each timing per trial, interleaved; the idle processes side by side',
  };
  const file = writeResults('cli-startup', 'npm run build && node --import tsx bench/cli-startup.ts', figures);
  console.log(JSON.stringify(figures, null, 2));
  console.log(`written to ${file}`);
}

await main();
