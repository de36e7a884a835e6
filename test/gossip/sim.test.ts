/** Simulated clusters: convergence, failure detection, partitions, loss, leave. Seeded and repeatable. */
import { describe, expect, it } from 'vitest';
import { localProfile, pushPullIntervalFor } from '../../src/discovery/gossip/protocol/config.js';
import { tally } from '../../src/discovery/gossip/protocol/core.js';
import { SimNetwork, type ObservedEvent } from '../../src/discovery/testing/sim.js';

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

const about = (events: readonly ObservedEvent[], name: string, type: string) =>
  events.filter((e) => e.event.type === type && e.event.type !== 'conflict' && e.event.member.id === name);

describe('simulated clusters', () => {
  it('50 members joining one by one converge, with no failure on the way', () => {
    const sim = new SimNetwork({ seed: 11 });
    joinAll(sim, 50);
    expect(sim.runUntil(() => sim.unconverged().length === 0, 60_000, 100)).toBe(true);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
    // Every member saw every other join exactly once.
    expect(sim.events.filter((e) => e.event.type === 'join')).toHaveLength(50 * 49);
  });

  it('a crashed member is declared dead everywhere; a suspected live one refutes and is not', () => {
    const sim = new SimNetwork({ seed: 12 });
    const names = sim.addConverged(50);
    sim.runFor(2000);
    sim.crash('m7');
    // m8 stops answering for long enough to be suspected, then comes back and refutes.
    sim.stall('m8', 2500);
    const others = names.filter((n) => n !== 'm7');
    expect(sim.runUntil(() => sim.seenByAll('m7', 'dead'), 30_000)).toBe(true);
    expect(new Set(about(sim.events, 'm7', 'fail').map((e) => e.observer))).toEqual(new Set(others));
    expect(about(sim.events, 'm8', 'fail')).toEqual([]);
    // m8 was suspected by someone, and refuted it with a newer incarnation.
    expect(sim.member('m8').core.self.incarnation).toBeGreaterThan(sim.member('m9').core.self.incarnation);
    sim.runFor(5000);
    expect(sim.seenByAll('m8', 'alive')).toBe(true);
  });

  it('a third of 60 members restarted at new addresses: all see all at the new ones, no new incarnation failed', () => {
    const sim = new SimNetwork({ seed: 22 });
    const names = sim.addConverged(60);
    sim.runFor(3000);
    const moved = new Set<string>();
    names.filter((_, i) => i % 3 === 0).forEach((name, i) => {
      moved.add(`${name}-b`);
      sim.restartElsewhere(name, `${name}-b`, [names[3 * i + 1]!]);
    });
    expect(sim.runUntil(() => sim.unconverged().length === 0, 60_000, 50)).toBe(true);
    expect(sim.events.filter((e) => e.event.type === 'fail' && moved.has(e.event.member.address))).toEqual([]);
    expect(sim.running().filter((m) => moved.has(m.name)).map((m) => m.id).sort()).toEqual(names.filter((_, i) => i % 3 === 0).sort());
  });

  it('a process that dies on a live host is failed everywhere in well under a second (peerGone)', () => {
    const sim = new SimNetwork({ seed: 21 });
    const names = sim.addConverged(100);
    sim.runFor(2000);
    const start = sim.now;
    sim.kill('m42');
    expect(sim.runUntil(() => sim.seenByAll('m42', 'dead'), 10_000, 1)).toBe(true);
    expect(sim.now - start).toBeLessThan(500);
    expect(about(sim.events, 'm42', 'fail')).toHaveLength(names.length - 1);
  });

  it('a 25/25 partition heals through push-pull after it ends', () => {
    const sim = new SimNetwork({ seed: 13 });
    const names = sim.addConverged(50);
    sim.runFor(1000);
    const a = names.slice(0, 25);
    const b = names.slice(25);
    sim.partition(a, b);
    // Long enough for each side to declare the other dead.
    const split = () => a.every((x) => b.every((y) => sim.sees(x, y, 'dead') && sim.sees(y, x, 'dead')));
    expect(sim.runUntil(split, 120_000, 500)).toBe(true);
    sim.heal();
    const healedFrom = sim.now;
    expect(sim.runUntil(() => sim.unconverged().length === 0, 300_000, 1000)).toBe(true);
    const rejoined = sim.events.filter((e) => e.at >= healedFrom && e.event.type === 'join' && a.includes(e.observer) && b.includes(e.event.member.id));
    expect(rejoined.length).toBe(25 * 25);
  });

  it('a 50/50 partition of ten minutes, long past forgetting the dead, heals within one push-pull interval', () => {
    const sim = new SimNetwork({ seed: 31 });
    const names = sim.addConverged(100);
    sim.runFor(1000);
    const a = names.slice(0, 50);
    const b = names.slice(50);
    sim.partition(a, b);
    sim.runFor(10 * 60_000);
    // Each side has forgotten the other altogether (deadReclaimMs is a minute).
    expect(a.some((x) => b.some((y) => sim.statusOf(x, y) !== undefined))).toBe(false);
    sim.heal();
    const interval = pushPullIntervalFor(sim.config, 50);
    expect(sim.runUntil(() => sim.unconverged().length === 0, interval, 500)).toBe(true);
  });

  it('10% random loss for ten simulated minutes at 100 members gives no false failure', () => {
    const sim = new SimNetwork({ seed: 14, loss: 0.1, recordEvents: false });
    let falseFailures = 0;
    let suspicions = 0;
    sim.onEvent((e) => {
      if (e.event.type === 'fail') falseFailures++;
    });
    sim.addConverged(100);
    const incarnations = () => [...sim.members.values()].reduce((sum, m) => sum + m.core.self.incarnation, 0);
    const before = incarnations();
    sim.runFor(10 * 60_000);
    suspicions = incarnations() - before;
    expect(falseFailures).toBe(0);
    expect(sim.unconverged()).toEqual([]);
    // The loss was felt: some members were suspected and had to refute, or only the TCP fallback answered.
    const fallbacks = [...sim.members.values()].reduce((sum, m) => sum + tally(m.core).tcpFallbacks, 0);
    expect(suspicions + fallbacks).toBeGreaterThan(0);
  });

  it('routes around one broken link with indirect probes', () => {
    const sim = new SimNetwork({ seed: 17 });
    sim.addConverged(20);
    sim.setLinkLoss('m1', 'm2', 1);
    sim.runFor(120_000);
    expect(sim.events.filter((e) => e.event.type === 'fail')).toEqual([]);
    expect(sim.unconverged()).toEqual([]);
  });

  it('a graceful leave is seen as a leave, not a failure, everywhere', () => {
    const sim = new SimNetwork({ seed: 15 });
    const names = sim.addConverged(30);
    sim.runFor(1000);
    sim.leave('m3');
    const others = names.filter((n) => n !== 'm3');
    expect(sim.runUntil(() => others.every((n) => sim.sees(n, 'm3', 'left')), 5000, 5)).toBe(true);
    sim.runFor(60_000);
    const aboutM3 = sim.events.filter((e) => e.event.type !== 'conflict' && e.event.member.id === 'm3');
    expect(aboutM3.length).toBe(others.length);
    expect(aboutM3.every((e) => e.event.type === 'leave')).toBe(true);
  });

  it('local profile: a join and a graceful leave are seen by all of 10 loopback members within 0.5 s', () => {
    const sim = new SimNetwork({ seed: 18, config: localProfile(), delayMs: 0.05, jitterMs: 0.1 });
    const names = sim.addConverged(10);
    sim.runFor(2000);
    const joinedAt = sim.now;
    sim.addMember('late', { seeds: ['m0'] });
    expect(sim.runUntil(() => names.every((n) => sim.sees(n, 'late', 'alive')), 500, 1)).toBe(true);
    expect(sim.now - joinedAt).toBeLessThanOrEqual(500);
    sim.runFor(1000);
    const leftAt = sim.now;
    sim.leave('m5');
    expect(sim.runUntil(() => sim.seenByAll('m5', 'left'), 500, 1)).toBe(true);
    expect(sim.now - leftAt).toBeLessThanOrEqual(500);
  });

  it('a metadata change reaches every member as one update', () => {
    const sim = new SimNetwork({ seed: 16 });
    const names = sim.addConverged(30);
    sim.runFor(1000);
    sim.setMetadata('m4', { role: 'leader' });
    const others = names.filter((n) => n !== 'm4');
    expect(sim.runUntil(() => others.every((n) => sim.member(n).core.members.get('m4')!.metadata.role === 'leader'), 5000, 5)).toBe(true);
    sim.runFor(10_000);
    expect(sim.events.filter((e) => e.event.type === 'update').length).toBe(others.length);
  });

  it('a member that was never up is joined once its seed appears', () => {
    const sim = new SimNetwork({ seed: 19 });
    sim.addMember('early', { seeds: ['seed'] });
    sim.runFor(5000);
    expect(sim.member('early').core.joined).toBe(false);
    sim.addMember('seed');
    expect(sim.runUntil(() => sim.sees('early', 'seed', 'alive') && sim.sees('seed', 'early', 'alive'), 15_000)).toBe(true);
    expect(sim.member('early').core.joined).toBe(true);
  });

  it('is reproducible: the same seed gives the same run', () => {
    const run = () => {
      const sim = new SimNetwork({ seed: 99, loss: 0.05 });
      sim.addConverged(20);
      sim.crash('m2');
      sim.runFor(20_000);
      return sim.events.map((e) => `${e.at.toFixed(3)}:${e.observer}:${e.event.type}`);
    };
    const first = run();
    expect(first.length).toBeGreaterThan(0);
    expect(run()).toEqual(first);
  });
});
