/**
 * The in-process transport: the same contract as the socket one (datagrams,
 * one-frame requests, watches), and whole gossip members running over it
 * through the facade, with no sockets.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { defineAdapter } from 'distribute/discovery';
import { MemoryNetwork } from '../../src/discovery/gossip/net/memory-transport.js';
import type { PeerGoneReason } from '../../src/discovery/gossip/net/transport.js';
import { startGossip } from '../../src/discovery/adapters/gossip.js';
import { eventually, unwrap } from '../support/index.js';

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

describe('MemoryNetwork', () => {
  it('delivers datagrams and requests by address, and tells watchers when a member dies', async () => {
    const network = new MemoryNetwork();
    const a = network.open('10.0.0.1:7946');
    const b = network.open('10.0.0.2:7946');
    const packets: [string, string][] = [];
    b.onPacket((data, from) => packets.push([data.toString(), from]));
    b.onRequest((data) => Buffer.from(`re: ${data.toString()}`));
    a.sendPacket('10.0.0.2:7946', Buffer.from('ping'));
    await eventually(() => packets.length === 1, 1000, 'the packet');
    expect(packets).toEqual([['ping', '10.0.0.1:7946']]);
    const answer = await a.request('10.0.0.2:7946', Buffer.from('hello'));
    expect(answer.ok && answer.value.toString()).toBe('re: hello');
    const nobody = await a.request('10.0.0.9:7946', Buffer.from('hello'));
    expect(nobody.ok ? 'answered' : nobody.error.type).toBe('Refused');

    const gone: [string, PeerGoneReason][] = [];
    a.onPeerGone((to, why) => gone.push([to, why]));
    a.watch('10.0.0.2:7946');
    await network.kill('10.0.0.2:7946');
    expect(gone).toEqual([['10.0.0.2:7946', 'refused']]);
    expect(a.counters()).toMatchObject({ packetsOut: 1, streamsOut: 2, watchEvents: 1 });
    await a.close();
  });
});

describe('gossip members over a MemoryNetwork', () => {
  async function member(network: MemoryNetwork, name: string, seeds: string[] = []) {
    names.push(name);
    const adapter = defineAdapter('gossip', (context) => startGossip(context, { profile: 'local' }, network.opener()));
    unwrap(await discovery.startLink({ name, nodeId: name, adapter, seedPeers: seeds, syncIntervalMs: 50 }));
    return discovery.bind({ name });
  }

  it('join through a seed, and a killed member is failed by the others at once through its watchers', async () => {
    const network = new MemoryNetwork();
    const a = await member(network, 'mem-a');
    const seed = unwrap(a.self()).address!;
    expect(seed).toBe('10.0.0.1:7946');
    const b = await member(network, 'mem-b', [seed]);
    const c = await member(network, 'mem-c', [seed]);
    const all = [a, b, c];
    const ids = ['mem-a', 'mem-b', 'mem-c'];
    await eventually(() => all.every((m, i) => ids.every((id, j) => i === j || m.lookup(id).ok)), 5000, 'all three to see each other');

    await network.kill(unwrap(c.self()).address!);
    // Watches report the death (refused) well before probes and suspicion would, under the local profile's timeouts.
    await eventually(() => !a.lookup('mem-c').ok && !b.lookup('mem-c').ok, 3000, 'a and b to drop c');
    expect(a.lookup('mem-b').ok && b.lookup('mem-a').ok).toBe(true);
    // The metrics' backend counters are those of the last sync.
    const hinted = () => [a, b].some((m) => (unwrap(m.metrics()).backend.peerGoneHints ?? 0) > 0);
    await eventually(hinted, 3000, 'a watcher of c to have been told it is gone');
  });
});
