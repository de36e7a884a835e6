/** Gossip over IPv6 loopback: addresses are bracketed where they are advertised, dialled and shown. */
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter } from 'distribute/discovery';
import { eventually, unwrap } from '../support/index.js';

const hasIpv6Loopback = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));
// Skipped where the host has no ::1, the reason in the title; under CI=true it runs, and fails there.
const unavailable = process.env.CI === 'true' || hasIpv6Loopback ? undefined : 'no IPv6 loopback (::1) on this host';

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

async function member(name: string, seeds: string[] = []) {
  names.push(name);
  const adapter = gossipAdapter({ bind: { host: '::1', port: 0 }, profile: 'local' });
  unwrap(await discovery.startLink({ name, nodeId: name, adapter, seedPeers: seeds, syncIntervalMs: 50 }));
  return discovery.bind({ name });
}

describe.skipIf(unavailable !== undefined)(`gossip on [::1]${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('advertises [::1]:port, joins through it, and each member shows the other at its bracketed address', async () => {
    const a = await member('v6-a');
    const address = unwrap(a.self()).address!;
    expect(address).toMatch(/^\[::1\]:\d+$/);
    const b = await member('v6-b', [address]);
    await eventually(() => a.lookup('v6-b').ok && b.lookup('v6-a').ok, 10_000, 'a and b to see each other over ::1');
    expect(unwrap(b.lookup('v6-a')).address).toBe(address);
    expect(unwrap(a.lookup('v6-b')).address).toBe(unwrap(b.self()).address);
    expect(unwrap(b.self()).address).toMatch(/^\[::1\]:\d+$/);
  });
});
