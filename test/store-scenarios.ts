/**
 * What every store adapter must do, run against a real server the suite
 * started: three member processes seeing each other, metadata, leave, crash,
 * and a store outage with recovery.
 */
import { afterAll, afterEach, expect } from 'vitest';
import { killAll } from './support/cli.js';
import { stopInProcess } from './store-inproc.js';
import { eventually, sleep, unwrap } from './support/index.js';
import { defaultAdapterName, startLink, type Adapter } from 'distribute/discovery';
import type { inProcessMember } from './store-inproc.js';
import { StoreMember } from './store-members.js';

export interface StoreUnderTest {
  readonly kind: 'etcd' | 'redis';
  readonly url: string;
  readonly ttlMs: number;
}

let run = 0;
const uniquePrefix = () => `t${process.pid}x${++run}`;

async function startMembers(store: StoreUnderTest, names: string[], prefix: string): Promise<StoreMember[]> {
  const members = names.map((name) => new StoreMember(name, store.kind, store.url, store.ttlMs, { STORE_PREFIX: prefix }));
  await Promise.all(members.map((m) => m.ready()));
  for (const m of members) {
    for (const other of members) {
      if (other !== m) await m.waitFor(() => m.count('PeerUp', other.name) === 1, `PeerUp ${other.name}`);
    }
  }
  return members;
}

/** Three members: all see each other, metadata is PeerUpdate, SIGTERM is Left, SIGKILL is Failed after the TTL. */
export async function threeMembers(store: StoreUnderTest): Promise<void> {
  const [a, b, c] = await startMembers(store, ['a', 'b', 'c'], uniquePrefix());

  a!.send('meta role=web');
  for (const m of [b!, c!]) {
    await m.waitFor(() => m.lines.some((l) => l.type === 'PeerUpdate' && l.peer === 'a' && (l.metadata as Record<string, string>).role === 'web'), 'PeerUpdate a');
  }

  await c!.kill('SIGTERM');
  expect(c!.lines.find((l) => l.type === 'stopped')).toMatchObject({ ok: true });
  for (const m of [a!, b!]) await m.waitFor(() => m.count('PeerDown', 'c', 'Left') === 1, 'PeerDown c Left');

  const killedAt = await b!.kill('SIGKILL');
  await a!.waitFor(() => a!.count('PeerDown', 'b', 'Failed') === 1, 'PeerDown b Failed', store.ttlMs + 15_000);
  const seenAfter = a!.lines.find((l) => l.type === 'PeerDown' && l.peer === 'b')!.at - killedAt;
  // Not a timing assertion: a crash must not be taken for a leave, nor be seen before the entry could expire.
  expect(seenAfter).toBeGreaterThan(store.ttlMs / 2);

  await sleep(300);
  expect(a!.count('PeerDown')).toBe(2);
  expect(a!.count('PeerUp')).toBe(2);
  expect(a!.count('PeerUpdate')).toBe(0);
  expect(b!.count('PeerUpdate', 'a')).toBe(1);
}

/**
 * The store goes away mid-run: health Degraded then Down with no PeerDown;
 * a member killed meanwhile is reported down once after `restart`; the
 * members alive throughout are never reported down; health is Up again.
 */
export async function outage(store: StoreUnderTest, kill: () => Promise<void>, restart: () => Promise<void>): Promise<void> {
  const [a, b, c] = await startMembers(store, ['a', 'b', 'c'], uniquePrefix());
  const survivors = [a!, b!];
  for (const m of survivors) await m.waitFor(() => m.healthPath().at(-1) === 'Up', 'health Up');
  const before = survivors.map((m) => m.lines.length);

  await kill();
  for (const m of survivors) await m.waitFor(() => m.healthPath().at(-1) === 'Down', 'health Down');
  await c!.kill('SIGKILL');
  // Longer than the TTL: nobody may be declared down on a store that is away.
  await sleep(store.ttlMs + 500);
  survivors.forEach((m, i) => {
    const during = m.lines.slice(before[i]);
    const path = during.filter((l) => l.type === 'health').map((l) => l.status);
    expect(path.slice(0, 2), `${m.name} health during the outage`).toEqual(['Degraded', 'Down']);
    expect(during.filter((l) => l.type === 'PeerDown'), `${m.name} PeerDown during the outage`).toEqual([]);
  });

  await restart();
  for (const m of survivors) {
    await m.waitFor(() => m.healthPath().at(-1) === 'Up', 'health Up again', 30_000);
    await m.waitFor(() => m.count('PeerDown', 'c') === 1, 'PeerDown c once', store.ttlMs + 20_000);
  }
  // A further TTL and a reconcile or two: nothing else may happen.
  await sleep(store.ttlMs + 1500);
  for (const m of survivors) {
    expect(m.count('PeerDown', 'c'), `${m.name}: c reported down once`).toBe(1);
    expect(m.lines.find((l) => l.type === 'PeerDown' && l.peer === 'c')!.reason).toBe('Failed');
    const other = m === a ? 'b' : 'a';
    expect(m.count('PeerDown', other), `${m.name} never reports ${other} down`).toBe(0);
    expect(m.count('PeerUp', other), `${m.name} saw ${other} come up once`).toBe(1);
    expect(m.healthPath().at(-1)).toBe('Up');
  }
}

type Step = 'setMetadata' | 'sync' | 'stop';
const ORDERS: Step[][] = [
  ['setMetadata', 'sync', 'stop'],
  ['setMetadata', 'stop', 'sync'],
  ['sync', 'setMetadata', 'stop'],
  ['sync', 'stop', 'setMetadata'],
  ['stop', 'setMetadata', 'sync'],
  ['stop', 'sync', 'setMetadata'],
];

/**
 * `setMetadata`, a sync and `stop` sent back to back, in every order: the
 * observer sees the member leave (Left) and never come back as a ghost.
 */
export async function commandOrders(member: (id: string) => ReturnType<typeof inProcessMember>, ttlMs: number): Promise<void> {
  const observer = await member('observer');
  for (const [i, order] of ORDERS.entries()) {
    const id = `x${i}`;
    const x = await member(id);
    await eventually(() => observer.peers().includes(id), 10_000, `observer sees ${id}`);
    let stopped: Promise<unknown> = Promise.resolve();
    for (const step of order) {
      if (step === 'setMetadata') x.facade.setMetadata({ step: 'late' });
      if (step === 'sync') x.handle.actor.send({ type: 'sync' });
      if (step === 'stop') stopped = x.handle.stop();
    }
    await stopped;
    await eventually(() => !observer.peers().includes(id), 5000, `${id} gone at the observer`);
  }
  await sleep(ttlMs + 1000);
  const summary = observer.events.summary();
  for (const [i] of ORDERS.entries()) {
    const about = observer.events.events.filter((e) => e.peer.id === `x${i}`);
    const down = about.findIndex((e) => e.type === 'PeerDown');
    expect(down, `x${i}: ${JSON.stringify(summary)}`).toBeGreaterThan(0);
    expect(about.slice(down), `x${i}: nothing after the leave`).toHaveLength(1);
    expect(about[down]).toMatchObject({ type: 'PeerDown', reason: { type: 'Left' } });
  }
  expect(observer.peers()).toEqual([]);
}

/** Every health change of an in-process member, with the count of failed syncs when it happened. */
export function healthLog(member: Awaited<ReturnType<typeof inProcessMember>>) {
  const log: { type: string; reason: string; syncFailures: number }[] = [];
  const record = () => {
    const health = member.facade.health();
    const reason = 'reason' in health ? health.reason : '';
    const last = log.at(-1);
    if (last?.type === health.type && last.reason === reason) return;
    const metrics = member.facade.metrics();
    log.push({ type: health.type, reason, syncFailures: metrics.ok ? metrics.value.syncFailures : -1 });
  };
  record();
  const subscription = member.handle.actor.subscribe(record);
  return { log, stop: () => subscription.unsubscribe() };
}

/**
 * The connection that carries a member's feed of changes (etcd watch, Redis
 * pub/sub) is cut while no sync is due: health turns Degraded at once with
 * the reason, before any sync failed; the others change meanwhile; once the
 * connection is back the member reports exactly those changes, and is Up.
 */
export async function feedCut(
  member: (id: string, viaProxy: boolean) => ReturnType<typeof inProcessMember>,
  proxy: { cut(): void; restore(): void },
  reason: RegExp,
): Promise<void> {
  // No periodic sync for a: only the broken feed can make it leave Up.
  const a = await member('a', true);
  const b = await member('b', false);
  await eventually(() => a.peers().join() === 'b' && a.facade.health().type === 'Up', 10_000, 'a sees b, Up');
  const seen = a.events.events.length;
  const health = healthLog(a);
  try {
    proxy.cut();
    await eventually(() => health.log.some((h) => h.type !== 'Up'), 10_000, 'a leaves Up');
    const first = health.log.find((h) => h.type !== 'Up')!;
    expect(first.type).toBe('Degraded');
    expect(first.reason).toMatch(reason);
    expect(first.syncFailures, 'Degraded before any sync failed').toBe(health.log[0]!.syncFailures);

    unwrap(b.facade.setMetadata({ role: 'db' }));
    const c = await member('c', false);
    await eventually(() => c.peers().join() === 'a,b', 10_000, 'c sees a and b');
    proxy.restore();
    await eventually(() => a.peers().join() === 'b,c' && a.facade.health().type === 'Up', 20_000, 'a sees b and c, Up again');
    // Redis takes changes to known members from a list only a refresh interval after a reconnect.
    const bChanged = () => {
      const b = a.facade.lookup('b');
      return b.ok && b.value.metadata.role === 'db';
    };
    await eventually(bChanged, 10_000, "a sees b's change");
    await sleep(1000);
    expect(a.events.events.slice(seen).map((e) => `${e.type}:${e.peer.id}`).sort()).toEqual(['PeerUp:c', 'PeerUpdate:b']);
  } finally {
    health.stop();
  }
}

/** Two members meet; one changes its metadata, then leaves: the other sees each step and stays Up. */
export async function meetChangeLeave(member: (id: string) => ReturnType<typeof inProcessMember>): Promise<void> {
  const a = await member('a');
  const b = await member('b');
  await eventually(() => a.peers().join() === 'b' && b.peers().join() === 'a', 10_000, 'a and b meet');
  unwrap(b.facade.setMetadata({ role: 'db' }));
  await eventually(() => a.events.summary().includes('PeerUpdate:b'), 5000, 'a sees b change');
  unwrap(await b.handle.stop());
  await eventually(() => a.peers().length === 0, 5000, 'b gone at a');
  expect(a.events.events.at(-1)).toMatchObject({ type: 'PeerDown', peer: { id: 'b' }, reason: { type: 'Left' } });
  expect(a.facade.health().type).toBe('Up');
}

/** Starts a member that must be refused, and returns its StartFailed message. */
export async function startFailure(id: string, adapter: Adapter): Promise<string> {
  const result = await startLink({ name: `refused-${id}`, nodeId: id, adapter });
  expect(result.ok).toBe(false);
  if (result.ok) return '';
  expect(result.error.type).toBe('StartFailed');
  return result.error.message;
}

/** A TLS failure against the certificate check, at `where`. */
export function expectCertificateRefusal(message: string, where: string): void {
  expect(message).toMatch(/TLS/);
  expect(message).toMatch(/certificate/i);
  expect(message).toContain(where);
}

/** Registers the clean-up of a suite with a server, a proxy and certificates: members after each test, the rest after all. */
export function cleanUpSuite(resources: () => { proxy?: { close(): Promise<void> }; server?: { stop(): Promise<void> }; certs?: { remove(): void } }): void {
  afterEach(async () => {
    await stopInProcess();
    await killAll();
  });
  afterAll(async () => {
    const { proxy, server, certs } = resources();
    await Promise.all([proxy?.close(), server?.stop()]);
    certs?.remove();
  });
}

/** Options of a member of the secured stores' suites: the user `member` with its password, under the prefix `secure`. */
export const securedMemberOptions = (id: string, ttlMs: number) => ({
  prefix: 'secure',
  cluster: defaultAdapterName,
  ttlMs,
  requestTimeoutMs: 1000,
  address: `${id}.test:1`,
  auth: { username: 'member', password: 'sesame' },
});

/**
 * After a start failure, the client's connections (counted by `count`) stop:
 * none for `quietMs` within 15 s, and at most `allowed` more since the
 * failure; a client that kept retrying never goes quiet.
 */
export async function expectConnectionsStop(count: () => number, allowed: number, quietMs = 2000): Promise<void> {
  const atFailure = count();
  const deadline = Date.now() + 15_000;
  let last = count();
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    if (Date.now() > deadline) throw new Error(`connections never stopped: ${count() - atFailure} since the failure`);
    await sleep(100);
    if (count() !== last) [last, quietSince] = [count(), Date.now()];
  }
  expect(last - atFailure, 'connections after the failure').toBeLessThanOrEqual(allowed);
}
