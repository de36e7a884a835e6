/** `childSpec()` inside a user's machine: registration, restarts, duplicates. */
import { afterEach, describe, expect, it } from 'vitest';
import { SimulatedClock, createActor, createMachine, fromCallback, type AnyActor } from 'xstate';
import * as discovery from 'distribute/discovery';
import { DiscoveryFailure, memoryAdapter, type Adapter } from 'distribute/discovery';
import type { BackendCommand, BackendInput } from 'distribute/discovery/internals';
import { eventually, sleep, unwrap } from './support/index.js';

const actors: AnyActor[] = [];
afterEach(async () => {
  for (const actor of actors.splice(0)) actor.stop();
  await discovery.stop(1000);
});

function run(machine: Parameters<typeof createActor>[0]) {
  const actor = createActor(machine);
  const errors: unknown[] = [];
  actor.subscribe({ error: (error) => errors.push(error) });
  actor.start();
  actors.push(actor);
  return { actor, errors };
}

/** A backend that crashes (throws inside the actor) on its first `crashes` syncs. */
function crashingAdapter(crashes: number) {
  const state = { starts: 0 };
  const adapter: Adapter = {
    kind: 'crashing',
    backend: () =>
      fromCallback<BackendCommand, BackendInput>(({ input, sendBack, receive }) => {
        state.starts++;
        sendBack({ type: 'backend.ready', self: input.self });
        receive((command) => {
          if (command.type === 'backend.sync') {
            if (state.starts <= crashes) throw new Error(`crash ${state.starts}`);
            sendBack({ type: 'backend.synced', seq: command.seq, at: Date.now(), durationMs: 0 });
          }
          if (command.type === 'backend.leave') sendBack({ type: 'backend.left' });
        });
      }),
  };
  return { adapter, state };
}

describe('childSpec', () => {
  it('registers the adapter in the user system under defaultAdapterName, and the facade works', async () => {
    const app = createMachine({
      invoke: discovery.childSpec({ adapter: memoryAdapter({ group: 'cs1' }), nodeId: 'app', syncIntervalMs: 20 }),
    });
    const { actor } = run(app);
    const adapter = actor.system.get(discovery.defaultAdapterName);
    expect(adapter).toBeDefined();
    await eventually(() => discovery.health().type === 'Up');
    expect(unwrap(discovery.self()).id).toBe('app');
    // The facade bound to this system finds the same actor.
    const bound = discovery.bind({ system: actor.system });
    expect(bound.health()).toEqual({ type: 'Up' });
    expect(unwrap(bound.snapshot())).toEqual([]);
  });

  it('restarts a crashed adapter and keeps subscribers', async () => {
    const { adapter, state } = crashingAdapter(2);
    const app = createMachine({ invoke: discovery.childSpec({ adapter, syncIntervalMs: 20 }) });
    const { errors } = run(app);
    await eventually(() => state.starts === 3 && discovery.health().type === 'Up', 3000, 'two restarts then Up');
    expect(errors).toEqual([]);
  });

  it('gives up after more restarts than the policy allows, failing the invoke with a typed error', async () => {
    const { adapter, state } = crashingAdapter(100);
    const failures: unknown[] = [];
    const app = createMachine({
      invoke: {
        ...discovery.childSpec({ adapter, restart: { maxRestarts: 2, withinMs: 10_000 } }),
        onError: { actions: ({ event }) => failures.push(event.error) },
      },
    });
    run(app);
    await eventually(() => failures.length === 1, 3000, 'the supervisor to give up');
    expect(state.starts).toBe(3);
    const failure = failures[0];
    expect(failure).toBeInstanceOf(DiscoveryFailure);
    expect((failure as DiscoveryFailure).error.type).toBe('StartFailed');
    expect((failure as DiscoveryFailure).error.message).toMatch(/crashed more than 2 times/);
    expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
  });

  it('counts restarts on the system clock: crashes spread beyond withinMs never give up', async () => {
    // Each start syncs once, fine, then crashes on the next sync, which the simulated clock brings.
    const state = { starts: 0 };
    const adapter: Adapter = {
      kind: 'crashing-later',
      backend: () =>
        fromCallback<BackendCommand, BackendInput>(({ input, sendBack, receive }) => {
          state.starts++;
          let syncs = 0;
          sendBack({ type: 'backend.ready', self: input.self });
          receive((command) => {
            if (command.type === 'backend.sync' && ++syncs > 1) throw new Error('crash');
            if (command.type === 'backend.sync') sendBack({ type: 'backend.synced', seq: command.seq, at: 0, durationMs: 0 });
            if (command.type === 'backend.leave') sendBack({ type: 'backend.left' });
          });
        }),
    };
    const failures: unknown[] = [];
    const clock = new SimulatedClock();
    const app = createMachine({
      invoke: {
        ...discovery.childSpec({ adapter, syncIntervalMs: 1000, restart: { maxRestarts: 2, withinMs: 5000 } }),
        onError: { actions: ({ event }) => failures.push(event.error) },
      },
    });
    const actor = createActor(app, { clock });
    actors.push(actor);
    actor.start();
    // Each crash comes 6 s (simulated) after the one before: the window never holds more than one.
    for (let crash = 1; crash <= 4; crash++) {
      await eventually(() => state.starts === crash, 3000, `start ${crash}`);
      clock.increment(6000);
    }
    await sleep(10);
    await eventually(() => state.starts === 5, 3000, 'a fifth start');
    expect(failures).toEqual([]);
  });

  it('fails cleanly when the name is taken, without touching the running adapter', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'cs2' }), nodeId: 'first' }));
    const failures: unknown[] = [];
    const app = createMachine({
      invoke: {
        ...discovery.childSpec({ adapter: memoryAdapter({ group: 'cs2' }), nodeId: 'second' }),
        onError: { actions: ({ event }) => failures.push(event.error) },
      },
    });
    run(app);
    await eventually(() => failures.length === 1);
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'StartFailed' });
    expect(unwrap(discovery.self()).id).toBe('first');
  });

  it('reports invalid options as InvalidConfiguration through the invoke error', async () => {
    const failures: unknown[] = [];
    const app = createMachine({
      invoke: { ...discovery.childSpec({ syncIntervalMs: -1 }), onError: { actions: ({ event }) => failures.push(event.error) } },
    });
    run(app);
    await eventually(() => failures.length === 1);
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'syncIntervalMs', value: -1 });
  });

  it('stops with the facade: the supervisor ends, nothing restarts', async () => {
    const app = createMachine({
      invoke: discovery.childSpec({ adapter: memoryAdapter({ group: 'cs3' }) }),
    });
    const { actor } = run(app);
    await eventually(() => discovery.health().type !== 'Down');
    unwrap(await discovery.stop());
    await sleep(20);
    expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
    expect(actor.system.get(discovery.defaultAdapterName)).toBeUndefined();
  });
});
