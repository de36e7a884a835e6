/** The command's output and logs: membership on stdout always, diagnostics on stderr at --log-level; signals through npm start. */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { freePort } from './support/processes.js';
import { eventually } from './support/wait.js';
import { agentArgs, killAll, startCli } from './support/cli.js';

afterEach(killAll);

describe('output and logs', () => {
  it('membership lines reach stdout at --log-level error or silent, and are not log records', async () => {
    const portA = await freePort();
    const a = startCli(agentArgs('quiet-a', portA, '--log-level', 'silent'));
    await a.waitFor((l) => l.event === 'AgentStarted');
    const b = startCli(agentArgs('quiet-b', await freePort(), '--log-level', 'error', '--join', `127.0.0.1:${portA}`));
    const up = await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'quiet-b', 10_000, 'PeerUp at silent');
    expect(up).not.toHaveProperty('level');
    await b.waitFor((l) => l.event === 'PeerUp' && l.peer === 'quiet-a', 10_000, 'PeerUp at error');
    b.child.kill('SIGTERM');
    await a.waitFor((l) => l.event === 'PeerDown' && l.peer === 'quiet-b', 5000, 'PeerDown at silent');
    a.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
    expect(a.stderr.join('')).toBe('');
    expect(b.stderr.join('')).toBe('');
  });

  it('diagnostics go to stderr as pino records at the chosen level, never to stdout', async () => {
    const a = startCli(agentArgs('chatty', await freePort(), '--log-level', 'debug', '--json'));
    await a.waitFor((l) => l.event === 'AgentStarted');
    await eventually(() => a.stderr.join('').includes('Sync succeeded'), 10_000, 'a debug record on stderr');
    a.child.kill('SIGTERM');
    await a.exited;
    const records = a.stderr.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.find((r) => r.msg === 'Sync succeeded')).toMatchObject({ level: 20, adapter: 'distribute_discovery_adapter', node: 'chatty' });
    for (const line of a.lines) expect(line).not.toHaveProperty('level');
  });
});

const portFree = async (port: number) => {
  const tcp = createServer();
  const tcpOk = await new Promise<boolean>((resolve) => {
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (tcpOk) await new Promise((resolve) => tcp.close(resolve));
  const udp = createSocket('udp4');
  const udpOk = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  return tcpOk && udpOk;
};

describe('npm start', () => {
  it('SIGTERM to npm start reaches the agent: both ports are freed and the others see it leave', async () => {
    const a = startCli(agentArgs('watcher', await freePort()));
    const seed = String((await a.waitFor((l) => l.event === 'AgentStarted')).address);
    const [gossipPort, controlPort] = [await freePort(), await freePort()];
    const npm = spawn(
      'npm',
      ['start', '--silent', '--', '--name', 'via-npm', '--bind', `127.0.0.1:${gossipPort}`, '--control', `127.0.0.1:${controlPort}`, '--profile', 'local', '--json', '--join', seed],
      { cwd: join(import.meta.dirname, '..'), stdio: 'ignore' },
    );
    const npmExited = new Promise((resolve) => npm.once('exit', resolve));
    try {
      await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'via-npm', 20_000, 'the agent under npm start to join');
      npm.kill('SIGTERM');
      const down = await a.waitFor((l) => l.event === 'PeerDown' && l.peer === 'via-npm', 10_000, 'the agent under npm start to leave');
      expect(down.reason).toBe('left');
      await npmExited;
      const deadline = Date.now() + 10_000;
      while (!((await portFree(gossipPort)) && (await portFree(controlPort)))) {
        if (Date.now() > deadline) throw new Error(`ports ${gossipPort} and ${controlPort} still held after npm start exited`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      // Should the agent have been orphaned (the fault this test catches), stop it through its control endpoint.
      await fetch(`http://127.0.0.1:${controlPort}/v1/leave`, { method: 'POST' }).catch(() => undefined);
    }
  });
});

describe('plain diagnostics without pino-pretty', () => {
  it('a pino record becomes one readable line with its fields', async () => {
    const { plainLine } = await import('../src/cli/output.js');
    const record = JSON.stringify({ level: 40, time: '2026-12-01T08:00:00.123Z', msg: 'Sync failed', adapter: 'a', consecutiveFailures: 2 });
    expect(plainLine(record)).toBe('[08:00:00.123] WARN: Sync failed adapter=a consecutiveFailures=2\n');
  });
});
