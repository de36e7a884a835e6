/**
 * The dns adapter against a real DNS server (dnsmasq on a loopback port):
 * members from A and SRV records, records removed and added, the server
 * going away and coming back, and options that are not valid.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import * as discovery from 'distribute/discovery/internals';
import { dnsAdapter, type DnsAdapterOptions } from 'distribute/discovery';
import { selectConfig } from 'distribute/discovery/internals';
import { Dnsmasq, dnsmasqUnavailable, skipDns } from './support/dnsmasq.js';
import { killAll, startCli } from './support/cli.js';
import { collector, eventually, unwrap } from './support/index.js';

const unavailable = dnsmasqUnavailable();

afterEach(async () => {
  await killAll();
  await discovery.stop(2000);
});

describe('dns adapter: bad options', () => {
  const cases: [string, Partial<DnsAdapterOptions>, string][] = [
    ['a name with an empty label', { name: 'members..test', port: 7946 }, 'name'],
    ['a name with a space', { name: 'my members.test', port: 7946 }, 'name'],
    ['a label longer than 63', { name: `${'a'.repeat(64)}.test`, port: 7946 }, 'name'],
    ['a name longer than 253', { name: `${'abcdefghi.'.repeat(26)}test`, port: 7946 }, 'name'],
    ['a label ending in a hyphen', { name: 'members-.test', port: 7946 }, 'name'],
    ['an unknown record type', { name: 'members.test', type: 'MX' as 'A', port: 7946 }, 'type'],
    ['port 0', { name: 'members.test', port: 0 }, 'port'],
    ['port 65536', { name: 'members.test', port: 65_536 }, 'port'],
    ['no port for A records', { name: 'members.test' }, 'port'],
    ['a resolver that is a name', { name: 'members.test', port: 7946, servers: ['dns.example:53'] }, 'servers'],
    ['a resolver with a bad port', { name: 'members.test', port: 7946, servers: ['10.0.0.10:99999'] }, 'servers'],
    ['a resolver with junk', { name: 'members.test', port: 7946, servers: ['10.0.0.10:53:1'] }, 'servers'],
    ['a negative interval', { name: 'members.test', port: 7946, intervalMs: -5 }, 'intervalMs'],
    ['an advertise that is not host:port', { name: 'members.test', port: 7946, advertise: '10.0.0.1' }, 'advertise'],
  ];
  for (const [what, options, field] of cases) {
    it(`rejects ${what} with InvalidConfiguration naming ${field}`, async () => {
      const started = await discovery.startLink({ adapter: dnsAdapter(options as DnsAdapterOptions) });
      expect(started.ok).toBe(false);
      expect(!started.ok && started.error).toMatchObject({ type: 'InvalidConfiguration', field });
      expect(discovery.health().type).toBe('Down');
    });
  }

  it('intervalMs sets the sync interval unless syncIntervalMs is given', () => {
    const interval = (options: discovery.DiscoveryOptions) => {
      const created = unwrap(discovery.adapterActor(options));
      return selectConfig(created.getSnapshot()).syncIntervalMs;
    };
    expect(interval({ adapter: dnsAdapter({ name: 'members.test', port: 7946, intervalMs: 250 }) })).toBe(250);
    expect(interval({ adapter: dnsAdapter({ name: 'members.test', port: 7946, intervalMs: 250 }), syncIntervalMs: 700 })).toBe(700);
    expect(interval({ adapter: dnsAdapter({ name: 'members.test', port: 7946 }) })).toBe(5000);
  });

  it('accepts SRV without a port, a bare resolver IP and a bracketed IPv6 resolver', async () => {
    const adapter = dnsAdapter({ name: '_gossip._tcp.members.test.', type: 'SRV', servers: ['127.0.0.1', '[::1]:53'] });
    expect(adapter.validate?.(discovery.defaultOptions())).toBeUndefined();
  });
});

// Skipped where dnsmasq is missing (the reason is in the title), except under CI=true.
describe.skipIf(skipDns())(`dns adapter against dnsmasq${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let dns: Dnsmasq;
  beforeAll(async () => {
    dns = await Dnsmasq.start();
  });
  afterAll(async () => {
    await dns?.close();
  });

  const up = (events: ReturnType<typeof collector>) => events.events.filter((e) => e.type === 'PeerUp').map((e) => e.peer.id).sort();

  it('sees three members from A records; a removed record is PeerDown, an added one PeerUp', async () => {
    dns.setHosts({ 'members.test': ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.10'] });
    unwrap(
      await discovery.startLink({
        nodeId: 'self',
        adapter: dnsAdapter({ name: 'members.test', port: 7946, servers: [dns.address], intervalMs: 50, advertise: '127.0.0.10:7946' }),
      }),
    );
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 3, 5000, 'three members');
    // The fourth answer is this node's own advertised address: left out.
    expect(up(seen)).toEqual(['127.0.0.11:7946', '127.0.0.12:7946', '127.0.0.13:7946']);
    expect(unwrap(discovery.lookup('127.0.0.12:7946'))).toEqual({ id: '127.0.0.12:7946', address: '127.0.0.12:7946', metadata: {} });
    expect(unwrap(discovery.self()).address).toBe('127.0.0.10:7946');
    expect(discovery.health()).toEqual({ type: 'Up' });

    dns.setHosts({ 'members.test': ['127.0.0.11', '127.0.0.13', '127.0.0.10'] });
    await eventually(() => seen.events.length === 4, 5000, 'a PeerDown');
    expect(seen.events[3]).toMatchObject({
      type: 'PeerDown',
      peer: { id: '127.0.0.12:7946' },
      reason: { type: 'Failed', message: 'No longer published under dns:members.test:7946 (A)' },
    });

    dns.setHosts({ 'members.test': ['127.0.0.11', '127.0.0.13', '127.0.0.14', '127.0.0.10'] });
    await eventually(() => seen.events.length === 5, 5000, 'a PeerUp');
    expect(seen.summary()[4]).toBe('PeerUp:127.0.0.14:7946');

    // No records at all is an empty membership, not a failure.
    dns.setHosts({});
    await eventually(() => seen.events.length === 8, 5000, 'everyone down');
    expect(discovery.health()).toEqual({ type: 'Up' });
  });

  it('sees members from AAAA records, written [v6]:port', async () => {
    dns.setHosts({ 'six.members.test': ['fd00::1', 'fd00::2', 'fd00::3', '127.0.0.9'] });
    unwrap(await discovery.startLink({ adapter: dnsAdapter({ name: 'six.members.test', type: 'AAAA', port: 7946, servers: [dns.address], intervalMs: 50 }) }));
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 3, 5000, 'three members');
    // The A record of the same name is not asked for.
    expect(up(seen)).toEqual(['[fd00::1]:7946', '[fd00::2]:7946', '[fd00::3]:7946']);
  });

  it('sees three members from SRV records, each target resolved with its own port', async () => {
    await dns.setSrv([
      { name: '_gossip._tcp.members.test', target: 'pod-a.members.test', port: 7001 },
      { name: '_gossip._tcp.members.test', target: 'pod-b.members.test', port: 7002 },
      { name: '_gossip._tcp.members.test', target: 'pod-c.members.test', port: 7003 },
      { name: '_gossip._tcp.members.test', target: 'pod-d.members.test', port: 7004 },
    ]);
    dns.setHosts({ 'pod-a.members.test': ['127.0.0.21'], 'pod-b.members.test': ['127.0.0.22'], 'pod-c.members.test': ['127.0.0.23'] });
    unwrap(
      await discovery.startLink({
        adapter: dnsAdapter({ name: '_gossip._tcp.members.test', type: 'SRV', servers: [dns.address], intervalMs: 50 }),
      }),
    );
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 3, 5000, 'three members');
    // pod-d has no address yet: not a member, and not a failure.
    expect(up(seen)).toEqual(['127.0.0.21:7001', '127.0.0.22:7002', '127.0.0.23:7003']);
    expect(discovery.health()).toEqual({ type: 'Up' });

    dns.setHosts({ 'pod-a.members.test': ['127.0.0.21'], 'pod-c.members.test': ['127.0.0.23'], 'pod-d.members.test': ['127.0.0.24'] });
    await eventually(() => seen.events.length === 5, 5000, 'one down, one up');
    expect(seen.summary().slice(3).sort()).toEqual(['PeerDown:127.0.0.22:7002', 'PeerUp:127.0.0.24:7004']);
  });

  it('a stopped resolver is Degraded then Down with no PeerDown; back, it is Up with no event for unchanged members', async () => {
    await dns.setSrv([]);
    dns.setHosts({ 'members.test': ['127.0.0.31', '127.0.0.32', '127.0.0.33'] });
    const handle = unwrap(
      await discovery.startLink({
        adapter: dnsAdapter({ name: 'members.test', port: 7946, servers: [dns.address], intervalMs: 50 }),
        retryConfig: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 100 },
      }),
    );
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 3, 5000, 'three members');

    // Every health the adapter passes through, from its snapshots.
    const states: string[] = [discovery.health().type];
    const watch = handle.actor.subscribe(() => {
      const type = discovery.health().type;
      if (states.at(-1) !== type) states.push(type);
    });
    try {
      await dns.stop();
      await eventually(() => discovery.health().type === 'Down', 10_000, 'Down');
      expect(states).toEqual(['Up', 'Degraded', 'Down']);
      expect(unwrap(discovery.healthInfo()).lastError).toMatchObject({ type: 'SyncFailed' });
      expect(unwrap(discovery.snapshot()).map((p) => p.id).sort()).toEqual(['127.0.0.31:7946', '127.0.0.32:7946', '127.0.0.33:7946']);
      expect(seen.events).toHaveLength(3);

      // One member changed while the resolver was away: only that one is reported.
      dns.setHosts({ 'members.test': ['127.0.0.31', '127.0.0.32', '127.0.0.34'] });
      await dns.launch();
      await eventually(() => discovery.health().type === 'Up', 10_000, 'Up again');
      await eventually(() => seen.events.length === 5, 5000, 'the one change');
    } finally {
      watch.unsubscribe();
    }
    expect(seen.summary().slice(3).sort()).toEqual(['PeerDown:127.0.0.33:7946', 'PeerUp:127.0.0.34:7946']);
    expect(unwrap(discovery.metrics()).backend.dnsFailedLookups).toBeGreaterThanOrEqual(3);
  });

  it('an answer of REFUSED, and a resolver that never answers, fail the sync (an empty answer would be Up)', async () => {
    // dnsmasq refuses names outside the zones it serves.
    unwrap(await discovery.startLink({ name: 'refused', adapter: dnsAdapter({ name: 'members.example', port: 7946, servers: [dns.address], intervalMs: 50 }) }));
    const refused = discovery.bind({ name: 'refused' });
    await eventually(() => refused.health().type === 'Down', 10_000, 'Down on REFUSED');
    expect(unwrap(refused.healthInfo()).lastError?.message).toContain('EREFUSED');
    await refused.stop();

    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const address = `127.0.0.1:${silent.address().port}`;
      unwrap(await discovery.startLink({ adapter: dnsAdapter({ name: 'members.test', port: 7946, servers: [address] }), retryConfig: { maxAttempts: 1 } }));
      await eventually(() => discovery.health().type === 'Down', 15_000, 'Down on timeouts');
      expect(unwrap(discovery.healthInfo()).lastError?.message).toContain('ETIMEOUT');
      await discovery.stop();
    } finally {
      silent.close();
    }
  });

  /** Starts a dns adapter on an SRV name expected to answer two members in part: the members, and the Degraded reason. */
  async function partialAnswer(name: string) {
    unwrap(await discovery.startLink({ adapter: dnsAdapter({ name, type: 'SRV', servers: [dns.address], intervalMs: 50 }) }));
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 2, 5000, 'two members');
    await eventually(() => discovery.health().type === 'Degraded', 5000, 'Degraded');
    const health = discovery.health();
    return { members: up(seen), reason: health.type === 'Degraded' ? health.reason : '' };
  }

  // dnsmasq serves .test; for a name outside it that has only an A record, it answers the AAAA
  // query REFUSED (not authoritative), and a name outside it with no records is REFUSED for both.
  it('a resolver refusing AAAA for A-only SRV targets: the A records are the members, Degraded naming the refused query', async () => {
    await dns.setSrv([
      { name: '_gossip._tcp.partial.test', target: 'pod-a.partial.example', port: 7201 },
      { name: '_gossip._tcp.partial.test', target: 'pod-b.partial.example', port: 7202 },
    ]);
    dns.setHosts({ 'pod-a.partial.example': ['127.0.0.41'], 'pod-b.partial.example': ['127.0.0.42'] });
    const { members, reason } = await partialAnswer('_gossip._tcp.partial.test');
    expect(members).toEqual(['127.0.0.41:7201', '127.0.0.42:7202']);
    expect(reason).toContain('AAAA pod-a.partial.example: EREFUSED');
    expect(unwrap(discovery.metrics()).backend.dnsFailedQueries).toBeGreaterThanOrEqual(2);
  });

  it('one SRV target that does not resolve: the others are the members, Degraded naming it; none resolving is a failure', async () => {
    await dns.setSrv([
      { name: '_gossip._tcp.missing.test', target: 'pod-a.missing.test', port: 7301 },
      { name: '_gossip._tcp.missing.test', target: 'pod-b.missing.test', port: 7302 },
      { name: '_gossip._tcp.missing.test', target: 'gone.missing.example', port: 7303 },
      { name: '_gossip._tcp.none.test', target: 'gone.missing.example', port: 7303 },
    ]);
    dns.setHosts({ 'pod-a.missing.test': ['127.0.0.43'], 'pod-b.missing.test': ['127.0.0.44'] });
    const { members, reason } = await partialAnswer('_gossip._tcp.missing.test');
    expect(members).toEqual(['127.0.0.43:7301', '127.0.0.44:7302']);
    expect(reason).toContain('A gone.missing.example: EREFUSED');
    await discovery.stop();

    // The only target failing is nothing resolved: the sync fails, as when the resolver is away.
    unwrap(
      await discovery.startLink({
        adapter: dnsAdapter({ name: '_gossip._tcp.none.test', type: 'SRV', servers: [dns.address], intervalMs: 50 }),
        retryConfig: { maxAttempts: 1 },
      }),
    );
    await eventually(() => discovery.health().type === 'Down', 10_000, 'Down');
    expect(unwrap(discovery.healthInfo()).lastError?.message).toContain('A gone.missing.example failed: EREFUSED');
  });

  it('a target that stops resolving keeps its members listed, Degraded, with no PeerDown; gone from the records, it is down', async () => {
    const records = [
      { name: '_gossip._tcp.keep.test', target: 'pod-a.keep.test', port: 7401 },
      { name: '_gossip._tcp.keep.test', target: 'pod-b.keep.test', port: 7402 },
      { name: '_gossip._tcp.keep.test', target: 'pod-c.keep.example', port: 7403 },
    ];
    await dns.setSrv(records);
    dns.setHosts({ 'pod-a.keep.test': ['127.0.0.51'], 'pod-b.keep.test': ['127.0.0.52'], 'pod-c.keep.example': ['127.0.0.53'] });
    unwrap(await discovery.startLink({ adapter: dnsAdapter({ name: '_gossip._tcp.keep.test', type: 'SRV', servers: [dns.address], intervalMs: 50 }) }));
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    await eventually(() => seen.events.length === 3, 5000, 'three members');

    // pod-c's A query is now REFUSED too: nothing says pod-c is gone, only that its lookup failed.
    dns.setHosts({ 'pod-a.keep.test': ['127.0.0.51'], 'pod-b.keep.test': ['127.0.0.52'] });
    await eventually(() => {
      const health = discovery.health();
      return health.type === 'Degraded' && health.reason.includes('A pod-c.keep.example: EREFUSED');
    }, 5000, 'Degraded naming the failed target');
    const failedBefore = unwrap(discovery.metrics()).backend.dnsFailedQueries ?? 0;
    await eventually(() => (unwrap(discovery.metrics()).backend.dnsFailedQueries ?? 0) >= failedBefore + 4, 5000, 'more syncs with the target failing');
    expect(seen.summary()).toHaveLength(3);
    expect(unwrap(discovery.snapshot()).map((p) => p.id).sort()).toEqual(['127.0.0.51:7401', '127.0.0.52:7402', '127.0.0.53:7403']);

    // Taken out of the records, the answer is whole again: now pod-c is down.
    await dns.setSrv(records.slice(0, 2));
    await eventually(() => discovery.health().type === 'Up', 10_000, 'Up on a whole answer');
    await eventually(() => seen.events.length === 4, 5000, 'the PeerDown');
    expect(seen.summary()[3]).toBe('PeerDown:127.0.0.53:7403');
  });

  it('distribute agent --adapter dns prints the members an SRV name answers, itself left out', async () => {
    await dns.setSrv([
      { name: '_gossip._tcp.cli.test', target: 'one.cli.test', port: 7101 },
      { name: '_gossip._tcp.cli.test', target: 'two.cli.test', port: 7102 },
      { name: '_gossip._tcp.cli.test', target: 'self.cli.test', port: 7103 },
    ]);
    dns.setHosts({ 'one.cli.test': ['127.0.0.71'], 'two.cli.test': ['127.0.0.72'], 'self.cli.test': ['127.0.0.73'] });
    const agent = startCli([
      'agent', '--adapter', 'dns', '--dns', '_gossip._tcp.cli.test', '--dns-type', 'srv', '--dns-server', dns.address,
      '--advertise', '127.0.0.73:7103', '--control', '127.0.0.1:0',
    ]);
    const started = await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start');
    expect(started).toMatchObject({ adapter: 'dns', address: '127.0.0.73:7103' });
    await agent.waitFor((l) => l.event === 'PeerUp' && l.peer === '127.0.0.72:7102', 10_000, 'the second member');
    const ups = agent.lines.filter((l) => typeof l === 'object' && l.event === 'PeerUp').map((l) => (l as { peer: string }).peer);
    expect(ups.sort()).toEqual(['127.0.0.71:7101', '127.0.0.72:7102']);
  });
});
