/**
 * The etcd and Redis adapters with real member processes on loopback
 * (test/fixtures/store-member.mjs, through the public API), against a real
 * server per store. For each store, with 10 members:
 *
 * - `setMetadata()` to PeerUpdate at all others (how fast a change written to
 *   the store reaches everyone: the path a join takes too), and spawn to
 *   PeerUp at all (with Node start-up);
 * - SIGTERM (graceful stop) to PeerDown (Left) at all;
 * - SIGKILL to PeerDown (Failed) at all (TTL 2000 ms);
 * - store SIGKILL to every member's health leaving Up (sync every 1000 ms);
 * - idle load on the store with the defaults (TTL 10 s, sync every 5 s):
 *   requests per member per second, from Redis `INFO commandstats` (script
 *   calls) and etcd's `/metrics` (gRPC messages received).
 *
 * - Redis through Sentinel (a primary, a replica, three sentinels), three
 *   members, the primary SIGKILLed, over several trials: time until the
 *   sentinels promote the replica, time each member's health is not Up, time
 *   until all are Up again, and the changes lost: one written just before
 *   the kill (async replication may not carry it), one made while there is
 *   no primary; each must reach the two other members once, and no live
 *   member may be reported down.
 *
 *   npm run build && node --import tsx bench/stores.ts   (writes bench/results/stores.json)
 *   ... bench/stores.ts failover   (only the Sentinel figures, kept beside the others)
 */
import { Redis } from 'ioredis';
import { eventually } from '../test/support/wait.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdServer, RedisServer, SentinelGroup } from '../test/support/servers.js';
import { StoreMember } from '../test/store-members.js';
import { median, quantile, resultsDir, round, writeResults } from './support.js';

const N = 10;
const TRIALS = 7;
const OUTAGES = 3;
const TTL_MS = 2000;
const IDLE_TTL_MS = 10_000;
const IDLE_WINDOW_MS = 20_000;
type Kind = 'etcd' | 'redis';

const all: StoreMember[] = [];
let prefixes = 0;

function member(kind: Kind, url: string, name: string, ttlMs: number, prefix: string, syncMs: number): StoreMember {
  const m = new StoreMember(name, kind, url, ttlMs, { STORE_PREFIX: prefix, SYNC_MS: String(syncMs) });
  all.push(m);
  return m;
}

const at = (m: StoreMember, type: string, peer: string, reason?: string) =>
  m.lines.find((l) => l.type === type && l.peer === peer && (reason === undefined || l.reason === reason))?.at;

async function startCluster(kind: Kind, url: string, count: number, ttlMs: number, syncMs: number): Promise<StoreMember[]> {
  const prefix = `bench${++prefixes}`;
  const members: StoreMember[] = [];
  // One at a time: ten Node processes loading a gRPC client at once starve a small machine.
  for (let i = 0; i < count; i++) {
    const m = member(kind, url, `m${i}`, ttlMs, prefix, syncMs);
    await m.ready(60_000);
    members.push(m);
  }
  await eventually(() => members.every((m) => members.every((o) => o === m || at(m, 'PeerUp', o.name) !== undefined)), 60_000, 'cluster formed');
  return members;
}

async function latencies(kind: Kind, url: string) {
  const base = await startCluster(kind, url, N - 1, TTL_MS, 1000);
  const prefix = `bench${prefixes}`;
  const updates: number[] = [];
  const spawnToUp: number[] = [];
  const leaves: number[] = [];
  const crashes: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    for (const mode of ['SIGTERM', 'SIGKILL'] as const) {
      const name = `new-${t}-${mode}`;
      const spawnedAt = Date.now();
      const joiner = member(kind, url, name, TTL_MS, prefix, 1000);
      await joiner.ready();
      await eventually(() => base.every((m) => at(m, 'PeerUp', name) !== undefined), 10_000, `${name} seen`);
      const seen = Math.max(...base.map((m) => at(m, 'PeerUp', name)!));
      spawnToUp.push(seen - spawnedAt);
      await new Promise((r) => setTimeout(r, 300));
      joiner.send('meta trial=1');
      await eventually(() => base.every((m) => at(m, 'PeerUpdate', name) !== undefined), 10_000, `${name} update seen`);
      const sentAt = joiner.lines.find((l) => l.type === 'setMetadata')!.at;
      updates.push(Math.max(...base.map((m) => at(m, 'PeerUpdate', name)!)) - sentAt);
      await new Promise((r) => setTimeout(r, 100));
      const killedAt = await joiner.kill(mode);
      const reason = mode === 'SIGTERM' ? 'Left' : 'Failed';
      await eventually(() => base.every((m) => at(m, 'PeerDown', name, reason) !== undefined), TTL_MS + 20_000, `${name} down`).catch((error: Error) => {
        const seen = base.map((m) => `${m.name}: ${JSON.stringify(m.lines.filter((l) => l.peer === name))}`);
        throw new Error(`${error.message}; joiner: ${JSON.stringify(joiner.lines.slice(-5))}; ${seen.join('; ')}`);
      });
      (mode === 'SIGTERM' ? leaves : crashes).push(Math.max(...base.map((m) => at(m, 'PeerDown', name, reason)!)) - killedAt);
    }
  }
  return { base, updates, spawnToUp, leaves, crashes };
}

async function outages(base: StoreMember[], server: EtcdServer | RedisServer) {
  const toDegraded: number[] = [];
  const backUp: number[] = [];
  const healthAfter = (m: StoreMember, since: number, status: (s: string) => boolean) =>
    m.lines.find((l) => l.type === 'health' && l.at >= since && status(String(l.status)))?.at;
  for (let i = 0; i < OUTAGES; i++) {
    await eventually(() => base.every((m) => m.healthPath().at(-1) === 'Up'), 30_000, 'all Up');
    const killedAt = Date.now();
    await server.kill();
    await eventually(() => base.every((m) => healthAfter(m, killedAt, (s) => s !== 'Up') !== undefined), 30_000, 'all left Up');
    toDegraded.push(Math.max(...base.map((m) => healthAfter(m, killedAt, (s) => s !== 'Up')!)) - killedAt);
    await new Promise((r) => setTimeout(r, 1000));
    await server.start();
    const restartedAt = Date.now();
    await eventually(() => base.every((m) => healthAfter(m, restartedAt, (s) => s === 'Up') !== undefined), 60_000, 'all Up again');
    backUp.push(Math.max(...base.map((m) => healthAfter(m, restartedAt, (s) => s === 'Up')!)) - restartedAt);
  }
  const falseDowns = base.reduce((sum, m) => sum + m.lines.filter((l) => l.type === 'PeerDown' && String(l.peer).startsWith('m')).length, 0);
  return { toDegraded, backUp, falseDowns };
}

async function storeRequests(kind: Kind, server: EtcdServer | RedisServer): Promise<number> {
  if (kind === 'redis') {
    const redis = new Redis(server.url);
    const info = await redis.info('commandstats');
    redis.disconnect();
    let calls = 0;
    for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(match[2]);
    return calls;
  }
  const text = await (await fetch(`${(server as EtcdServer).url}/metrics`)).text();
  let calls = 0;
  for (const match of text.matchAll(/^grpc_server_msg_received_total\{[^}]*\} (\S+)$/gm)) calls += Number(match[1]);
  return calls;
}

async function idleLoad(kind: Kind, server: EtcdServer | RedisServer) {
  const members = await startCluster(kind, server.url, N, IDLE_TTL_MS, 5000);
  await new Promise((r) => setTimeout(r, 3000));
  const before = await storeRequests(kind, server);
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  const after = await storeRequests(kind, server);
  await Promise.all(members.map((m) => m.kill('SIGKILL')));
  return (after - before) / N / (IDLE_WINDOW_MS / 1000);
}

const summary = (xs: number[]) => ({ medianMs: round(median(xs)), p99Ms: round(quantile(xs, 0.99)), samples: xs.length });

async function bench(kind: Kind) {
  const server = kind === 'etcd' ? await EtcdServer.start() : await RedisServer.start({ persistent: true });
  try {
    const run = await latencies(kind, server.url);
    const outage = await outages(run.base, server);
    await Promise.all(run.base.map((m) => m.kill('SIGKILL')));
    const perMember = await idleLoad(kind, server);
    return {
      members: N,
      ttlMs: TTL_MS,
      'setMetadata to PeerUpdate at all': summary(run.updates),
      'spawn to PeerUp at all (includes Node start-up)': summary(run.spawnToUp),
      'SIGTERM to PeerDown (Left) at all': summary(run.leaves),
      'SIGKILL to PeerDown (Failed) at all': summary(run.crashes),
      'store SIGKILL to health not Up at all (sync every 1000 ms)': summary(outage.toDegraded),
      'store restart to health Up at all': summary(outage.backUp),
      'PeerDown of live members during the outages': outage.falseDowns,
      [`idle requests per member per second (TTL ${IDLE_TTL_MS} ms, sync every 5000 ms)`]: round(perMember, 3),
    };
  } finally {
    await Promise.all(all.map((m) => m.kill('SIGKILL')));
    await server.stop();
  }
}

const FAILOVER_TRIALS = 5;
const FAILOVER_TTL_MS = 3000;

/** One failover under three members; what it cost. */
async function failover(trial: number) {
  const group = await SentinelGroup.start();
  try {
    const env = {
      STORE_PREFIX: `failover${trial}`,
      SYNC_MS: '1000',
      STORE_SENTINELS: group.clientOptions.sentinels.map((s) => `${s.host}:${s.port}`).join(','),
      STORE_SENTINEL_NAME: group.clientOptions.name,
    };
    const members = ['a', 'b', 'c'].map((name) => new StoreMember(name, 'redis', 'redis://sentinel-managed', FAILOVER_TTL_MS, env));
    all.push(...members);
    const [a, b, c] = members as [StoreMember, StoreMember, StoreMember];
    await Promise.all(members.map((m) => m.ready(30_000)));
    await eventually(() => members.every((m) => members.every((o) => o === m || at(m, 'PeerUp', o.name) !== undefined)), 30_000, 'cluster formed');
    await eventually(() => members.every((m) => m.healthPath().at(-1) === 'Up'), 30_000, 'all Up');

    b.send('meta v=before-kill');
    await eventually(() => b.lines.some((l) => l.type === 'setMetadata'), 5000, 'b changed');
    const killedAt = Date.now();
    await group.primary.kill();
    c.send('meta v=during-failover');
    await group.promoted();
    const promotedAt = Date.now();
    const healthAfter = (m: StoreMember, since: number, up: boolean) =>
      m.lines.find((l) => l.type === 'health' && l.at >= since && (l.status === 'Up') === up)?.at;
    await eventually(() => members.every((m) => healthAfter(m, killedAt, false) !== undefined), 30_000, 'all left Up');
    await eventually(() => members.every((m) => healthAfter(m, healthAfter(m, killedAt, false)!, true) !== undefined), 60_000, 'all Up again');
    // Beyond a TTL and a refresh interval: whatever was going to arrive has.
    await new Promise((r) => setTimeout(r, FAILOVER_TTL_MS + 2000));
    const saw = (m: StoreMember, peer: string, v: string) =>
      m.lines.filter((l) => l.type === 'PeerUpdate' && l.peer === peer && (l.metadata as Record<string, string>).v === v).length;
    const expected: [StoreMember, string, string][] = [[a, 'b', 'before-kill'], [c, 'b', 'before-kill'], [a, 'c', 'during-failover'], [b, 'c', 'during-failover']];
    const degraded = members.map((m) => {
      const left = healthAfter(m, killedAt, false)!;
      return healthAfter(m, left, true)! - left;
    });
    return {
      promotionMs: promotedAt - killedAt,
      degradedMs: degraded,
      upAgainMs: Math.max(...members.map((m) => healthAfter(m, healthAfter(m, killedAt, false)!, true)!)) - killedAt,
      lost: expected.filter(([m, peer, v]) => saw(m, peer, v) === 0).length,
      repeated: expected.reduce((sum, [m, peer]) => sum + Math.max(0, m.count('PeerUpdate', peer) - 1), 0),
      falseDowns: members.reduce((sum, m) => sum + m.count('PeerDown'), 0),
    };
  } finally {
    await Promise.all(all.splice(0).map((m) => m.kill('SIGKILL')));
    await group.stop();
  }
}

async function failovers() {
  const trials = [];
  for (let t = 0; t < FAILOVER_TRIALS; t++) trials.push(await failover(t));
  return {
    members: 3,
    ttlMs: FAILOVER_TTL_MS,
    'sentinel down-after-milliseconds': 1000,
    'primary SIGKILL to replica promoted': summary(trials.map((t) => t.promotionMs)),
    'time Degraded or Down per member (health not Up)': summary(trials.flatMap((t) => t.degradedMs)),
    'primary SIGKILL to health Up at all': summary(trials.map((t) => t.upAgainMs)),
    'changes lost (one before the kill, one during the failover, at the two others each)': trials.reduce((sum, t) => sum + t.lost, 0),
    'changes reported more than once': trials.reduce((sum, t) => sum + t.repeated, 0),
    'PeerDown of live members': trials.reduce((sum, t) => sum + t.falseDowns, 0),
  };
}

const COMMAND = 'npm run build && node --import tsx bench/stores.ts';

async function main() {
  let figures: Record<string, unknown>;
  let command = COMMAND;
  if (process.argv[2] === 'failover') {
    // Only the Sentinel figures: the others stay as their last full run wrote them.
    const previous = JSON.parse(readFileSync(join(resultsDir, 'stores.json'), 'utf8')) as { date: string; figures: Record<string, unknown> };
    figures = { ...previous.figures, 'redis-sentinel': await failovers() };
    command = `${COMMAND} failover (etcd and redis figures from the full run of ${previous.date})`;
  } else {
    figures = { etcd: await bench('etcd'), redis: await bench('redis'), 'redis-sentinel': await failovers() };
  }
  const file = writeResults('stores', command, figures);
  console.log(JSON.stringify(figures, null, 2));
  console.log(`written to ${file}`);
}

main().catch(async (error) => {
  await Promise.all(all.map((m) => m.kill('SIGKILL')));
  console.error(error);
  process.exit(1);
});
