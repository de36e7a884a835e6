/** `distribute agent --adapter etcd|redis` and `distribute members`, as child processes against real servers. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cliPath, killAll, runCli, startCli, type CliProcess } from './support/cli.js';
import { EtcdServer, RedisServer, serverSuite } from './support/servers.js';

afterEach(killAll);

const stores = [
  { kind: 'etcd', binary: 'etcd', start: () => EtcdServer.start() },
  { kind: 'redis', binary: 'redis-server', start: () => RedisServer.start() },
] as const;

for (const store of stores) {
  const suite = serverSuite(store.binary, `distribute agent --adapter ${store.kind}`);
  // Skipped only where the server is missing and not under CI (CI=true makes a missing server a failure).
  describe.skipIf(suite.skip)(suite.title, () => {
    let server: EtcdServer | RedisServer;
    beforeAll(async () => {
      if (suite.missing) throw new Error(suite.missing);
      server = await store.start();
    });
    afterAll(() => server?.stop());

    it('three agents see each other; members lists them; one leaving is seen as a leave', async () => {
      const agent = (name: string, ...more: string[]): CliProcess =>
        startCli(['agent', '--adapter', store.kind, `--${store.kind}`, server.url, '--prefix', 'cli', '--ttl', '2000', '--name', name, '--control', '127.0.0.1:0', ...more]);
      const agents = [agent('one', '--meta', 'role=web'), agent('two'), agent('three', '--advertise', '10.0.0.3:80')];
      const started = await Promise.all(agents.map((a) => a.waitFor((l) => l.event === 'AgentStarted', 15_000, 'AgentStarted')));
      expect(started[0]).toMatchObject({ node: 'one', adapter: store.kind, metadata: { role: 'web' } });
      expect(started[2]).toMatchObject({ address: '10.0.0.3:80' });
      for (const a of agents) {
        for (const other of ['one', 'two', 'three']) {
          if (other === (await a.waitFor((l) => l.event === 'AgentStarted')).node) continue;
          await a.waitFor((l) => l.event === 'PeerUp' && l.peer === other, 10_000, `PeerUp ${other}`);
        }
      }

      const listed = await runCli(['members', '--control', String(started[0]!.control), '--json']);
      expect(listed.code).toBe(0);
      const rows = JSON.parse(listed.stdout) as { name: string; status: string; address: string; metadata: Record<string, string> }[];
      expect(rows.map((r) => [r.name, r.status]).sort()).toEqual([['one', 'alive'], ['three', 'alive'], ['two', 'alive']]);
      expect(rows.find((r) => r.name === 'three')!.address).toBe('10.0.0.3:80');

      agents[1]!.child.kill('SIGTERM');
      expect((await agents[1]!.exited).code).toBe(0);
      for (const a of [agents[0]!, agents[2]!]) {
        const down = await a.waitFor((l) => l.event === 'PeerDown' && l.peer === 'two', 5000, 'PeerDown two');
        expect(down.reason).toBe('left');
      }
      const after = await runCli(['members', '--control', String(started[2]!.control), '--json', '--status', 'left']);
      expect((JSON.parse(after.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['two']);
      for (const a of [agents[0]!, agents[2]!]) a.child.kill('SIGTERM');
      for (const a of [agents[0]!, agents[2]!]) expect((await a.exited).code).toBe(0);
    });
  });
}

describe('store flags a person can act on', () => {
  it('--adapter etcd without --etcd, a bad --redis URL, a bad --ttl and --join exit 2 naming the flag', async () => {
    const noEtcd = await runCli(['agent', '--adapter', 'etcd']);
    expect(noEtcd.code).toBe(2);
    expect(noEtcd.stderr).toContain('--adapter etcd needs --etcd URL');
    const badRedis = await runCli(['agent', '--adapter', 'redis', '--redis', 'http://127.0.0.1:6379']);
    expect(badRedis.code).toBe(2);
    expect(badRedis.stderr).toMatch(/^distribute: --redis: "http:\/\/127\.0\.0\.1:6379"; expected a URL such as redis:/);
    const badTtl = await runCli(['agent', '--adapter', 'redis', '--redis', 'redis://127.0.0.1:6379', '--ttl', '10s']);
    expect(badTtl.code).toBe(2);
    expect(badTtl.stderr).toContain('--ttl expects a positive whole number');
    const join = await runCli(['agent', '--adapter', 'etcd', '--etcd', 'http://127.0.0.1:2379', '--join', '127.0.0.1:7946']);
    expect(join.code).toBe(2);
    expect(join.stderr).toContain('--join is for the gossip adapter');
  });

  it('TLS and user flags: a missing password, half a key pair, an unreadable file, the other store, a plain URL exit 2 naming the flag', async () => {
    const etcd = ['agent', '--adapter', 'etcd', '--etcd', 'https://127.0.0.1:2379'];
    const redis = ['agent', '--adapter', 'redis', '--redis', 'rediss://127.0.0.1:6379'];
    const cases: [string[], string][] = [
      [[...etcd, '--etcd-user', 'member'], '--etcd-user needs a password: --etcd-password-file FILE or DISTRIBUTE_ETCD_PASSWORD'],
      [[...etcd, '--etcd-cert', cliPath], '--etcd-cert and --etcd-key go together'],
      [[...redis, '--redis-ca', '/nonexistent/ca.pem'], '--redis-ca: cannot read "/nonexistent/ca.pem" (ENOENT)'],
      [[...redis, '--etcd-ca', cliPath], '--etcd-ca goes with --adapter etcd'],
      [[...etcd, '--etcd-ca', cliPath, '--redis-user', 'member'], '--redis-user goes with --adapter redis'],
      [['agent', '--adapter', 'redis', '--redis', 'redis://127.0.0.1:6379', '--redis-ca', cliPath], '--redis-ca and --redis-cert need a rediss:// URL'],
      [['agent', '--adapter', 'etcd', '--etcd', 'http://127.0.0.1:2379', '--etcd-ca', cliPath], '--etcd-ca and --etcd-cert need https:// URLs'],
    ];
    for (const [args, message] of cases) {
      const run = await runCli(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr).toContain(message);
    }
  });
});
