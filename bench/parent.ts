/**
 * A parent machine told of peers (`notifyParent`): how long a join of 10,000
 * peers takes to reach the parent's count, beside the same join reaching one
 * subscriber; and how long after the invoking state is exited the others see
 * the member `Left` (memory, and gossip on loopback with the `local` profile).
 *
 *   node --import tsx bench/parent.ts      (writes bench/results/parent.json)
 */
import { assign, createActor, setup } from 'xstate';
import * as discovery from '../src/discovery.js';
import type { Adapter, DiscoveryInput, DiscoveryParentEvent } from '../src/discovery.js';
import { benchAdapter, makePeer, median, quantile, round, writeResults } from './support.js';

const drain = () => new Promise((resolve) => setImmediate(resolve));
const PEERS = 10_000;
const RUNS = 7;

/** A parent that counts its child's peers while `on`; `disable` exits the state that invokes discovery. */
function counter(input: DiscoveryInput) {
  return setup({
    types: { context: {} as { peers: number }, events: {} as DiscoveryParentEvent | { type: 'disable' } },
    actors: { discovery: discovery.discoveryLogic },
  }).createMachine({
    context: { peers: 0 },
    on: {
      'discovery.peerUp': { actions: assign({ peers: ({ context }) => context.peers + 1 }) },
      'discovery.peerDown': { actions: assign({ peers: ({ context }) => context.peers - 1 }) },
    },
    initial: 'on',
    states: { on: { invoke: { src: 'discovery', input }, on: { disable: 'off' } }, off: {} },
  });
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await drain();
}

/** Milliseconds from the report of a 10,000-peer join to the parent counting all of them. */
async function joinToParent(run: number): Promise<number> {
  const { adapter, report } = benchAdapter();
  const name = `bench-parent-${run}`;
  const actor = createActor(counter({ name, adapter, syncIntervalMs: 60_000, notifyParent: true })).start();
  await until(() => discovery.bind({ name }).health().type === 'Up');
  const peers = Array.from({ length: PEERS }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) }));
  const start = performance.now();
  report(peers);
  await until(() => actor.getSnapshot().context.peers === PEERS);
  const took = performance.now() - start;
  actor.stop();
  return took;
}

/** The same join, to one subscriber of the facade. */
async function joinToSubscriber(run: number): Promise<number> {
  const { adapter, report } = benchAdapter();
  const name = `bench-subscriber-${run}`;
  const started = await discovery.startLink({ name, adapter, syncIntervalMs: 60_000 });
  if (!started.ok) throw new Error(started.error.message);
  let count = 0;
  discovery.bind({ name }).subscribe(() => void count++, { maxPending: PEERS * 2 });
  const peers = Array.from({ length: PEERS }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) }));
  const start = performance.now();
  report(peers);
  await until(() => count === PEERS);
  const took = performance.now() - start;
  await started.value.stop();
  return took;
}

/** Milliseconds from exiting the invoking state to an observer's `PeerDown` with reason `Left`. */
async function exitToLeft(adapter: () => Adapter, run: number): Promise<number> {
  const observerName = `bench-observer-${run}`;
  const observer = await discovery.startLink({ name: observerName, nodeId: `observer-${run}`, adapter: adapter(), syncIntervalMs: 50 });
  if (!observer.ok) throw new Error(observer.error.message);
  const nodeId = `app-${run}`;
  const name = `bench-app-${run}`;
  let left: number | undefined;
  discovery.bind({ name: observerName }).subscribe((event) => {
    if (event.type === 'PeerDown' && event.peer.id === nodeId) left = event.reason.type === 'Left' ? performance.now() : Number.NaN;
  });
  const seeds = observer.value.self.address?.startsWith('memory') ? [] : [observer.value.self.address!];
  const actor = createActor(counter({ name, nodeId, adapter: adapter(), seedPeers: seeds, syncIntervalMs: 50 })).start();
  // Each side knows the other before the exit.
  await until(() => discovery.bind({ name: observerName }).lookup(nodeId).ok && discovery.bind({ name }).lookup(`observer-${run}`).ok);
  const start = performance.now();
  actor.send({ type: 'disable' });
  await until(() => left !== undefined);
  await observer.value.stop();
  if (Number.isNaN(left)) throw new Error('the member was seen Failed, not Left');
  return left! - start;
}

async function main() {
  const figures: Record<string, unknown> = {};
  const parent: number[] = [];
  const subscriber: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    parent.push(await joinToParent(run));
    subscriber.push(await joinToSubscriber(run));
  }
  figures[`join of ${PEERS} peers, to the parent's count`] = { medianMs: round(median(parent)), p90Ms: round(quantile(parent, 0.9)), runs: RUNS };
  figures[`join of ${PEERS} peers, to one subscriber`] = { medianMs: round(median(subscriber)), p90Ms: round(quantile(subscriber, 0.9)), runs: RUNS };
  figures['parent / subscriber (median)'] = round(median(parent) / median(subscriber), 3);

  const memory = discovery.memoryAdapter({ group: 'bench-leave' });
  const gossip = () => discovery.gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });
  for (const [label, adapter] of [['memory', () => memory], ['gossip (local profile, loopback)', gossip]] as const) {
    const runs: number[] = [];
    for (let run = 0; run < 15; run++) runs.push(await exitToLeft(adapter, run));
    figures[`state exit to Left at another member, ${label}`] = { medianMs: round(median(runs)), p90Ms: round(quantile(runs, 0.9)), runs: runs.length };
  }

  const file = writeResults('parent', 'node --import tsx bench/parent.ts', figures);
  console.table(figures);
  console.log(`written to ${file}`);
  process.exit(0);
}

await main();
