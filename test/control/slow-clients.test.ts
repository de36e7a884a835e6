/**
 * 100 clients that send their headers a byte at a time and never finish:
 * health answers while they hang on, and the agent closes each of them once
 * its header timeout passes (node's default would hold them for a minute).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { connect, type Socket } from 'node:net';
import { freePort } from '../support/processes.js';
import { agentArgs, killAll, startCli } from '../support/cli.js';
import { rawExchange, statusOf } from './raw.js';

afterAll(killAll);

describe('slow clients', () => {
  it('cannot hold the control endpoint: health answers, and each is closed by the header timeout', async () => {
    const agent = startCli(agentArgs('patient', await freePort()));
    const control = String((await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start')).control);
    const port = Number(control.split(':').at(-1));
    const sockets: Socket[] = [];
    const timers: NodeJS.Timeout[] = [];
    const closed = Array.from(
      { length: 100 },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          sockets.push(socket);
          const request = `GET /v1/health HTTP/1.1\r\nHost: ${control}\r\nX-Slow: ${'a'.repeat(1000)}`;
          let sent = 0;
          socket.on('connect', () => {
            const drip = setInterval(() => {
              if (sent < request.length && socket.writable) socket.write(request[sent++]!);
            }, 200);
            timers.push(drip);
          });
          socket.on('error', () => undefined);
          // Reading, so the server's close is seen.
          socket.resume();
          socket.on('close', () => resolve());
        }),
    );
    try {
      // While all 100 hang on, health answers.
      expect(statusOf(await rawExchange(port, `GET /v1/health HTTP/1.1\r\nHost: ${control}\r\n\r\n`))).toBe(200);
      await Promise.all(closed);
      expect(statusOf(await rawExchange(port, `GET /v1/health HTTP/1.1\r\nHost: ${control}\r\n\r\n`))).toBe(200);
    } finally {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
    }
    expect(agent.child.exitCode).toBeNull();
  }, 40_000);
});
