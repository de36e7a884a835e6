/**
 * What a running backend can say now, without waiting for the next sync:
 * its counters, probe round trips, facts and histograms, by adapter name.
 * The session runner attaches a reader while its session runs; the facade's
 * `metrics()` reads it, so `distribute info` and `/metrics` never lag a sync.
 * Reads only: nothing here changes the adapter.
 */
import type { BackendFacts } from './backend.js';
import type { HistogramSnapshot } from '../histogram.js';
import type { DiscoveryMetrics } from '../types.js';

/** One reading of a running backend. */
export interface LiveReading {
  readonly counters?: Readonly<Record<string, number>>;
  readonly probeRttMs?: Readonly<Record<string, number>>;
  readonly facts?: BackendFacts;
  readonly histograms: Readonly<Record<string, HistogramSnapshot>>;
}

const readers = new Map<string, () => LiveReading>();

/** Lets the facade read `name`'s backend through `read`; the returned function takes it back (if still this one's). */
export function attachLiveReader(name: string, read: () => LiveReading): () => void {
  readers.set(name, read);
  return () => {
    if (readers.get(name) === read) readers.delete(name);
  };
}

/** A reading of `name`'s backend now, when one is attached. */
export function readLive(name: string): LiveReading | undefined {
  return readers.get(name)?.();
}

/** `metrics` from the last sync, with what `name`'s backend says now in place of what it said then. */
export function withLiveReading(metrics: DiscoveryMetrics, name: string): DiscoveryMetrics {
  const live = readLive(name);
  if (!live) return metrics;
  return {
    ...metrics,
    ...(live.counters ? { backend: live.counters } : {}),
    ...(live.probeRttMs ? { probeRttMs: live.probeRttMs } : {}),
    ...live.facts,
    histograms: live.histograms,
  };
}
