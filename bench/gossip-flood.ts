/**
 * An outsider without keys floods one gossip member (default `lan` limits,
 * unsealed, on loopback) with 10,000 forged alives of members that do not
 * exist, as fast as a socket sends them, then watches for 5 s: members
 * taken, news dropped, RSS, and bytes the member sent out meanwhile.
 *
 *   node --import tsx bench/gossip-flood.ts            (writes bench/results/gossip-flood.json)
 *   node --import tsx bench/gossip-flood.ts --print    (prints, writes nothing)
 */
import { createSocket } from 'node:dgram';
import * as discovery from '../src/discovery.js';
import { encodePackets } from '../src/discovery/gossip/wire/codec.js';
import type { PacketMessage } from '../src/discovery/gossip/wire/messages.js';
import { round, writeResults } from './support.js';

const FORGED = Number(process.env.FORGED ?? 10_000);
const WATCH_MS = 5000;
const mib = () => process.memoryUsage().rss / 2 ** 20;

const adapter = discovery.gossipAdapter({ bind: { host: '127.0.0.1', port: 0 } });
const started = await discovery.startLink({ nodeId: 'target', adapter, syncIntervalMs: 100 });
if (!started.ok) throw new Error(started.error.message);
const port = Number(started.value.self.address!.split(':')[1]);
const backend = () => {
  const metrics = discovery.metrics();
  if (!metrics.ok) throw new Error(metrics.error.message);
  return metrics.value.backend;
};
await new Promise((resolve) => setTimeout(resolve, 500));
const rssBefore = mib();
const bytesOutBefore = backend().bytesOut ?? 0;

const socket = createSocket('udp4');
const alives: PacketMessage[] = Array.from({ length: FORGED }, (_, i) => ({ type: 'alive', id: `fake-${i}`, address: `127.0.0.1:${20_000 + (i % 1000)}`, incarnation: 1, metadata: {} }));
const packets = encodePackets(alives, 1400);
const start = performance.now();
for (const packet of packets) await new Promise<void>((resolve) => socket.send(packet, port, '127.0.0.1', () => resolve()));
const sendMs = performance.now() - start;
socket.close();
await new Promise((resolve) => setTimeout(resolve, WATCH_MS));
const b = backend();
const figures = {
  forged: FORGED,
  packets: packets.length,
  sendMs: round(sendMs),
  membersTaken: (b.members ?? 1) - 1,
  newMembersDropped: b.newMembersDropped ?? 'not counted',
  rssMiB: { before: round(rssBefore), after: round(mib()) },
  bytesOutInWindow: (b.bytesOut ?? 0) - bytesOutBefore,
  packetsOut: b.packetsOut,
  streamsOut: b.streamsOut,
  membersFailed: b.membersFailed,
  peerGoneHints: b.peerGoneHints,
  watchEvents: b.watchEvents,
  windowMs: WATCH_MS,
};
await discovery.stop(2000);
console.log(JSON.stringify(figures, null, 2));
if (!process.argv.includes('--print')) {
  console.log(`written to ${writeResults('gossip-flood', 'node --import tsx bench/gossip-flood.ts', { profile: 'lan', unsealed: true, ...figures })}`);
}
