/**
 * `owner(key)` and `owners(key, n)`: rendezvous hashing over the live
 * members. The ranking on its own (spread, stability when members come and
 * go, weights), then through the facade of real adapters, where members with
 * the same view must agree.
 */
import { describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { DiscoveryErrors, gossipAdapter, memoryAdapter, OWNER_WEIGHT_KEY, type PeerInfo } from 'distribute/discovery';
import { ownershipView, rank } from '../src/discovery/ownership.js';
import { eventually, startEach, unwrap } from './support/index.js';

const members = (n: number, prefix = 'node-'): PeerInfo[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, metadata: {} }));
const keys = (n: number) => Array.from({ length: n }, (_, i) => `key:${i}`);
const ownerOf = (view: ReturnType<typeof ownershipView>, key: string) => rank(view, key, 1)[0]!.id;

/** How many of `keys` each member owns. */
function shares(all: readonly PeerInfo[], keyList: readonly string[]): Map<string, number> {
  const view = ownershipView(all);
  const counts = new Map(all.map((m) => [m.id, 0]));
  for (const key of keyList) counts.set(ownerOf(view, key), counts.get(ownerOf(view, key))! + 1);
  return counts;
}

describe('rendezvous ranking', () => {
  it('spreads keys evenly: each of 10 members owns its tenth, within six standard deviations', () => {
    const counts = shares(members(10), keys(100_000));
    // Binomial(100000, 0.1): sd ≈ 95.
    for (const [id, count] of counts) expect(Math.abs(count - 10_000), id).toBeLessThan(6 * 95);
  });

  it('removing a member moves only the keys it owned', () => {
    const all = members(20);
    const before = ownershipView(all);
    const gone = all[7]!.id;
    const after = ownershipView(all.filter((m) => m.id !== gone));
    let moved = 0;
    for (const key of keys(20_000)) {
      const was = ownerOf(before, key);
      const now = ownerOf(after, key);
      if (was === gone) moved++;
      else expect(now, key).toBe(was);
      // The key goes to the member that ranked second for it.
      if (was === gone) expect(now).toBe(rank(before, key, 2)[1]!.id);
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('adding a member takes about 1/N of the keys, all from the others to it', () => {
    const all = members(20);
    const before = ownershipView(all);
    const after = ownershipView([...all, { id: 'newcomer', metadata: {} }]);
    const total = 42_000;
    let moved = 0;
    for (const key of keys(total)) {
      const was = ownerOf(before, key);
      const now = ownerOf(after, key);
      if (now !== was) {
        moved++;
        expect(now).toBe('newcomer');
      }
    }
    // Binomial(42000, 1/21): mean 2000, sd ≈ 43.6.
    expect(Math.abs(moved - total / 21)).toBeLessThan(6 * 43.6);
  });

  it('does not depend on the order members are listed in', () => {
    const all = members(50);
    const forward = ownershipView(all);
    const backward = ownershipView([...all].reverse());
    for (const key of keys(2000)) expect(rank(backward, key, 3).map((m) => m.id)).toEqual(rank(forward, key, 3).map((m) => m.id));
  });

  it('owners(key, n) is the owner first, then the runners-up, whatever n; every member when n is past their number', () => {
    const view = ownershipView(members(60));
    for (const key of keys(300)) {
      const all = rank(view, key, 100).map((m) => m.id);
      expect(all).toHaveLength(60);
      expect(new Set(all).size).toBe(60);
      // Insertion (small n) and sorting (large n) agree.
      expect(rank(view, key, 3).map((m) => m.id)).toEqual(all.slice(0, 3));
      expect(rank(view, key, 40).map((m) => m.id)).toEqual(all.slice(0, 40));
      expect(all[0]).toBe(ownerOf(view, key));
    }
    expect(rank(ownershipView([]), 'k', 3)).toEqual([]);
    // With weights too (the insertion skips members by a bound on their weighted score).
    const weightedView = ownershipView(members(60).map((m, i) => ({ ...m, metadata: { [OWNER_WEIGHT_KEY]: String(i % 4) } })));
    for (const key of keys(300)) {
      const all = rank(weightedView, key, 100).map((m) => m.id);
      expect(rank(weightedView, key, 1).map((m) => m.id)).toEqual(all.slice(0, 1));
      expect(rank(weightedView, key, 5).map((m) => m.id)).toEqual(all.slice(0, 5));
    }
  });

  it(`weights from the ${OWNER_WEIGHT_KEY} metadata scale a member's share; weight 0 owns nothing while others can`, () => {
    const all = members(9);
    const heavy: PeerInfo = { id: 'heavy', metadata: { [OWNER_WEIGHT_KEY]: '2' } };
    const drained: PeerInfo = { id: 'drained', metadata: { [OWNER_WEIGHT_KEY]: '0' } };
    const junk: PeerInfo = { id: 'junk', metadata: { [OWNER_WEIGHT_KEY]: 'lots' } };
    const counts = shares([...all, heavy, drained, junk], keys(110_000));
    // Total weight 12: heavy 2/12, each weight-1 member (junk counts as 1) 1/12.
    expect(Math.abs(counts.get('heavy')! - 110_000 * (2 / 12))).toBeLessThan(6 * 123);
    expect(Math.abs(counts.get('junk')! - 110_000 / 12)).toBeLessThan(6 * 92);
    expect(counts.get('drained')).toBe(0);
    // With every member drained, keys still have owners.
    const onlyDrained = shares([drained, { id: 'drained-2', metadata: { [OWNER_WEIGHT_KEY]: '0' } }], keys(1000));
    expect(onlyDrained.get('drained')! + onlyDrained.get('drained-2')!).toBe(1000);
    expect(onlyDrained.get('drained')).toBeGreaterThan(0);
  });

  it('gives the same owners as earlier versions did, so members of mixed versions agree', () => {
    // Pinned once: a change to the hash would split a rolling upgrade into two opinions.
    const view = ownershipView(members(5));
    expect(['user:1', 'user:2', 'user:3', 'jobs:nightly'].map((key) => ownerOf(view, key))).toEqual(PINNED);
  });
});

const PINNED = ['node-4', 'node-2', 'node-3', 'node-1'];

const start = startEach();

/** Each named member's owner of every key in `keyList`. */
const ownersAt = (names: readonly string[], keyList: readonly string[]) =>
  names.map((name) => keyList.map((key) => unwrap(discovery.bind({ name }).owner(key)).id));

describe('owner() and owners() through the facade', () => {
  it('agree on every member of a memory cluster, self included, and only the keys of a member that stops move', async () => {
    const group = `owners-${Math.random()}`;
    const names = ['o-a', 'o-b', 'o-c', 'o-d'];
    for (const name of names) await start({ name, nodeId: name.slice(2), adapter: memoryAdapter({ group }) });
    await eventually(() => names.every((name) => unwrap(discovery.bind({ name }).snapshot()).length === 3));
    const keyList = keys(2000);
    const [first, ...rest] = ownersAt(names, keyList);
    for (const other of rest) expect(other).toEqual(first);
    expect(new Set(first)).toEqual(new Set(['a', 'b', 'c', 'd']));

    unwrap(await discovery.bind({ name: 'o-d' }).stop());
    const remaining = names.slice(0, 3);
    await eventually(() => remaining.every((name) => unwrap(discovery.bind({ name }).snapshot()).length === 2));
    const [after, ...others] = ownersAt(remaining, keyList);
    for (const other of others) expect(other).toEqual(after);
    keyList.forEach((key, i) => {
      if (first![i] !== 'd') expect(after![i], key).toBe(first![i]);
    });
    const replicas = unwrap(discovery.bind({ name: 'o-a' }).owners('user:42', 5));
    expect(replicas.map((peer) => peer.id).sort()).toEqual(['a', 'b', 'c']);
    expect(replicas[0]!.id).toBe(unwrap(discovery.bind({ name: 'o-b' }).owner('user:42')).id);
  });

  it('agree across gossip members on real sockets once their views converge', async () => {
    const local = { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' } as const;
    const a = await start({ name: 'og-a', nodeId: 'ga', adapter: gossipAdapter(local) });
    await start({ name: 'og-b', nodeId: 'gb', adapter: gossipAdapter(local), seedPeers: [a.self.address!] });
    await start({ name: 'og-c', nodeId: 'gc', adapter: gossipAdapter(local), seedPeers: [a.self.address!] });
    const names = ['og-a', 'og-b', 'og-c'];
    await eventually(() => names.every((name) => unwrap(discovery.bind({ name }).snapshot()).length === 2), 10_000, 'gossip views converged');
    const [first, ...rest] = ownersAt(names, keys(1000));
    for (const other of rest) expect(other).toEqual(first);
    // The owner is a full member record, address included.
    expect(unwrap(discovery.bind({ name: 'og-b' }).owner('key:1')).address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('answers with Result errors: not running, a key that is no string, a bad n', async () => {
    expect(discovery.owner('k')).toMatchObject({ ok: false, error: { type: 'SyncFailed' } });
    await start({ name: 'o-errors', nodeId: 'x', adapter: memoryAdapter({ group: `errors-${Math.random()}` }) });
    const bound = discovery.bind({ name: 'o-errors' });
    // Alone, self owns everything.
    expect(unwrap(bound.owner('k')).id).toBe('x');
    expect(bound.owner(42 as unknown as string)).toEqual({ ok: false, error: DiscoveryErrors.invalidConfiguration('key', 42, 'a string') });
    for (const n of [0, -1, 1.5, Number.NaN, '2']) {
      expect(bound.owners('k', n as number)).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', field: 'n' } });
    }
  });
});
