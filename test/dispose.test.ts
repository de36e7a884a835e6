/** Handles and subscriptions with `using`, startLink cancelled by a signal, childSpec's inspect and taken names. */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { createActor, createMachine, type AnyActor } from 'xstate';
import * as discovery from 'distribute/discovery';
import { defineAdapter, DiscoveryFailure, memoryAdapter, type DiscoveryEvent, type PeerInfo } from 'distribute/discovery';
import { eventually, sleep, unwrap } from './support/index.js';

const actors: AnyActor[] = [];
afterEach(async () => {
  for (const actor of actors.splice(0)) actor.stop();
  await discovery.stop(1000);
  await discovery.bind({ name: 'other' }).stop(1000);
});

describe('await using', () => {
  it('a handle stops its adapter at the end of the scope', async () => {
    {
      await using handle = unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'd1' }), nodeId: 'scoped' }));
      expect(discovery.health().type).not.toBe('Down');
      // The actor is typed: context and tags without casts.
      expectTypeOf(handle.actor.getSnapshot().context.self).toEqualTypeOf<PeerInfo>();
      expect(handle.actor.getSnapshot().hasTag('up') || handle.actor.getSnapshot().hasTag('degraded')).toBe(true);
    }
    expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
  });

  it('disposing a handle whose adapter was already stopped is no error', async () => {
    {
      await using handle = unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'd2' }), nodeId: 'twice' }));
      unwrap(await handle.stop());
    }
    expect(discovery.health().type).toBe('Down');
  });

  it('a subscription ends at the end of a using scope; an event stream too', async () => {
    const cluster = memoryAdapter({ group: 'd3' });
    unwrap(await discovery.startLink({ adapter: cluster, nodeId: 'a' }));
    const seen: DiscoveryEvent[] = [];
    let stream: discovery.EventStream | undefined;
    {
      using subscription = unwrap(discovery.subscription((event) => void seen.push(event)));
      await using events = unwrap(discovery.events());
      stream = events;
      expect(subscription.id).toEqual(expect.any(String));
      unwrap(await discovery.startLink({ name: 'other', adapter: cluster, nodeId: 'b' }));
      await eventually(() => seen.length === 1);
    }
    expect(await stream.next()).toMatchObject({ done: false, value: { type: 'PeerUp' } });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    unwrap(await discovery.bind({ name: 'other' }).stop());
    await sleep(30);
    expect(seen.map((e) => e.type)).toEqual(['PeerUp']);
  });

  it('unsubscribe() on the object ends it; a second call is no error', async () => {
    const cluster = memoryAdapter({ group: 'd4' });
    unwrap(await discovery.startLink({ adapter: cluster, nodeId: 'a' }));
    let calls = 0;
    const subscription = unwrap(discovery.subscription(() => void calls++));
    expect(subscription.unsubscribe()).toEqual({ ok: true, value: undefined });
    expect(subscription.unsubscribe()).toEqual({ ok: true, value: undefined });
    unwrap(await discovery.startLink({ name: 'other', adapter: cluster, nodeId: 'b' }));
    await eventually(() => unwrap(discovery.snapshot()).length === 1);
    await sleep(30);
    expect(calls).toBe(0);
  });
});

describe('startLink with an AbortSignal', () => {
  // A backend whose start never finishes.
  const hanging = () => ({ adapter: defineAdapter('hanging', () => new Promise(() => {})) });

  it('aborting a start in progress resolves StartFailed at once and frees the name', async () => {
    const controller = new AbortController();
    const pending = discovery.startLink({ adapter: hanging().adapter, nodeId: 'slow', syncTimeoutMs: 60_000, signal: controller.signal });
    await sleep(20);
    controller.abort(new Error('shutting down'));
    const result = await Promise.race([pending, sleep(2000).then(() => 'still waiting' as const)]);
    expect(result).toMatchObject({ ok: false, error: { type: 'StartFailed', message: 'Start aborted: shutting down' } });
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'd5' }), nodeId: 'next' }));
  });

  it('an already aborted signal starts nothing', async () => {
    const result = await discovery.startLink({ adapter: memoryAdapter({ group: 'd6' }), signal: AbortSignal.abort() });
    expect(result).toMatchObject({ ok: false, error: { type: 'StartFailed' } });
    expect(discovery.health().type).toBe('Down');
  });

  it('a signal that is not an AbortSignal is InvalidConfiguration', async () => {
    const result = await discovery.startLink({ adapter: memoryAdapter(), signal: 'soon' as unknown as AbortSignal });
    expect(result).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', field: 'signal' } });
  });
});

function run(machine: Parameters<typeof createActor>[0]) {
  const actor = createActor(machine);
  actor.start();
  actors.push(actor);
  return { actor };
}

describe('childSpec', () => {
  it('rejects inspect in its types, and at run time with InvalidConfiguration', async () => {
    const failures: unknown[] = [];
    // @ts-expect-error an invoked adapter is inspected through createActor of the root machine
    const spec = discovery.childSpec({ adapter: memoryAdapter(), inspect: () => {} });
    run(createMachine({ invoke: { ...spec, onError: { actions: ({ event }) => failures.push(event.error) } } }));
    await eventually(() => failures.length === 1);
    expect((failures[0] as DiscoveryFailure).error).toMatchObject({ type: 'InvalidConfiguration', field: 'inspect' });
  });

  it('a second XState system invoking childSpec under a taken name fails, and the message names the fix', async () => {
    const cluster = memoryAdapter({ group: 'd7' });
    const first = run(createMachine({ invoke: discovery.childSpec({ adapter: cluster, nodeId: 'first' }) }));
    await eventually(() => first.actor.system.get(discovery.defaultAdapterName) !== undefined);
    const failures: unknown[] = [];
    run(
      createMachine({
        invoke: { ...discovery.childSpec({ adapter: cluster, nodeId: 'second' }), onError: { actions: ({ event }) => failures.push(event.error) } },
      }),
    );
    await eventually(() => failures.length === 1);
    const error = (failures[0] as DiscoveryFailure).error;
    expect(error.type).toBe('StartFailed');
    expect(error.message).toContain('one adapter per name per process');
    expect(error.message).toContain("childSpec({ name: '");
    expect(unwrap(discovery.self()).id).toBe('first');
  });
});
