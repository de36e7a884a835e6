/**
 * Suspicion over real gossip: a member process that stops answering (SIGSTOP,
 * its sockets stay open) shows as `suspect` on the agent's event stream and
 * member table, and back as alive once it runs again and refutes; subscribers
 * of the facade hear nothing of it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, readLines } from '../support/processes.js';
import { eventually } from '../support/wait.js';
import { agentToken, killAll, startCli } from '../support/cli.js';
import { openSse, type SseClient } from './sse.js';

const fixture = join(import.meta.dirname, '..', 'fixtures', 'member.mjs');
let member: ChildProcess | undefined;
let stream: SseClient | undefined;

afterEach(async () => {
  stream?.close();
  if (member && member.exitCode === null && member.signalCode === null) {
    const exited = new Promise((resolve) => member!.once('exit', resolve));
    member.kill('SIGCONT');
    member.kill('SIGKILL');
    await exited;
  }
  await killAll();
});

describe('suspect status from the gossip core', () => {
  it('a stalled member turns suspect, then alive again when it refutes, with no PeerUpdate for subscribers', async () => {
    const port = await freePort();
    const agent = startCli(['agent', '--name', 'alpha', '--bind', `127.0.0.1:${port}`, '--profile', 'local', '--control', '127.0.0.1:0']);
    const started = await agent.waitFor((l) => l.event === 'AgentStarted');
    const control = String(started.control);
    const token = agentToken(started);
    const headers = { authorization: `Bearer ${token ?? ''}` };
    const lines: Record<string, unknown>[] = [];
    member = spawn(process.execPath, [fixture, 'stalled', String(await freePort()), `127.0.0.1:${port}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    readLines(member.stdout!, (line) => typeof line === 'object' && lines.push(line));
    await agent.waitFor((l) => l.event === 'PeerUp' && l.peer === 'stalled', 10_000, 'alpha: PeerUp stalled');

    stream = openSse(`http://${control}/v1/events`, { token });
    await stream.waitFor(2);
    const suspicion = () =>
      stream!.events.filter((e) => e.event === 'PeerSuspicion').map((e) => (e.data.peer as { status?: string }).status ?? 'alive');

    member.kill('SIGSTOP');
    await eventually(() => suspicion().includes('suspect'), 10_000, 'stalled to be suspected');
    const rows = (await (await fetch(`http://${control}/v1/members`, { headers })).json()) as { name: string; status: string }[];
    expect(rows.find((r) => r.name === 'stalled')?.status).toBe('suspect');

    member.kill('SIGCONT');
    await eventually(() => suspicion().at(-1) === 'alive' || stream!.events.some((e) => e.event === 'PeerDown'), 10_000, 'the suspicion to end');
    // A member that resumes within the suspicion timeout refutes; on a very slow machine it may be declared failed first.
    const failed = stream.events.some((e) => e.event === 'PeerDown');
    if (!failed) {
      expect(suspicion()).toEqual(['suspect', 'alive']);
      const again = (await (await fetch(`http://${control}/v1/members`, { headers })).json()) as { name: string; status: string }[];
      expect(again.find((r) => r.name === 'stalled')?.status).toBe('alive');
    }
    // The agent prints what facade subscribers receive: no PeerUpdate came of the suspicion.
    expect(agent.lines.filter((l) => typeof l === 'object' && l.event === 'PeerUpdate')).toEqual([]);
  });
});
