/**
 * Model-based tests of the adapter statechart. A small abstract model of the
 * health states (Up / Degraded / Down / stopped, with the count of consecutive
 * failures) is traversed with `@xstate/graph`; every simple path of it is run
 * against the real adapter actor on a simulated clock, with a backend whose
 * syncs the test answers by hand.
 */
import { describe, expect, it } from 'vitest';
import { createTestModel } from '@xstate/graph';
import { assign, createActor, setup, SimulatedClock } from 'xstate';
import * as discovery from 'distribute/discovery';
import { defineAdapter, type SyncResult } from 'distribute/discovery';
import { adapterLogger, buildAdapterLogic, machineInput, register, resolveOptions } from 'distribute/discovery/internals';
import { unwrap } from './support.js';

const MAX_ATTEMPTS = 3;
const SYNC_INTERVAL = 1000;
const SYNC_TIMEOUT = 5000;
const retryConfig = { maxAttempts: MAX_ATTEMPTS, initialDelayMs: 100, maxDelayMs: 1000, multiplier: 2 };

type ModelEvent = { type: 'SYNC_OK' } | { type: 'SYNC_DEGRADED' } | { type: 'SYNC_FAIL' } | { type: 'TIMEOUT' } | { type: 'LOST' } | { type: 'INTERRUPTED' } | { type: 'STOP' };

const model_ = setup({
  types: { context: {} as { failures: number; interrupted: boolean }, events: {} as ModelEvent },
  guards: { exhausted: ({ context }) => context.failures + 1 >= MAX_ATTEMPTS },
  actions: { failed: assign({ failures: ({ context }) => Math.min(context.failures + 1, MAX_ATTEMPTS), interrupted: false }) },
});
const failTransitions = [
  { guard: 'exhausted', target: '.down', actions: 'failed' },
  { target: '.degraded', actions: 'failed' },
] as const;

/** The abstract model: what health should be after each kind of sync outcome. */
const healthModel = model_.createMachine({
  id: 'health',
  context: { failures: 0, interrupted: false },
  initial: 'running',
  states: {
    running: {
      initial: 'degraded',
      on: {
        SYNC_OK: { target: '.up', actions: assign({ failures: 0, interrupted: false }) },
        SYNC_DEGRADED: { target: '.degraded', actions: assign({ failures: 0, interrupted: false }) },
        SYNC_FAIL: [...failTransitions],
        TIMEOUT: [...failTransitions],
        LOST: { target: '.down', actions: assign({ failures: ({ context }) => Math.max(context.failures, MAX_ATTEMPTS), interrupted: false }) },
        STOP: 'stopped',
      },
      // A broken feed makes Up Degraded at once, with its reason; Down stays Down. No sync is settled, so failures stay.
      states: {
        up: { on: { INTERRUPTED: { target: 'degraded', actions: assign({ interrupted: true }) } } },
        degraded: { on: { INTERRUPTED: { target: 'degraded', actions: assign({ interrupted: true }) } } },
        down: {},
      },
    },
    stopped: { type: 'final' },
  },
});

/** A backend whose syncs stay pending until the test settles them. */
function handDrivenAdapter() {
  const pending: { resolve: (r: SyncResult) => void; reject: (e: Error) => void }[] = [];
  let lost: ((message: string) => void) | undefined;
  let interrupted: ((message: string) => void) | undefined;
  const adapter = defineAdapter('hand-driven', async (context) => {
    lost = context.lost;
    interrupted = context.interrupted;
    return {
      self: context.input.self,
      sync: (signal) =>
        new Promise<SyncResult>((resolve, reject) => {
          const entry = { resolve, reject };
          pending.push(entry);
          // A sync the machine abandoned (timed out, superseded) is no longer the test's to settle.
          signal.addEventListener('abort', () => pending.splice(pending.indexOf(entry) >>> 0, 1));
        }),
      close: () => {},
    };
  });
  return { adapter, pending, lose: (message: string) => lost!(message), interrupt: (message: string) => interrupted!(message) };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

async function runPath(events: ModelEvent[], expectations: { value: unknown; failures: number }[]) {
  const { adapter, pending, lose, interrupt } = handDrivenAdapter();
  const options = resolveOptions({ name: `model-${Math.random()}`, syncIntervalMs: SYNC_INTERVAL, syncTimeoutMs: SYNC_TIMEOUT, retryConfig, stopTimeoutMs: 1000 });
  const clock = new SimulatedClock();
  const actor = createActor(buildAdapterLogic(options, adapter), { input: machineInput(options), clock });
  // Whoever creates the actor registers it, so the facade finds it.
  register(options.name, actor, { log: adapterLogger(options), root: true });
  const facade = discovery.bind({ name: options.name });
  actor.start();
  await flush();
  expect(facade.health()).toEqual({ type: 'Degraded', reason: 'No sync completed yet' });
  // Starts the next sync: waits out the longest gap between syncs.
  const nextSync = async () => {
    clock.increment(Math.max(SYNC_INTERVAL, retryConfig.maxDelayMs));
    await flush();
  };
  try {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      switch (event.type) {
        case 'SYNC_OK':
          pending.pop()!.resolve({});
          break;
        case 'SYNC_DEGRADED':
          pending.pop()!.resolve({ degraded: 'half the seeds are unreachable' });
          break;
        case 'SYNC_FAIL':
          pending.pop()!.reject(new Error('store unreachable'));
          break;
        case 'TIMEOUT':
          clock.increment(SYNC_TIMEOUT);
          break;
        case 'LOST':
          lose('socket closed');
          break;
        case 'INTERRUPTED':
          interrupt('watch stream lost');
          break;
        case 'STOP':
          actor.send({ type: 'stop' });
          break;
      }
      await flush();
      const expected = expectations[i]!;
      if (expected.value === 'stopped') {
        expect(actor.getSnapshot().status).toBe('done');
        expect(facade.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
        continue;
      }
      const state = (expected.value as { running: string }).running;
      const health = facade.health();
      expect(health.type).toBe({ up: 'Up', degraded: 'Degraded', down: 'Down' }[state]);
      if (event.type === 'SYNC_FAIL') expect(health).toHaveProperty('reason', expect.stringContaining('store unreachable'));
      if (event.type === 'TIMEOUT') {
        expect(health).toHaveProperty('reason', expect.stringContaining(`did not finish within ${SYNC_TIMEOUT} ms`));
        expect(unwrap(facade.healthInfo()).lastError).toMatchObject({ type: 'Timeout', operation: 'sync', timeoutMs: SYNC_TIMEOUT });
      }
      if (event.type === 'SYNC_DEGRADED') expect(health).toEqual({ type: 'Degraded', reason: 'half the seeds are unreachable' });
      if (event.type === 'LOST') expect(health).toEqual({ type: 'Down', reason: 'socket closed' });
      if (event.type === 'INTERRUPTED' && state !== 'down') expect(health).toEqual({ type: 'Degraded', reason: 'watch stream lost' });
      expect(unwrap(facade.healthInfo()).consecutiveFailures).toBe(expected.failures);
      await nextSync();
      expect(pending.length).toBe(1);
    }
  } finally {
    actor.stop();
  }
}

const model = createTestModel(healthModel, {
  // The state key keeps what matters: health and the bounded failure count.
  serializeState: (state) => JSON.stringify([state.value, state.context.failures, state.context.interrupted]),
});
const paths = model.getSimplePaths();

describe('adapter statechart against its health model', () => {
  it('has a non-trivial set of paths covering every health state', () => {
    expect(paths.length).toBeGreaterThan(50);
    const reached = new Set(paths.flatMap((p) => p.steps.map((s) => JSON.stringify(s.state.value))));
    for (const value of ['{"running":"up"}', '{"running":"degraded"}', '{"running":"down"}', '"stopped"']) {
      expect(reached).toContain(value);
    }
  });

  for (const path of paths) {
    const events = path.steps.map((s) => s.event).filter((e): e is ModelEvent => !e.type.startsWith('xstate.'));
    const expectations = path.steps
      .filter((s) => !s.event.type.startsWith('xstate.'))
      .map((s) => ({ value: s.state.value, failures: s.state.context.failures }));
    it(`${events.map((e) => e.type).join(' → ') || '(start)'}`, async () => {
      await runPath(events, expectations);
    });
  }
});
