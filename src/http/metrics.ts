/**
 * `GET /metrics`: the adapter in Prometheus text format, through `prom-client`
 * (loaded on the first scrape, so library users who never scrape need not
 * install it). Every value is computed when scraped, from the adapter's
 * snapshot: nothing is done per event, so a scrape costs the same at any rate
 * of change.
 */
import type { Registry } from 'prom-client';
import type { DiscoveryMetrics, HealthStatus, PeerInfo } from '../discovery/types.js';

/** What a scrape reads; undefined while no adapter runs. */
export interface MetricsSource {
  read(): { peers: readonly PeerInfo[]; metrics: DiscoveryMetrics; health: HealthStatus; lastSyncAt: number | undefined } | undefined;
}

/** A metric name prefix Prometheus accepts: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
export function metricPrefix(telemetryPrefix: string): string {
  const cleaned = telemetryPrefix.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[a-zA-Z_:]/.test(cleaned) ? cleaned : `_${cleaned}`;
}

type PromClient = typeof import('prom-client');

let loading: Promise<PromClient> | undefined;

/** Loads `prom-client`, or rejects with an error saying how to install it. */
export function loadPromClient(): Promise<PromClient> {
  loading ??= import('prom-client').catch((error: unknown) => {
    loading = undefined;
    throw new Error(`GET /metrics needs the prom-client package (npm install prom-client): ${(error as Error).message}`);
  });
  return loading;
}

const GOSSIP_DIRECTIONS = [
  ['in', 'packetsIn', 'bytesIn'],
  ['out', 'packetsOut', 'bytesOut'],
] as const;
const MALFORMED_KINDS = [
  ['packet', 'malformedPackets'],
  ['stream', 'malformedStreams'],
  ['unopened', 'unopenedMessages'],
  ['label', 'labelMismatches'],
] as const;

/** Gossip claims dropped, by the `reason` label and the backend counter. */
const DROP_REASONS = [
  ['incarnation_window', 'claimsOutOfWindow'],
  ['new_members', 'newMembersDropped'],
  ['address_conflict', 'conflicts'],
] as const;

/** A registry whose collectors read `source` on every scrape. */
export function createMetricsRegistry(client: PromClient, prefix: string, source: MetricsSource): Registry {
  const registry = new client.Registry();
  const p = metricPrefix(prefix);
  // One read per scrape, shared by every collector of that scrape.
  let current: ReturnType<MetricsSource['read']>;
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: import('prom-client').Gauge) => void) =>
    new client.Gauge({ name: `${p}_${name}`, help, labelNames, registers: [registry], collect() { this.reset(); collect(this); } });
  const counter = (name: string, help: string, labelNames: string[], collect: (c: import('prom-client').Counter) => void) =>
    new client.Counter({ name: `${p}_${name}`, help, labelNames, registers: [registry], collect() { this.reset(); collect(this); } });
  const backend = (key: string) => current?.metrics.backend[key];
  /** One labelled count per `[label value, backend counter]` pair the backend has. */
  const countEach = (c: import('prom-client').Counter, label: string, pairs: readonly (readonly [string, string])[]) => {
    for (const [value, key] of pairs) {
      const count = backend(key);
      if (count !== undefined) c.inc({ [label]: value }, count);
    }
  };

  gauge('up', 'Whether a discovery adapter is running (1) or not (0).', [], (g) => {
    current = source.read();
    g.set(current ? 1 : 0);
  });
  gauge('members', 'Members known, self excluded, by status.', ['status'], (g) => {
    if (!current) return;
    let suspect = 0;
    for (const peer of current.peers) if (peer.status === 'suspect') suspect++;
    g.set({ status: 'alive' }, current.peers.length - suspect);
    g.set({ status: 'suspect' }, suspect);
    g.set({ status: 'left' }, backend('membersLeft') ?? 0);
    g.set({ status: 'failed' }, backend('membersFailed') ?? 0);
  });
  gauge('health', 'The adapter health as a state set: 1 for the current state.', ['state'], (g) => {
    if (!current) return;
    for (const state of ['Up', 'Degraded', 'Down'] as const) g.set({ state: state.toLowerCase() }, current.health.type === state ? 1 : 0);
  });
  counter('syncs_total', 'Syncs completed, successful or not.', [], (c) => current && c.inc(current.metrics.syncCount));
  counter('sync_failures_total', 'Syncs that failed or timed out.', [], (c) => current && c.inc(current.metrics.syncFailures));
  gauge('sync_error_ratio', 'Failed syncs over all syncs since start.', [], (g) => current && g.set(current.metrics.errorRate));
  gauge('last_sync_duration_seconds', 'Duration of the last completed sync.', [], (g) => current && g.set(current.metrics.lastSyncDurationMs / 1000));
  counter('sync_duration_seconds_total', 'Time spent in completed syncs.', [], (c) => current && c.inc(current.metrics.syncDurationTotalMs / 1000));
  gauge('last_sync_timestamp_seconds', 'Unix time of the last successful sync.', [], (g) => {
    if (current?.lastSyncAt !== undefined) g.set(current.lastSyncAt / 1000);
  });
  counter('events_total', 'Membership events emitted, by type.', ['type'], (c) => {
    if (!current) return;
    for (const [type, count] of Object.entries(current.metrics.eventsByType)) c.inc({ type }, count);
  });
  // Gossip-only figures appear once the gossip adapter reports them.
  counter('gossip_packets_total', 'Gossip datagrams received and sent.', ['direction'], (c) => {
    for (const [direction, packets] of GOSSIP_DIRECTIONS) {
      const value = backend(packets);
      if (value !== undefined) c.inc({ direction }, value);
    }
  });
  counter('gossip_bytes_total', 'Gossip bytes received and sent, UDP and TCP.', ['direction'], (c) => {
    for (const [direction, , bytes] of GOSSIP_DIRECTIONS) {
      const value = backend(bytes);
      if (value !== undefined) c.inc({ direction }, value);
    }
  });
  counter('gossip_malformed_total', 'Incoming gossip dropped as malformed or not opening with our keys.', ['kind'], (c) => countEach(c, 'kind', MALFORMED_KINDS));
  counter('gossip_suspicions_total', 'Members this node started to suspect.', [], (c) => {
    const value = backend('suspicions');
    if (value !== undefined) c.inc(value);
  });
  counter('gossip_refutations_total', 'Suspicions or verdicts about this node that it refuted.', [], (c) => {
    const value = backend('refutations');
    if (value !== undefined) c.inc(value);
  });
  gauge('gossip_sealed', 'Whether gossip traffic is sealed with keys (1) or open to anyone who reaches the port (0).', [], (g) => {
    const value = backend('sealed');
    if (value !== undefined) g.set(value);
  });
  counter('gossip_dropped_total', 'Gossip claims dropped: incarnations outside the window, new members over the cap or rate, address conflicts.', ['reason'], (c) => countEach(c, 'reason', DROP_REASONS));
  gauge('gossip_udp_unreachable_members', 'Members that answer probes over TCP only: their UDP port looks blocked.', [], (g) => {
    const value = backend('udpUnreachableMembers');
    if (value !== undefined) g.set(value);
  });
  return registry;
}
