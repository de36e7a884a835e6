/**
 * DNS discovery against a real dnsmasq on loopback:
 *
 * - record to PeerUp: a dns adapter polling every INTERVAL_MS; an address
 *   record is added to dnsmasq's hosts directory and the time to the
 *   adapter's PeerUp is taken. Bounded by the interval plus dnsmasq noticing
 *   the file (inotify) and one lookup.
 * - a 10-member gossip cluster (`local` profile, in one process) started in
 *   random order until every member sees the other nine: once with a DNS
 *   seed (`dns+srv:`, the SRV records published up front, as a headless
 *   Service does), once with fixed seeds (every member given all ten
 *   addresses, as a static configuration would).
 *
 *   node --import tsx bench/dns.ts   (writes bench/results/dns.json)
 */
import * as discovery from '../src/discovery.js';
import { dnsAdapter, gossipAdapter, type AdapterHandle } from '../src/discovery.js';
import { freePort } from '../test/support/processes.js';
import { eventually } from '../test/support/wait.js';
import { Dnsmasq, dnsmasqUnavailable } from '../test/support/dnsmasq.js';
import { median, quantile, round, writeResults } from './support.js';

const INTERVAL_MS = 200;
const RECORD_SAMPLES = 60;
const N = 10;
const CLUSTER_TRIALS = 25;
const SRV = '_gossip._tcp.bench.test';

const summary = (samples: number[]) => ({
  medianMs: round(median(samples)),
  p99Ms: round(quantile(samples, 0.99)),
  minMs: round(Math.min(...samples)),
  maxMs: round(Math.max(...samples)),
  samples: samples.length,
});

async function recordToPeerUp(dns: Dnsmasq): Promise<number[]> {
  const hosts: string[] = [];
  dns.setHosts({});
  const seenAt = new Map<string, number>();
  const handle = await discovery.startLink({
    name: 'bench-dns',
    adapter: dnsAdapter({ name: 'members.bench.test', port: 7946, servers: [dns.address], intervalMs: INTERVAL_MS }),
  });
  if (!handle.ok) throw new Error(handle.error.message);
  discovery.bind({ name: 'bench-dns' }).subscribe((event) => {
    if (event.type === 'PeerUp') seenAt.set(event.peer.id, performance.now());
  });
  const samples: number[] = [];
  for (let i = 0; i < RECORD_SAMPLES; i++) {
    const host = `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
    hosts.push(host);
    // A random phase against the poll, as a pod appearing at any moment would have.
    await new Promise((resolve) => setTimeout(resolve, Math.random() * INTERVAL_MS));
    const added = performance.now();
    dns.setHosts({ 'members.bench.test': hosts });
    const id = `${host}:7946`;
    await eventually(() => seenAt.has(id), 10_000, `PeerUp for ${id}`);
    samples.push(seenAt.get(id)! - added);
  }
  await handle.value.stop();
  return samples;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Starts N members in random order with the given seeds; ms from the first start to all seeing N-1 peers. */
async function clusterJoin(trial: string, ports: number[], seeds: string[], dnsServer: string): Promise<number> {
  const handles: AdapterHandle[] = [];
  const names = ports.map((_, i) => `${trial}-${i}`);
  const started = performance.now();
  for (const i of shuffled(ports.map((_, k) => k))) {
    const handle = await discovery.startLink({
      name: names[i]!,
      nodeId: names[i]!,
      seedPeers: seeds,
      syncIntervalMs: 50,
      adapter: gossipAdapter({ bind: { host: '127.0.0.1', port: ports[i]! }, profile: 'local', dnsServers: [dnsServer] }),
    });
    if (!handle.ok) throw new Error(handle.error.message);
    handles.push(handle.value);
  }
  const full = () =>
    names.every((name) => {
      const peers = discovery.bind({ name }).snapshot();
      return peers.ok && peers.value.length === N - 1;
    });
  await eventually(full, 30_000, `${trial} to be fully joined`);
  const took = performance.now() - started;
  await Promise.all(handles.map((h) => h.stop(2000)));
  return took;
}

async function main() {
  const unavailable = dnsmasqUnavailable();
  if (unavailable) throw new Error(`bench/dns.ts needs dnsmasq: ${unavailable}`);
  const dns = await Dnsmasq.start();
  try {
    const recordSamples = await recordToPeerUp(dns);
    console.log(`record to PeerUp (interval ${INTERVAL_MS} ms): median ${round(median(recordSamples))} ms, p99 ${round(quantile(recordSamples, 0.99))} ms`);

    const viaDns: number[] = [];
    const viaFixed: number[] = [];
    for (let t = 0; t < CLUSTER_TRIALS; t++) {
      // Fresh ports each trial, so no member meets the ghosts of the last one.
      const ports: number[] = [];
      while (ports.length < N) {
        const port = await freePort();
        if (!ports.includes(port)) ports.push(port);
      }
      await dns.setSrv(ports.map((port, i) => ({ name: SRV, target: `m${i}.bench.test`, port })));
      dns.setHosts(Object.fromEntries(ports.map((_, i) => [`m${i}.bench.test`, ['127.0.0.1']])));
      // Alternate which goes first, so neither always runs on a warmer process.
      const runs: [number[], string[]][] = [
        [viaDns, [`dns+srv:${SRV}`]],
        [viaFixed, ports.map((p) => `127.0.0.1:${p}`)],
      ];
      for (const [samples, seeds] of t % 2 === 0 ? runs : runs.reverse()) {
        samples.push(await clusterJoin(`t${t}${samples === viaDns ? 'd' : 'f'}`, ports, seeds, dns.address));
      }
    }
    console.log(`10 members, DNS seed: median ${round(median(viaDns))} ms, p99 ${round(quantile(viaDns, 0.99))} ms`);
    console.log(`10 members, fixed seeds: median ${round(median(viaFixed))} ms, p99 ${round(quantile(viaFixed, 0.99))} ms`);

    const file = writeResults('dns', 'node --import tsx bench/dns.ts', {
      'record added to PeerUp (dns adapter)': { intervalMs: INTERVAL_MS, ...summary(recordSamples) },
      '10 gossip members, random start order, to fully joined: DNS seed (dns+srv)': summary(viaDns),
      '10 gossip members, random start order, to fully joined: fixed seeds (all ten)': summary(viaFixed),
      note: 'dnsmasq 2.90 on loopback; records through its hosts directory (inotify); gossip members in one process, local profile; the time includes starting each member',
    });
    console.log(`wrote ${file}`);
  } finally {
    await dns.close();
  }
}

await main();
