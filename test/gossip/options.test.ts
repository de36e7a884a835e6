/**
 * The gossip adapter's options as a user writes them: `bind` and `advertise`
 * as `host:port` (the form the command and seeds use) or `{ host, port }`;
 * anything malformed is `InvalidConfiguration` naming the option, before a
 * socket is bound. And its counters as they are now, not as the last sync
 * left them. Real sockets on loopback.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter, type GossipAdapterOptions } from 'distribute/discovery';
import { freePort } from '../support/processes.js';
import { eventually, unwrap } from '../support/index.js';

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

async function start(name: string, options: GossipAdapterOptions, more: Partial<discovery.StartOptions> = {}) {
  names.push(name);
  return discovery.startLink({ name, nodeId: name, adapter: gossipAdapter({ profile: 'local', ...options }), ...more });
}

describe('gossipAdapter options', () => {
  it("binds 'host:port' where it says, and 'host:0' on a free port of that host", async () => {
    const port = await freePort();
    unwrap(await start('string-bind', { bind: `127.0.0.1:${port}`, advertise: `127.0.0.1:${port}` }));
    expect(unwrap(discovery.bind({ name: 'string-bind' }).self()).address).toBe(`127.0.0.1:${port}`);
    unwrap(await start('free-port', { bind: '127.0.0.1:0' }));
    expect(unwrap(discovery.bind({ name: 'free-port' }).self()).address).toMatch(/^127\.0\.0\.1:\d+$/);
    // The two forms are one address: a member bound by string is joined by a seed of the object form.
    unwrap(await start('object-bind', { bind: { host: '127.0.0.1', port: 0 } }, { seedPeers: [`127.0.0.1:${port}`] }));
    await eventually(() => unwrap(discovery.bind({ name: 'string-bind' }).snapshot()).some((p) => p.id === 'object-bind'), 5000, 'the join');
  });

  it('refuses malformed options with InvalidConfiguration naming the option, and binds nothing', async () => {
    const key = discovery.generateKey();
    const cases: [GossipAdapterOptions, string, RegExp][] = [
      [{ bind: '127.0.0.1' }, 'bind', /"host:port" or \{ host, port \}/],
      [{ bind: '127.0.0.1:70000' }, 'bind', /port from 0 to 65535/],
      [{ bind: 'localhost:http' }, 'bind', /host:port/],
      [{ bind: { host: '127.0.0.1' } as never }, 'bind', /host:port/],
      [{ bind: 7946 as never }, 'bind', /host:port/],
      [{ advertise: '10.0.0.7:0' }, 'advertise', /port from 1 to 65535/],
      [{ profile: 'wan' as never }, 'profile', /"lan" or "local"/],
      [{ config: { probeIntervalMs: -1 } }, 'config.probeIntervalMs', /positive number/],
      [{ config: { probeIntervall: 1000 } as never }, 'config.probeIntervall', /Unknown gossip config field/],
      [{ leaveOnSignals: 'yes' as never }, 'leaveOnSignals', /true or false/],
      [{ secretKeys: key as never }, 'secretKeys', /array of 32-byte keys/],
      [{ secretKeys: [key, 'c2hvcnQ='] }, 'secretKeys[1]', /32-byte key in base64/],
      [{ label: 'x'.repeat(300) }, 'label', /at most 255/],
      [{ bnd: '127.0.0.1:7946' } as never, 'bnd', /no such gossip option; the options are bind, advertise/],
    ];
    for (const [options, field, expected] of cases) {
      const started = await discovery.startLink({ name: `bad-${field}`, adapter: gossipAdapter(options) });
      expect(started.ok, field).toBe(false);
      if (started.ok) continue;
      expect(started.error, field).toMatchObject({ type: 'InvalidConfiguration', field });
      expect(started.error.message, field).toMatch(expected);
      // No key is ever shown whole.
      expect(started.error.message).not.toContain(key);
    }
  });
});

describe('metrics() between syncs', () => {
  it('shows the backend counters and histograms as they are now, not as the last sync left them', async () => {
    // One sync at start, then none for a minute.
    unwrap(await start('counted', { bind: '127.0.0.1:0' }, { syncIntervalMs: 60_000 }));
    const counted = discovery.bind({ name: 'counted' });
    await eventually(() => unwrap(counted.metrics()).syncCount === 1, 5000, 'the first sync');
    const before = unwrap(counted.metrics());
    expect(before.backend.packetsIn).toBe(0);
    unwrap(await start('talker', { bind: '127.0.0.1:0' }, { seedPeers: [unwrap(counted.self()).address!] }));
    await eventually(() => (unwrap(counted.metrics()).backend.packetsIn ?? 0) > 0 && (unwrap(counted.metrics()).histograms?.probeRttMs?.count ?? 0) > 0, 10_000, 'packets and probes counted');
    const after = unwrap(counted.metrics());
    expect(after.syncCount).toBe(1);
    expect(after.histograms?.syncDurationMs).toMatchObject({ count: 1 });
    expect(after.histograms?.probeRttMs?.counts.reduce((a, b) => a + b, 0)).toBe(after.histograms?.probeRttMs?.count);
  });
});
