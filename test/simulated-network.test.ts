/**
 * `distribute/discovery/testing` as a user's test suite would use it: the
 * public facade over adapters on a simulated network, partitions, heals,
 * crashes and deaths in simulated time, a user's own statechart on the
 * network's clock, and the same run from the same seed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, createMachine, setup } from 'xstate';
import * as discovery from 'distribute/discovery';
import { DiscoveryFailure, discoveryLogic } from 'distribute/discovery';
import { simulatedNetwork, type SimulatedNetwork } from 'distribute/discovery/testing';
import { unwrap } from './support/index.js';

const started: string[] = [];

afterEach(async () => {
  for (const name of started.splice(0)) await discovery.bind({ name }).stop();
});

/** Starts one member per id on the network, each registered under its id. */
async function members(network: SimulatedNetwork, ids: readonly string[], options: discovery.StartOptions = {}): Promise<void> {
  for (const id of ids) {
    unwrap(await discovery.startLink({ name: id, nodeId: id, adapter: network.adapter(), ...options }));
    started.push(id);
  }
}

const peersOf = (id: string) => unwrap(discovery.bind({ name: id }).snapshot()).map((peer) => peer.id).sort();

/** Every event each member's subscriber receives, stamped with simulated time. */
function record(network: SimulatedNetwork, ids: readonly string[]): string[] {
  const log: string[] = [];
  for (const id of ids) {
    unwrap(discovery.bind({ name: id }).subscribe((event) => {
      log.push(`${network.now} ${id}: ${event.type} ${event.peer.id}${event.type === 'PeerDown' ? ` ${event.reason.type}` : ''}`);
    }));
  }
  return log;
}

/** Three members through a partition of one from the other two, and a heal. */
async function partitionAndHeal(seed: number) {
  const network = simulatedNetwork({ seed });
  const ids = ['a', 'b', 'c'];
  await members(network, ids);
  const log = record(network, ids);
  await network.advance(5_000);
  const joined = ids.map(peersOf);
  network.partition(['a'], ['b', 'c']);
  await network.advance(60_000);
  const split = ids.map(peersOf);
  network.heal();
  await network.advance(60_000);
  const healed = ids.map(peersOf);
  return { log, joined, split, healed, network };
}

describe('simulatedNetwork', () => {
  it('runs three members through a partition and a heal, each seeing what the real protocol would', async () => {
    const { log, joined, split, healed, network } = await partitionAndHeal(1);
    expect(joined).toEqual([['b', 'c'], ['a', 'c'], ['a', 'b']]);
    expect(split).toEqual([[], ['c'], ['b']]);
    expect(healed).toEqual(joined);
    // Both sides saw the other fail (not leave), and came back with PeerUp after the heal.
    for (const line of ['a: PeerDown b Failed', 'a: PeerDown c Failed', 'b: PeerDown a Failed', 'c: PeerDown a Failed']) {
      expect(log.some((entry) => entry.endsWith(line)), line).toBe(true);
    }
    const downAt = Math.max(...log.filter((entry) => entry.includes('PeerDown')).map((entry) => Number(entry.split(' ')[0])));
    expect(log.filter((entry) => entry.includes('PeerUp') && Number(entry.split(' ')[0]) > downAt)).toHaveLength(4);
    // Simulated time moved exactly as far as asked.
    expect(network.now).toBe(125_000);
  });

  it('gives the same run for the same seed', async () => {
    const first = await partitionAndHeal(42);
    for (const name of started.splice(0)) await discovery.bind({ name }).stop();
    const second = await partitionAndHeal(42);
    expect(second.log).toEqual(first.log);
    expect(first.log.length).toBeGreaterThan(10);
  });

  it('moves the owner of a key when its member is partitioned away, and the others agree on the new one', async () => {
    const network = simulatedNetwork({ seed: 5 });
    const ids = ['n1', 'n2', 'n3', 'n4'];
    await members(network, ids);
    await network.advance(5_000);
    const ownerAt = (id: string) => unwrap(discovery.bind({ name: id }).owner('leader')).id;
    const leader = ownerAt('n1');
    expect(ids.map(ownerAt)).toEqual(ids.map(() => leader));
    const rest = ids.filter((id) => id !== leader);
    // The members named in no group are one group: this cuts the leader off from all the others.
    network.partition([leader]);
    await network.advance(30_000);
    const next = ownerAt(rest[0]!);
    expect(next).not.toBe(leader);
    expect(rest.map(ownerAt)).toEqual(rest.map(() => next));
    // Alone on its side, the old leader still thinks itself the owner: what minPeers is for.
    expect(ownerAt(leader)).toBe(leader);
  });

  it('crash is found by probing, kill at once through the refused connection; the victim itself is Down', async () => {
    const network = simulatedNetwork({ seed: 9 });
    const ids = ['a', 'b', 'c', 'd'];
    await members(network, ids);
    const log = record(network, ids);
    await network.advance(5_000);
    const t = network.now;
    network.kill('c');
    network.crash('d');
    expect(discovery.bind({ name: 'c' }).health()).toEqual({ type: 'Down', reason: 'This member was killed by the simulated network' });
    expect(discovery.bind({ name: 'd' }).health()).toEqual({ type: 'Down', reason: 'This member was crashed by the simulated network' });
    await network.advance(30_000);
    // Later syncs keep saying why, while the machine retries.
    expect(discovery.bind({ name: 'c' }).health()).toMatchObject({ type: 'Down', reason: expect.stringContaining('killed by the simulated network') });
    expect(peersOf('a')).toEqual(['b']);
    expect(peersOf('b')).toEqual(['a']);
    const detected = (victim: string) => Math.min(...log.filter((e) => e.endsWith(`PeerDown ${victim} Failed`)).map((e) => Number(e.split(' ')[0]) - t));
    // A process death is known within round trips; a host that stops answering takes probes and suspicion.
    expect(detected('c')).toBeLessThan(100);
    expect(detected('d')).toBeGreaterThan(1_000);
    expect(network.running().sort()).toEqual(['a', 'b']);
  });

  it("feeds a callback's facade calls back into the network at the simulated time of the event", async () => {
    const network = simulatedNetwork({ seed: 4 });
    await members(network, ['a', 'c']);
    const a = discovery.bind({ name: 'a' });
    let upAt = -1;
    // a announces every peer it sees in its metadata; c hears it as PeerUpdate.
    unwrap(a.subscribe(async (event) => {
      if (event.type !== 'PeerUp') return;
      upAt = network.now;
      await Promise.resolve();
      unwrap(a.setMetadata({ seen: event.peer.id }));
    }));
    const log = record(network, ['c']);
    await network.advance(2_000);
    await members(network, ['b']);
    await network.advance(2_000);
    expect(upAt).toBeGreaterThan(2_000);
    const update = log.find((entry) => entry.endsWith('c: PeerUpdate a'));
    expect(update).toBeDefined();
    // Gossip carries the update within a few gossip rounds of the PeerUp that caused it.
    expect(Number(update!.split(' ')[0]) - upAt).toBeLessThan(1_000);
    expect(unwrap(discovery.bind({ name: 'c' }).lookup('a')).metadata).toEqual({ seen: 'b' });
  });

  it('a graceful stop is a leave to the others', async () => {
    const network = simulatedNetwork({ seed: 2 });
    await members(network, ['a', 'b', 'c']);
    const log = record(network, ['a', 'b']);
    await network.advance(3_000);
    unwrap(await discovery.bind({ name: 'c' }).stop());
    started.splice(started.indexOf('c'), 1);
    await network.advance(1_000);
    expect(log.filter((e) => e.includes('PeerDown c')).map((e) => e.split(' ').slice(1).join(' ')).sort()).toEqual(['a: PeerDown c Left', 'b: PeerDown c Left']);
  });

  it('total UDP loss: members keep each other through the TCP fallback; cut off entirely, they fail; healed, they meet again', async () => {
    const network = simulatedNetwork({ seed: 11, loss: 0.1 });
    await members(network, ['a', 'b', 'c']);
    await network.advance(10_000);
    expect(peersOf('a')).toEqual(['b', 'c']);
    // Loss is of UDP packets: TCP retransmits, so a probe's TCP ping still gets through.
    network.setLoss(1);
    await network.advance(60_000);
    expect(['a', 'b', 'c'].map(peersOf)).toEqual([['b', 'c'], ['a', 'c'], ['a', 'b']]);
    network.partition(['a'], ['b'], ['c']);
    await network.advance(60_000);
    expect(peersOf('a')).toEqual([]);
    network.setLoss(0);
    network.heal();
    await network.advance(120_000);
    expect(['a', 'b', 'c'].map(peersOf)).toEqual([['b', 'c'], ['a', 'c'], ['a', 'b']]);
  });

  it.each([
    [2, 'serving'],
    [3, 'alone'],
  ])("runs a user's own statechart on the network's clock: with minPeers %i its delay and guard find it %s", async (minPeers, outcome) => {
    const network = simulatedNetwork({ seed: 3 });
    await members(network, ['b', 'c']);
    // Becomes `serving` 10 s after start if discovery is Up (its quorum met) by then, else `alone`.
    const app = setup({ actors: { discovery: discoveryLogic } }).createMachine({
      invoke: { src: 'discovery', input: { name: 'app', nodeId: 'a', adapter: network.adapter(), minPeers } },
      initial: 'starting',
      states: {
        starting: {
          after: {
            10_000: [{ guard: () => discovery.bind({ name: 'app' }).health().type === 'Up', target: 'serving' }, { target: 'alone' }],
          },
        },
        serving: {},
        alone: {},
      },
    });
    const actor = createActor(app, { clock: network.clock }).start();
    try {
      await network.advance(9_999);
      expect(actor.getSnapshot().value).toBe('starting');
      await network.advance(1);
      expect(actor.getSnapshot().value).toBe(outcome);
      expect(unwrap(discovery.bind({ name: 'app' }).snapshot()).map((p) => p.id).sort()).toEqual(['b', 'c']);
    } finally {
      actor.stop();
    }
  });

  it('refuses an invoke on another clock, which would stall the adapter, with InvalidConfiguration', async () => {
    const network = simulatedNetwork();
    const failures: unknown[] = [];
    const app = createMachine({
      invoke: { ...discovery.childSpec({ name: 'wrong-clock', adapter: network.adapter() }), onError: { actions: ({ event }) => failures.push(event.error) } },
    });
    const actor = createActor(app).start();
    actor.stop();
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'adapter' });
  });

  it('answers bad input with typed errors naming it', async () => {
    for (const [options, field] of [[{ loss: 2 }, 'loss'], [{ seed: 1.5 }, 'seed'], [{ delayMs: -1 }, 'delayMs'], [{ config: { probeIntervalMs: 0 } }, 'config']] as const) {
      expect(() => simulatedNetwork(options)).toThrow(DiscoveryFailure);
      try {
        simulatedNetwork(options);
      } catch (error) {
        expect((error as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field });
      }
    }
    const network = simulatedNetwork();
    await expect(network.advance(-1)).rejects.toThrow(DiscoveryFailure);
    expect(() => network.setLoss(-0.1)).toThrow(DiscoveryFailure);
    expect(() => network.crash('nobody')).toThrow(/nobody/);
    const bad = await discovery.startLink({ name: 'bad', adapter: network.adapter({ autoJoin: 'yes' as unknown as boolean }) });
    expect(bad).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', field: 'autoJoin' } });
    await members(network, ['x']);
    const twice = await discovery.startLink({ name: 'x2', nodeId: 'x', adapter: network.adapter() });
    expect(twice).toMatchObject({ ok: false, error: { type: 'StartFailed', message: expect.stringContaining('already runs on this simulated network') } });
  });
});
