/**
 * Facade costs: snapshot() and lookup() at 10, 1,000 and 10,000 peers; the
 * cost of one membership change at 10,000 peers; events per second fanned
 * out to 1 and to 100 subscribers; setMetadata on one memory member to the
 * PeerUpdate at another (through defineAdapter's per-session command queue).
 *
 *   node --import tsx bench/facade.ts      (writes bench/results/facade.json)
 */
import * as discovery from '../src/discovery.js';
import type { PeerInfo } from '../src/discovery.js';
import { makePeer, median, quantile, round, timeEach, withPeers, writeResults } from './support.js';

const drain = () => new Promise((resolve) => setImmediate(resolve));

async function main() {
  const figures: Record<string, unknown> = {};

  for (const count of [10, 1000, 10_000]) {
    const { facade } = await withPeers(count);
    if ((facade.snapshot() as { value: PeerInfo[] }).value.length !== count) throw new Error('table not filled');
    const snapshot = timeEach(() => facade.snapshot(), count >= 10_000 ? 300 : 2000);
    let i = 0;
    const lookup = timeEach(() => facade.lookup(`node-${i++ % count}`), 20_000, 1000);
    figures[`peers=${count}`] = {
      snapshotMedianMs: round(median(snapshot)),
      snapshotP99Ms: round(quantile(snapshot, 0.99)),
      lookupMedianUs: round(median(lookup) * 1000),
      lookupP99Us: round(quantile(lookup, 0.99) * 1000),
    };
    await facade.stop();
  }

  {
    // One change at 10,000 peers: the table copies one bucket, not the whole table.
    const { facade, report } = await withPeers(10_000);
    let version = 1;
    const change = timeEach(() => report([{ type: 'up', peer: makePeer(version % 10_000, version++) }]), 2000, 200);
    figures['change at peers=10000'] = { medianUs: round(median(change) * 1000), p99Us: round(quantile(change, 0.99) * 1000) };
    await facade.stop();
  }

  for (const subscribers of [1, 100]) {
    const { facade, report } = await withPeers(100);
    let delivered = 0;
    for (let s = 0; s < subscribers; s++) facade.subscribe(() => void delivered++, { maxPending: 1_000_000 });
    const batches = subscribers === 1 ? 200 : 20;
    const batchSize = 5000;
    let version = 1;
    const batch = () =>
      Array.from({ length: batchSize }, () => ({ type: 'up' as const, peer: makePeer(version % 100, version++) }));
    const prepared = Array.from({ length: batches }, batch);
    const runs: number[] = [];
    for (let r = 0; r < 5; r++) {
      delivered = 0;
      const start = performance.now();
      for (const changes of prepared) {
        report(changes);
        await drain();
      }
      while (delivered < batches * batchSize * subscribers) await drain();
      runs.push((batches * batchSize * subscribers) / ((performance.now() - start) / 1000));
    }
    figures[`events/s to ${subscribers} subscriber(s)`] = {
      medianEventsPerSecond: Math.round(median(runs)),
      note: 'end to end: backend report → statechart → table → fan-out → callback',
    };
    await facade.stop();
  }

  {
    // setMetadata → statechart → backend command queue → memory group → the other member's subscriber.
    const group = discovery.memoryAdapter({ group: `bench-meta-${Math.random()}` });
    const names = ['bench-meta-a', 'bench-meta-b'];
    for (const name of names) {
      const started = await discovery.startLink({ name, nodeId: name, adapter: group, syncIntervalMs: 60_000 });
      if (!started.ok) throw new Error(started.error.message);
    }
    const [observer, subject] = names.map((name) => discovery.bind({ name })) as [discovery.Discovery, discovery.Discovery];
    let wake: (() => void) | undefined;
    observer.subscribe((event) => {
      if (event.type === 'PeerUpdate') wake?.();
    });
    const latencies: number[] = [];
    for (let i = 0; i < 2200; i++) {
      const arrived = new Promise<void>((resolve) => (wake = resolve));
      const start = performance.now();
      subject.setMetadata({ v: String(i) });
      await arrived;
      if (i >= 200) latencies.push(performance.now() - start);
    }
    figures['setMetadata to PeerUpdate at another member (memory)'] = {
      medianUs: round(median(latencies) * 1000),
      p99Us: round(quantile(latencies, 0.99) * 1000),
      samples: latencies.length,
    };
    for (const facade of [subject, observer]) await facade.stop();
  }

  const file = writeResults('facade', 'node --import tsx bench/facade.ts', figures);
  console.table(figures);
  console.log(`written to ${file}`);
}

await main();
