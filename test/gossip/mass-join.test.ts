/**
 * A mass join in the simulated network (`lan` profile): 1,000 members
 * start within one second through one seed, as when a Deployment scales up
 * or a whole cluster restarts, and all see all within 5 s. The seed answers
 * each join with a sample of its table (`joinReplyMembers`), the joiner gets
 * the rest from a member of the sample, and the wave of news is spread by
 * push-pull (`spreadAfterChanges`). Slow (tens of seconds of wall time), so
 * in a file of its own; `bench/gossip-join.ts` has the figures.
 */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../src/discovery/testing/sim.js';
import { Rng } from '../../src/discovery/rng.js';

describe('a mass join', () => {
  it('1,000 members starting within 1 s through one seed all see all within 5 s', { timeout: 300_000 }, () => {
    const sim = new SimNetwork({ seed: 51, recordEvents: false, delayMs: 0.5, jitterMs: 1 });
    sim.addMember('seed');
    sim.runFor(1000);
    const rng = new Rng(51);
    const starts = Array.from({ length: 999 }, () => sim.now + rng.next() * 1000).sort((a, b) => a - b);
    const first = sim.now;
    starts.forEach((at, i) => {
      sim.runFor(at - sim.now);
      sim.addMember(`j${i}`, { seeds: ['seed'] });
    });
    expect(sim.runUntil(() => sim.unconverged().length === 0, 5000 - (sim.now - first), 250)).toBe(true);
  });
});
