/**
 * One unauthenticated packet carrying an incarnation at the edge of exact
 * JavaScript numbers (2^53 − 1) must not make a member unrefutable: before
 * the bound, the target refuted with 2^53, which its encoder wrote as a
 * float that every receiver rejected, together with every message packed
 * beside it (its acks, its metadata), until it was declared dead.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import * as discovery from 'distribute/discovery';
import { gossipAdapter, type DiscoveryEvent } from 'distribute/discovery';
import { decodePacket, encodeMessage, encodePackets } from '../../src/discovery/gossip/wire/codec.js';
import { eventually, sleep, unwrap } from '../support/index.js';

const NAMES = ['a', 'b', 'c'] as const;
const EDGE = 2 ** 53 - 1;

afterEach(async () => {
  await Promise.all(NAMES.map((name) => discovery.bind({ name }).stop(2000)));
});

const local = () => gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });

describe('incarnations at the edge of exact numbers', () => {
  it('are dropped as malformed, one message at a time, and the member stays refutable', async () => {
    const downs: DiscoveryEvent[] = [];
    let seed: string | undefined;
    for (const name of NAMES) {
      unwrap(await discovery.startLink({ name, nodeId: name, adapter: local(), syncIntervalMs: 50, ...(seed ? { seedPeers: [seed] } : {}) }));
      seed ??= unwrap(discovery.bind({ name }).self()).address!;
      unwrap(discovery.bind({ name }).subscribe((event) => void (event.type === 'PeerDown' && downs.push(event))));
    }
    const view = (name: string) => discovery.bind({ name });
    await eventually(() => NAMES.every((n) => unwrap(view(n).snapshot()).length === 2), 10_000, 'three members to see each other');
    const addr = (name: string) => unwrap(view(name).self()).address!;
    const port = Number(addr('a').split(':')[1]);

    // From an outsider's socket: a ping (whose ack shows the packet's good neighbours are still
    // handled) packed with each poisoned message about a, and an alive about b sent to a.
    const socket = createSocket('udp4');
    const acks: number[] = [];
    socket.on('message', (data) => {
      const decoded = decodePacket(data);
      if (decoded.ok) for (const msg of decoded.value) if (msg.type === 'ack') acks.push(msg.seq);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    const poison = [
      encodeMessage({ type: 'suspect', id: 'a', incarnation: EDGE, from: 'b' }),
      encodeMessage({ type: 'dead', id: 'a', incarnation: EDGE, from: 'c' }),
      encodeMessage({ type: 'alive', id: 'b', address: addr('b'), incarnation: EDGE, metadata: {} }),
    ];
    try {
      for (const [i, bad] of poison.entries()) {
        const packet = encodePackets([{ type: 'ping', seq: 100 + i, target: 'a', from: 'outsider' }, bad], 1400)[0]!;
        await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()));
      }
      await eventually(() => acks.length === poison.length, 5000, 'acks to the pings packed with the poison');
    } finally {
      socket.close();
    }
    expect(acks.sort()).toEqual([100, 101, 102]);
    await eventually(() => (unwrap(view('a').metrics()).backend.malformedMessages ?? 0) >= poison.length, 5000, 'the poisoned messages to be counted');

    // Both targets still speak to the cluster: their metadata arrives everywhere.
    unwrap(view('a').setMetadata({ round: 'after-a' }));
    unwrap(view('b').setMetadata({ round: 'after-b' }));
    const seen = (observer: string, peer: string, round: string) => {
      const found = view(observer).lookup(peer);
      return found.ok && found.value.metadata.round === round;
    };
    await eventually(() => seen('b', 'a', 'after-a') && seen('c', 'a', 'after-a'), 5000, "a's metadata to reach b and c");
    await eventually(() => seen('a', 'b', 'after-b') && seen('c', 'b', 'after-b'), 5000, "b's metadata to reach a and c");

    // A real suspicion is still refuted: a few suspicion timeouts pass without anyone going down.
    await sleep(3000);
    expect(downs).toEqual([]);
    for (const n of NAMES) expect(unwrap(view(n).snapshot())).toHaveLength(2);
  });
});
