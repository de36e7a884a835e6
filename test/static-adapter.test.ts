/** The static adapter against real TCP listeners on loopback. */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import * as discovery from 'distribute/discovery';
import { staticAdapter } from 'distribute/discovery';
import { collector, eventually, unwrap } from './support/index.js';

const servers: Server[] = [];
afterEach(async () => {
  await discovery.stop(1000);
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listen(port = 0): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

async function closeAll() {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
}

describe('static adapter', () => {
  it('reports reachable peers up, an unreachable one down, and up again when it is back', async () => {
    const portA = await listen();
    const portB = await listen();
    const a = `127.0.0.1:${portA}`;
    const b = `127.0.0.1:${portB}`;
    unwrap(
      await discovery.startLink({
        adapter: staticAdapter({ peers: [{ address: b, id: 'bee', metadata: { role: 'cache' } }] }),
        seedPeers: [a],
        syncIntervalMs: 30,
      }),
    );
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 2);
    expect(seen.summary().sort()).toEqual([`PeerUp:${a}`, 'PeerUp:bee']);
    expect(unwrap(discovery.lookup('bee'))).toEqual({ id: 'bee', address: b, metadata: { role: 'cache' } });
    expect(discovery.health()).toEqual({ type: 'Up' });

    await closeAll();
    await eventually(() => seen.events.length === 4, 3000, 'both down');
    const downs = seen.events.slice(2);
    for (const event of downs) {
      expect(event.type).toBe('PeerDown');
      expect(event.type === 'PeerDown' && event.reason.type).toBe('Failed');
      expect(event.type === 'PeerDown' && event.reason.type === 'Failed' && event.reason.message).toMatch(/Unreachable: .*ECONNREFUSED/);
    }
    await eventually(() => discovery.health().type === 'Degraded');
    expect(discovery.health()).toEqual({ type: 'Degraded', reason: 'None of the 2 static peers is reachable' });

    await listen(portA);
    await eventually(() => seen.events.length === 5, 3000, 'a back up');
    expect(seen.summary()[4]).toBe(`PeerUp:${a}`);
    expect(unwrap(discovery.metrics()).backend).toMatchObject({ staticPeers: 2, reachable: 1 });
  });

  it('refuses a seed that is not host:port with StartFailed naming it', async () => {
    const result = await discovery.startLink({ adapter: staticAdapter(), seedPeers: ['not-an-address'] });
    expect(!result.ok && result.error.type).toBe('StartFailed');
    expect(!result.ok && result.error.message).toContain('"not-an-address"');
  });
});
