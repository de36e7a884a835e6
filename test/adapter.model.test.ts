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
import { defineAdapter, type AdapterOptionsInput, type MembershipChange, type SyncResult } from 'distribute/discovery';
import { adapterLogger, buildAdapterLogic, machineInput, register, resolveOptions } from 'distribute/discovery/internals';
import { unwrap } from './support/index.js';

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
  let report: ((changes: readonly MembershipChange[]) => void) | undefined;
  let interrupted: ((message: string) => void) | undefined;
  const adapter = defineAdapter('hand-driven', async (context) => {
    lost = context.lost;
    report = context.report;
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
  return {
    adapter,
    pending,
    lose: (message: string) => lost!(message),
    report: (changes: readonly MembershipChange[]) => report!(changes),
    interrupt: (message: string) => interrupted!(message),
  };
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** The real adapter actor over a hand-driven backend, on a simulated clock, started and registered. */
async function startDriven(options: AdapterOptionsInput) {
  const driven = handDrivenAdapter();
  const resolved = resolveOptions({ name: `model-${Math.random()}`, syncIntervalMs: SYNC_INTERVAL, syncTimeoutMs: SYNC_TIMEOUT, retryConfig, stopTimeoutMs: 1000, ...options });
  const clock = new SimulatedClock();
  const actor = createActor(buildAdapterLogic(resolved, driven.adapter), { input: machineInput(resolved), clock });
  // Whoever creates the actor registers it, so the facade finds it.
  register(resolved.name, actor, { log: adapterLogger(resolved), root: true });
  actor.start();
  await flush();
  return { ...driven, clock, actor, facade: discovery.bind({ name: resolved.name }) };
}

/** Settles the pending sync as the model event says. */
function settleSync(pending: ReturnType<typeof handDrivenAdapter>['pending'], outcome: 'SYNC_OK' | 'SYNC_FAIL'): void {
  if (outcome === 'SYNC_OK') pending.pop()!.resolve({});
  else pending.pop()!.reject(new Error('store unreachable'));
}

async function runPath(events: ModelEvent[], expectations: { value: unknown; failures: number }[]) {
  const { pending, lose, interrupt, clock, actor, facade } = await startDriven({});
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
        case 'SYNC_FAIL':
          settleSync(pending, event.type);
          break;
        case 'SYNC_DEGRADED':
          pending.pop()!.resolve({ degraded: 'half the seeds are unreachable' });
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

const MIN_PEERS = 2;
const MAX_MODEL_PEERS = 3;

type QuorumEvent = { type: 'SYNC_OK' } | { type: 'SYNC_FAIL' } | { type: 'PEER_UP' } | { type: 'PEER_DOWN' };

/**
 * The abstract model of `minPeers`: health is Up only when the last sync
 * worked and at least `MIN_PEERS` others are known; otherwise Degraded,
 * waiting for peers when the sync worked.
 */
const quorumModel = setup({
  types: { context: {} as { peers: number; healthy: boolean }, events: {} as QuorumEvent },
  guards: {
    roomForPeer: ({ context }) => context.peers < MAX_MODEL_PEERS,
    anyPeer: ({ context }) => context.peers > 0,
  },
}).createMachine({
  id: 'quorum',
  context: { peers: 0, healthy: false },
  on: {
    SYNC_OK: { actions: assign({ healthy: true }) },
    SYNC_FAIL: { actions: assign({ healthy: false }) },
    PEER_UP: { guard: 'roomForPeer', actions: assign({ peers: ({ context }) => context.peers + 1 }) },
    PEER_DOWN: { guard: 'anyPeer', actions: assign({ peers: ({ context }) => context.peers - 1 }) },
  },
});

/** What the facade should say for a state of the quorum model. */
function expectedQuorumHealth({ peers, healthy }: { peers: number; healthy: boolean }) {
  if (!healthy) return { type: 'Degraded' };
  return peers >= MIN_PEERS ? { type: 'Up' } : { type: 'Degraded', reason: `Waiting for ${MIN_PEERS} peers, ${peers} seen` };
}

/** Does to the backend what one model event says: settle the sync, or add or remove a peer. */
function driveQuorum(driven: Awaited<ReturnType<typeof startDriven>>, peers: string[], event: QuorumEvent): void {
  if (event.type === 'SYNC_OK' || event.type === 'SYNC_FAIL') return settleSync(driven.pending, event.type);
  // Past the model's bounds the model does nothing, and neither does the test.
  if (event.type === 'PEER_UP' && peers.length < MAX_MODEL_PEERS) {
    const id = `p${peers.length}`;
    peers.push(id);
    driven.report([{ type: 'up', peer: { id, metadata: {} } }]);
  }
  if (event.type === 'PEER_DOWN' && peers.length > 0) driven.report([{ type: 'down', id: peers.pop()!, reason: { type: 'Left' } }]);
}

async function runQuorumPath(events: QuorumEvent[], expectations: { peers: number; healthy: boolean }[]) {
  // Failures never exhaust the retries here: the quorum, not the failure count, is under test.
  const driven = await startDriven({ retryConfig: { ...retryConfig, maxAttempts: 100 }, minPeers: MIN_PEERS });
  const peers: string[] = [];
  try {
    for (const [i, event] of events.entries()) {
      driveQuorum(driven, peers, event);
      await flush();
      expect(driven.facade.health()).toMatchObject(expectedQuorumHealth(expectations[i]!));
      expect(unwrap(driven.facade.healthInfo()).knownPeersCount).toBe(peers.length);
      // A sync is always in flight for the next step, after a success or a failure alike.
      if (event.type === 'SYNC_OK' || event.type === 'SYNC_FAIL') {
        driven.clock.increment(Math.max(SYNC_INTERVAL, retryConfig.maxDelayMs));
        await flush();
      }
      expect(driven.pending.length).toBe(1);
    }
  } finally {
    driven.actor.stop();
  }
}

const quorum = createTestModel(quorumModel, {
  serializeState: (state) => JSON.stringify([state.context.peers, state.context.healthy]),
});
const QUORUM_EVENTS = ['SYNC_OK', 'SYNC_FAIL', 'PEER_UP', 'PEER_DOWN'] as const;

/** The shortest way to every state of the model (the graph keeps only the longest of paths sharing a prefix, so walk the prefixes). */
function routesToEveryState(): QuorumEvent[][] {
  const routes = new Map<string, QuorumEvent[]>();
  for (const path of quorum.getShortestPaths()) {
    const events = path.steps.map((s) => s.event).filter((e): e is QuorumEvent => !e.type.startsWith('xstate.'));
    for (let k = 0; k <= events.length; k++) {
      const prefix = events.slice(0, k);
      const end = quorum.getPathsFromEvents(prefix, {})[0]!.state.context;
      const key = JSON.stringify([end.peers, end.healthy]);
      if (!routes.has(key) || routes.get(key)!.length > k) routes.set(key, prefix);
    }
  }
  return [...routes.values()];
}

// Every transition of the model: the way to each state, then each event from there.
const quorumPaths = routesToEveryState().flatMap((route) => QUORUM_EVENTS.map((type) => quorum.getPathsFromEvents([...route, { type }], {})[0]!));

describe('minPeers against its quorum model', () => {
  it('covers every peer count with the sync healthy and failing', () => {
    const reached = new Set(quorumPaths.map((p) => JSON.stringify([p.state.context.peers, p.state.context.healthy])));
    expect(reached.size).toBe(2 * (MAX_MODEL_PEERS + 1));
    expect(quorumPaths.length).toBeGreaterThan(30);
  });

  for (const path of quorumPaths) {
    const steps = path.steps.filter((s) => !s.event.type.startsWith('xstate.'));
    const events = steps.map((s) => s.event as QuorumEvent);
    it(`${events.map((e) => e.type).join(' → ') || '(start)'}`, async () => {
      await runQuorumPath(events, steps.map((s) => s.state.context));
    });
  }
});
