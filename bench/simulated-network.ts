/**
 * The testing entry's speed: wall time for three members on a simulated
 * network to join, go through a partition of one from the other two (60
 * simulated seconds) and a heal (60 more), through the public facade with
 * every adapter statechart on the network's clock; and simulated seconds
 * per wall second.
 *
 *   node --import tsx bench/simulated-network.ts      (writes bench/results/simulated-network.json)
 */
import * as discovery from '../src/discovery.js';
import { simulatedNetwork } from '../src/testing.js';
import { median, quantile, round, writeResults } from './support.js';

const IDS = ['a', 'b', 'c'];
const RUNS = 20;

async function partitionAndHeal(seed: number): Promise<{ wallMs: number; simulatedMs: number; converged: boolean }> {
  const start = performance.now();
  const network = simulatedNetwork({ seed });
  for (const id of IDS) {
    const started = await discovery.startLink({ name: `bench-${id}`, nodeId: id, adapter: network.adapter() });
    if (!started.ok) throw new Error(started.error.message);
  }
  await network.advance(5_000);
  network.partition(['a'], ['b', 'c']);
  await network.advance(60_000);
  network.heal();
  await network.advance(60_000);
  const converged = IDS.every((id) => {
    const peers = discovery.bind({ name: `bench-${id}` }).snapshot();
    return peers.ok && peers.value.length === 2;
  });
  for (const id of IDS) await discovery.bind({ name: `bench-${id}` }).stop();
  return { wallMs: performance.now() - start, simulatedMs: network.now, converged };
}

async function main() {
  await partitionAndHeal(0);
  const runs = [];
  for (let seed = 1; seed <= RUNS; seed++) runs.push(await partitionAndHeal(seed));
  if (!runs.every((run) => run.converged)) throw new Error('a run did not converge after the heal');
  const wall = runs.map((run) => run.wallMs);
  const figures = {
    scenario: 'three members: join (5 s), partition one from two (60 s), heal (60 s), stop; lan timings',
    runs: RUNS,
    wallMedianMs: round(median(wall)),
    wallP95Ms: round(quantile(wall, 0.95)),
    simulatedSecondsPerWallSecond: round(runs[0]!.simulatedMs / median(wall)),
  };
  const file = writeResults('simulated-network', 'node --import tsx bench/simulated-network.ts', figures);
  console.table(figures);
  console.log(`written to ${file}`);
}

await main();
