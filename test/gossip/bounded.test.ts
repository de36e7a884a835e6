/**
 * An outsider without keys floods one member with forged alives of members
 * that do not exist, over real UDP and TCP on loopback: the member takes no
 * more than its rate of new members from gossip and no more than its table
 * cap from push-pull, and counts what it drops.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter } from 'distribute/discovery';
import type { MemberState, PacketMessage } from '../../src/discovery/gossip/messages.js';
import { Outsider, pullTable } from './outsider.js';
import { eventually, unwrap } from '../support.js';

afterEach(async () => {
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
    await eventually(() => (backend().newMembersDropped ?? 0) > 0 || (backend().members ?? 0) > MAX / 2, 5000, 'the flood to be counted');
    const taken = (backend().members ?? 0) - 1;
    expect(taken).toBeLessThanOrEqual(RATE * (1 + seconds));
    expect(backend().newMembersDropped).toBeGreaterThanOrEqual(FORGED - taken);
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
});
