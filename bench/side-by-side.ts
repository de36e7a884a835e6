/**
 * Ours beside node-discover 1.2.1 and serf, each run from its command line,
 * five agents at a time, each on a host of its own: network namespaces
 * joined by a bridge (see test/support/netns.ts), so each agent has its own address
 * and broadcast works.
 * Four agents run and see each other; then, timed from the bench's own clock
 * to the line each agent prints:
 *
 * - a fifth agent spawned → every other agent prints it up;
 * - a fifth agent spawned → it prints every other up;
 * - SIGKILL to it → every other prints it down;
 * - SIGTERM to another fifth agent (spawned and seen by all) → every other
 *   prints it gone (left, where the agent can tell; node-discover cannot).
 *
 * REPS fresh clusters per system (3 by default; the first argument
 * overrides); medians, and each system's median over ours. `--before FILE`
 * adds another build of the command (an earlier commit's, bundled into a
 * file of its own, e.g. under scratch/) as one more system, for a
 * before/after in one run. Each system runs
 * with its defaults for a network of hosts: ours `lan`, serf's LAN profile
 * (with leave_on_terminate, so SIGTERM is a graceful leave as for ours),
 * node-discover's intervals. Serf is skipped, saying why, where the binary is
 * missing; without root (no namespaces) the bench says so and writes nothing
 * (there is no loopback variant: node-discover finds members by broadcast).
 *
 *   npm run build && node --import tsx bench/side-by-side.ts   (writes bench/results/side-by-side.json)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ownAgentDirectory, readLines } from '../test/support/processes.js';
import { labUnavailable, openLab, type Lab } from '../test/support/netns.js';
import { median, round, writeResults } from './support.js';

const root = join(import.meta.dirname, '..');
const args = process.argv.slice(2);
const BEFORE = args.includes('--before') ? args.splice(args.indexOf('--before'), 2)[1] : undefined;
const REPS = Number(args[0] ?? 3);
const SERF = '/usr/bin/serf';
const PORT = 7946;
const WAIT_MS = 20_000;

const FIGURES = ['newcomer spawned → all others print it', 'newcomer spawned → it prints all', 'SIGKILL → all print it down', 'SIGTERM → all print it left'] as const;
type Figure = (typeof FIGURES)[number];

/** A membership change as an agent printed it. */
interface Change {
  readonly at: number;
  readonly peer: string;
  readonly up: boolean;
}

/** How to run one system's agent, and how to read its lines. */
interface System {
  readonly name: string;
  command(lab: Lab, host: number, name: string, seed: string | undefined): string[];
  parse(line: Record<string, unknown> | string): Omit<Change, 'at'> | undefined;
}

/** `distribute agent` as the bundle `cli` runs it. */
const distribute = (name: string, cli: string): System => ({
  name,
  command: (lab, host, agent, seed) => [
    process.execPath,
    cli,
    'agent',
    '--name',
    agent,
    '--bind',
    `${lab.hosts[host]!.ip}:${PORT}`,
    '--control',
    '127.0.0.1:0',
    '--json',
    ...(seed ? ['--join', `${seed}:${PORT}`] : []),
  ],
  parse: (line) =>
    typeof line === 'object' && (line.event === 'PeerUp' || line.event === 'PeerDown') ? { peer: String(line.peer), up: line.event === 'PeerUp' } : undefined,
});

const ours = distribute('ours', join(root, 'dist', 'cli.cjs'));

const nodeDiscover: System = {
  name: 'node-discover 1.2.1',
  command: (lab, host, name) => [process.execPath, join(root, 'bench', 'node-discover-agent.js'), name, `${lab.hosts[host]!.ip.replace(/\.\d+$/, '.255')}`],
  parse: ours.parse,
};

let serfConfig = '';
const serf: System = {
  name: `serf ${serfVersion() ?? ''} (lan)`.replace('  ', ' '),
  command: (lab, host, name, seed) => [
    SERF,
    'agent',
    '-node',
    name,
    '-bind',
    `${lab.hosts[host]!.ip}:${PORT}`,
    '-rpc-addr',
    '127.0.0.1:7373',
    '-config-file',
    serfConfig,
    ...(seed ? ['-join', `${seed}:${PORT}`] : []),
  ],
  parse: (line) => {
    const match = typeof line === 'string' ? /EventMember(Join|Failed|Leave): (\S+)/.exec(line) : null;
    return match ? { peer: match[2]!, up: match[1] === 'Join' } : undefined;
  },
};

function serfVersion(): string | undefined {
  const run = spawnSync(SERF, ['version'], { encoding: 'utf8' });
  return run.status === 0 ? /(\d+\.\d+\S*)/.exec(run.stdout)?.[1] : undefined;
}

/** One running agent and every change it printed. */
class Agent {
  readonly changes: Change[] = [];
  private readonly waiters = new Set<() => void>();
  readonly child: ChildProcess;

  constructor(
    readonly name: string,
    lab: Lab,
    host: number,
    command: string[],
    system: System,
  ) {
    this.child = spawn('ip', ['netns', 'exec', lab.hosts[host]!.ns, ...command], { stdio: ['ignore', 'pipe', 'ignore'] });
    readLines(this.child.stdout!, (line) => {
      const change = system.parse(line);
      if (!change || change.peer === name) return;
      this.changes.push({ at: performance.now(), ...change });
      for (const wake of this.waiters) wake();
    });
  }

  /** When this agent printed `peer` up (or down) after `since`. */
  when(peer: string, up: boolean, since: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`${this.name} did not print ${peer} ${up ? 'up' : 'down'} within ${WAIT_MS} ms`));
      }, WAIT_MS);
      const check = () => {
        const found = this.changes.find((c) => c.peer === peer && c.up === up && c.at >= since);
        if (!found) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(found.at);
      };
      this.waiters.add(check);
      check();
    });
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve();
      this.child.once('exit', () => resolve());
      this.child.kill(signal);
    });
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** All of `waits`, failing with the first failure; the others' failures are then no concern. */
function allOf<T>(waits: Promise<T>[]): Promise<T[]> {
  for (const wait of waits) wait.catch(() => undefined);
  return Promise.all(waits);
}

/** One rep: four agents that see each other, then the four timings. */
async function rep(lab: Lab, system: System, r: number): Promise<Record<Figure, number>> {
  const names = [0, 1, 2, 3].map((i) => `h${i}-r${r}`);
  const seed = lab.hosts[0]!.ip;
  const spawnAgent = (host: number, name: string) => new Agent(name, lab, host, system.command(lab, host, name, host === 0 ? undefined : seed), system);
  const running = [spawnAgent(0, names[0]!)];
  const all: Agent[] = [...running];
  try {
    await sleep(300);
    for (let i = 1; i < 4; i++) running.push(spawnAgent(i, names[i]!));
    all.push(...running.slice(1));
    await allOf(running.flatMap((a) => names.filter((n) => n !== a.name).map((n) => a.when(n, true, 0))));
    // Past the bustle of starting: the cluster idles as it would when a member arrives.
    await sleep(3000);
    const out = {} as Record<Figure, number>;

    const arrive = async (host: number, name: string) => {
      const spawnedAt = performance.now();
      const newcomer = spawnAgent(host, name);
      all.push(newcomer);
      const othersSaw = await allOf(running.map((a) => a.when(name, true, spawnedAt)));
      const itSaw = await allOf(names.map((n) => newcomer.when(n, true, spawnedAt)));
      return { newcomer, othersMs: Math.max(...othersSaw) - spawnedAt, itMs: Math.max(...itSaw) - spawnedAt };
    };
    const gone = async (newcomer: Agent, signal: NodeJS.Signals) => {
      const sentAt = performance.now();
      void newcomer.kill(signal);
      return Math.max(...(await allOf(running.map((a) => a.when(newcomer.name, false, sentAt))))) - sentAt;
    };

    const first = await arrive(4, `new-r${r}-a`);
    out['newcomer spawned → all others print it'] = first.othersMs;
    out['newcomer spawned → it prints all'] = first.itMs;
    await sleep(2000);
    out['SIGKILL → all print it down'] = await gone(first.newcomer, 'SIGKILL');
    await sleep(2000);
    // On a host of its own: the first newcomer's address may still be held failed under its name.
    const second = await arrive(5, `new-r${r}-b`);
    await sleep(2000);
    out['SIGTERM → all print it left'] = await gone(second.newcomer, 'SIGTERM');
    return out;
  } finally {
    await Promise.all(all.map((a) => a.kill('SIGKILL')));
  }
}

async function main() {
  // Agents started here, and killed, leave nothing in the user's agent directory.
  process.once('exit', ownAgentDirectory('distribute-bench-'));
  const unavailable = labUnavailable();
  if (unavailable !== undefined) {
    console.error(`side-by-side: skipped, as it runs each agent on a host of its own in a network namespace: ${unavailable}`);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'side-by-side-'));
  serfConfig = join(dir, 'serf.json');
  writeFileSync(serfConfig, JSON.stringify({ leave_on_terminate: true }));
  const systems: System[] = [ours, ...(BEFORE ? [distribute(`ours before (${BEFORE})`, BEFORE)] : []), nodeDiscover];
  const skipped: Record<string, string> = {};
  if (serfVersion() === undefined) skipped.serf = `${SERF} is not installed (or does not run)`;
  else systems.push(serf);

  const lab = openLab(6);
  const medians: Record<string, Record<Figure, number>> = {};
  const samples: Record<string, Record<Figure, number[]>> = {};
  const runs = new Map<System, Record<Figure, number>[]>(systems.map((system) => [system, []]));
  const failed: Record<string, string[]> = {};
  try {
    // Rep by rep, each system in turn, so that load from elsewhere on the machine falls on all alike.
    for (let r = 0; r < REPS; r++) {
      for (const system of systems) {
        try {
          const run = await rep(lab, system, r);
          runs.get(system)!.push(run);
          console.error(`  ${system.name} rep ${r + 1}: ${FIGURES.map((f) => `${Math.round(run[f])} ms`).join(' / ')}`);
        } catch (error) {
          failed[system.name] = [...(failed[system.name] ?? []), `rep ${r + 1}: ${(error as Error).message}`];
          console.error(`  ${system.name} rep ${r + 1} failed: ${(error as Error).message}`);
        }
      }
    }
    for (const [system, done] of runs) {
      samples[system.name] = Object.fromEntries(FIGURES.map((f) => [f, done.map((run) => round(run[f]))])) as Record<Figure, number[]>;
      medians[system.name] = Object.fromEntries(FIGURES.map((f) => [f, round(median(done.map((run) => run[f])))])) as Record<Figure, number>;
    }
  } finally {
    await lab.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
  const ourMedians = medians[ours.name]!;
  const ratios = Object.fromEntries(
    Object.entries(medians)
      .filter(([name]) => name !== ours.name)
      .map(([name, figures]) => [name, Object.fromEntries(FIGURES.map((f) => [f, round(figures[f] / ourMedians[f], 3)]))]),
  );
  console.table(Object.fromEntries(FIGURES.map((f) => [f, Object.fromEntries(Object.entries(medians).map(([name, m]) => [name, `${Math.round(m[f])} ms`]))])));
  const file = writeResults('side-by-side', 'npm run build && node --import tsx bench/side-by-side.ts', {
    network: 'network namespaces on one bridge, one agent each (the two newcomers on hosts of their own), on one machine',
    reps: REPS,
    mediansMs: medians,
    'their median over ours': ratios,
    samplesMs: samples,
    ...(Object.keys(skipped).length > 0 ? { skipped } : {}),
    ...(Object.keys(failed).length > 0 ? { 'failed reps (left out of the medians)': failed } : {}),
    setup:
      'ours: distribute agent, lan profile; node-discover: its defaults, broadcast on the subnet (bench/node-discover-agent.js); serf: agent, LAN profile, leave_on_terminate. Four agents see each other and idle 3 s; times run from the spawn or the signal to the line each agent prints.',
  });
  console.log(`written to ${file}`);
}

await main();
