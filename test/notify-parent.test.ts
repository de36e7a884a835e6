/**
 * `notifyParent`: a parent statechart counts peers from the events its
 * discovery child sends it, with a memory adapter and with gossip over real
 * sockets on loopback, across a supervisor restart of the adapter; the count
 * always comes back to the adapter's own `snapshot()`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, not, setup, spawnChild, type AnyActor } from 'xstate';
import * as discovery from 'distribute/discovery';
import {
  discoveryLogic,
  gossipAdapter,
  memoryAdapter,
  type DiscoveryFailure,
  type DiscoveryInput,
  type DiscoveryParentEvent,
} from 'distribute/discovery';
import { brittleLogger, controlledAdapter, eventually, peer, sleep, startEach, unwrap } from './support/index.js';

const roots: AnyActor[] = [];
const startLink = startEach();
afterEach(async () => {
  for (const root of roots.splice(0)) root.stop();
  // The stopped adapters leave in the background; let them finish before the next test reuses names.
  await eventually(() => discovery.health().type === 'Down', 5000, 'the invoked adapter to be gone');
});

/** A parent that counts peers from its child's events: `ready` with two or more, `waiting` below. */
function peerCounter(input: DiscoveryInput) {
  return setup({
    types: {
      context: {} as { peers: number; told: string[] },
      events: {} as DiscoveryParentEvent | { type: 'disable' },
    },
    actors: { discovery: discoveryLogic },
    guards: { twoUp: ({ context }) => context.peers >= 2 },
  }).createMachine({
    context: { peers: 0, told: [] },
    on: {
      // Each handler reads fields only its own event has: the union narrows.
      'discovery.peerUp': {
        actions: assign(({ context, event }) => ({ peers: context.peers + 1, told: [...context.told, `up ${event.peer.id}`] })),
      },
      'discovery.peerDown': {
        actions: assign(({ context, event }) => ({ peers: context.peers - 1, told: [...context.told, `down ${event.peer.id} ${event.reason.type}`] })),
      },
      'discovery.peerUpdate': {
        actions: assign(({ context, event }) => ({ told: [...context.told, `update ${event.peer.id} ${JSON.stringify(event.peer.metadata)}`] })),
      },
      'discovery.health': {
        actions: assign(({ context, event }) => ({ told: [...context.told, `health ${event.health.type === 'Up' ? 'Up' : `${event.health.type}: ${event.health.reason}`}`] })),
      },
    },
    initial: 'on',
    states: {
      on: {
        invoke: { src: 'discovery', input },
        on: { disable: 'off' },
        initial: 'waiting',
        states: {
          waiting: { always: { guard: 'twoUp', target: 'ready' } },
          ready: { always: { guard: not('twoUp'), target: 'waiting' } },
        },
      },
      off: {},
    },
  });
}

function runParent(input: DiscoveryInput) {
  const actor = createActor(peerCounter(input));
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  roots.push(actor.start());
  const context = () => actor.getSnapshot().context;
  return {
    actor,
    errors,
    context,
    peerEvents: () => context().told.filter((line) => !line.startsWith('health')),
    health: () => context().told.filter((line) => line.startsWith('health')),
    /** The parent's count, once it agrees with the adapter's own table. */
    agreed: (expected: number) => context().peers === expected && discovery.snapshot().ok && unwrap(discovery.snapshot()).length === expected,
  };
}

describe('notifyParent with the memory adapter', () => {
  it('tells the parent of the peers already there, then each change, in order; its count is snapshot()', async () => {
    const cluster = memoryAdapter({ group: 'np1' });
    await startLink({ name: 'b', nodeId: 'b', adapter: cluster });
    const parent = runParent({ nodeId: 'app', adapter: cluster, syncIntervalMs: 20, notifyParent: true });
    await eventually(() => parent.agreed(1), 3000, 'b, which was there first');
    expect(parent.actor.getSnapshot().matches({ on: 'waiting' })).toBe(true);

    const c = await startLink({ name: 'c', nodeId: 'c', adapter: cluster });
    await eventually(() => parent.actor.getSnapshot().matches({ on: 'ready' }), 3000, 'ready with two peers');
    expect(parent.agreed(2)).toBe(true);

    unwrap(discovery.bind({ name: 'b' }).setMetadata({ zone: 'b' }));
    await eventually(() => parent.peerEvents().length === 3, 3000, 'the update');
    expect(parent.context().peers).toBe(2);

    unwrap(await c.stop());
    await eventually(() => parent.actor.getSnapshot().matches({ on: 'waiting' }), 3000, 'back to waiting');
    expect(parent.agreed(1)).toBe(true);
    expect(parent.peerEvents()).toEqual(['up b', 'up c', 'update b {"zone":"b"}', 'down c Left']);
    // Health as it changes, never the same twice in a row, ending Up.
    const health = parent.health();
    expect(health.at(-1)).toBe('health Up');
    expect(health.every((line, i) => i === 0 || line !== health[i - 1])).toBe(true);
    expect(parent.errors).toEqual([]);
  });

  it('works for spawnChild and for childSpec too', async () => {
    const cluster = memoryAdapter({ group: 'np2' });
    await startLink({ name: 'b', nodeId: 'b', adapter: cluster });
    const seen: string[] = [];
    const note = ({ event }: { event: DiscoveryParentEvent }) => void seen.push(`${event.name} ${event.type}`);
    const spawner = setup({
      types: { events: {} as DiscoveryParentEvent },
      actors: { discovery: discoveryLogic },
    }).createMachine({
      entry: spawnChild('discovery', { input: { name: 'spawned', nodeId: 's', adapter: cluster, notifyParent: true } }),
      on: { 'discovery.peerUp': { actions: note } },
    });
    roots.push(createActor(spawner).start());
    const plain = createMachine({
      types: { events: {} as DiscoveryParentEvent },
      invoke: discovery.childSpec({ name: 'specced', nodeId: 't', adapter: cluster, notifyParent: true }),
      on: { 'discovery.peerUp': { actions: note } },
    });
    roots.push(createActor(plain).start());
    await eventually(() => seen.includes('spawned discovery.peerUp') && seen.includes('specced discovery.peerUp'), 3000, 'both parents told');
    // Each tells of b and of the other two that came.
    await eventually(() => seen.length === 4, 3000, "all the ups");
    await sleep(50);
    expect(seen.length).toBe(4);
    for (const root of roots.splice(0)) root.stop();
  });

  it('keeps the count equal to snapshot() across a supervisor restart: nothing doubled, the update made meanwhile not missed', async () => {
    const cluster = memoryAdapter({ group: 'np3' });
    await startLink({ name: 'b', nodeId: 'b', adapter: cluster });
    await startLink({ name: 'c', nodeId: 'c', adapter: cluster });
    const { logger, state } = brittleLogger();
    const parent = runParent({ nodeId: 'app', adapter: cluster, syncIntervalMs: 20, logger, notifyParent: true });
    await eventually(() => parent.agreed(2), 3000, 'two peers');
    const seenByB: string[] = [];
    unwrap(discovery.bind({ name: 'b' }).subscribe((event) => void (event.peer.id === 'app' && seenByB.push(`${event.type} ${event.peer.id} ${event.type === 'PeerDown' ? event.reason.type : ''}`.trim()))));

    // The crash comes while the adapter logs c's update: that update is lost with the crashed adapter.
    state.armed = true;
    unwrap(discovery.bind({ name: 'c' }).setMetadata({ zone: 'c' }));
    await eventually(() => state.crashes === 1 && discovery.health().type === 'Up', 3000, 'the crash and the restart');
    await eventually(() => parent.peerEvents().length === 3, 3000, "the restarted adapter's news");
    await sleep(100);
    expect(parent.agreed(2)).toBe(true);
    expect(parent.peerEvents()).toEqual(['up b', 'up c', 'update c {"zone":"c"}']);
    expect(parent.health()).toContain('health Down: Adapter crashed: log sink failed');
    // A crash is no leave: the others saw the member fail, then come back.
    expect(seenByB).toEqual(['PeerDown app Failed', 'PeerUp app']);
    expect(parent.errors).toEqual([]);
  });

  it('after a restart, tells the parent that peers the new adapter does not find again are down', async () => {
    const { adapter, control } = controlledAdapter();
    const { logger, state } = brittleLogger();
    const parent = runParent({ nodeId: 'app', adapter, syncIntervalMs: 20, logger, notifyParent: true });
    await eventually(() => control.started && discovery.health().type === 'Up', 3000, 'started');
    control.up(peer('b'), peer('c'));
    await eventually(() => parent.agreed(2), 3000, 'two peers');

    state.armed = true;
    control.up(peer('d'));
    await eventually(() => state.crashes === 1 && discovery.health().type === 'Up', 3000, 'the crash and the restart');
    // The restarted backend finds b again; c and d went while it was down.
    control.up(peer('b'));
    await eventually(() => parent.agreed(1), 3000, 'the count to come down to the new table');
    expect(parent.peerEvents()).toEqual(['up b', 'up c', 'down c Failed']);
  });

  it('rejects a notifyParent that is not a boolean, and one without a parent, with InvalidConfiguration', async () => {
    const failures: unknown[] = [];
    const app = createMachine({
      invoke: {
        ...discovery.childSpec({ adapter: memoryAdapter({ group: 'np4' }), notifyParent: 'yes' as unknown as boolean }),
        onError: { actions: ({ event }) => failures.push(event.error) },
      },
    });
    roots.push(createActor(app).start());
    await eventually(() => failures.length === 1);
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'notifyParent', value: 'yes' });

    const orphan = createActor(discoveryLogic, { input: { adapter: memoryAdapter({ group: 'np4' }), notifyParent: true } });
    const errors: unknown[] = [];
    orphan.subscribe({ error: (error) => errors.push(error) });
    orphan.start();
    expect((errors[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'notifyParent' });
  });
});

describe('notifyParent with the gossip adapter on loopback', () => {
  const onLoopback = () => gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });

  it('counts real members, and keeps the count across a restart of the adapter at a new port', async () => {
    const b = await startLink({ name: 'gb', nodeId: 'b', adapter: onLoopback(), syncIntervalMs: 50 });
    const seed = b.self.address!;
    await startLink({ name: 'gc', nodeId: 'c', adapter: onLoopback(), syncIntervalMs: 50, seedPeers: [seed] });
    const { logger, state } = brittleLogger();
    const parent = runParent({ nodeId: 'app', adapter: onLoopback(), seedPeers: [seed], syncIntervalMs: 50, logger, notifyParent: true });
    await eventually(() => parent.actor.getSnapshot().matches({ on: 'ready' }) && parent.agreed(2), 10_000, 'ready with b and c');
    const firstAddress = unwrap(discovery.self()).address;

    state.armed = true;
    unwrap(discovery.bind({ name: 'gc' }).setMetadata({ zone: 'c' }));
    await eventually(() => state.crashes === 1, 10_000, 'the crash');
    await eventually(() => unwrap(discovery.self()).address !== firstAddress, 10_000, 'the restart, bound anew');
    await eventually(() => parent.agreed(2) && parent.peerEvents().length === 3, 10_000, 'the count to agree after the restart');
    expect(parent.peerEvents().filter((line) => line.startsWith('up ')).sort()).toEqual(['up b', 'up c']);
    expect(parent.peerEvents()).toContain('update c {"zone":"c"}');
    expect(parent.actor.getSnapshot().matches({ on: 'ready' })).toBe(true);

    // The others reach the restarted member at its new address (once the old one fails a probe); then c's goodbye reaches it.
    const newAddress = unwrap(discovery.self()).address;
    const seenAt = (name: string) => {
      const found = discovery.bind({ name }).lookup('app');
      return found.ok && found.value.address === newAddress;
    };
    await eventually(() => seenAt('gb') && seenAt('gc'), 10_000, 'b and c to know the new address');
    await discovery.bind({ name: 'gc' }).stop();
    await eventually(() => parent.actor.getSnapshot().matches({ on: 'waiting' }) && parent.agreed(1), 10_000, 'c gone');
    expect(parent.peerEvents().at(-1)).toBe('down c Left');
  });
});
