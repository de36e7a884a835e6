/**
 * The Redis adapter through Sentinel: a primary, a replica and three
 * sentinels the test starts; the primary is killed while members are
 * registered. Slow (the sentinels take seconds to agree), so in its own file.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAdapter } from 'distribute/discovery';
import { SentinelGroup, serverSuite } from './support/servers.js';
import { inProcessMember, stopInProcess } from './store-inproc.js';
import { eventually, sleep, unwrap } from './support/index.js';

const suite = serverSuite(['redis-server', 'redis-sentinel'], 'redis adapter through Sentinel');
const TTL = 3000;

// Skipped only where redis-server or redis-sentinel is missing and not under CI (CI=true makes a missing server a failure).
describe.skipIf(suite.skip)(suite.title, () => {
  let group: SentinelGroup;
  beforeAll(async () => {
    if (suite.missing) throw new Error(suite.missing);
    group = await SentinelGroup.start();
  }, 60_000);
  afterAll(() => group?.stop());
  afterEach(stopInProcess);

  it('the primary killed under three members: nobody is reported down; they follow the promoted replica, register again and reconcile, losing no change', async () => {
    const member = (id: string) =>
      inProcessMember(id, (cluster) =>
        redisAdapter({
          url: 'redis://sentinel-managed',
          prefix: 'failover',
          cluster,
          ttlMs: TTL,
          requestTimeoutMs: 1000,
          address: `${id}.test:1`,
          clientOptions: group.clientOptions,
        }),
      );
    const members = { a: await member('a'), b: await member('b'), c: await member('c') };
    const all = Object.values(members);
    await eventually(() => all.every((m) => m.peers().length === 2), 10_000, 'a, b and c see each other');

    // Written just before the kill: async replication may lose it on the way to the replica.
    unwrap(members.b.facade.setMetadata({ v: 'before-kill' }));
    await group.primary.kill();
    // Written while there is no primary: it cannot reach the store now.
    unwrap(members.c.facade.setMetadata({ v: 'during-failover' }));

    await eventually(() => all.every((m) => m.facade.health().type !== 'Up'), 15_000, 'everyone sees the store away');
    await group.promoted();
    await eventually(() => all.every((m) => m.facade.health().type === 'Up'), 30_000, 'everyone Up on the new primary');
    const metadataOf = (m: (typeof all)[number], id: string) => (unwrap(m.facade.lookup(id)) as { metadata: Record<string, string> }).metadata.v;
    await eventually(
      () => metadataOf(members.a, 'b') === 'before-kill' && metadataOf(members.a, 'c') === 'during-failover' && metadataOf(members.b, 'c') === 'during-failover',
      10_000,
      'both changes everywhere',
    );

    // A member joining now reads the new primary alone: both changes must be there.
    const d = await member('d');
    await eventually(() => d.peers().join() === 'a,b,c', 10_000, 'd sees a, b and c');
    expect(metadataOf(d, 'b')).toBe('before-kill');
    expect(metadataOf(d, 'c')).toBe('during-failover');

    // Beyond a TTL: nobody went down, and each change was one event, never undone and redone.
    await sleep(TTL + 1000);
    for (const [id, m] of Object.entries(members)) {
      const summary = m.events.summary();
      expect(summary.filter((e) => e.startsWith('PeerDown')), `${id}: no PeerDown`).toEqual([]);
      expect(summary.filter((e) => e.startsWith('PeerUp:') && e !== 'PeerUp:d'), `${id}: each peer up once`).toHaveLength(2);
      if (id !== 'b') expect(summary.filter((e) => e === 'PeerUpdate:b'), `${id}: b's change once`).toHaveLength(1);
      if (id !== 'c') expect(summary.filter((e) => e === 'PeerUpdate:c'), `${id}: c's change once`).toHaveLength(1);
    }
  });
});
