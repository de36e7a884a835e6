/**
 * Forged packets from an outsider without keys, over real UDP on loopback,
 * against three live members: they cannot make a member unrefutable, and
 * cannot move a live member to another address.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter, type DiscoveryEvent } from 'distribute/discovery';
import { encodePackets, MAX_INCARNATION } from '../../src/discovery/gossip/wire/codec.js';
import { Outsider, pullTable } from './outsider.js';
import { eventually, unwrap } from '../support/index.js';

const NAMES = ['a', 'b', 'c'] as const;
const view = (name: string) => discovery.bind({ name });
const addr = (name: string) => unwrap(view(name).self()).address!;

afterEach(async () => {
  await Promise.all(NAMES.map((name) => view(name).stop(2000)));
});

/** Three members that see each other; every event each one receives. */
async function cluster(): Promise<Record<string, DiscoveryEvent[]>> {
  const events: Record<string, DiscoveryEvent[]> = {};
  let seed: string | undefined;
  for (const name of NAMES) {
    const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });
    unwrap(await discovery.startLink({ name, nodeId: name, adapter, syncIntervalMs: 50, ...(seed ? { seedPeers: [seed] } : {}) }));
    seed ??= addr(name);
    events[name] = [];
    unwrap(view(name).subscribe((event) => void events[name]!.push(event)));
  }
  await eventually(() => NAMES.every((n) => unwrap(view(n).snapshot()).length === 2), 10_000, 'three members to see each other');
  return events;
}

/** Whether every other member holds `victim` alive at its own address. */
function allSeeAtHome(victim: string): boolean {
  return NAMES.filter((n) => n !== victim).every((n) => {
    const found = view(n).lookup(victim);
    return found.ok && found.value.address === addr(victim) && found.value.status === undefined;
  });
}

async function incarnationOf(victim: string, at: string): Promise<number> {
  const record = (await pullTable(addr(at))).find((m) => m.id === victim);
  if (!record) throw new Error(`${at} does not know ${victim}`);
  return record.incarnation;
}

describe('forged gossip from an outsider', () => {
  it('one 17-byte dead at 2^48 does not take a member out: it is counted and dropped', async () => {
    await cluster();
    const outsider = await Outsider.open();
    try {
      const [packet] = encodePackets([{ type: 'dead', id: 'b', incarnation: MAX_INCARNATION, from: 'b' }], 1400);
      expect(packet!.length).toBe(17);
      for (const name of NAMES) {
        await outsider.raw(addr(name), packet!);
        await outsider.forge(addr(name), name, []);
      }
    } finally {
      outsider.close();
    }
    await eventually(() => allSeeAtHome('b'), 5000, 'b alive at its address everywhere');
    await eventually(() => ['a', 'c'].every((n) => (unwrap(view(n).metrics()).backend.claimsOutOfWindow ?? 0) >= 1), 5000, 'the claim to be counted');
    // b still speaks to the cluster: its next metadata arrives everywhere.
    unwrap(view('b').setMetadata({ round: 'after' }));
    await eventually(() => ['a', 'c'].every((n) => view(n).lookup('b').ok && unwrap(view(n).lookup('b')).metadata.round === 'after'), 5000, "b's metadata");
  });

  it('dead + alive in one packet does not move a live member to the attacker', async () => {
    const events = await cluster();
    const outsider = await Outsider.open();
    const home = addr('b');
    try {
      const known = await incarnationOf('b', 'a');
      const forged = [
        { type: 'dead', id: 'b', incarnation: known + 1, from: 'b' },
        { type: 'alive', id: 'b', address: outsider.address, incarnation: known + 2, metadata: { role: 'pwned' } },
      ] as const;
      for (const name of ['a', 'c']) await outsider.forge(addr(name), name, forged);
    } finally {
      outsider.close();
    }
    await eventually(() => allSeeAtHome('b'), 5000, 'b alive at its address everywhere');
    for (const name of ['a', 'c']) {
      const moved = events[name]!.filter((e) => e.peer.id === 'b' && e.type !== 'PeerDown' && e.peer.address !== home);
      expect(moved).toEqual([]);
    }
    // The conflict is counted once each member has probed b's address and heard b answer.
    await eventually(() => ['a', 'c'].every((n) => (unwrap(view(n).metrics()).backend.conflicts ?? 0) >= 1), 5000, 'the conflicts to be counted');
  });
});
