/** The etcd adapter against a real etcd the suite starts. */
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { EtcdServer, serverSuite } from './servers.js';
import { killMembers } from './store-members.js';
import { outage, threeMembers } from './store-scenarios.js';

const suite = serverSuite('etcd', 'etcd adapter');
const TTL = 2000;

describe.skipIf(suite.skip)(suite.title, () => {
  let server: EtcdServer;
  beforeAll(async () => {
    if (suite.missing) throw new Error(suite.missing);
    server = await EtcdServer.start();
  });
  afterAll(() => server?.stop());
  afterEach(killMembers);

  it('three member processes see each other, their metadata, a leave and a crash', async () => {
    await threeMembers({ kind: 'etcd', url: server.url, ttlMs: TTL });
  });

  it('an outage is Degraded then Down with no PeerDown; after it only the member killed meanwhile is down', async () => {
    await outage(
      { kind: 'etcd', url: server.url, ttlMs: TTL },
      () => server.kill(),
      async () => {
        await server.start();
      },
    );
  });
});
