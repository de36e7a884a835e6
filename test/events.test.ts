/** Event delivery: order, isolation, async callbacks, replay, iterators, hooks, stop. */
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { Writable } from 'node:stream';
import * as discovery from 'distribute/discovery';
import type { DiscoveryEvent } from 'distribute/discovery';
import { collector, controlledAdapter, eventually, peer, sleep, unwrap } from './support/index.js';

afterEach(async () => {
  await discovery.stop(2000);
});

async function start(extra: Partial<discovery.DiscoveryOptions> = {}) {
  const { adapter, control } = controlledAdapter();
  unwrap(await discovery.startLink({ adapter, nodeId: 'self', ...extra }));
  return control;
}

function captureLogs() {
  const records: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return { records, logger: pino({ level: 'debug' }, stream) };
}

describe('event delivery', () => {
  it('delivers events to each subscriber in order, never inside the transition', async () => {
    const control = await start();
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback));
    for (let i = 0; i < 200; i++) control.up(peer(`p${i}`));
    // Nothing has run yet: callbacks are asynchronous.
    expect(seen.events).toHaveLength(0);
    await eventually(() => seen.events.length === 200);
    expect(seen.summary()).toEqual(Array.from({ length: 200 }, (_, i) => `PeerUp:p${i}`));
  });

  it('isolates a throwing callback: it is logged, the others and later events go on', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger });
    const good = collector();
    let thrown = 0;
    unwrap(
      discovery.subscribe(() => {
        thrown++;
        throw new Error('subscriber bug');
      }),
    );
    unwrap(discovery.subscribe(good.callback));
    control.up(peer('a'), peer('b'));
    await eventually(() => good.events.length === 2 && thrown === 2);
    expect(records.filter((r) => r.msg === 'Subscriber callback failed')).toHaveLength(2);
    expect(discovery.health().type).not.toBe('Down');
  });

  it('awaits a callback that returns a promise before its next event', async () => {
    const control = await start();
    const log: string[] = [];
    unwrap(
      discovery.subscribe(async (event) => {
        log.push(`start ${event.peer.id}`);
        await sleep(20);
        log.push(`end ${event.peer.id}`);
      }),
    );
    control.up(peer('a'), peer('b'), peer('c'));
    await eventually(() => log.length === 6);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('replays current peers first, then live events, nothing missed or doubled', async () => {
    const control = await start();
    control.up(peer('a'), peer('b'));
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback, { replay: true }));
    control.up(peer('c'));
    control.down('a');
    await eventually(() => seen.events.length === 4);
    await sleep(20);
    const summary = seen.summary();
    // The replayed peers come first (in table order), then the live events in order.
    expect(summary.slice(0, 2).sort()).toEqual(['PeerUp:a', 'PeerUp:b']);
    expect(summary.slice(2)).toEqual(['PeerUp:c', 'PeerDown:a']);
  });

  it('offers events as an async iterator', async () => {
    const control = await start();
    control.up(peer('a'));
    const stream = unwrap(discovery.events({ replay: true }));
    control.up(peer('a', { v: '2' }));
    control.down('a', { type: 'Failed', message: 'gone' });
    const got: DiscoveryEvent[] = [];
    for await (const event of stream) {
      got.push(event);
      if (got.length === 3) break;
    }
    expect(got.map((e) => e.type)).toEqual(['PeerUp', 'PeerUpdate', 'PeerDown']);
    const update = got[1]!;
    expect(update.type === 'PeerUpdate' && update.previous.metadata).toEqual({});
    const down = got[2]!;
    expect(down.type === 'PeerDown' && down.reason).toEqual({ type: 'Failed', message: 'gone' });
  });

  it('ends an iterator when the adapter stops', async () => {
    await start();
    const stream = unwrap(discovery.events());
    const next = stream.next();
    unwrap(await discovery.stop());
    expect(await next).toEqual({ value: undefined, done: true });
  });

  it('calls the onPeerUp hook for every PeerUp', async () => {
    const ups: string[] = [];
    const control = await start({ onPeerUp: (p) => ups.push(p.id) });
    control.up(peer('a'), peer('b'));
    control.down('a');
    await eventually(() => ups.length === 2);
    expect(ups).toEqual(['a', 'b']);
  });

  it('delivers nothing once stop() has resolved', async () => {
    const control = await start();
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback));
    control.up(peer('a'));
    const stopping = discovery.stop();
    // Changes reported while leaving may still arrive before stop resolves...
    control.up(peer('b'));
    unwrap(await stopping);
    const count = seen.events.length;
    await sleep(30);
    // ...but none after.
    expect(seen.events.length).toBe(count);
    expect(control.left && control.closed).toBe(true);
  });

  it('an event stream has the hub queue only: not read for maxPendingAgeMs, it is cut off and says so', async () => {
    const control = await start();
    const stream = unwrap(discovery.events({ maxPendingAgeMs: 50 }));
    control.up(peer('p1'), peer('p2'));
    await sleep(120);
    control.up(peer('p3'));
    // The event handed over before the cut-off is still read; then the stream fails with the reason.
    expect(await stream.next()).toMatchObject({ done: false, value: { type: 'PeerUp', peer: { id: 'p1' } } });
    await expect(stream.next()).rejects.toThrow(/fell too far behind/);
  });

  it('cuts off a subscriber that falls too far behind, and only it', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger });
    const fast = collector();
    unwrap(discovery.subscribe(() => new Promise<void>(() => {}), { maxPending: 10 }));
    unwrap(discovery.subscribe(fast.callback));
    for (let i = 0; i < 50; i++) control.up(peer(`p${i}`));
    await eventually(() => fast.events.length === 50);
    expect(records.some((r) => r.msg === 'Subscriber cut off: it fell too far behind')).toBe(true);
    expect(discovery.health().type).not.toBe('Down');
  });

  it('cuts off a slow subscriber once it is maxPendingAgeMs behind, with the backlog it had; a fast one takes a burst', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger });
    const fast = collector();
    let handled = 0;
    unwrap(discovery.subscribe(() => sleep(20).then(() => void handled++), { maxPendingAgeMs: 200 }));
    unwrap(discovery.subscribe(fast.callback));
    // A burst as a join to a large cluster gives, then a steady stream faster than 20 ms an event.
    for (let i = 0; i < 2000; i++) control.up(peer(`burst${i}`));
    for (let i = 0; i < 20; i++) {
      control.up(peer(`p${i}`));
      await sleep(10);
    }
    await eventually(() => fast.events.length === 2020, 10_000);
    const cut = records.find((r) => r.msg === 'Subscriber cut off: it fell too far behind');
    expect(cut).toMatchObject({ maxPendingAgeMs: 200 });
    expect(cut!.oldestWaitedMs as number).toBeGreaterThan(200);
    expect(handled).toBeLessThan(2000);
    expect(records.filter((r) => r.msg === 'Subscriber cut off: it fell too far behind')).toHaveLength(1);
  });

  it('cuts off a stuck subscriber whose oldest waiting event is older than maxPendingAgeMs, however short its queue', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger });
    unwrap(discovery.subscribe(() => new Promise<void>(() => {}), { maxPendingAgeMs: 100 }));
    control.up(peer('a'));
    control.up(peer('b'));
    await sleep(150);
    expect(records.some((r) => r.msg === 'Subscriber cut off: it fell too far behind')).toBe(false);
    control.up(peer('c'));
    const cut = records.find((r) => r.msg === 'Subscriber cut off: it fell too far behind');
    expect(cut).toMatchObject({ pending: 1, maxPendingAgeMs: 100 });
    expect(cut!.oldestWaitedMs as number).toBeGreaterThan(100);
    expect(discovery.subscribe(() => {}, { maxPendingAgeMs: 0 })).toMatchObject({ ok: false, error: { type: 'SubscriptionFailed' } });
  });

  it('logs a subscriber that throws on every event at the 1st, 2nd, 4th, 8th… failure, counting the rest', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger });
    const fast = collector();
    unwrap(
      discovery.subscribe(() => {
        throw new Error('broken subscriber');
      }),
    );
    unwrap(discovery.subscribe(fast.callback));
    for (let i = 0; i < 100; i++) control.up(peer(`p${i}`));
    await eventually(() => fast.events.length === 100);
    await sleep(20);
    const lines = records.filter((r) => r.msg === 'Subscriber callback failed');
    expect(lines.map((r) => r.failures)).toEqual([1, 2, 4, 8, 16, 32, 64]);
    expect(lines.map((r) => r.suppressed)).toEqual([0, 0, 1, 3, 7, 15, 31]);
  });

  it('sends PeerUpdate with the new metadata when a peer changes it', async () => {
    const a = discovery.memoryAdapter({ group: 'meta' });
    unwrap(await discovery.startLink({ adapter: a, nodeId: 'a' }));
    const seen = collector();
    unwrap(discovery.subscribe(seen.callback));
    const b = discovery.bind({ name: 'b' });
    unwrap(await discovery.startLink({ name: 'b', adapter: a, nodeId: 'b', metadata: { v: '1' } }));
    unwrap(b.setMetadata({ v: '2' }));
    await eventually(() => seen.events.length === 2);
    const update = seen.events[1]!;
    expect(update.type).toBe('PeerUpdate');
    expect(update.peer.metadata).toEqual({ v: '2' });
    expect(unwrap(b.self()).metadata).toEqual({ v: '2' });
    unwrap(await b.stop());
  });
});

describe('logging', () => {
  it('logs sync success and failure and peer events under the telemetry prefix', async () => {
    const { records, logger } = captureLogs();
    const control = await start({ logger, telemetryPrefix: 'disco', syncIntervalMs: 20, retryConfig: { initialDelayMs: 10 } });
    control.up(peer('a'));
    await eventually(() => records.some((r) => r.event === 'disco.sync.success'));
    control.nextSync = async () => {
      throw new Error('store unreachable');
    };
    await eventually(() => records.some((r) => r.event === 'disco.sync.failure'));
    control.lost('socket closed');
    await eventually(() => records.some((r) => r.event === 'disco.adapter.error'));
    expect(records.find((r) => r.event === 'disco.peer_event')).toMatchObject({ type: 'PeerUp', peer: 'a' });
    expect(records.find((r) => r.event === 'disco.sync.failure')).toMatchObject({
      error: { type: 'SyncFailed', message: 'store unreachable' },
    });
  });
});
