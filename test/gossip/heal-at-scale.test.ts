/**
 * Heal at scale, in the simulated network (`lan` profile): when the first
 * push-pull crosses between two halves that know nothing of each other,
 * each side's members learn the other's within 10 s, at 1,000 members, as
 * every member that learns hundreds of changes spreads them on by
 * push-pull (`spreadAfterChanges`); before, the merged state waited for
 * several push-pull intervals (2.5 min each at this size). Also when the
 * halves still hold each other dead (a shorter split, 300 members), and no
 * extra traffic at idle. Slow (tens of seconds of wall time), so in a file
 * of its own; `bench/gossip-partition.ts` has the figures.
 */
import { describe, expect, it } from 'vitest';
import { lanProfile } from '../../src/discovery/gossip/protocol/config.js';
import { SimNetwork } from '../../src/discovery/testing/sim.js';

const HEAL_MS = 10_000;

describe('heal at scale', () => {
  it('two halves of 500 that never met: one push-pull crosses, and within 10 s all see all', { timeout: 300_000 }, () => {
    const sim = new SimNetwork({ seed: 41, recordEvents: false, delayMs: 0.5, jitterMs: 1 });
    sim.addConverged(500, 'a');
    sim.addConverged(500, 'b');
    sim.runFor(2000);
    // No spreading at idle: the halves' own periodic exchanges bring nothing new.
    sim.runFor(5000);
    expect([...sim.members.values()].filter((m) => Number.isFinite(m.core.nextSpreadAt))).toEqual([]);
    // A seed lookup (or a failed member's address) makes a0 push-pull with b0.
    sim.member('a0').driver.step({ type: 'seedAddresses', addresses: ['b0'] });
    expect(sim.runUntil(() => sim.unconverged().length === 0, HEAL_MS, 500)).toBe(true);
  });

  it('a split of 300 members healed while each half still holds the other dead: within 10 s', { timeout: 300_000 }, () => {
    const sim = new SimNetwork({ seed: 42, recordEvents: false, delayMs: 0.5, jitterMs: 1, config: lanProfile() });
    const names = sim.addConverged(300);
    sim.runFor(2000);
    sim.partition(names.slice(0, 150), names.slice(150));
    sim.runFor(30_000);
    expect(sim.statusOf(names[0]!, names[299]!)).toBe('dead');
    sim.heal();
    expect(sim.runUntil(() => sim.unconverged().length === 0, HEAL_MS, 500)).toBe(true);
  });
});
