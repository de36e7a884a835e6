/**
 * The Redis adapter against Redis as production runs it: TLS only, client
 * certificates checked (a CA the test makes with openssl), the default user
 * off, and an ACL user limited to the keys and channels under the prefix.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redisAdapter, type RedisAdapterOptions } from 'distribute/discovery';
import { makeCertificates, type Certificates } from './support/certs.js';
import { freePort } from './support/processes.js';
import { runCli, startCli } from './support/cli.js';
import { CuttableProxy, RedisServer, serverSuite } from './support/servers.js';
import { inProcessMember } from './store-inproc.js';
import { cleanUpSuite, expectCertificateRefusal, expectConnectionsStop, meetChangeLeave, securedMemberOptions, startFailure } from './store-scenarios.js';

const suite = serverSuite(['redis-server', 'openssl'], 'redis adapter with TLS and an ACL user');
const PREFIX = securedMemberOptions('', 0).prefix;
const TTL = 1500;
/** Never to appear in any output: the password in the agent's --redis URL. */
const URL_SECRET = 'url-secret-d41d8cd9';

// Skipped only where redis-server or openssl is missing and not under CI (CI=true makes a missing tool a failure).
describe.skipIf(suite.skip)(suite.title, () => {
  let certs: Certificates;
  let server: RedisServer;
  let tlsPort: number;
  let proxy: CuttableProxy;
  const tls = () => ({ ca: certs.ca, cert: certs.clientCert, key: certs.clientKey });
  const url = () => `rediss://127.0.0.1:${tlsPort}`;
  const adapter = (id: string, options: Partial<RedisAdapterOptions> = {}) =>
    redisAdapter({
      url: url(),
      ...securedMemberOptions(id, TTL),
      tls: tls(),
      ...options,
    });
  const refused = (id: string, options: Partial<RedisAdapterOptions>) => startFailure(id, adapter(id, options));

  beforeAll(async () => {
    if (suite.missing) throw new Error(suite.missing);
    certs = makeCertificates();
    tlsPort = await freePort();
    const acl = (user: string, password: string, prefix: string) => ['--user', user, 'on', `>${password}`, `~${prefix}:*`, `&${prefix}:*`, '+@all', '-@dangerous'];
    server = await RedisServer.start({
      extraArgs: () => [
        '--tls-port', String(tlsPort),
        '--tls-cert-file', certs.files.cert,
        '--tls-key-file', certs.files.key,
        '--tls-ca-cert-file', certs.files.ca,
        '--tls-auth-clients', 'yes',
        '--user', 'default', 'off',
        ...acl('member', 'sesame', PREFIX),
        ...acl('outsider', 'outsider-password', 'elsewhere'),
      ],
    });
    proxy = await CuttableProxy.start(tlsPort);
  });
  // Each is set once beforeAll ran; until then the clean-up finds nothing to stop.
  cleanUpSuite(() => ({ proxy, server, certs }));

  it('members with the CA, a client certificate and an ACL user limited to the prefix join, watch and leave', async () => {
    await meetChangeLeave((id) => inProcessMember(id, () => adapter(id)));
  });

  it('a server certificate from another CA: one StartFailed naming the certificate check, and no retries after it', async () => {
    const through = `rediss://127.0.0.1:${proxy.port}`;
    const message = await refused('wrong-ca', { url: through, tls: { ...tls(), ca: certs.otherCa } });
    expectCertificateRefusal(message, through);
    await expectConnectionsStop(() => proxy.connections, 0);
  });

  it('no client certificate: one StartFailed saying Redis wants one (every time: the alert can race the reset)', async () => {
    for (let i = 0; i < 5; i++) {
      const message = await refused(`no-client-cert-${i}`, { tls: { ca: certs.ca } });
      expect(message).toMatch(/TLS/);
      expect(message).toMatch(/client certificate/i);
    }
  });

  it('a wrong password: one StartFailed naming the user', async () => {
    const message = await refused('wrong-password', { auth: { username: 'member', password: 'nope' } });
    expect(message).toMatch(/WRONGPASS|authentication failed/i);
    expect(message).toContain('"member"');
  });

  it("a user without rights on the prefix's keys and channels: one StartFailed naming the user and the prefix", async () => {
    const message = await refused('outsider', { auth: { username: 'outsider', password: 'outsider-password' } });
    expect(message).toMatch(/NOPERM|no permission/i);
    expect(message).toContain('"outsider"');
    expect(message).toContain(`${PREFIX}:`);
  });

  it('the agent: --redis-ca, --redis-cert, --redis-key, --redis-user with the password from a file or the environment', async () => {
    const passwordFile = join(certs.dir, 'redis-password');
    writeFileSync(passwordFile, 'sesame\n', { mode: 0o600 });
    const tlsFlags = ['--redis-ca', certs.files.ca, '--redis-cert', certs.files.clientCert, '--redis-key', certs.files.clientKey, '--redis-user', 'member'];
    const agent = (name: string, more: string[], env: NodeJS.ProcessEnv = {}) =>
      startCli(['agent', '--adapter', 'redis', '--redis', url(), '--prefix', PREFIX, '--ttl', '2000', '--name', name, '--control', '127.0.0.1:0', ...tlsFlags, ...more], env);
    const one = agent('one', ['--redis-password-file', passwordFile]);
    const two = agent('two', [], { DISTRIBUTE_REDIS_PASSWORD: 'sesame' });
    await one.waitFor((l) => l.event === 'PeerUp' && l.peer === 'two', 20_000, 'one sees two');
    await two.waitFor((l) => l.event === 'PeerUp' && l.peer === 'one', 20_000, 'two sees one');
    for (const a of [one, two]) a.child.kill('SIGTERM');
    for (const a of [one, two]) expect((await a.exited).code).toBe(0);
  });

  it("the password in the agent's --redis URL is never printed: not when it is wrong, not at debug level, not in a usage error", async () => {
    const tlsFlags = ['--redis-ca', certs.files.ca, '--redis-cert', certs.files.clientCert, '--redis-key', certs.files.clientKey];
    const wrong = startCli(['agent', '--adapter', 'redis', '--redis', `rediss://member:${URL_SECRET}@127.0.0.1:${tlsPort}`, '--name', 'leaky', '--control', '127.0.0.1:0', '--log-level', 'debug', ...tlsFlags]);
    expect((await wrong.exited).code).toBe(1);
    const printed = [...wrong.lines.map((l) => JSON.stringify(l)), ...wrong.stderr].join('\n');
    expect(printed).toMatch(/WRONGPASS/);
    expect(printed).not.toContain(URL_SECRET);

    const badUrl = await runCli(['agent', '--adapter', 'redis', '--redis', `redis://member:${URL_SECRET}@`]);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toContain('--redis');
    expect(badUrl.stdout + badUrl.stderr).not.toContain(URL_SECRET);
  });
});
