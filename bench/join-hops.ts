/**
 * Where the time goes between a newcomer's news reaching a member's socket
 * and the line the agent prints for it, hop by hop, on loopback with real
 * sockets (the member as `distribute agent` runs it: the gossip adapter, the
 * machine, the facade's subscription, the CLI's JSON line):
 *
 *   sent        the news leaves the sender
 *   socket      the member's socket hands it to Node (`message`, or `data` for a push-pull)
 *   transport   the transport hands it, framed and checked, to the member
 *   report      the core has handled it: the adapter reports the change to the machine
 *   emit        the machine emits PeerUp (the facade's hub publishes it)
 *   callback    the subscriber's callback runs (the CLI's)
 *   printed     the CLI's JSON line is written
 *
 * Two paths: the UDP `alive` a newcomer announces itself with (what the
 * members other than the seed hear), and the join push-pull over TCP (what
 * the seed hears). REPS newcomers each; medians and p99 per hop, in µs.
 *
 *   node --import tsx bench/join-hops.ts   (writes bench/results/join-hops.json)
 */
import { createSocket } from 'node:dgram';
import dgram from 'node:dgram';
import net from 'node:net';
import { openSync, writeSync, closeSync } from 'node:fs';
import * as discovery from '../src/discovery.js';
import { defineAdapter } from '../src/discovery.js';
import { startGossip, type TransportOpener } from '../src/discovery/adapters/gossip.js';
import { openTransport } from '../src/discovery/gossip/net/socket-transport.js';
import { encodePackets } from '../src/discovery/gossip/wire/codec.js';
import { printEvent } from '../src/cli/output.js';
import { pullTable } from '../test/gossip/outsider.js';
import { median, quantile, round, writeResults } from './support.js';

const REPS = Number(process.argv[2] ?? 30);
const HOPS = ['socket', 'transport', 'report', 'emit', 'callback', 'printed'] as const;
type Hop = (typeof HOPS)[number];

let marks: Partial<Record<Hop | 'sent', number>> = {};
const mark = (hop: Hop | 'sent') => (marks[hop] ??= performance.now());

// The member's sockets are the only ones receiving in this process: the first `message` or `data` after a send is the news.
for (const proto of [dgram.Socket.prototype, net.Socket.prototype] as { emit: (event: string | symbol, ...args: unknown[]) => boolean }[]) {
  const emit = proto.emit;
  proto.emit = function (this: unknown, event: string | symbol, ...args: unknown[]) {
    if ((event === 'message' || event === 'data') && marks.sent !== undefined) mark('socket');
    return emit.call(this, event, ...args);
  };
}

const opener: TransportOpener = async (options) => {
  const opened = await openTransport(options);
  if (!opened.ok) return opened;
  const transport = opened.value;
  const onPacket = transport.onPacket.bind(transport);
  const onRequest = transport.onRequest.bind(transport);
  transport.onPacket = (handler) => onPacket((data, from) => (mark('transport'), handler(data, from)));
  transport.onRequest = (handler) => onRequest((data, from) => (mark('transport'), handler(data, from)));
  return opened;
};

const adapter = defineAdapter('gossip', (context) =>
  startGossip({ ...context, report: (changes) => (mark('report'), context.report(changes)) }, { bind: { host: '127.0.0.1', port: 0 }, profile: 'local' }, opener),
);
const started = await discovery.startLink({ nodeId: 'member', adapter });
if (!started.ok) throw new Error(started.error.message);
started.value.actor.on('PeerUp', () => mark('emit'));
const devnull = openSync('/dev/null', 'w');
// What the CLI's --json printer does, to /dev/null rather than the terminal.
const print = (fields: Record<string, unknown>, text: string) => writeSync(devnull, `${JSON.stringify({ time: new Date().toISOString(), ...fields, msg: text })}\n`);
let printed: () => void = () => {};
discovery.subscribe((event) => {
  mark('callback');
  printEvent(print, event);
  mark('printed');
  if (event.type === 'PeerUp') printed();
});
const member = started.value.self.address!;
const port = Number(member.split(':')[1]);

const udp = createSocket('udp4');
await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
const newcomerAddress = `127.0.0.1:${udp.address().port}`;

async function once(path: 'udp' | 'tcp', id: string): Promise<Record<Hop, number>> {
  marks = {};
  const seen = new Promise<void>((resolve) => (printed = resolve));
  const alive = { id, address: newcomerAddress, incarnation: 1, metadata: {} };
  mark('sent');
  if (path === 'udp') for (const bytes of encodePackets([{ type: 'alive', ...alive }], 1400)) udp.send(bytes, port, '127.0.0.1');
  else void pullTable(member, [{ ...alive, status: 'alive' }], { joinAs: id }).catch(() => undefined);
  await seen;
  const out = {} as Record<Hop, number>;
  let previous = marks.sent!;
  for (const hop of HOPS) {
    out[hop] = (marks[hop]! - previous) * 1000;
    previous = marks[hop]!;
  }
  return out;
}

const figures: Record<string, unknown> = {};
for (const path of ['udp', 'tcp'] as const) {
  const runs: Record<Hop, number>[] = [];
  for (let i = 0; i < REPS + 5; i++) {
    const run = await once(path, `${path}-newcomer-${i}`);
    // The first few warm the code paths up.
    if (i >= 5) runs.push(run);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const hop = (h: Hop) => ({ medianUs: round(median(runs.map((r) => r[h]))), p99Us: round(quantile(runs.map((r) => r[h]), 0.99)) });
  const total = runs.map((r) => HOPS.reduce((s, h) => s + r[h], 0));
  figures[path === 'udp' ? 'UDP alive (a member hears a newcomer)' : 'join push-pull over TCP (the seed hears it)'] = {
    ...Object.fromEntries(HOPS.map((h) => [`${h === 'socket' ? 'sent' : HOPS[HOPS.indexOf(h) - 1]} → ${h}`, hop(h)])),
    'sent → printed': { medianUs: round(median(total)), p99Us: round(quantile(total, 0.99)) },
    reps: runs.length,
  };
}
udp.close();
closeSync(devnull);
await discovery.stop();

const file = writeResults('join-hops', 'node --import tsx bench/join-hops.ts', {
  ...figures,
  timers: 'none on the path: the core reports as it handles, the machine emits in the same step, the hub hands events over in a microtask, the CLI writes at once',
  note: 'one process, loopback, local profile, unsealed; in µs',
});
console.log(JSON.stringify(figures, null, 2));
console.log(`written to ${file}`);
