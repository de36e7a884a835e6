/**
 * A member whose UDP is blocked both ways while TCP gets through (a firewall
 * or security group that only opens TCP), in the simulated network: the TCP
 * fallback probe keeps it alive, the others mark it unreachable over UDP,
 * and membership news crosses over TCP in both directions.
 */
import { describe, expect, it } from 'vitest';
import { memberOf, udpUnreachable } from '../../src/discovery/gossip/protocol/core.js';
import { SimNetwork } from '../../src/discovery/testing/sim.js';

describe('a member with UDP blocked', () => {
  it('is not failed, does not fail others, is marked unreachable over UDP, and news crosses over TCP both ways', () => {
    const sim = new SimNetwork({ seed: 21 });
    const names = sim.addConverged(20);
    const blocked = 'm4';
    const block = (loss: number | undefined) => {
      for (const other of names) if (other !== blocked) sim.setLinkLoss(blocked, other, loss);
    };
    block(1);
    sim.runFor(20_000);
    // News on both sides while the block lasts: metadata and a leave.
    sim.setMetadata(blocked, { zone: 'b' });
    sim.setMetadata('m7', { zone: 'c' });
    sim.leave('m9');
    const others = () => sim.running().filter((m) => m.name !== blocked);
    const reached = sim.runUntil(
      () =>
        others().every((m) => memberOf(m.core, blocked)?.metadata.zone === 'b') &&
        memberOf(sim.member(blocked).core, 'm7')?.metadata.zone === 'c' &&
        sim.sees(blocked, 'm9', 'left'),
      60_000,
    );
    expect(reached).toBe(true);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
    // Every probe of it needs the fallback: after a few probe rounds (20 s each) most members mark it.
    sim.runFor(40_000);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
    expect(others().filter((m) => udpUnreachable(m.core).includes(blocked)).length).toBeGreaterThan(others().length / 2);
    expect(udpUnreachable(sim.member(blocked).core).length).toBeGreaterThan(0);

    // UDP back: the first direct ack clears the mark.
    block(undefined);
    sim.runFor(60_000);
    expect(others().filter((m) => udpUnreachable(m.core).includes(blocked))).toEqual([]);
    expect(udpUnreachable(sim.member(blocked).core)).toEqual([]);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
  });
});
