/** The etcd adapter against a real etcd the suite starts. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { defaultAdapterName, etcdAdapter, type EtcdAdapterOptions } from 'distribute/discovery';
import { freePort } from './support/processes.js';
import { CuttableProxy, EtcdServer, serverSuite } from './support/servers.js';
import { inProcessMember, stopInProcess } from './store-inproc.js';
import { killMembers, StoreMember } from './store-members.js';
import { commandOrders, feedCut, outage, threeMembers } from './store-scenarios.js';
import { eventually, sleep } from './support/index.js';

const suite = serverSuite('etcd', 'etcd adapter');
const TTL = 2000;

// Skipped only where etcd is missing and not under CI (CI=true makes a missing server a failure).
describe.skipIf(suite.skip)(suite.title, () => {
  let server: EtcdServer;
  let client: Etcd3;
  let prefix: string;
  let run = 0;
  const adapter = (options: Partial<EtcdAdapterOptions> & { id: string }) => (cluster: string) =>
    etcdAdapter({ endpoints: server.url, prefix, cluster, ttlMs: TTL, requestTimeoutMs: 1000, address: `${options.id}.test:1`, ...options });

  beforeAll(async () => {
    if (suite.missing) throw new Error(suite.missing);
    server = await EtcdServer.start();
    client = new Etcd3({ hosts: server.url });
  });
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });
  afterEach(async () => {
    await stopInProcess();
    await killMembers();
    prefix = `p${process.pid}x${++run}`;
  });
  prefix = `p${process.pid}x0`;

  it('three member processes see each other, their metadata, a leave and a crash', async () => {
    await threeMembers({ kind: 'etcd', url: server.url, ttlMs: TTL });
  });

  it('an outage is Degraded then Down with no PeerDown; after it only the member killed meanwhile is down', async () => {
    await outage({ kind: 'etcd', url: server.url, ttlMs: TTL }, () => server.kill(), async () => {
      await server.start();
    });
  });

  it('a lost watch stream is Degraded at once with the reason; once back, only the real changes are reported', async () => {
    const proxy = await CuttableProxy.start(server.port);
    try {
      const endpoints = (viaProxy: boolean) => (viaProxy ? `http://127.0.0.1:${proxy.port}` : server.url);
      await feedCut(
        (id, viaProxy) => inProcessMember(id, adapter({ id, endpoints: endpoints(viaProxy), ttlMs: 5000 }), viaProxy ? 600_000 : 500),
        proxy,
        /^etcd watch stream lost: /,
      );
    } finally {
      await stopInProcess();
      await proxy.close();
    }
  });

  it('a compaction while a member is cut off: it lists again, and misses and doubles nothing', async () => {
    const proxy = await CuttableProxy.start(server.port);
    try {
      // No periodic sync during the test: only the watch can bring the changes.
      const a = await inProcessMember('a', adapter({ id: 'a', endpoints: `http://127.0.0.1:${proxy.port}`, ttlMs: 5000 }), 600_000);
      const b = await inProcessMember('b', adapter({ id: 'b' }));
      const c = await inProcessMember('c', adapter({ id: 'c' }));
      await eventually(() => a.peers().join() === 'b,c', 10_000, 'a sees b and c');
      const seen = a.events.events.length;

      proxy.cut();
      await sleep(200);
      unwrap(b.facade.setMetadata({ role: 'db' }));
      unwrap(await c.handle.stop());
      const d = await inProcessMember('d', adapter({ id: 'd' }));
      // d lists b, and a too until a's lease (5 s, unrenewed since the cut) expires.
      await eventually(() => d.peers().join() === 'b', 15_000, "d sees b, a's lease expired");
      const latest = (await client.get('anything').exec()).header.revision;
      await client.kv.compact({ revision: latest, physical: true });
      proxy.restore();

      await eventually(() => a.peers().join() === 'b,d', 15_000, 'a sees b and d only');
      await sleep(500);
      const after = a.events.events.slice(seen).map((e) => `${e.type}:${e.peer.id}`).sort();
      expect(after).toEqual(['PeerDown:c', 'PeerUp:d', 'PeerUpdate:b']);
      expect(a.facade.lookup('b')).toMatchObject({ ok: true, value: { metadata: { role: 'db' } } });
      // A list replaced the lost watch: either the resumed watch was cancelled for the compacted revision, or
      // the sync that the broken feed starts (it turned health Degraded at once) listed first; which wins is a race.
      const counters = await a.backend();
      expect(counters.relists).toBeGreaterThanOrEqual(2);
    } finally {
      await stopInProcess();
      await proxy.close();
    }
  });

  it('setMetadata, sync and stop back to back in every order: a leave, and no ghost after it', async () => {
    await commandOrders((id) => inProcessMember(id, adapter({ id })), TTL);
  });

  it('an id held by a live member at another address is StartFailed naming it; the same address takes the entry over', async () => {
    const observer = await inProcessMember('observer', adapter({ id: 'observer' }));
    const holder = new StoreMember('dup', 'etcd', server.url, TTL, { STORE_PREFIX: prefix });
    await holder.ready();
    await eventually(() => observer.peers().includes('dup'), 5000, 'observer sees dup');

    const { startLink } = await import('distribute/discovery');
    const refused = await startLink({ name: 'dup-elsewhere', nodeId: 'dup', adapter: adapter({ id: 'dup', address: 'elsewhere.test:1' })(defaultAdapterName) });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.type).toBe('StartFailed');
      expect(refused.error.message).toContain('dup.test:1');
    }

    // The holder crashes and comes back at once at its address: its entry is taken over, nobody sees it go.
    await holder.kill('SIGKILL');
    const again = await inProcessMember('dup', adapter({ id: 'dup', address: 'dup.test:1' }));
    expect(again.handle.self.address).toBe('dup.test:1');
    await sleep(TTL + 1500);
    expect(observer.events.summary().filter((e) => e === 'PeerDown:dup')).toEqual([]);
    expect(observer.peers()).toContain('dup');
  });

  it('with several endpoints, one of them down, members still meet', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const a = await inProcessMember('a', adapter({ id: 'a', endpoints: [dead, server.url] }));
    const b = await inProcessMember('b', adapter({ id: 'b', endpoints: [server.url, dead] }));
    await eventually(() => a.peers().join() === 'b' && b.peers().join() === 'a', 10_000, 'a and b meet');
    await sleep(1500);
    expect(a.facade.health().type).toBe('Up');
    expect(b.facade.health().type).toBe('Up');
  });

  it('auth passed through: members with the password meet; a wrong password is StartFailed', async () => {
    const secured = await EtcdServer.start();
    const admin = new Etcd3({ hosts: secured.url });
    try {
      await admin.role('root').create();
      await (await admin.user('root').create('sesame')).addRole('root');
      await admin.auth.authEnable();
      const withAuth = (id: string, password: string) => (cluster: string) =>
        etcdAdapter({ endpoints: secured.url, prefix, cluster, ttlMs: TTL, requestTimeoutMs: 1000, address: `${id}.test:1`, auth: { username: 'root', password } });
      const a = await inProcessMember('a', withAuth('a', 'sesame'));
      const b = await inProcessMember('b', withAuth('b', 'sesame'));
      await eventually(() => a.peers().join() === 'b' && b.peers().join() === 'a', 10_000, 'a and b meet with auth');
      const { startLink } = await import('distribute/discovery');
      const wrong = await startLink({ name: 'wrong-password', nodeId: 'c', adapter: withAuth('c', 'nope')(defaultAdapterName) });
      expect(wrong.ok).toBe(false);
      if (!wrong.ok) expect(wrong.error.message).toMatch(/authentication failed|invalid/i);
    } finally {
      await stopInProcess();
      admin.close();
      await secured.stop();
    }
  });

  it('entries written by something else are counted and skipped, never a peer', async () => {
    const members = `${prefix}/${defaultAdapterName}/members/`;
    await client.put(`${members}junk-text`).value('not json');
    await client.put(`${members}junk-shape`).value('{"address":5,"metadata":{},"started":1}');
    await client.put(`${members}junk-array`).value('[1,2,3]');
    await client.put(`${members}junk-huge`).value(JSON.stringify({ address: 'x:1', metadata: { big: 'x'.repeat(100_000) }, started: 1 }));
    const a = await inProcessMember('a', adapter({ id: 'a' }));
    expect(a.peers()).toEqual([]);
    const before = (await a.backend()).skippedEntries!;
    expect(before).toBeGreaterThanOrEqual(4);

    await client.put(`${members}junk-live`).value('{"address":"y:1","metadata":{"k":7},"started":1}');
    await client.put(`${members}hand-written`).value('{"address":"z:1","metadata":{"k":"v"},"started":1}');
    await eventually(() => a.peers().join() === 'hand-written', 5000, 'the valid hand-written entry');
    expect((await a.backend()).skippedEntries).toBeGreaterThan(before);
    expect(a.facade.health().type).toBe('Up');
    expect(a.events.summary()).toEqual(['PeerUp:hand-written']);
  });
});

function unwrap<T>(result: { ok: true; value: T } | { ok: false; error: { message: string } }): T {
  if (!result.ok) throw new Error(result.error.message);
  return result.value;
}
