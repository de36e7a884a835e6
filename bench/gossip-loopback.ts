/**
 * The gossip adapter with real processes on loopback, N = 10 (`local`
 * profile): a join seen as PeerUp by everyone, a SIGTERM seen as PeerDown
 * (left), a SIGKILL seen as PeerDown (failed), and each idle member's CPU and
 * memory. Each member is `test/fixtures/member.mjs`, started through the
 * public API.
 *
 *   npm run build && node --import tsx bench/gossip-loopback.ts   (writes bench/results/gossip-loopback.json)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLines } from '../test/support/processes.js';
import { eventually } from '../test/support/wait.js';
import { median, quantile, round, writeResults } from './support.js';

const fixture = join(import.meta.dirname, '..', 'test', 'fixtures', 'member.mjs');
const N = 10;
const TRIALS = 7;

interface Member {
  name: string;
  port: number;
  child: ChildProcess;
  lines: Record<string, unknown>[];
}

const members: Member[] = [];

/** Starts a member on a free port (0), learnt from its `ready` line: fixed ports collide with other runs on the machine. */
function start(name: string, seeds: number[]): Member {
  const child = spawn(process.execPath, [fixture, name, '0', ...seeds.map((p) => `127.0.0.1:${p}`)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const member = { name, port: 0, child, lines: [] as Record<string, unknown>[] };
  readLines(child.stdout!, (line) => {
    if (typeof line !== 'object' || line === null) return;
    const record = line as Record<string, unknown>;
    if (record.type === 'ready') member.port = Number(String((record.self as { address: string }).address).split(':').pop());
    member.lines.push(record);
  });
  members.push(member);
  return member;
}

const eventAt = (m: Member, type: string, peer: string, reason?: string) =>
  m.lines.find((l) => l.type === type && l.peer === peer && (reason === undefined || l.reason === reason))?.at as number | undefined;

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}
const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function main() {
  const first = start('m0', []);
  await eventually(() => first.lines.some((l) => l.type === 'ready'), 10_000, 'm0 ready');
  const base = [first, ...Array.from({ length: N - 2 }, (_, i) => start(`m${i + 1}`, [first.port]))];
  await eventually(() => base.every((m) => base.every((o) => o === m || eventAt(m, 'PeerUp', o.name) !== undefined)), 20_000, 'base cluster');

  const joins: number[] = [];
  const leaves: number[] = [];
  const crashes: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    for (const [mode, samples] of [['SIGTERM', leaves], ['SIGKILL', crashes]] as const) {
      const name = `new-${t}-${mode}`;
      const spawnedAt = Date.now();
      const joiner = start(name, [base[1 + (t % (base.length - 1))]!.port]);
      await eventually(() => base.every((m) => eventAt(m, 'PeerUp', name) !== undefined), 10_000, `${name} seen`);
      joins.push(Math.max(...base.map((m) => eventAt(m, 'PeerUp', name)!)) - spawnedAt);
      await new Promise((r) => setTimeout(r, 300));
      const killedAt = Date.now();
      joiner.child.kill(mode);
      const reason = mode === 'SIGTERM' ? 'Left' : 'Failed';
      await eventually(() => base.every((m) => eventAt(m, 'PeerDown', name, reason) !== undefined), 20_000, `${name} down`);
      samples.push(Math.max(...base.map((m) => eventAt(m, 'PeerDown', name, reason)!)) - killedAt);
    }
  }

  // Idle: the base members, after a settle, over 10 s.
  await new Promise((r) => setTimeout(r, 2000));
  const pids = base.map((m) => m.child.pid!);
  const t0 = pids.map(cpuTicks);
  const windowMs = 10_000;
  await new Promise((r) => setTimeout(r, windowMs));
  const ticksPerSecond = 100;
  const cpuPercent = pids.map((pid, i) => ((cpuTicks(pid) - t0[i]!) / ticksPerSecond / (windowMs / 1000)) * 100);
  const rss = pids.map(rssMiB);

  const summary = (xs: number[]) => ({ medianMs: round(median(xs)), p99Ms: round(quantile(xs, 0.99)), samples: xs.length });
  const figures = {
    members: N,
    profile: 'local',
    'spawn to PeerUp at all (includes Node start-up)': summary(joins),
    'SIGTERM to PeerDown (left) at all': summary(leaves),
    'SIGKILL to PeerDown (failed) at all': summary(crashes),
    idleCpuPercentPerProcess: { median: round(median(cpuPercent), 3), max: round(Math.max(...cpuPercent), 3) },
    rssMiBPerProcess: { median: round(median(rss), 3), max: round(Math.max(...rss), 3) },
  };
  for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
  const file = writeResults('gossip-loopback', 'npm run build && node --import tsx bench/gossip-loopback.ts', figures);
  console.log(figures, { joins, leaves, crashes });
  console.log(`written to ${file}`);
}

main().catch((error) => {
  for (const m of members) m.child.kill('SIGKILL');
  console.error(error);
  process.exit(1);
});
