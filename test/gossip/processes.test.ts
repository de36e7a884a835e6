/**
 * Real processes on loopback: five members, each its own Node process, started
 * through the public API; joins, a crash (SIGKILL), a graceful stop (SIGTERM)
 * and a late joiner are seen by all the others.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, readLines } from '../support/processes.js';
import { eventually } from '../support/wait.js';

const fixture = join(import.meta.dirname, '..', 'fixtures', 'member.mjs');

interface Member {
  readonly name: string;
  readonly port: number;
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly exited: Promise<number | null>;
}

const members: Member[] = [];
afterAll(async () => {
  await Promise.all(
    members.map((m) => {
      if (m.child.exitCode !== null || m.child.signalCode !== null) return undefined;
      m.child.kill('SIGKILL');
      return m.exited;
    }),
  );
});

async function startMember(name: string, seeds: number[], env: NodeJS.ProcessEnv = {}): Promise<Member> {
  const port = await freePort();
  const child = spawn(process.execPath, [fixture, name, String(port), ...seeds.map((p) => `127.0.0.1:${p}`)], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  const lines: Record<string, unknown>[] = [];
  readLines(child.stdout!, (line) => typeof line === 'object' && lines.push(line));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const member = { name, port, child, lines, exited };
  members.push(member);
  await eventually(() => lines.some((l) => l.type === 'ready'), 10_000, `${name} ready`);
  return member;
}

const saw = (m: Member, type: string, peer: string, reason?: string) =>
  m.lines.some((l) => l.type === type && l.peer === peer && (reason === undefined || l.reason === reason));

describe('five member processes on loopback', () => {
  it('all see each other; SIGKILL is a failure, SIGTERM a leave, a newcomer is up everywhere', async () => {
    const first = await startMember('m0', []);
    const rest = await Promise.all(['m1', 'm2', 'm3', 'm4'].map((name) => startMember(name, [first.port])));
    const all = [first, ...rest];
    for (const m of all) {
      for (const other of all) {
        if (other !== m) await eventually(() => saw(m, 'PeerUp', other.name), 10_000, `${m.name} sees ${other.name}`);
      }
    }

    const [killed, stopped] = [all[3]!, all[4]!];
    const survivors = all.slice(0, 3);
    killed.child.kill('SIGKILL');
    for (const m of survivors) await eventually(() => saw(m, 'PeerDown', killed.name, 'Failed'), 10_000, `${m.name}: ${killed.name} failed`);

    stopped.child.kill('SIGTERM');
    expect(await stopped.exited).toBe(0);
    for (const m of survivors) await eventually(() => saw(m, 'PeerDown', stopped.name, 'Left'), 5000, `${m.name}: ${stopped.name} left`);
    for (const m of survivors) expect(saw(m, 'PeerDown', stopped.name, 'Failed')).toBe(false);

    const late = await startMember('m5', [all[1]!.port]);
    for (const m of survivors) await eventually(() => saw(m, 'PeerUp', late.name), 5000, `${m.name} sees m5`);
    for (const m of survivors) await eventually(() => saw(late, 'PeerUp', m.name), 5000, `m5 sees ${m.name}`);
    expect(saw(late, 'PeerUp', killed.name)).toBe(false);

    // leaveOnSignals: the adapter itself leaves on SIGTERM, then lets the signal end the process.
    const polite = await startMember('m6', [first.port], { MEMBER_LEAVE_ON_SIGNALS: '1' });
    for (const m of survivors) await eventually(() => saw(m, 'PeerUp', polite.name), 5000, `${m.name} sees m6`);
    polite.child.kill('SIGTERM');
    expect(await polite.exited).toBe(-1); // ended by the signal, as it would have been
    for (const m of survivors) await eventually(() => saw(m, 'PeerDown', polite.name, 'Left'), 5000, `${m.name}: m6 left`);
  });
});
