/**
 * 20% UDP loss in a simulated cluster of ten (`lan` profile) while three
 * members go: one process killed, one stalled for 20 s (as SIGSTOP), one
 * host crashed. Over twenty seeds no live member is declared failed: a
 * probe whose UDP packets are lost still gets its answer over the TCP
 * fallback. (Before the fallback, two of these twenty runs had a false
 * failure.) The simulated network loses UDP only; TCP retransmits.
 */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../src/discovery/testing/sim.js';

describe('loss during failures', () => {
  it('20% UDP loss while members are killed, stalled and crashed: no false failure over 20 runs', { timeout: 120_000 }, () => {
    const gone = new Set(['m7', 'm8', 'm9']);
    const falseFailures: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const sim = new SimNetwork({ seed, loss: 0.2, delayMs: 0.5, jitterMs: 1 });
      sim.addConverged(10);
      sim.runFor(10_000);
      sim.kill('m7');
      sim.runFor(3000);
      sim.stall('m8', 20_000);
      sim.runFor(3000);
      sim.crash('m9');
      sim.runFor(40_000);
      // The stalled member's own verdicts, made as it wakes to a backlog, are not about the others' health.
      falseFailures.push(sim.events.filter((e) => e.event.type === 'fail' && !gone.has(e.event.member.id) && e.observer !== 'm8').length);
      // The real failures were found.
      expect(sim.seenByAll('m9', 'dead') && sim.seenByAll('m7', 'dead')).toBe(true);
    }
    expect(falseFailures).toEqual(Array(20).fill(0));
  });
});
