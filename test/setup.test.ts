/**
 * `discoveryLogic` in the XState v5 `setup()` form: registered once under a
 * key, invoked or spawned with the options as input, read back through
 * `system.get(defaultAdapterName)` typed as `DiscoveryActorRef`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, setup, spawnChild, type AnyActor } from 'xstate';
import * as discovery from 'distribute/discovery';
import { DiscoveryFailure, discoveryLogic, memoryAdapter, type DiscoveryActorRef } from 'distribute/discovery';
import { selectSelf } from 'distribute/discovery/internals';
import { eventually, unwrap } from './support/index.js';

const actors: AnyActor[] = [];
afterEach(async () => {
  for (const actor of actors.splice(0)) actor.stop();
  await discovery.stop(1000);
});

function start<T extends AnyActor>(actor: T): T {
  actors.push(actor);
  actor.subscribe({ error: () => {} });
  return actor.start();
}

describe('discoveryLogic in setup()', () => {
  it('is invoked by key with input from context, and the adapter is read without casts', async () => {
    const group = memoryAdapter({ group: 'setup-invoke' });
    const app = setup({
      types: { context: {} as { nodeId: string } },
      actors: { discovery: discoveryLogic },
    }).createMachine({
      context: { nodeId: 'node1' },
      invoke: { src: 'discovery', input: ({ context }) => ({ nodeId: context.nodeId, adapter: group, syncIntervalMs: 20 }) },
    });
    const actor = start(createActor(app));
    const adapter: DiscoveryActorRef | undefined = actor.system.get(discovery.defaultAdapterName);
    expect(adapter).toBeDefined();
    await eventually(() => adapter!.getSnapshot().hasTag('up'), 3000, 'the adapter to be up');
    expect(selectSelf(adapter!.getSnapshot()).id).toBe('node1');
    expect(unwrap(discovery.self()).id).toBe('node1');
    expect(discovery.health()).toEqual({ type: 'Up' });
  });

  it('is spawned with spawnChild by key, under the name its input gives', async () => {
    const app = setup({ actors: { discovery: discoveryLogic } }).createMachine({
      entry: spawnChild('discovery', { input: { name: 'spawned', nodeId: 'node2', adapter: memoryAdapter({ group: 'setup-spawn' }) } }),
    });
    const actor = start(createActor(app));
    const adapter: DiscoveryActorRef | undefined = actor.system.get('spawned');
    await eventually(() => adapter?.getSnapshot().hasTag('degraded') === false, 3000, 'the first sync');
    expect(unwrap(discovery.bind({ name: 'spawned' }).self()).id).toBe('node2');
    actor.stop();
    expect(discovery.bind({ name: 'spawned' }).health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
  });

  it('fails the invoke with InvalidConfiguration for bad input, naming the field', async () => {
    const failures: unknown[] = [];
    const app = setup({ actors: { discovery: discoveryLogic } }).createMachine({
      invoke: { src: 'discovery', input: { syncTimeoutMs: 0 }, onError: { actions: ({ event }) => failures.push(event.error) } },
    });
    start(createActor(app));
    await eventually(() => failures.length === 1);
    expect(failures[0]).toBeInstanceOf(DiscoveryFailure);
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'syncTimeoutMs', value: 0 });
  });

  it('two machines share the one logic, each with its own options', async () => {
    const group = memoryAdapter({ group: 'setup-two' });
    const machine = setup({
      types: { input: {} as { name: string; nodeId: string }, context: {} as { name: string; nodeId: string } },
      actors: { discovery: discoveryLogic },
    }).createMachine({
      context: ({ input }) => input,
      invoke: { src: 'discovery', input: ({ context }) => ({ ...context, adapter: group }) },
    });
    start(createActor(machine, { input: { name: 'one', nodeId: 'n1' } }));
    start(createActor(machine, { input: { name: 'two', nodeId: 'n2' } }));
    await eventually(() => discovery.bind({ name: 'one' }).lookup('n2').ok && discovery.bind({ name: 'two' }).lookup('n1').ok);
  });
});
