/** Simulated clusters: convergence, failure detection, partitions, loss. Seeded and repeatable. */
import { describe, expect, it } from 'vitest';
import { SimNetwork } from '../../src/discovery/gossip/sim.js';

function joinAll(sim: SimNetwork, n: number): string[] {
  const names = Array.from({ length: n }, (_, i) => `m${i}`);
  sim.addMember(names[0]!);
  // Members join one after another through random earlier members, as a rolling start would.
  names.slice(1).forEach((name, i) => {
    sim.addMember(name, { seeds: [names[(i * 7919) % (i + 1)]!] });
    sim.runFor(20);
  });
  return names;
}

describe('simulated clusters', () => {
  it('50 members joining one by one converge', () => {
    const sim = new SimNetwork({ seed: 11 });
    joinAll(sim, 50);
    // Members that joined before gossip about their peers had settled catch up through push-pull (every 30 s).
    expect(sim.runUntil(() => sim.unconverged().length === 0, 90_000, 100)).toBe(true);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
  });

  it('a crashed member is declared dead everywhere; a suspected live one refutes and is not', () => {
    const sim = new SimNetwork({ seed: 12 });
    const names = sim.addConverged(50);
    sim.runFor(2000);
    sim.crash('m7');
    // m8 stops answering for long enough to be suspected, then comes back and refutes.
    sim.stall('m8', 2500);
    const others = names.filter((n) => n !== 'm7');
    expect(sim.runUntil(() => others.every((n) => sim.sees(n, 'm7', 'dead')), 30_000)).toBe(true);
    const failed = sim.events.filter((e) => e.event.type === 'fail');
    expect(new Set(failed.filter((e) => e.event.type === 'fail' && e.event.member.name === 'm7').map((e) => e.observer))).toEqual(new Set(others));
    expect(failed.some((e) => e.event.type === 'fail' && e.event.member.name === 'm8')).toBe(false);
    // m8 was suspected by someone, and refuted it with a newer incarnation.
    expect(sim.members.get('m8')!.core.self.incarnation).toBeGreaterThan(sim.members.get('m9')!.core.self.incarnation);
    sim.runFor(5000);
    expect(others.filter((n) => n !== 'm8').every((n) => sim.sees(n, 'm8', 'alive'))).toBe(true);
  });

  it('a 25/25 partition heals through push-pull after it ends', () => {
    const sim = new SimNetwork({ seed: 13 });
    const names = sim.addConverged(50);
    sim.runFor(1000);
    const a = names.slice(0, 25);
    const b = names.slice(25);
    sim.partition(a, b);
    // Long enough for each side to declare the other dead.
    expect(sim.runUntil(() => a.every((x) => b.every((y) => !sim.sees(x, y, 'alive'))), 120_000, 500)).toBe(true);
    sim.heal();
    expect(sim.runUntil(() => sim.unconverged().length === 0, 600_000, 1000)).toBe(true);
    const rejoined = sim.events.filter((e) => e.event.type === 'join' && a.includes(e.observer) && b.includes(e.event.member.name));
    expect(rejoined.length).toBeGreaterThan(0);
  });

  it('10% random loss for ten simulated minutes at 100 members gives no false failure', () => {
    const sim = new SimNetwork({ seed: 14, loss: 0.1, recordEvents: false });
    let falseFailures = 0;
    sim.onEvent((e) => {
      if (e.event.type === 'fail') falseFailures++;
    });
    sim.addConverged(100);
    sim.runFor(10 * 60_000);
    expect(falseFailures).toBe(0);
    expect(sim.unconverged()).toEqual([]);
  });

  it('a graceful leave is seen as a leave, not a failure, everywhere', () => {
    const sim = new SimNetwork({ seed: 15 });
    const names = sim.addConverged(30);
    sim.runFor(1000);
    sim.leave('m3');
    const others = names.filter((n) => n !== 'm3');
    expect(sim.runUntil(() => others.every((n) => sim.sees(n, 'm3', 'left')), 5000, 5)).toBe(true);
    const aboutM3 = sim.events.filter((e) => e.event.type !== 'conflict' && e.event.member.name === 'm3');
    expect(aboutM3.length).toBe(others.length);
    expect(aboutM3.every((e) => e.event.type === 'leave')).toBe(true);
  });

  it('a metadata change reaches every member as an update', () => {
    const sim = new SimNetwork({ seed: 16 });
    const names = sim.addConverged(30);
    sim.runFor(1000);
    sim.setMetadata('m4', { role: 'leader' });
    const others = names.filter((n) => n !== 'm4');
    expect(sim.runUntil(() => others.every((n) => sim.members.get(n)!.core.members.get('m4')!.meta.role === 'leader'), 5000, 5)).toBe(true);
    expect(sim.events.filter((e) => e.event.type === 'update').length).toBe(others.length);
  });

  it('is reproducible: the same seed gives the same run', () => {
    const run = () => {
      const sim = new SimNetwork({ seed: 99, loss: 0.05 });
      sim.addConverged(20);
      sim.crash('m2');
      sim.runFor(20_000);
      return sim.events.map((e) => `${Math.round(e.at)}:${e.observer}:${e.event.type}`);
    };
    expect(run()).toEqual(run());
  });
});
