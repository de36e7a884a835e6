/**
 * `minPeers`, the quorum to start, through the facade with real adapters:
 * the in-process memory adapter, the static adapter (full lists) and the
 * gossip adapter over real sockets on loopback.
 */
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { defineAdapter, gossipAdapter, memoryAdapter, staticAdapter } from 'distribute/discovery';
import { isWaitingForPeers } from 'distribute/discovery/internals';
import { eventually, startEach, unwrap } from './support/index.js';

const start = startEach();

const healthOf = (name: string) => discovery.bind({ name }).health();
const synced = (name: string) => unwrap(discovery.bind({ name }).healthInfo()).lastSyncTimeMs !== undefined;

describe('minPeers', () => {
  it('keeps a memory member Degraded until two peers are up, then Up, and Degraded again when one goes', async () => {
    const group = `quorum-${Math.random()}`;
    const a = await start({ name: 'q-a', nodeId: 'a', adapter: memoryAdapter({ group }), minPeers: 2, syncIntervalMs: 50 });
    await eventually(() => synced('q-a'));
    expect(healthOf('q-a')).toEqual({ type: 'Degraded', reason: 'Waiting for 2 peers, 0 seen' });
    expect(isWaitingForPeers(a.actor.getSnapshot())).toBe(true);

    await start({ name: 'q-b', nodeId: 'b', adapter: memoryAdapter({ group }) });
    await eventually(() => unwrap(discovery.bind({ name: 'q-a' }).snapshot()).length === 1, 5000, 'b seen by a');
    expect(healthOf('q-a')).toEqual({ type: 'Degraded', reason: 'Waiting for 2 peers, 1 seen' });
    // Without the option nothing changes: b is Up with one peer.
    await eventually(() => healthOf('q-b').type === 'Up', 5000, 'b Up with one peer');

    const c = await start({ name: 'q-c', nodeId: 'c', adapter: memoryAdapter({ group }) });
    await eventually(() => healthOf('q-a').type === 'Up', 5000, 'a Up with two peers');
    expect(isWaitingForPeers(a.actor.getSnapshot())).toBe(false);
    expect(unwrap(discovery.bind({ name: 'q-a' }).healthInfo()).knownPeersCount).toBe(2);

    unwrap(await c.stop());
    await eventually(() => healthOf('q-a').type === 'Degraded', 5000, 'a Degraded after c left');
    expect(healthOf('q-a')).toEqual({ type: 'Degraded', reason: 'Waiting for 2 peers, 1 seen' });
  });

  it('counts the reachable peers of the static adapter, and the peers of a full list', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const listening = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const peers = [{ id: 'up', address: listening }, { id: 'down', address: '127.0.0.1:1' }];
      await start({ name: 'q-static', nodeId: 'self', adapter: staticAdapter({ peers, connectTimeoutMs: 200 }), minPeers: 1 });
      await start({ name: 'q-static-2', nodeId: 'self', adapter: staticAdapter({ peers, connectTimeoutMs: 200 }), minPeers: 2 });
      await eventually(() => healthOf('q-static').type === 'Up', 5000, 'static Up with its one reachable peer');
      await eventually(() => synced('q-static-2'));
      expect(healthOf('q-static-2')).toEqual({ type: 'Degraded', reason: 'Waiting for 2 peers, 1 seen' });
    } finally {
      server.close();
    }
    // A poll-style backend: the sync's full list is in the table before the quorum is counted.
    const fixed = defineAdapter('fixed', async ({ input }) => ({
      self: input.self,
      sync: async () => ({ peers: [{ id: 'b', metadata: {} }, { id: 'c', metadata: {} }, { id: input.self.id, metadata: {} }] }),
      close: () => {},
    }));
    await start({ name: 'q-list-2', nodeId: 'a', adapter: fixed, minPeers: 2 });
    await start({ name: 'q-list-3', nodeId: 'a', adapter: fixed, minPeers: 3 });
    await eventually(() => synced('q-list-3') && synced('q-list-2'));
    expect(healthOf('q-list-2')).toEqual({ type: 'Up' });
    expect(healthOf('q-list-3')).toEqual({ type: 'Degraded', reason: 'Waiting for 3 peers, 2 seen' });
  });

  it('holds a gossip member on real sockets Degraded until its peer joins, and again once the peer leaves', async () => {
    const local = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' } as const;
    const a = await start({ name: 'q-gossip-a', nodeId: 'ga', adapter: gossipAdapter(local), minPeers: 1, syncIntervalMs: 100 });
    await eventually(() => synced('q-gossip-a'));
    expect(healthOf('q-gossip-a')).toEqual({ type: 'Degraded', reason: 'Waiting for 1 peer, 0 seen' });
    const b = await start({ name: 'q-gossip-b', nodeId: 'gb', adapter: gossipAdapter(local), seedPeers: [a.self.address!] });
    await eventually(() => healthOf('q-gossip-a').type === 'Up', 10_000, 'a Up once b joined');
    unwrap(await b.stop());
    await eventually(() => unwrap(discovery.bind({ name: 'q-gossip-a' }).healthInfo()).knownPeersCount === 0, 10_000, 'b gone from a');
    // The gossip adapter's own reason (probes of b that failed before its leave arrived) may come first.
    expect(healthOf('q-gossip-a').type).toBe('Degraded');
  });

  it.each([-1, 1.5, Number.NaN, '2', Number.POSITIVE_INFINITY])('refuses minPeers %s with InvalidConfiguration naming it', async (value) => {
    const result = await discovery.startLink({ name: 'q-bad', adapter: memoryAdapter(), minPeers: value as number });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ type: 'InvalidConfiguration', field: 'minPeers' });
  });
});
