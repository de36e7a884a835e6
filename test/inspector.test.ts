/** The adapter seen live in a Stately inspector over a WebSocket on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createWebSocketInspector } from '@statelyai/inspect';
import * as discovery from 'distribute/discovery';
import { memoryAdapter } from 'distribute/discovery';
import { eventually, unwrap } from './support/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('inspection', () => {
  it('streams the adapter actor and its snapshots, peers in context, to a WebSocket inspector', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const received: { type: string; sessionId?: string; snapshot?: { context?: { peers?: unknown; self?: { id: string } } } }[] = [];
    server.on('connection', (socket) => socket.on('message', (data) => received.push(JSON.parse(String(data)))));

    const { port } = server.address() as { port: number };
    const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
    cleanups.push(() => inspector.stop());

    const group = memoryAdapter({ group: 'inspected' });
    unwrap(await discovery.startLink({ adapter: group, nodeId: 'watched', inspect: inspector.inspect }));
    cleanups.push(() => discovery.stop());
    unwrap(await discovery.startLink({ name: 'other', adapter: group, nodeId: 'visible-peer' }));
    cleanups.push(() => discovery.bind({ name: 'other' }).stop());

    const hasPeerInContext = () =>
      received.some(
        (m) =>
          m.type === '@xstate.snapshot' &&
          m.snapshot?.context?.self?.id === 'watched' &&
          JSON.stringify(m.snapshot.context.peers).includes('"visible-peer"'),
      );
    await eventually(hasPeerInContext, 5000, 'a snapshot with the peer in context');
    expect(received.some((m) => m.type === '@xstate.actor')).toBe(true);
  });
});
