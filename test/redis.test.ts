/** The Redis adapter against a real redis-server the suite starts. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { defaultAdapterName, redisAdapter, startLink, type RedisAdapterOptions } from 'distribute/discovery';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './support/processes.js';
import { CuttableProxy, inCI, RedisServer, serverSuite, serverUnavailable } from './support/servers.js';
import { inProcessMember, stopInProcess } from './store-inproc.js';
import { killMembers, StoreMember } from './store-members.js';
import { commandOrders, feedCut, outage, threeMembers } from './store-scenarios.js';
import { eventually, sleep } from './support/index.js';

const suite = serverSuite('redis-server', 'redis adapter');
const TTL = 1500;

describe.skipIf(suite.skip)(suite.title, () => {
  const servers: RedisServer[] = [];
  const start = async (persistent = false, extraArgs?: (dir: string) => string[]) => {
    const server = await RedisServer.start({ persistent, ...(extraArgs ? { extraArgs } : {}) });
    servers.push(server);
    return server;
  };
  beforeAll(() => {
    if (suite.missing) throw new Error(suite.missing);
  });
  afterAll(() => Promise.all(servers.map((s) => s.stop())));
  afterEach(async () => {
    await stopInProcess();
    await killMembers();
  });
  let run = 0;
  const adapter = (url: string, prefix: string, options: Partial<RedisAdapterOptions> & { id: string }) => (cluster: string) =>
    redisAdapter({ url, prefix, cluster, ttlMs: TTL, requestTimeoutMs: 1000, address: `${options.id}.test:1`, ...options });

  it('three member processes see each other, their metadata, a leave and a crash', async () => {
    const server = await start();
    await threeMembers({ kind: 'redis', url: server.url, ttlMs: TTL });
  });

  it('an outage with the data kept: Degraded then Down, no PeerDown, then only the member killed meanwhile is down', async () => {
    const server = await start(true);
    await outage({ kind: 'redis', url: server.url, ttlMs: TTL }, () => server.kill(), async () => {
      await server.start();
    });
  });

  it('an outage after which the server comes back empty: members alive throughout are never reported down', async () => {
    const server = await start(false);
    await outage({ kind: 'redis', url: server.url, ttlMs: TTL }, () => server.kill(), async () => {
      server.wipe();
      await server.start();
    });
  });

  it('a lost pub/sub connection is Degraded at once with the reason; once back, only the real changes are reported', async () => {
    const server = await start();
    const proxy = await CuttableProxy.start(server.port);
    const prefix = `p${++run}`;
    try {
      const url = (viaProxy: boolean) => (viaProxy ? `redis://127.0.0.1:${proxy.port}` : server.url);
      await feedCut(
        (id, viaProxy) => inProcessMember(id, adapter(url(viaProxy), prefix, { id, ttlMs: 5000 }), viaProxy ? 600_000 : 500),
        proxy,
        /^Redis pub\/sub connection lost/,
      );
    } finally {
      await stopInProcess();
      await proxy.close();
    }
  });

  it('setMetadata, sync and stop back to back in every order: a leave, and no ghost after it', async () => {
    const server = await start();
    const prefix = `p${++run}`;
    await commandOrders((id) => inProcessMember(id, adapter(server.url, prefix, { id })), TTL);
  });

  it('TLS and a password, passed through: members meet over rediss://; a wrong password is StartFailed', async (context) => {
    if (serverUnavailable('openssl') && !inCI) return context.skip('openssl is not installed (apt-get install -y openssl)');
    const tlsPort = await freePort();
    const server = await start(false, (dir) => {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
        '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
      return ['--requirepass', 'sesame', '--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'cert.pem'),
        '--tls-key-file', join(dir, 'key.pem'), '--tls-ca-cert-file', join(dir, 'cert.pem'), '--tls-auth-clients', 'no'];
    });
    const tls = { ca: readFileSync(join(server.dir, 'cert.pem')) };
    const url = `rediss://:sesame@127.0.0.1:${tlsPort}`;
    const prefix = `p${++run}`;
    const a = await inProcessMember('a', adapter(url, prefix, { id: 'a', tls }));
    const b = await inProcessMember('b', adapter(url, prefix, { id: 'b', tls }));
    await eventually(() => a.peers().join() === 'b' && b.peers().join() === 'a', 10_000, 'a and b meet over TLS');

    const wrong = await startLink({ name: 'wrong-password', nodeId: 'c', adapter: adapter(`rediss://:nope@127.0.0.1:${tlsPort}`, prefix, { id: 'c', tls })(defaultAdapterName) });
    expect(wrong.ok).toBe(false);
    if (!wrong.ok) expect(wrong.error.message).toMatch(/WRONGPASS|invalid username-password/i);
    const untrusted = await startLink({ name: 'untrusted', nodeId: 'd', adapter: adapter(url, prefix, { id: 'd' })(defaultAdapterName) });
    expect(untrusted.ok).toBe(false);
  });

  it('an id held by a live member at another address is StartFailed naming it; the same address takes the entry over', async () => {
    const server = await start();
    const prefix = `p${++run}`;
    const observer = await inProcessMember('observer', adapter(server.url, prefix, { id: 'observer' }));
    const holder = new StoreMember('dup', 'redis', server.url, TTL, { STORE_PREFIX: prefix });
    await holder.ready();
    await eventually(() => observer.peers().includes('dup'), 5000, 'observer sees dup');

    const refused = await startLink({ name: 'dup-elsewhere', nodeId: 'dup', adapter: adapter(server.url, prefix, { id: 'dup', address: 'elsewhere.test:1' })(defaultAdapterName) });
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.type).toBe('StartFailed');
      expect(refused.error.message).toContain('dup.test:1');
    }

    await holder.kill('SIGKILL');
    const again = await inProcessMember('dup', adapter(server.url, prefix, { id: 'dup', address: 'dup.test:1' }));
    expect(again.handle.self.address).toBe('dup.test:1');
    await sleep(TTL + 1000);
    expect(observer.events.summary().filter((e) => e === 'PeerDown:dup')).toEqual([]);
    expect(observer.peers()).toContain('dup');
  });

  it('entries and messages written by something else are counted and skipped, never a peer', async () => {
    const server = await start();
    const prefix = `p${++run}`;
    const redis = new Redis(server.url);
    try {
      const base = `${prefix}:${defaultAdapterName}:`;
      const far = Date.now() * 2;
      const junk = {
        'junk-text': 'not json',
        'junk-shape': '{"address":5,"metadata":{},"started":1}',
        'junk-array': '[1,2,3]',
        'junk-huge': JSON.stringify({ address: 'x:1', metadata: { big: 'x'.repeat(100_000) }, started: 1 }),
      };
      for (const [id, value] of Object.entries(junk)) {
        await redis.zadd(`${base}members`, far, id);
        await redis.hset(`${base}entries`, id, value);
      }
      await redis.zadd(`${base}members`, far, 'no-entry');
      const a = await inProcessMember('a', adapter(server.url, prefix, { id: 'a' }));
      expect(a.peers()).toEqual([]);
      const counters = await a.backend();
      expect(counters.skippedEntries).toBeGreaterThanOrEqual(4);

      for (const message of ['garbage', '{"t":"up","id":"x"}', '{"t":"left"}', '[]', JSON.stringify({ t: 'up', id: 'y', e: '{"bad":1}', s: 1e9 })]) {
        await redis.publish(`${base}events`, message);
      }
      await redis.zadd(`${base}members`, far, 'hand-written');
      await redis.hset(`${base}entries`, 'hand-written', '{"address":"z:1","metadata":{"k":"v"},"started":1}');
      await eventually(() => a.peers().join() === 'hand-written', 5000, 'the valid hand-written entry at a reconcile');
      const after = await a.backend();
      expect(after.malformedMessages).toBe(4);
      expect(after.skippedEntries).toBeGreaterThan(counters.skippedEntries!);
      expect(a.facade.health().type).toBe('Up');
      expect(a.events.summary()).toEqual(['PeerUp:hand-written']);
    } finally {
      redis.disconnect();
    }
  });
});
