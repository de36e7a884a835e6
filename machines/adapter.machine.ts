/**
 * The adapter statechart: discovery health as states, membership as context.
 *
 *   starting ──ready──▶ degraded ◀──▶ up   (up only with at least `minPeers` peers)
 *      │                   ▲  │
 *      │                   │  ▼ (maxAttempts failures)
 *      │                   └─ down
 *      └──────── stop / start failure ────▶ stopping ──▶ stopped
 *
 * Pure logic: the backend (I/O) is invoked actor logic and the log hook is
 * provided by `src/discovery/adapter.ts`. Time enters only through delays (so
 * a SimulatedClock drives it in tests) and through the timestamps the backend
 * puts on its reports; randomness (retry jitter) only through `input.seed`.
 * Read its context through `./selectors.ts`.
 */
import { and, assign, cancel, fromCallback, sendTo, setup, type ActorRefFrom } from 'xstate';
import type { BackendCommand, BackendFacts, BackendInput, BackendReport, KeyringControl, MembershipChange } from '../src/discovery/kit/backend.js';
import { DiscoveryErrors } from '../src/discovery/types.js';
import type {
  DiscoveryError,
  DiscoveryEvent,
  PeerDownReason,
  PeerInfo,
  PeerMetadata,
  PeerSuspicionEvent,
  RetryConfig,
} from '../src/discovery/types.js';
import { Rng } from '../src/discovery/rng.js';
import { emptyTable, getPeer, listPeers, removePeer, samePeer, setPeer, type PeerTable } from './peer-table.js';

/** Plain-data configuration of the machine (no functions: the inspector shows it). */
export interface AdapterMachineInput {
  readonly name: string;
  readonly self: PeerInfo;
  readonly seedPeers: readonly string[];
  readonly syncIntervalMs: number;
  readonly syncTimeoutMs: number;
  readonly stopTimeoutMs: number;
  readonly retry: RetryConfig;
  readonly custom: Readonly<Record<string, string>>;
  /** Prefix of log events and metric names. */
  readonly telemetryPrefix: string;
  /** Peers (self excluded) that must be known before health is Up; 0 for none. Default 0. */
  readonly minPeers?: number;
  /** Seeds the retry jitter, so the machine stays pure and a run repeats. Default 0. */
  readonly seed?: number;
}

export interface AdapterContext {
  readonly config: AdapterMachineInput;
  readonly self: PeerInfo;
  readonly peers: PeerTable;
  /** Why health is Degraded or Down; empty when Up. */
  readonly reason: string;
  /** Syncs succeed, but fewer than `config.minPeers` peers are known: Degraded until they are. */
  readonly waitingForPeers: boolean;
  readonly consecutiveFailures: number;
  readonly syncSeq: number;
  /** Epoch ms of the last successful sync. */
  readonly lastSyncTimeMs: number | undefined;
  readonly lastError: DiscoveryError | undefined;
  readonly syncCount: number;
  readonly syncFailures: number;
  readonly lastSyncDurationMs: number;
  /** Time spent in completed syncs since start, in ms. */
  readonly syncDurationTotalMs: number;
  readonly eventsEmitted: number;
  readonly eventsByType: Readonly<Record<DiscoveryEvent['type'], number>>;
  readonly probeRttMs: Readonly<Record<string, number>>;
  readonly backendFacts: BackendFacts;
  readonly backendCounters: Readonly<Record<string, number>>;
  /** Set when the adapter stopped without ever running. */
  readonly startError: string | undefined;
  readonly stopTimedOut: boolean;
}

/** Events the adapter accepts from users and the facade. */
export type AdapterCommand =
  | { readonly type: 'stop' }
  | { readonly type: 'setMetadata'; readonly metadata: PeerMetadata }
  /** Contact more members (`host:port`) and join through them. */
  | { readonly type: 'join'; readonly seeds: readonly string[] }
  /** Hand the backend's keyring (undefined: it has none) to `use`; see `src/discovery/kit/keys.ts`. */
  | { readonly type: 'keys'; readonly use: (keyring: KeyringControl | undefined) => void }
  /** Sync now instead of waiting for the interval. */
  | { readonly type: 'sync' };

type InternalEvent = { readonly type: 'sync.tick' } | { readonly type: 'sync.timeout'; readonly seq: number };

export type AdapterEvent = AdapterCommand | BackendReport | InternalEvent;

/** What the log hook receives; `src/` writes it to pino. */
export type AdapterLogRecord =
  | { readonly kind: 'sync.success'; readonly durationMs: number; readonly peers: number }
  | { readonly kind: 'sync.failure'; readonly error: DiscoveryError; readonly consecutiveFailures: number }
  | { readonly kind: 'peer.event'; readonly event: DiscoveryEvent }
  | { readonly kind: 'adapter.error'; readonly message: string };

export const NO_SYNC_YET = 'No sync completed yet';
export const STARTING = 'Starting';

/** The Degraded reason while the quorum of `minPeers` is not met. */
export function waitingForPeersReason(minPeers: number, seen: number): string {
  return `Waiting for ${minPeers} ${minPeers === 1 ? 'peer' : 'peers'}, ${seen} seen`;
}

/**
 * The delay before retry number `failures` (1-based): `initial × multiplier^(failures-1)`,
 * capped at `maxDelayMs`; at or past `maxAttempts` it stays at the cap. `random`
 * is in [0, 1) and only matters when `jitter` > 0.
 */
export function backoffDelay(retry: RetryConfig, failures: number, random = 0.5): number {
  const exponent = Math.max(0, failures - 1);
  const raw =
    failures >= retry.maxAttempts ? retry.maxDelayMs : retry.initialDelayMs * retry.multiplier ** exponent;
  const capped = Math.min(raw, retry.maxDelayMs);
  if (retry.jitter <= 0) return capped;
  return Math.max(0, Math.round(capped * (1 + retry.jitter * (random * 2 - 1))));
}

/**
 * Applies changes to a table and says which events they make: `events` the
 * membership events, `emitted` those and the suspicion changes in the order
 * they happened (suspicion is no membership change, so not in `events`).
 */
export function applyChanges(
  table: PeerTable,
  selfId: string,
  changes: readonly MembershipChange[],
): { table: PeerTable; events: DiscoveryEvent[]; emitted: (DiscoveryEvent | PeerSuspicionEvent)[] } {
  const events: DiscoveryEvent[] = [];
  const emitted: (DiscoveryEvent | PeerSuspicionEvent)[] = [];
  for (const change of changes) {
    if (change.type === 'suspect') {
      const previous = getPeer(table, change.id);
      if (!previous || (previous.status === 'suspect') === change.suspect) continue;
      const { status: _status, ...alive } = previous;
      const peer: PeerInfo = change.suspect ? { ...alive, status: 'suspect' } : alive;
      table = setPeer(table, peer);
      emitted.push({ type: 'PeerSuspicion', peer });
    } else if (change.type === 'up') {
      const peer = change.peer;
      if (peer.id === selfId) continue;
      const previous = getPeer(table, peer.id);
      if (previous && samePeer(previous, peer)) continue;
      table = setPeer(table, peer);
      const event: DiscoveryEvent = previous ? { type: 'PeerUpdate', peer, previous } : { type: 'PeerUp', peer };
      events.push(event);
      emitted.push(event);
    } else {
      const previous = getPeer(table, change.id);
      if (!previous) continue;
      table = removePeer(table, change.id);
      const event: DiscoveryEvent = { type: 'PeerDown', peer: previous, reason: change.reason };
      events.push(event);
      emitted.push(event);
    }
  }
  return { table, events, emitted };
}

/** Turns a full membership list into changes against the table. */
export function diffFullList(
  table: PeerTable,
  peers: readonly PeerInfo[],
  missingReason: PeerDownReason,
): MembershipChange[] {
  const changes: MembershipChange[] = [];
  const listed = new Set<string>();
  let known = 0;
  for (const peer of peers) {
    if (listed.has(peer.id)) continue;
    listed.add(peer.id);
    const current = getPeer(table, peer.id);
    if (current) known++;
    if (!current || !samePeer(current, peer)) changes.push({ type: 'up', peer });
  }
  // Only walk the table when some known peer was not listed.
  if (known < table.size) {
    for (const current of listPeers(table)) {
      if (!listed.has(current.id)) changes.push({ type: 'down', id: current.id, reason: missingReason });
    }
  }
  return changes;
}

const NOT_LISTED: PeerDownReason = { type: 'Failed', message: 'No longer reported by the backend' };

const base = setup({
  types: {
    context: {} as AdapterContext,
    events: {} as AdapterEvent,
    input: {} as AdapterMachineInput,
    emitted: {} as DiscoveryEvent | PeerSuspicionEvent,
    tags: {} as 'up' | 'degraded' | 'down' | 'stopped',
  },
  actors: {
    // Provided by the adapter builder; these defaults keep the machine usable alone.
    backend: fromCallback<BackendCommand, BackendInput>(({ sendBack }) => {
      sendBack({ type: 'backend.startFailed', message: 'No backend provided' });
    }),
  },
  actions: {
    /** The log hook; `src/discovery/adapter.ts` provides one that writes to pino. */
    log: (_, _record: AdapterLogRecord) => {},
  },
  guards: {
    isCurrentSync: ({ context, event }) =>
      (event.type === 'backend.synced' || event.type === 'backend.syncFailed' || event.type === 'sync.timeout') &&
      event.seq === context.syncSeq,
    reportsDegraded: ({ event }) => event.type === 'backend.synced' && event.degraded !== undefined,
    exhausted: ({ context }) => context.consecutiveFailures + 1 >= context.config.retry.maxAttempts,
    belowQuorum: ({ context }) => context.peers.size < (context.config.minPeers ?? 0),
    quorumReached: ({ context }) => context.waitingForPeers && context.peers.size >= (context.config.minPeers ?? 0),
  },
  delays: {
    stopTimeout: ({ context }) => context.config.stopTimeoutMs,
  },
});

type Enqueue = Parameters<Parameters<typeof base.enqueueActions>[0]>[0]['enqueue'];

/** Applies changes and emits one event per real change; the table is copied per bucket, not whole. */
function enqueueChanges(enqueue: Enqueue, context: AdapterContext, changes: readonly MembershipChange[]): void {
  const { table, events, emitted } = applyChanges(context.peers, context.self.id, changes);
  if (emitted.length === 0) return;
  const eventsByType = { ...context.eventsByType };
  for (const event of events) eventsByType[event.type]++;
  enqueue.assign({ peers: table, eventsEmitted: context.eventsEmitted + events.length, eventsByType });
  // While waiting for the quorum, the reason counts the peers seen (read after earlier assigns of this step).
  enqueue.assign(({ context: now }) => (now.waitingForPeers ? { reason: waitingForPeersReason(now.config.minPeers ?? 0, now.peers.size) } : {}));
  for (const event of emitted) {
    enqueue.emit(event);
    if (event.type !== 'PeerSuspicion') enqueue({ type: 'log', params: { kind: 'peer.event', event } });
  }
}

const startSync = base.enqueueActions(({ context, enqueue }) => {
  const seq = context.syncSeq + 1;
  enqueue.assign({ syncSeq: seq });
  enqueue.cancel('syncTick');
  enqueue.cancel('syncTimeout');
  enqueue.sendTo('backend', { type: 'backend.sync', seq } satisfies BackendCommand);
  enqueue.raise({ type: 'sync.timeout', seq }, { id: 'syncTimeout', delay: context.config.syncTimeoutMs });
});

const applyReportedChanges = base.enqueueActions(({ context, event, enqueue }) => {
  if (event.type === 'backend.changes') enqueueChanges(enqueue, context, event.changes);
});

const recordSuccess = base.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'backend.synced') return;
  enqueue.cancel('syncTimeout');
  enqueue.assign({
    consecutiveFailures: 0,
    lastSyncTimeMs: event.at,
    lastError: undefined,
    syncCount: context.syncCount + 1,
    lastSyncDurationMs: event.durationMs,
    syncDurationTotalMs: context.syncDurationTotalMs + event.durationMs,
    backendCounters: event.counters ?? context.backendCounters,
    probeRttMs: event.probeRttMs ?? context.probeRttMs,
    backendFacts: event.facts ?? context.backendFacts,
    reason: event.degraded ?? '',
    // Whether the quorum is met is decided in `up`, once the sync's peers are in the table.
    waitingForPeers: false,
  });
  if (event.peers) {
    enqueueChanges(enqueue, context, diffFullList(context.peers, event.peers, event.missingReason ?? NOT_LISTED));
  }
  enqueue({ type: 'log', params: { kind: 'sync.success', durationMs: event.durationMs, peers: event.peers?.length ?? context.peers.size } });
  enqueue.raise({ type: 'sync.tick' }, { id: 'syncTick', delay: context.config.syncIntervalMs });
});

/** A number in [0, 1) for this sync's retry jitter: a function of the seed and the sync number, so no call to Math.random. */
function jitterRandom(context: AdapterContext): number {
  return new Rng(((context.config.seed ?? 0) ^ Math.imul(context.syncSeq, 0x9e3779b1)) >>> 0).next();
}

const recordFailure = base.enqueueActions(({ context, event, enqueue }) => {
  // A sync the backend did not answer in time is the Timeout variant, carrying how long it waited.
  const error =
    event.type === 'backend.syncFailed'
      ? DiscoveryErrors.syncFailed(event.message)
      : DiscoveryErrors.timeout('sync', context.config.syncTimeoutMs);
  const failure = {
    message: error.message,
    durationMs: event.type === 'backend.syncFailed' ? event.durationMs : context.config.syncTimeoutMs,
  };
  const failures = context.consecutiveFailures + 1;
  const { retry } = context.config;
  enqueue.cancel('syncTimeout');
  enqueue.assign({
    consecutiveFailures: failures,
    syncCount: context.syncCount + 1,
    syncFailures: context.syncFailures + 1,
    lastSyncDurationMs: failure.durationMs,
    syncDurationTotalMs: context.syncDurationTotalMs + failure.durationMs,
    lastError: error,
    waitingForPeers: false,
    reason:
      failures >= retry.maxAttempts
        ? `${failures} consecutive sync failures, last: ${failure.message}`
        : `Sync failed (${failures} of ${retry.maxAttempts} attempts): ${failure.message}`,
  });
  enqueue({ type: 'log', params: { kind: 'sync.failure', error, consecutiveFailures: failures } });
  const delay = backoffDelay(retry, failures, retry.jitter > 0 ? jitterRandom(context) : 0.5);
  enqueue.raise({ type: 'sync.tick' }, { id: 'syncTick', delay });
});

const recordLoss = base.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'backend.lost') return;
  enqueue.cancel('syncTick');
  enqueue.cancel('syncTimeout');
  enqueue.assign({
    consecutiveFailures: Math.max(context.consecutiveFailures, context.config.retry.maxAttempts),
    lastError: DiscoveryErrors.syncFailed(event.message),
    waitingForPeers: false,
    reason: event.message,
  });
  enqueue({ type: 'log', params: { kind: 'adapter.error', message: event.message } });
  enqueue.raise({ type: 'sync.tick' }, { id: 'syncTick', delay: context.config.retry.maxDelayMs });
});

/**
 * The feed broke: Degraded with its reason now, rather than at the next sync;
 * the next sync comes soon, to find whether the store itself is away (then
 * failures lead to Down) or the feed is back (then Up).
 */
const recordInterruption = base.enqueueActions(({ context, event, enqueue }) => {
  if (event.type !== 'backend.interrupted') return;
  // A broken feed outranks the quorum: the next sync that works decides the quorum again.
  enqueue.assign({ reason: event.message, waitingForPeers: false });
  enqueue({ type: 'log', params: { kind: 'adapter.error', message: event.message } });
  // Failing syncs already run on their backoff; an interruption does not hurry them.
  if (context.consecutiveFailures > 0) return;
  enqueue.cancel('syncTick');
  enqueue.raise({ type: 'sync.tick' }, { id: 'syncTick', delay: context.config.retry.initialDelayMs });
});

const ignore = {};

export const adapterMachine = base.createMachine({
  id: 'discovery',
  output: ({ context }) => ({ startError: context.startError, stopTimedOut: context.stopTimedOut }),
  context: ({ input }) => ({
    config: input,
    self: input.self,
    peers: emptyTable,
    reason: STARTING,
    waitingForPeers: false,
    consecutiveFailures: 0,
    syncSeq: 0,
    lastSyncTimeMs: undefined,
    lastError: undefined,
    syncCount: 0,
    syncFailures: 0,
    lastSyncDurationMs: 0,
    syncDurationTotalMs: 0,
    eventsEmitted: 0,
    eventsByType: { PeerUp: 0, PeerUpdate: 0, PeerDown: 0 },
    probeRttMs: {},
    backendFacts: {},
    backendCounters: {},
    startError: undefined,
    stopTimedOut: false,
  }),
  invoke: {
    id: 'backend',
    src: 'backend',
    input: ({ context }): BackendInput => ({
      name: context.config.name,
      self: context.self,
      seedPeers: context.config.seedPeers,
      syncTimeoutMs: context.config.syncTimeoutMs,
      stopTimeoutMs: context.config.stopTimeoutMs,
      custom: context.config.custom,
    }),
  },
  on: {
    'backend.changes': { actions: applyReportedChanges },
    setMetadata: {
      actions: [
        assign({ self: ({ context, event }) => ({ ...context.self, metadata: event.metadata }) }),
        sendTo('backend', ({ event }) => ({ type: 'backend.setMetadata', metadata: event.metadata }) satisfies BackendCommand),
      ],
    },
    join: {
      actions: sendTo('backend', ({ event }) => ({ type: 'backend.join', seeds: event.seeds }) satisfies BackendCommand),
    },
    keys: {
      actions: sendTo('backend', ({ event }) => ({ type: 'backend.keys', use: event.use }) satisfies BackendCommand),
    },
    stop: { target: '.stopping' },
    sync: { actions: startSync },
    'sync.tick': { actions: startSync },
    'backend.synced': [
      { guard: and(['isCurrentSync', 'reportsDegraded']), target: '.degraded', actions: recordSuccess },
      { guard: 'isCurrentSync', target: '.up', actions: recordSuccess },
    ],
    'backend.syncFailed': [
      { guard: and(['isCurrentSync', 'exhausted']), target: '.down', actions: recordFailure },
      { guard: 'isCurrentSync', target: '.degraded', actions: recordFailure },
    ],
    'sync.timeout': [
      { guard: and(['isCurrentSync', 'exhausted']), target: '.down', actions: recordFailure },
      { guard: 'isCurrentSync', target: '.degraded', actions: recordFailure },
    ],
    'backend.lost': { target: '.down', actions: recordLoss },
  },
  initial: 'starting',
  states: {
    starting: {
      tags: 'degraded',
      on: {
        // Nothing to sync before the backend is bound.
        sync: ignore,
        'sync.tick': ignore,
        'backend.lost': ignore,
        'backend.ready': {
          target: 'degraded',
          actions: [
            // Metadata set while starting is queued for the backend; keep it over the ready report's.
            assign({ self: ({ context, event }) => ({ ...event.self, metadata: context.self.metadata }), reason: NO_SYNC_YET }),
            startSync,
          ],
        },
        // Not logged: the caller gets it as StartFailed.
        'backend.startFailed': { target: 'stopped', actions: assign({ startError: ({ event }) => event.message }) },
      },
    },
    up: {
      tags: 'up',
      // A sync that worked leads here; with fewer than `minPeers` peers known, health is Degraded instead.
      always: {
        guard: 'belowQuorum',
        target: 'degraded',
        actions: assign(({ context }) => ({ waitingForPeers: true, reason: waitingForPeersReason(context.config.minPeers ?? 0, context.peers.size) })),
      },
      on: { 'backend.interrupted': { target: 'degraded', actions: recordInterruption } },
    },
    degraded: {
      tags: 'degraded',
      always: { guard: 'quorumReached', target: 'up', actions: assign({ waitingForPeers: false, reason: '' }) },
      on: { 'backend.interrupted': { actions: recordInterruption } },
    },
    // Down already says the store is away; its reason (the failures) stays.
    down: { tags: 'down' },
    stopping: {
      tags: 'down',
      entry: [
        cancel('syncTick'),
        cancel('syncTimeout'),
        assign({ reason: 'Stopping' }),
        sendTo('backend', { type: 'backend.leave' } satisfies BackendCommand),
      ],
      on: {
        'backend.left': 'stopped',
        // Leaving: results of syncs still in flight no longer matter; a second stop is a no-op.
        stop: ignore,
        setMetadata: ignore,
        join: ignore,
        sync: ignore,
        'sync.tick': ignore,
        'sync.timeout': ignore,
        'backend.synced': ignore,
        'backend.syncFailed': ignore,
        'backend.lost': ignore,
      },
      after: {
        stopTimeout: { target: 'stopped', actions: assign({ stopTimedOut: true }) },
      },
    },
    stopped: {
      tags: 'stopped',
      type: 'final',
      entry: [
        cancel('syncTick'),
        cancel('syncTimeout'),
        assign({ reason: ({ context }) => context.startError ?? 'Stopped' }),
      ],
    },
  },
});

/** The adapter machine's type, for users who spawn or invoke it. */
export type AdapterMachine = typeof adapterMachine;

/** A running adapter: its snapshot's tags are the health, its context the membership. */
export type AdapterActorRef = ActorRefFrom<AdapterMachine>;
