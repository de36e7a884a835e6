/**
 * Eager join news: a member that learns of a new member tells a few others at
 * once instead of waiting for its gossip round, within its bounds (a small
 * fan-out, a rate, only news of members new to it). In the simulated network,
 * then over real sockets on loopback, where an outsider tries to turn it into
 * an amplifier.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { generateKey, gossipAdapter, type GossipAdapterOptions } from 'distribute/discovery';
import { lanProfile, type GossipConfig } from '../../src/discovery/gossip/protocol/config.js';
import type { MemberState } from '../../src/discovery/gossip/wire/messages.js';
import { SimNetwork, type SimMember } from '../../src/discovery/testing/sim.js';
import { pullTable } from './outsider.js';
import { eventually, unwrap } from '../support/index.js';

const simWith = (overrides: Partial<GossipConfig>, seed = 5) => new SimNetwork({ seed, recordEvents: false, config: { ...lanProfile(), ...overrides } });

const sum = (sim: SimNetwork, count: (m: SimMember) => number) =>
  [...sim.members.values()].reduce((total, m) => total + count(m), 0);

/** A converged cluster of `n`, idle for a while, then a newcomer joining through one member. */
function joinInto(overrides: Partial<GossipConfig>, n: number, seed = 5) {
  const sim = simWith(overrides, seed);
  const names = sim.addConverged(n);
  sim.runFor(3000);
  const before = sum(sim, (m) => m.messagesSent);
  const start = sim.now;
  sim.addMember('newcomer', { seeds: [names[1]!] });
  return { sim, start, before };
}

describe('eager join news in the simulated network', () => {
  it('in ten joins into 300 members, hardly anyone waits for a second gossip round; without it, dozens do', () => {
    // Half a gossip interval: only the first wave (the round due at once, urgent and eager news) is through.
    const within = lanProfile().gossipIntervalMs / 2;
    const waiting = (joinNewsFanout: number) => {
      let late = 0;
      for (let seed = 1; seed <= 10; seed++) {
        const { sim } = joinInto({ joinNewsFanout }, 300, seed);
        sim.runFor(within);
        late += [...sim.members.values()].filter((m) => m.name !== 'newcomer' && !sim.sees(m.name, 'newcomer', 'alive')).length;
        expect(sim.runUntil(() => sim.seenByAll('newcomer', 'alive'), 5000, 1)).toBe(true);
      }
      return late;
    };
    // Expected: 10 × 300 × e^−10 ≈ 0.1 with it, 10 × 300 × e^−4 ≈ 55 without.
    expect(waiting(lanProfile().joinNewsFanout)).toBeLessThanOrEqual(2);
    expect(waiting(0)).toBeGreaterThanOrEqual(20);
  });

  it('a join costs no more messages than gossip rounds alone send, and each member tells others once', () => {
    const counts = [lanProfile().joinNewsFanout, 0].map((joinNewsFanout) => {
      const { sim, before } = joinInto({ joinNewsFanout }, 300);
      sim.runFor(20_000);
      return { messages: sum(sim, (m) => m.messagesSent) - before, fanouts: sum(sim, (m) => m.core.stats.joinNewsSent) };
    });
    const [eager, off] = counts as [(typeof counts)[0], (typeof counts)[0]];
    expect(eager.messages).toBeLessThanOrEqual(off.messages);
    // Every member but the newcomer heard of one new member (the newcomer), and fanned out once for it.
    expect(eager.fanouts).toBe(300);
    expect(off.fanouts).toBe(0);
  });

  it('in a cluster one fan-out covers, the seed alone tells the others, and all see the newcomer in one hop', () => {
    for (const n of [3, 5]) {
      const { sim, start } = joinInto({}, n);
      const seed = sim.member('m1');
      expect(sim.runUntil(() => sim.seenByAll('newcomer', 'alive'), 5000, 1), `n=${n}`).toBe(true);
      // One-way delay up to 1.5 ms: the push-pull there, then the seed's news, no second round of copies.
      expect(sim.now - start, `n=${n}`).toBeLessThanOrEqual(4);
      sim.runFor(100);
      const fanouts = [...sim.members.values()].filter((m) => m.core.stats.joinNewsSent > 0).map((m) => m.name);
      expect(fanouts, `n=${n}`).toEqual([seed.name]);
    }
    // Where one fan-out does not cover the cluster, those who hear pass it on, as before.
    const { sim } = joinInto({}, 30);
    expect(sim.runUntil(() => sim.seenByAll('newcomer', 'alive'), 5000, 1)).toBe(true);
    sim.runFor(100);
    expect(sum(sim, (m) => (m.core.stats.joinNewsSent > 0 ? 1 : 0))).toBeGreaterThan(1);
  });

  it('an idle cluster sends no join news, its periodic push-pulls included', () => {
    const sim = simWith({});
    sim.addConverged(100);
    const pushPull = lanProfile().pushPullIntervalMs;
    sim.runFor(3 * pushPull);
    expect(sum(sim, (m) => m.streamsSent)).toBeGreaterThan(0);
    expect(sum(sim, (m) => m.core.stats.joinNewsSent + m.core.stats.joinNewsDeferred)).toBe(0);
  });

  it('100 members joining through one seed within a second: the seed fans out no more than its rate, and all still converge', () => {
    const sim = simWith({});
    sim.addMember('seed');
    sim.runFor(1000);
    const start = sim.now;
    for (let i = 0; i < 100; i++) {
      sim.addMember(`j${i}`, { seeds: ['seed'] });
      sim.runFor(10);
    }
    const seconds = (sim.now - start) / 1000;
    const { joinNewsSent, joinNewsDeferred } = sim.member('seed').core.stats;
    const rate = lanProfile().joinNewsPerSecond;
    expect(joinNewsSent).toBeLessThanOrEqual(Math.ceil(rate * (1 + seconds)));
    expect(joinNewsDeferred).toBeGreaterThan(0);
    expect(sim.runUntil(() => sim.unconverged().length === 0, 60_000, 100)).toBe(true);
  });
});

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

async function member(name: string, options: Partial<GossipAdapterOptions> = {}, seeds: string[] = []) {
  names.push(name);
  const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', ...options });
  unwrap(await discovery.startLink({ name, nodeId: name, adapter, seedPeers: seeds, syncIntervalMs: 50 }));
  return discovery.bind({ name });
}

type Member = Awaited<ReturnType<typeof member>>;
const counter = (m: Member, key: string) => unwrap(m.metrics()).backend[key] ?? 0;
/** Waits for two more syncs, so the counters (figures of the last sync) include what happened until now. */
async function synced(...ms: Member[]): Promise<void> {
  for (const m of ms) {
    const count = unwrap(m.metrics()).syncCount;
    await eventually(() => unwrap(m.metrics()).syncCount >= count + 2, 5000, 'two more syncs');
  }
}
const addressOf = (m: Member) => unwrap(m.self()).address!;
const forged = (id: string, port: number): MemberState => ({ id, address: `127.0.0.1:${port}`, incarnation: 1, status: 'alive', metadata: {} });

/** A seed and three members joined through it: the cluster a newcomer or an outsider meets. */
async function cluster(options: Partial<GossipAdapterOptions> = {}) {
  const seed = await member('seed', options);
  const others: Member[] = [];
  for (const name of ['m1', 'm2', 'm3']) others.push(await member(name, options, [addressOf(seed)]));
  await eventually(() => others.every((m) => unwrap(m.snapshot()).length === 3), 5000, 'the cluster to converge');
  await synced(seed, ...others);
  // Their own joins were join news to the seed: counted from here on.
  return { seed, others, sentBefore: counter(seed, 'joinNewsSent') };
}

describe('eager join news over real sockets', () => {
  it('a seed tells others of a newcomer at once, and the news is not told again for a member it knows', async () => {
    const { seed, others, sentBefore } = await cluster();
    const newcomer = await member('newcomer', {}, [addressOf(seed)]);
    await eventually(() => others.every((m) => m.lookup('newcomer').ok), 5000, 'every member to see the newcomer');
    await synced(seed);
    expect(counter(seed, 'joinNewsSent')).toBe(sentBefore + 1);
    // The newcomer's join again (a retried join, a replay): a member the seed knows is no news.
    await pullTable(addressOf(seed), [forged('newcomer', Number(addressOf(newcomer).split(':')[1]))], { joinAs: 'newcomer' });
    await synced(seed);
    expect(counter(seed, 'joinNewsSent')).toBe(sentBefore + 1);
  });

  it("an outsider's 200 forged joins make a member fan out no more than its rate; the rest wait for gossip", async () => {
    const rate = 10;
    const { seed, others, sentBefore } = await cluster({ config: { joinNewsPerSecond: rate } });
    const started = performance.now();
    for (let i = 0; i < 200; i++) await pullTable(addressOf(seed), [forged(`forged-${i}`, 30_000 + i)], { joinAs: `forged-${i}` });
    const seconds = (performance.now() - started) / 1000;
    await synced(seed, ...others);
    const sent = counter(seed, 'joinNewsSent') - sentBefore;
    expect(sent).toBeLessThanOrEqual(Math.ceil(rate * (1 + seconds)));
    // Each forged member is told at once, or left to gossip (or, once the table is mostly dead forgeries, to nobody).
    expect(counter(seed, 'joinNewsDeferred')).toBeGreaterThanOrEqual(150);
    // The members told pass it on within the same bound, whatever the seed was made to send them.
    for (const m of others) expect(counter(m, 'joinNewsSent')).toBeLessThanOrEqual(Math.ceil(rate * (1 + seconds)) + 1);
  });

  it('a forged join under a known member id at another address is no join news: the member is kept where it is', async () => {
    const { seed, others, sentBefore } = await cluster();
    await pullTable(addressOf(seed), [{ ...forged('m1', 30_999), incarnation: 2 ** 31 }], { joinAs: 'm1' });
    await pullTable(addressOf(seed), [forged('m2', 30_998)], { joinAs: 'm2' });
    await synced(seed);
    expect(counter(seed, 'joinNewsSent')).toBe(sentBefore);
    expect(unwrap(seed.lookup('m1')).address).toBe(addressOf(others[0]!));
  });

  it("a sealed cluster: a newcomer with the key is told everywhere at once; an outsider's joins are not opened, so not told", async () => {
    const key = generateKey();
    const { seed, others, sentBefore } = await cluster({ secretKeys: [key] });
    // The member cannot open them, so it never answers.
    for (let i = 0; i < 20; i++) {
      await expect(pullTable(addressOf(seed), [forged(`forged-${i}`, 30_000 + i)], { joinAs: `forged-${i}`, timeoutMs: 100 })).rejects.toThrow();
    }
    await eventually(() => counter(seed, 'unopenedMessages') + counter(seed, 'malformedStreams') >= 20, 5000, 'the forged joins to be counted and dropped');
    expect(counter(seed, 'joinNewsSent') + counter(seed, 'joinNewsDeferred')).toBe(sentBefore);
    for (const m of others) expect(m.lookup('forged-0').ok).toBe(false);
    await member('newcomer', { secretKeys: [key] }, [addressOf(seed)]);
    await eventually(() => others.every((m) => m.lookup('newcomer').ok), 5000, 'every member to see the sealed newcomer');
    await synced(seed);
    expect(counter(seed, 'joinNewsSent')).toBe(sentBefore + 1);
  });
});
