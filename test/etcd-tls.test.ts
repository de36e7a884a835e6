/**
 * The etcd adapter against etcd as production runs it: mutual TLS (a CA the
 * test makes with openssl) and authentication (root, a role limited to the
 * members' prefix, a user with that role, and one without it).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Etcd3, Range } from 'etcd3';
import { etcdAdapter, type EtcdAdapterOptions } from 'distribute/discovery';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCertificates, type Certificates } from './support/certs.js';
import { startCli } from './support/cli.js';
import { CuttableProxy, EtcdServer, serverSuite } from './support/servers.js';
import { inProcessMember } from './store-inproc.js';
import { cleanUpSuite, expectCertificateRefusal, expectConnectionsStop, meetChangeLeave, securedMemberOptions, startFailure } from './store-scenarios.js';

const suite = serverSuite(['etcd', 'openssl'], 'etcd adapter with mutual TLS and authentication');
const PREFIX = securedMemberOptions('', 0).prefix;
const TTL = 2000;

// Skipped only where etcd or openssl is missing and not under CI (CI=true makes a missing tool a failure).
describe.skipIf(suite.skip)(suite.title, () => {
  let certs: Certificates;
  let server: EtcdServer;
  let proxy: CuttableProxy;
  const tls = () => ({ rootCertificate: certs.ca, certChain: certs.clientCert, privateKey: certs.clientKey });
  const adapter = (id: string, options: Partial<EtcdAdapterOptions> = {}) =>
    etcdAdapter({
      endpoints: server.url,
      ...securedMemberOptions(id, TTL),
      tls: tls(),
      ...options,
    });
  const refused = (id: string, options: Partial<EtcdAdapterOptions>) => startFailure(id, adapter(id, options));

  beforeAll(async () => {
    if (suite.missing) throw new Error(suite.missing);
    // The client certificate's name is no user, so only the password can give rights.
    certs = makeCertificates('no-such-user');
    server = await EtcdServer.start({ tls: { ...certs.files } });
    const admin = new Etcd3({ hosts: server.url, credentials: tls() });
    try {
      await admin.role('root').create();
      await (await admin.user('root').create('root-password')).addRole('root');
      await (await admin.role('members').create()).grant({ permission: 'Readwrite', range: Range.prefix(`${PREFIX}/`) });
      await (await admin.user('member').create('sesame')).addRole('members');
      await (await admin.role('others').create()).grant({ permission: 'Readwrite', range: Range.prefix('elsewhere/') });
      await (await admin.user('outsider').create('outsider-password')).addRole('others');
      await admin.auth.authEnable();
    } finally {
      admin.close();
    }
    proxy = await CuttableProxy.start(server.port);
  });
  // Each is set once beforeAll ran; until then the clean-up finds nothing to stop.
  cleanUpSuite(() => ({ proxy, server, certs }));

  it('members with the CA, a client certificate and a user limited to the prefix join, watch and leave', async () => {
    await meetChangeLeave((id) => inProcessMember(id, () => adapter(id)));
  });

  it('a server certificate from another CA: one StartFailed naming the certificate check, and no retries after it', async () => {
    const through = `https://127.0.0.1:${proxy.port}`;
    const message = await refused('wrong-ca', { endpoints: through, tls: { ...tls(), rootCertificate: certs.otherCa } });
    expectCertificateRefusal(message, through);
    // The client lets a connection attempt in progress settle before it closes (a gRPC workaround
    // in etcd3); after that, nothing: a few connections in all, never a stream of retries.
    await expectConnectionsStop(() => proxy.connections, 3);
  });

  it('no client certificate: one StartFailed saying etcd wants one', async () => {
    const message = await refused('no-client-cert', { tls: { rootCertificate: certs.ca } });
    expect(message).toMatch(/TLS/);
    expect(message).toMatch(/client certificate/i);
  });

  it('a wrong password: one StartFailed naming the user', async () => {
    const message = await refused('wrong-password', { auth: { username: 'member', password: 'nope' } });
    expect(message).toMatch(/authentication failed/i);
    expect(message).toContain('"member"');
  });

  it('a user without rights on the prefix: one StartFailed naming the user and the prefix', async () => {
    const message = await refused('outsider', { auth: { username: 'outsider', password: 'outsider-password' } });
    expect(message).toMatch(/permission denied/i);
    expect(message).toContain('"outsider"');
    expect(message).toContain(`${PREFIX}/`);
  });

  it('the agent: --etcd-ca, --etcd-cert, --etcd-key, --etcd-user with the password from a file or the environment', async () => {
    const passwordFile = join(certs.dir, 'etcd-password');
    writeFileSync(passwordFile, 'sesame\n', { mode: 0o600 });
    const tlsFlags = ['--etcd-ca', certs.files.ca, '--etcd-cert', certs.files.clientCert, '--etcd-key', certs.files.clientKey, '--etcd-user', 'member'];
    const agent = (name: string, more: string[], env: NodeJS.ProcessEnv = {}) =>
      startCli(['agent', '--adapter', 'etcd', '--etcd', server.url, '--prefix', PREFIX, '--ttl', '2000', '--name', name, '--control', '127.0.0.1:0', ...tlsFlags, ...more], env);
    const one = agent('one', ['--etcd-password-file', passwordFile]);
    const two = agent('two', [], { DISTRIBUTE_ETCD_PASSWORD: 'sesame' });
    await one.waitFor((l) => l.event === 'PeerUp' && l.peer === 'two', 20_000, 'one sees two');
    await two.waitFor((l) => l.event === 'PeerUp' && l.peer === 'one', 20_000, 'two sees one');

    const wrong = agent('three', [], { DISTRIBUTE_ETCD_PASSWORD: 'nope' });
    expect((await wrong.exited).code).toBe(1);
    expect(wrong.stderr.join('')).toMatch(/refused user "member": authentication failed/);
    for (const a of [one, two]) a.child.kill('SIGTERM');
    for (const a of [one, two]) expect((await a.exited).code).toBe(0);
  });
});
