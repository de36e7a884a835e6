/**
 * The agent's control endpoint attacked as a hostile client, a hostile web
 * page and another user on the host would: each attack is refused and the
 * agent stays up and in its cluster.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { freePort } from '../support/processes.js';
import { agentArgs, agentToken, killAll, startCli, type CliProcess } from '../support/cli.js';
import { bodyOf, rawExchange, statusOf } from './raw.js';

afterEach(killAll);

const KEY = 'dGhpcnR5LXR3by1ieXRlcy1vZi1rZXktbWF0ZXJpYWw=';
const EVIL_KEY = 'ZXZpbC1rZXktb2YtdGhpcnR5LXR3by1ieXRlcy1sb24=';

/** Two sealed agents on loopback, alpha's control endpoint and its token. */
async function pair(...more: string[]): Promise<{ alpha: CliProcess; beta: CliProcess; control: string; port: number; token: string | undefined }> {
  const [portA, portB] = [await freePort(), await freePort()];
  const alpha = startCli(agentArgs('alpha', portA, '--key', KEY, ...more));
  const started = await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start');
  const beta = startCli(agentArgs('beta', portB, '--key', KEY, '--join', `127.0.0.1:${portA}`));
  await beta.waitFor((l) => l.event === 'Joined', 10_000, 'beta to join');
  const control = String(started.control);
  return { alpha, beta, control, port: Number(control.split(':').at(-1)), token: agentToken(started) };
}

const stillIn = (alpha: CliProcess, beta: CliProcess) => {
  expect(alpha.child.exitCode).toBeNull();
  expect(beta.lines.some((l) => typeof l === 'object' && l.event === 'PeerDown' && l.peer === 'alpha')).toBe(false);
};

describe('attacks on the agent control endpoint', () => {
  it('a malformed request target is a 400 with a reason, and the agent stays up', async () => {
    const { alpha, beta, port } = await pair();
    for (const target of ['//[', 'http://[', '//a:99999', '//%zz']) {
      const answer = await rawExchange(port, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
      expect(statusOf(answer), `${target}: ${answer}`).toBe(400);
      expect(JSON.parse(bodyOf(answer)).error).toMatch(/\S/);
    }
    expect(statusOf(await rawExchange(port, `GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))).toBe(200);
    stillIn(alpha, beta);
  });

  it('a cross-origin or non-JSON POST cannot make it leave, change its keys or join elsewhere, even carrying the credentials', async () => {
    const { alpha, beta, control, token } = await pair();
    const attempts = [
      ['/v1/leave', '{}'],
      ['/v1/keys', JSON.stringify({ op: 'install', key: EVIL_KEY })],
      ['/v1/keys', JSON.stringify({ op: 'use', key: EVIL_KEY })],
      ['/v1/cluster/keys', JSON.stringify({ op: 'install', key: EVIL_KEY })],
      ['/v1/join', JSON.stringify({ addresses: ['127.0.0.1:9'] })],
    ] as const;
    const credentials: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    for (const [path, body] of attempts) {
      // A form or a simple fetch from another page: text/plain needs no preflight.
      const simple = await fetch(`http://${control}${path}`, { method: 'POST', body, headers: { 'content-type': 'text/plain', origin: 'http://evil.example', ...credentials } });
      expect(simple.status, `text/plain ${path}`).toBeGreaterThanOrEqual(400);
      // JSON from a foreign origin.
      const foreign = await fetch(`http://${control}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', origin: 'http://evil.example', ...credentials } });
      expect(foreign.status, `foreign origin ${path}`).toBe(403);
      // JSON with no origin but the wrong type.
      const form = await fetch(`http://${control}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...credentials } });
      expect(form.status, `form ${path}`).toBe(415);
    }
    const keys = await fetch(`http://${control}/v1/keys`, { headers: credentials });
    expect(keys.status).toBe(200);
    expect((await keys.json()) as { keys: unknown[] }).toMatchObject({ keys: [expect.anything()] });
    stillIn(alpha, beta);
  });

  it('refuses every route for a foreign Host (DNS rebinding), before any route runs', async () => {
    const { alpha, beta, port, token } = await pair();
    const auth = token ? `Authorization: Bearer ${token}\r\n` : '';
    for (const [method, path, body] of [
      ['GET', '/v1/keys', ''],
      ['GET', '/v1/cluster/keys', ''],
      ['GET', '/v1/members', ''],
      ['GET', '/', ''],
      ['PUT', '/v1/tags', '{"set":{"owned":"yes"}}'],
      ['POST', '/v1/leave', '{}'],
    ] as const) {
      const answer = await rawExchange(
        port,
        `${method} ${path} HTTP/1.1\r\nHost: evil.example:${port}\r\n${auth}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expect([403, 421], `${method} ${path}: ${answer.split('\r\n')[0]}`).toContain(statusOf(answer));
    }
    stillIn(alpha, beta);
    expect(alpha.lines.some((l) => typeof l === 'object' && l.event === 'Leaving')).toBe(false);
  });

  it('needs credentials by default, and never returns key material', async () => {
    const { alpha, beta, control, token } = await pair();
    const open = await fetch(`http://${control}/v1/keys`);
    expect(open.status).toBe(401);
    expect(await open.text()).not.toContain(KEY);
    expect((await fetch(`http://${control}/v1/members`)).status).toBe(401);
    expect((await fetch(`http://${control}/v1/health`)).status).toBe(200);
    const listed = await fetch(`http://${control}/v1/keys`, { headers: { authorization: `Bearer ${token}` } });
    const text = await listed.text();
    expect(text).not.toContain(KEY);
    expect(text).not.toContain(Buffer.from(KEY, 'base64').toString('hex'));
    expect(JSON.parse(text)).toMatchObject({ keys: [{ fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), primary: true }] });
    expect(JSON.stringify(alpha.lines) + alpha.stderr.join('')).not.toContain(KEY);
    stillIn(alpha, beta);
  });

  it('on a non-loopback address it requires a token even when none was given, and says where it is reachable', async () => {
    const port = await freePort();
    const alpha = startCli(['agent', '--name', 'alpha', '--bind', `127.0.0.1:${await freePort()}`, '--profile', 'local', '--control', `0.0.0.0:${port}`]);
    const started = await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start');
    expect(String(started.reachable ?? '')).toMatch(/every interface|0\.0\.0\.0/);
    expect((await fetch(`http://127.0.0.1:${port}/v1/members`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${port}/v1/health`)).status).toBe(200);
  });

  it('caps event streams: beyond the cap 503 with Retry-After, and health and members still answer under ulimit -n 1024', async () => {
    const port = await freePort();
    const alpha = startCli(agentArgs('alpha', port), {}, [], ['prlimit', '--nofile=1024:1024']);
    const started = await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start');
    const control = String(started.control);
    const token = agentToken(started);
    const headers = `Host: ${control}\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}`;
    const controlPort = Number(control.split(':').at(-1));
    const sockets: Socket[] = [];
    const statuses: number[] = [];
    try {
      await Promise.all(
        Array.from({ length: 1100 }, () =>
          new Promise<void>((resolve) => {
            const socket = connect(controlPort, '127.0.0.1');
            sockets.push(socket);
            let head = '';
            const settle = (status: number) => {
              statuses.push(status);
              resolve();
            };
            socket.setEncoding('latin1');
            socket.on('data', (chunk: string) => {
              if (head.includes('\r\n\r\n')) return;
              head += chunk;
              if (head.includes('\r\n\r\n')) {
                settle(statusOf(head));
                if (statusOf(head) === 503) expect(head).toMatch(/\r\nretry-after: \d+\r\n/i);
              }
            });
            socket.on('error', () => settle(0));
            socket.on('close', () => head.includes('\r\n\r\n') || settle(0));
            socket.on('connect', () => socket.write(`GET /v1/events HTTP/1.1\r\n${headers}\r\n`));
          }),
        ),
      );
      const count = (status: number) => statuses.filter((s) => s === status).length;
      expect(count(200)).toBeGreaterThan(0);
      expect(count(503)).toBeGreaterThan(0);
      expect(count(200) + count(503)).toBe(1100);
      const health = await rawExchange(controlPort, `GET /v1/health HTTP/1.1\r\n${headers}\r\n`);
      expect(statusOf(health)).toBe(200);
      const members = await rawExchange(controlPort, `GET /v1/members HTTP/1.1\r\n${headers}\r\n`);
      expect(statusOf(members)).toBe(200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    expect(alpha.child.exitCode).toBeNull();
  }, 60_000);
});
