/**
 * A member restarted at a new address (a rescheduled pod: same name, new
 * port) while the others still hold it alive at the old one: its old process
 * is frozen (SIGSTOP, as a host that vanished without closing anything), a
 * new process with the same name joins from another port. The others take
 * the new address once the old one fails to answer a probe, without ever
 * declaring the member down.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as discovery from 'distribute/discovery';
import { gossipAdapter, type DiscoveryEvent } from 'distribute/discovery';
import { freePort, readLines } from '../support/processes.js';
import { eventually, unwrap } from '../support/index.js';

const fixture = join(import.meta.dirname, '..', 'fixtures', 'member.mjs');
const OBSERVERS = ['a', 'c'] as const;
const view = (name: string) => discovery.bind({ name });
const children: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(OBSERVERS.map((name) => view(name).stop(2000)));
});
afterAll(async () => {
  await Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
});

async function startChild(name: string, seed: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [fixture, name, String(port), seed], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const lines: unknown[] = [];
  readLines(child.stdout!, (line) => void lines.push(line));
  await eventually(() => lines.some((l) => typeof l === 'object' && (l as { type: string }).type === 'ready'), 10_000, `${name} ready`);
  return { port, child };
}

describe('a member restarted at a new address', () => {
  it('is taken at its new address once the old one is silent, with no PeerDown', async () => {
    const events: Record<string, DiscoveryEvent[]> = { a: [], c: [] };
    let seed: string | undefined;
    for (const name of OBSERVERS) {
      // Long suspicion timeouts: the old address must be left by the probe of the move, not by a verdict.
      const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', config: { suspicionMult: 8 } });
      unwrap(await discovery.startLink({ name, nodeId: name, adapter, syncIntervalMs: 50, ...(seed ? { seedPeers: [seed] } : {}) }));
      seed ??= unwrap(view(name).self()).address!;
      unwrap(view(name).subscribe((event) => void events[name]!.push(event)));
    }
    const old = await startChild('f', seed!);
    const at = (port: number) => `127.0.0.1:${port}`;
    const seesAt = (name: string, address: string) => {
      const found = view(name).lookup('f');
      return found.ok && found.value.address === address;
    };
    await eventually(() => OBSERVERS.every((n) => seesAt(n, at(old.port))), 10_000, 'f to be seen at its first address');
    // A restart starts a newer incarnation (the clock in seconds): let a second pass.
    await new Promise((resolve) => setTimeout(resolve, 1000));

    old.child.kill('SIGSTOP');
    const moved = await startChild('f', seed!);
    await eventually(() => OBSERVERS.every((n) => seesAt(n, at(moved.port))), 10_000, 'f to be seen at its new address');
    for (const name of OBSERVERS) {
      expect(events[name]!.filter((e) => e.peer.id === 'f').map((e) => `${e.type} ${e.peer.address}`)).toEqual([`PeerUp ${at(old.port)}`, `PeerUpdate ${at(moved.port)}`]);
    }
  });
});
