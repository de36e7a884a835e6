/**
 * Three adapters in one process over the `memory` adapter; one leaves.
 * Every membership change each of them sees is printed.
 *
 *   node --import tsx examples/memory-cluster.ts
 */
import * as discovery from 'distribute/discovery';
import { memoryAdapter } from 'distribute/discovery';

const group = memoryAdapter({ group: 'example' });
const names = ['alpha', 'beta', 'gamma'];

for (const name of names) {
  const started = await discovery.startLink({ name, nodeId: name, adapter: group, metadata: { role: name === 'alpha' ? 'leader' : 'worker' } });
  if (!started.ok) throw new Error(started.error.message);
  discovery.bind({ name }).subscribe((event) => {
    const why = event.type === 'PeerDown' ? ` (${event.reason.type === 'Left' ? 'left' : event.reason.message})` : '';
    console.log(`${name.padEnd(5)} sees ${event.type.padEnd(10)} ${event.peer.id} ${JSON.stringify(event.peer.metadata)}${why}`);
  }, { replay: true });
}

await new Promise((resolve) => setTimeout(resolve, 50));
discovery.bind({ name: 'beta' }).setMetadata({ role: 'worker', load: 'high' });
await new Promise((resolve) => setTimeout(resolve, 50));
await discovery.bind({ name: 'gamma' }).stop();
await new Promise((resolve) => setTimeout(resolve, 50));

const peers = discovery.bind({ name: 'alpha' }).snapshot();
console.log('alpha now knows:', peers.ok ? peers.value.map((p) => p.id).join(', ') : peers.error.message);
for (const name of ['alpha', 'beta']) await discovery.bind({ name }).stop();
