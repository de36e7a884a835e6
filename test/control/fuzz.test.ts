/**
 * 10,000 random and malformed requests against a running agent over raw TCP:
 * request lines, targets, headers and bodies. The agent answers each with a
 * status (or closes the connection) and stays up; /v1/health answers after.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/processes.js';
import { agentArgs, killAll, startCli } from '../support/cli.js';
import { rawExchange, statusOf } from './raw.js';

afterAll(killAll);

/** A small seeded generator, so a failing case can be replayed from its number. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

const METHODS = ['GET', 'POST', 'PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH', 'BREW', 'G\u0000T', ''];
const PATHS = ['/', '/v1/health', '/v1/members', '/v1/info', '/v1/keys', '/v1/join', '/v1/tags', '/v1/leave', '/v1/events', '/metrics', '/v1/login', '/app.js'];
const TARGETS = ['//[', 'http://[', '//a:99999', '//%zz', '%', '/%', '/v1/../../etc/passwd', '*', 'http://evil.example/v1/keys', '/?token=%ff', '/\u00ff', '//', '/v1/keys?op=%zz&key=[]'];
const HEADERS = [
  'Host: 127.0.0.1',
  'Host: evil.example',
  'Host: [',
  'Host: ',
  'Host: 127.0.0.1:99999',
  'Origin: null',
  'Origin: http://[',
  'Origin: http://evil.example',
  'Content-Type: application/json',
  'Content-Type: application/json; charset=utf-8',
  'Content-Type: text/plain',
  'Content-Type: ',
  'Content-Length: -1',
  'Content-Length: 99999999999999999999',
  'Content-Length: abc',
  'Transfer-Encoding: chunked',
  'Transfer-Encoding: gzip, chunked',
  'Authorization: Bearer',
  'Authorization: Bearer \u00ff\u00fe',
  'Authorization: Basic Zm9vOmJhcg==',
  'Cookie: distribute_session=%zz; x',
  'Cookie: =; ;;',
  'Accept: */*',
  'X-Long: ' + 'a'.repeat(9000),
];
const BODIES = ['', '{}', '{', 'null', '[]', '"x"', '{"addresses":"x"}', '{"addresses":[1]}', '{"set":{"a":1}}', '{"op":"use","key":{}}', '{"code":[]}', '\u0000\u0001\u0002', '{"__proto__":{"polluted":1}}', 'x'.repeat(70_000)];

function pick<T>(next: () => number, list: readonly T[]): T {
  return list[Math.floor(next() * list.length)]!;
}

function noise(next: () => number, length: number): string {
  return Array.from({ length }, () => String.fromCharCode(Math.floor(next() * 256))).join('');
}

/** One request, well-formed in parts and broken in others. */
function request(n: number, port: number): string {
  const next = random(n + 1);
  const shape = next();
  if (shape < 0.05) return noise(next, Math.floor(next() * 200));
  const method = pick(next, METHODS);
  const target = next() < 0.6 ? pick(next, PATHS) : next() < 0.5 ? pick(next, TARGETS) : `/${noise(next, 8)}`;
  const version = next() < 0.9 ? 'HTTP/1.1' : pick(next, ['HTTP/1.0', 'HTTP/2.0', 'HTTP/x', '']);
  const headers = Array.from({ length: Math.floor(next() * 5) }, () => pick(next, HEADERS)).map((h) => h.replace(/^Host: 127\.0\.0\.1$/, `Host: 127.0.0.1:${port}`));
  const body = pick(next, BODIES);
  const length = next() < 0.8 ? [`Content-Length: ${Buffer.byteLength(body, 'latin1')}`] : [];
  return `${method} ${target} ${version}\r\n${[...headers, ...length].join('\r\n')}\r\n\r\n${body}`;
}

describe('the control endpoint under malformed requests', () => {
  it('answers or closes each of 10,000 random requests and stays up', async () => {
    const port = await freePort();
    const agent = startCli(agentArgs('fuzzed', port));
    const control = String((await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start')).control);
    const controlPort = Number(control.split(':').at(-1));
    const TOTAL = 10_000;
    const IN_FLIGHT = 50;
    let nextCase = 0;
    const statuses = new Map<number, number>();
    const worker = async () => {
      while (nextCase < TOTAL) {
        const n = nextCase++;
        const answer = await rawExchange(controlPort, Buffer.from(request(n, controlPort), 'latin1'), 2000);
        const status = statusOf(answer);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (agent.child.exitCode !== null) throw new Error(`the agent exited on case ${n}: ${JSON.stringify(request(n, controlPort).slice(0, 200))}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    expect(agent.child.exitCode).toBeNull();
    // No request made it fail: a 5xx would be the handler's own error.
    expect(statuses.get(500) ?? 0).toBe(0);
    const health = await fetch(`http://${control}/v1/health`);
    expect(health.status).toBe(200);
    expect(agent.stderr.join('')).not.toMatch(/unexpected error|TypeError|RangeError/);
  }, 240_000);
});
