/**
 * The only way anyone outside the machine reads its state: small functions
 * of a snapshot, like XState's `useSelector` selectors. The facade, the CLI
 * and the HTTP handler go through these, never through `snapshot.context`.
 *
 * @example
 * ```ts fragment
 * const peers = selectPeers(actor.getSnapshot());
 * ```
 */
import type { SnapshotFrom } from 'xstate';
import type { DiscoveryMetrics, HealthInfo, HealthStatus, PeerInfo } from '../src/discovery/types.js';
import type { AdapterMachine, AdapterMachineInput } from './adapter.machine.js';
import { getPeer, listPeers, type PeerTable } from './peer-table.js';
import { ownershipView, rank, type OwnershipView } from '../src/discovery/ownership.js';

/** A snapshot of the adapter actor. */
export type AdapterSnapshot = SnapshotFrom<AdapterMachine>;

/** Whether the actor still runs (not stopped, not crashed). */
export const isRunning = (snapshot: AdapterSnapshot): boolean => snapshot.status === 'active';

/** Whether the adapter is past `starting`: bound and running, or ended. */
export const isSettled = (snapshot: AdapterSnapshot): boolean => !isRunning(snapshot) || !snapshot.matches('starting');

/** `Up`, `Degraded(reason)` or `Down(reason)`, from the state's tags and the context's reason. */
export function selectHealth(snapshot: AdapterSnapshot): HealthStatus {
  const reason = snapshot.context?.reason;
  if (!isRunning(snapshot)) {
    return { type: 'Down', reason: snapshot.status === 'error' ? `Adapter crashed: ${String(snapshot.error)}` : reason || 'Stopped' };
  }
  if (snapshot.hasTag('up')) return { type: 'Up' };
  if (snapshot.hasTag('degraded')) return { type: 'Degraded', reason };
  return { type: 'Down', reason };
}

/** Health with its facts: last sync, last error, peer count. */
export function selectHealthInfo(snapshot: AdapterSnapshot): HealthInfo {
  const { context } = snapshot;
  return {
    status: selectHealth(snapshot),
    lastSyncTimeMs: context.lastSyncTimeMs,
    lastError: context.lastError,
    knownPeersCount: context.peers.size,
    consecutiveFailures: context.consecutiveFailures,
  };
}

/** Sync and event counters, with the backend's own. */
export function selectMetrics(snapshot: AdapterSnapshot): DiscoveryMetrics {
  const { context } = snapshot;
  return {
    syncCount: context.syncCount,
    syncFailures: context.syncFailures,
    lastSyncDurationMs: context.lastSyncDurationMs,
    syncDurationTotalMs: context.syncDurationTotalMs,
    eventsEmitted: context.eventsEmitted,
    knownPeersCount: context.peers.size,
    errorRate: context.syncCount === 0 ? 0 : context.syncFailures / context.syncCount,
    backend: context.backendCounters,
    eventsByType: context.eventsByType,
    probeRttMs: context.probeRttMs,
    ...context.backendFacts,
  };
}

/** The known peers (self excluded), as a fresh array. */
export const selectPeers = (snapshot: AdapterSnapshot): PeerInfo[] => listPeers(snapshot.context.peers);

/** One peer by id, if known. */
export const selectPeer = (snapshot: AdapterSnapshot, id: string): PeerInfo | undefined => getPeer(snapshot.context.peers, id);

/** This node as the cluster sees it. */
export const selectSelf = (snapshot: AdapterSnapshot): PeerInfo => snapshot.context.self;

/** The plain-data configuration the machine was started with. */
export const selectConfig = (snapshot: AdapterSnapshot): AdapterMachineInput => snapshot.context.config;

/** The statechart state: `starting`, `up`, `degraded`, `down`, `stopping` or `stopped`. */
export const selectState = (snapshot: AdapterSnapshot): string => String(snapshot.value);

/** Prefix of log events and metric names. */
export const selectTelemetryPrefix = (snapshot: AdapterSnapshot): string => snapshot.context.config.telemetryPrefix;

/** Why the adapter ended without ever running, if it did. */
export const selectStartError = (snapshot: AdapterSnapshot): string | undefined => snapshot.context?.startError;

/**
 * Whether health is Degraded only because fewer than `minPeers` other
 * members are known: a guard for a machine that waits for its quorum.
 */
export const isWaitingForPeers = (snapshot: AdapterSnapshot): boolean => isRunning(snapshot) && snapshot.context.waitingForPeers;

// One ownership view per peer table (tables are immutable, so a new one means a change).
const views = new WeakMap<PeerTable, { readonly self: PeerInfo; readonly view: OwnershipView }>();

/** The live members, self included, prepared for rendezvous lookups; built once per membership change. */
export function selectOwnershipView(snapshot: AdapterSnapshot): OwnershipView {
  const { peers, self } = snapshot.context;
  const cached = views.get(peers);
  if (cached?.self === self) return cached.view;
  const view = ownershipView([self, ...listPeers(peers)]);
  views.set(peers, { self, view });
  return view;
}

/** The `n` members (self included) that own `key` by rendezvous hashing, best first. */
export const selectOwners = (snapshot: AdapterSnapshot, key: string, n: number): PeerInfo[] => rank(selectOwnershipView(snapshot), key, n);
