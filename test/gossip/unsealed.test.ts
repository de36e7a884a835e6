/**
 * Unsealed is a decision: a gossip member bound to a non-loopback address
 * without keys warns once at start (joining, once the join's first push-pull
 * is over), naming the risk and how to seal; sealed
 * or on loopback it says nothing; its metrics say whether traffic is sealed.
 * Members run over an in-process MemoryNetwork, so no socket is bound on a
 * real interface.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import * as discovery from 'distribute/discovery';
import { defineAdapter, type DiscoveryLogger } from 'distribute/discovery';
import { MemoryNetwork } from '../../src/discovery/gossip/net/memory-transport.js';
import { startGossip, type GossipAdapterOptions } from '../../src/discovery/adapters/gossip.js';
import { eventually, unwrap } from '../support/index.js';

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

function recorder(): { logger: DiscoveryLogger; warnings: string[] } {
  const warnings: string[] = [];
  const logger: DiscoveryLogger = {
    debug: () => {},
    info: () => {},
    warn: (_fields, message) => void warnings.push(message ?? ''),
    error: () => {},
    child: () => logger,
  };
  return { logger, warnings };
}

async function member(name: string, options: GossipAdapterOptions, network = new MemoryNetwork()) {
  const { logger, warnings } = recorder();
  names.push(name);
  const adapter = defineAdapter('gossip', (context) => startGossip(context, { profile: 'local', ...options }, network.opener()));
  unwrap(await discovery.startLink({ name, nodeId: name, adapter, logger, syncIntervalMs: 50 }));
  // The metrics' backend figures are those of the last sync.
  const sealed = () => unwrap(discovery.bind({ name }).metrics()).backend.sealed;
  await eventually(() => sealed() !== undefined, 5000, 'a sync');
  return { warnings: warnings.filter((w) => w.includes('unsealed')), sealed };
}

describe('unsealed gossip', () => {
  it('on a non-loopback address without keys: one warning naming the risk and keygen; sealed: 0', async () => {
    const open = await member('open', { bind: { host: '0.0.0.0', port: 7946 } });
    expect(open.warnings).toHaveLength(1);
    expect(open.warnings[0]).toMatch(/anyone who reaches this port can join/);
    expect(open.warnings[0]).toContain('distribute keygen');
    expect(open.sealed()).toBe(0);
  });

  it("joining, the warning waits for the join's answer: its first log line holds up no push-pull", async () => {
    const network = new MemoryNetwork();
    await member('first', { bind: { host: '0.0.0.0', port: 7946 } }, network);
    const seed = discovery.bind({ name: 'first' });
    const seedAddress = unwrap(seed.self()).address!;
    // What the seed knew when the newcomer logged its warning.
    let seenAtWarning: boolean | undefined;
    const { logger } = recorder();
    const adapter = defineAdapter('gossip', (context) => startGossip(context, { profile: 'local', bind: { host: '0.0.0.0', port: 7947 } }, network.opener()));
    names.push('second');
    const warn = logger.warn;
    logger.warn = (fields, message) => {
      seenAtWarning ??= seed.lookup('second').ok;
      warn(fields, message);
    };
    unwrap(await discovery.startLink({ name: 'second', nodeId: 'second', adapter, logger, seedPeers: [seedAddress], syncIntervalMs: 50 }));
    await eventually(() => seenAtWarning !== undefined, 5000, 'the warning');
    expect(seenAtWarning).toBe(true);
  });

  it('sealed, or on loopback: no warning; sealed says which', async () => {
    const sealed = await member('sealed', { bind: { host: '0.0.0.0', port: 7946 }, secretKeys: [randomBytes(32).toString('base64')] });
    expect(sealed.warnings).toEqual([]);
    expect(sealed.sealed()).toBe(1);
    const loopback = await member('loopback', { bind: { host: '127.0.0.1', port: 7946 } });
    expect(loopback.warnings).toEqual([]);
    expect(loopback.sealed()).toBe(0);
  });
});
