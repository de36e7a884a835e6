/**
 * An outsider without keys floods one member with forged alives of members
 * that do not exist, over real UDP and TCP on loopback: the member takes no
 * more than its rate of new members from gossip and no more than its table
 * cap from push-pull, and counts what it drops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter } from 'distribute/discovery';
import type { MemberState, PacketMessage } from '../../src/discovery/gossip/wire/messages.js';
import { connect, type Socket } from 'node:net';
import { Outsider, pullTable } from './outsider.js';
import { eventually, unwrap } from '../support/index.js';

afterEach(async () => {
  await Promise.all(['a', 'b'].map((name) => discovery.bind({ name }).stop(2000)));
  await discovery.stop(2000);
});

const RATE = 50;
const MAX = 500;
const FORGED = 10_000;
const backend = () => unwrap(discovery.metrics()).backend;

describe('bounded tables against an outsider', () => {
  it('10,000 forged alives over UDP: at most the rate is taken, the rest counted and dropped', async () => {
    const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', config: { newMembersPerSecond: RATE, maxMembers: MAX } });
    unwrap(await discovery.startLink({ nodeId: 'target', adapter, syncIntervalMs: 50 }));
    const to = unwrap(discovery.self()).address!;
    const outsider = await Outsider.open();
    const started = performance.now();
    try {
      const alives: PacketMessage[] = Array.from({ length: FORGED }, (_, i) => ({ type: 'alive', id: `fake-${i}`, address: `127.0.0.1:${20_000 + (i % 1000)}`, incarnation: 1, metadata: {} }));
      for (let i = 0; i < FORGED; i += 25) await outsider.forge(to, 'target', alives.slice(i, i + 25));
    } finally {
      outsider.close();
    }
    const seconds = (performance.now() - started) / 1000;
    // Every forged member is either taken or dropped (the figures are those of the last sync).
    const taken = () => (backend().members ?? 0) - 1;
    await eventually(() => (backend().newMembersDropped ?? 0) + taken() >= FORGED || taken() > MAX / 2, 5000, 'the flood to be counted');
    expect(taken()).toBeLessThanOrEqual(RATE * (1 + seconds));
  });

  it('a push-pull of 1,000 forged members fills the table to its cap and no further', async () => {
    const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', config: { maxMembers: MAX } });
    unwrap(await discovery.startLink({ nodeId: 'target', adapter, syncIntervalMs: 50 }));
    const to = unwrap(discovery.self()).address!;
    const forged: MemberState[] = Array.from({ length: 1000 }, (_, i) => ({ id: `fake-${i}`, address: `127.0.0.1:${20_000 + i}`, incarnation: 1, status: 'alive', metadata: {} }));
    const reply = await pullTable(to, forged);
    expect(reply.length).toBe(MAX);
    await eventually(() => (backend().newMembersDropped ?? 0) >= 1000 - (MAX - 1), 5000, 'the drops to be counted');
    expect(backend().members).toBeLessThanOrEqual(MAX);
  });

  it("an outsider's six idle watch connections do not keep the members' watches out: they are evicted", async () => {
    const local = () => gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });
    unwrap(await discovery.startLink({ nodeId: 'target', adapter: local(), syncIntervalMs: 50 }));
    const to = unwrap(discovery.self()).address!;
    const port = Number(to.split(':')[1]);
    const idle: Socket[] = [];
    const closed = new Set<Socket>();
    try {
      for (let i = 0; i < 6; i++) {
        const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.of(0x57)));
        socket.on('error', () => {});
        socket.on('close', () => closed.add(socket));
        idle.push(socket);
      }
      await eventually(() => (backend().watchersIn ?? 0) >= 6, 5000, "the outsider's watches to be held");
      for (const name of ['a', 'b']) {
        unwrap(await discovery.startLink({ name, nodeId: name, adapter: local(), seedPeers: [to], syncIntervalMs: 50 }));
      }
      // With three members, each watches both others: a and b each open a watch to the target.
      await eventually(() => (backend().watchersEvicted ?? 0) >= 2 || (backend().watchersRefused ?? 0) >= 1, 10_000, "the members' watches to arrive");
      expect(backend().watchersRefused).toBe(0);
      expect(backend().watchersEvicted).toBeGreaterThanOrEqual(2);
      await eventually(() => closed.size >= 2, 5000, "the outsider's watches to be closed");
    } finally {
      for (const socket of idle) socket.destroy();
    }
  });
});
