/**
 * A sweep of forged incarnations in suspect, dead and alive claims about one
 * member, from an outsider over real UDP on loopback: after each burst every
 * member sees the victim alive at its own address, and the victim can still
 * publish (its incarnation was not pushed where it cannot refute).
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter, type DiscoveryEvent } from 'distribute/discovery';
import { MAX_INCARNATION } from '../../src/discovery/gossip/wire/codec.js';
import { INCARNATION_WINDOW } from '../../src/discovery/gossip/protocol/incarnations.js';
import type { PacketMessage } from '../../src/discovery/gossip/wire/messages.js';
import { Outsider, pullTable } from './outsider.js';
import { eventually, unwrap } from '../support/index.js';

const NAMES = ['a', 'b', 'c'] as const;
const view = (name: string) => discovery.bind({ name });
const addr = (name: string) => unwrap(view(name).self()).address!;

afterEach(async () => {
  await Promise.all(NAMES.map((name) => view(name).stop(2000)));
});

/** Each incarnation of the sweep, given what is known of the victim when it is sent. */
const SWEEP: readonly ((known: number) => number)[] = [
  () => 0,
  (known) => known + 1,
  (known) => known + INCARNATION_WINDOW + 1,
  () => MAX_INCARNATION - 1,
  () => MAX_INCARNATION,
  () => 2 ** 53 - 1,
];

function forged(type: 'suspect' | 'dead' | 'alive', incarnation: number, elsewhere: string): PacketMessage {
  if (type === 'suspect') return { type, id: 'b', incarnation, from: 'c' };
  if (type === 'dead') return { type, id: 'b', incarnation, from: 'b' };
  return { type, id: 'b', address: elsewhere, incarnation, metadata: { role: 'pwned' } };
}

describe('a sweep of forged incarnations', () => {
  it('in suspect, dead and alive: the victim stays at its address everywhere and can still publish', async () => {
    const events: DiscoveryEvent[] = [];
    let seed: string | undefined;
    for (const name of NAMES) {
      const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });
      unwrap(await discovery.startLink({ name, nodeId: name, adapter, syncIntervalMs: 50, ...(seed ? { seedPeers: [seed] } : {}) }));
      seed ??= addr(name);
      if (name !== 'b') unwrap(view(name).subscribe((event) => void events.push(event)));
    }
    await eventually(() => NAMES.every((n) => unwrap(view(n).snapshot()).length === 2), 10_000, 'three members to see each other');
    const home = addr('b');
    const atHome = () =>
      ['a', 'c'].every((n) => {
        const found = view(n).lookup('b');
        return found.ok && found.value.address === home && found.value.status === undefined;
      });
    const outsider = await Outsider.open();
    let round = 0;
    try {
      for (const type of ['suspect', 'dead', 'alive'] as const) {
        for (const pick of SWEEP) {
          const incarnation = pick((await pullTable(addr('a'))).find((m) => m.id === 'b')!.incarnation);
          const what = `${type} at ${incarnation}`;
          for (const name of NAMES) await outsider.forge(addr(name), name, [forged(type, incarnation, outsider.address)]);
          await eventually(atHome, 5000, `b alive at its address everywhere after ${what}`);
          unwrap(view('b').setMetadata({ round: String(++round) }));
          await eventually(
            () => ['a', 'c'].every((n) => view(n).lookup('b').ok && unwrap(view(n).lookup('b')).metadata.round === String(round)),
            5000,
            `b's metadata after ${what}`,
          );
        }
      }
    } finally {
      outsider.close();
    }
    expect(events.filter((e) => e.peer.id === 'b' && e.type !== 'PeerDown' && e.peer.address !== home)).toEqual([]);
    // Four of the six are out of the window (2^53 − 1 is malformed on the wire), in each of three types.
    const counted = (n: string) => unwrap(view(n).metrics()).backend.claimsOutOfWindow ?? 0;
    await eventually(() => ['a', 'c'].every((n) => counted(n) >= 3 * 4), 5000, 'the out-of-window claims to be counted');
  });
});
