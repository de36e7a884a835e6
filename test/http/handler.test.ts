/** The HTTP handler over real HTTP: every route, the event stream, /metrics, bad input. */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, Agent, type Server } from 'node:http';
import { connect } from 'node:net';
import * as discovery from 'distribute/discovery/internals';
import { lookupRegistration } from '../../src/discovery/registry.js';
import { collector, controlledAdapter, eventually, peer, sleep, unwrap } from '../support/index.js';
import { parsePrometheus, sampleValue } from './prometheus.js';
import { openSse, type SseClient } from './sse.js';
import { rawExchange, statusOf } from '../control/raw.js';

const servers = new Set<Server>();
const clients = new Set<SseClient>();

afterEach(async () => {
  for (const client of clients) client.close();
  clients.clear();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  servers.clear();
  await discovery.stop(2000);
});

async function serve(options: discovery.HttpHandlerOptions = {}): Promise<string> {
  const server = createServer(discovery.httpHandler(options));
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

async function start(extra: Partial<discovery.DiscoveryOptions> = {}) {
  const { adapter, control } = controlledAdapter();
  unwrap(await discovery.startLink({ adapter, nodeId: 'self', metadata: { role: 'test' }, ...extra }));
  await eventually(() => discovery.health().type === 'Up', 5000, 'Up');
  return control;
}

function sse(url: string, options: { token?: string; agent?: Agent } = {}): SseClient {
  const client = openSse(url, options);
  clients.add(client);
  return client;
}

describe('httpHandler routes', () => {
  it('serves the page and its files, without a token, as HTML, JavaScript and CSS', async () => {
    await start();
    const base = await serve({ token: 'sesame' });
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('<script type="module" src="app.js">');
    // Nothing from elsewhere: every script and stylesheet is one of ours.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const js = await fetch(`${base}/app.js`);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const css = await fetch(`${base}/app.css`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    const worker = await fetch(`${base}/elk-worker.js`);
    expect(worker.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
  });

  it('answers /v1/health 200 when Up and 503 with the reason otherwise, as JSON', async () => {
    const base = await serve();
    const none = await fetch(`${base}/v1/health`);
    expect(none.status).toBe(503);
    expect(await none.json()).toEqual({ type: 'Down', reason: 'Discovery process not found', state: 'stopped' });

    const control = await start();
    const up = await fetch(`${base}/v1/health`);
    expect(up.status).toBe(200);
    expect(up.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await up.json()).toEqual({ type: 'Up', state: 'up' });

    control.lost('store unreachable');
    await eventually(() => discovery.health().type === 'Down', 5000, 'Down');
    const down = await fetch(`${base}/v1/health`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ type: 'Down', reason: 'store unreachable', state: 'down' });
  });

  it('serves the member table with suspect status, the metrics as JSON and the statechart', async () => {
    const control = await start();
    control.up(peer('b', { zone: 'x' }), peer('c'));
    control.suspect('c');
    await eventually(() => unwrap(discovery.snapshot()).some((p) => p.status === 'suspect'), 5000, 'c suspect');
    const base = await serve();
    const members = await (await fetch(`${base}/v1/members`)).json();
    expect(members).toEqual([
      { name: 'self', address: null, status: 'alive', metadata: { role: 'test' } },
      { name: 'b', address: null, status: 'alive', metadata: { zone: 'x' } },
      { name: 'c', address: null, status: 'suspect', metadata: {} },
    ]);
    const metrics = (await (await fetch(`${base}/v1/metrics`)).json()) as { metrics: discovery.DiscoveryMetrics };
    expect(metrics.metrics.eventsByType).toEqual({ PeerUp: 2, PeerUpdate: 0, PeerDown: 0 });
    const chart = (await (await fetch(`${base}/v1/statechart`)).json()) as discovery.Statechart;
    expect(chart.states.map((s) => s.id)).toEqual(['starting', 'up', 'degraded', 'down', 'stopping', 'stopped']);
    expect(chart.transitions).toContainEqual(expect.objectContaining({ from: 'starting', to: 'degraded', events: ['backend.ready'] }));
    expect(chart.transitions).toContainEqual(expect.objectContaining({ from: 'stopping', to: 'stopped' }));
    // The quorum's eventless transitions are drawn by their guards.
    // The quorum's guard shares the edge to degraded with a broken store feed.
    expect(chart.transitions).toContainEqual({ from: 'up', to: 'degraded', events: ['backend.interrupted', '[belowQuorum]'] });
    expect(chart.transitions).toContainEqual({ from: 'degraded', to: 'up', events: ['[quorumReached]'] });
  });

  it('serves /metrics in Prometheus text format under the telemetry prefix', async () => {
    const control = await start({ telemetryPrefix: 'my-app' });
    control.up(peer('b'), peer('c'), peer('d'));
    control.suspect('d');
    control.up(peer('b', { v: '2' }));
    control.down('c', { type: 'Failed', message: 'gone' });
    await eventually(() => unwrap(discovery.metrics()).eventsEmitted === 5, 5000, 'five events');
    const base = await serve();
    const response = await fetch(`${base}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const families = parsePrometheus(await response.text());
    expect(sampleValue(families, 'my_app_up')).toBe(1);
    expect(sampleValue(families, 'my_app_members', { status: 'alive' })).toBe(1);
    expect(sampleValue(families, 'my_app_members', { status: 'suspect' })).toBe(1);
    expect(sampleValue(families, 'my_app_health', { state: 'up' })).toBe(1);
    expect(sampleValue(families, 'my_app_health', { state: 'down' })).toBe(0);
    expect(families.get('my_app_events_total')?.type).toBe('counter');
    expect(sampleValue(families, 'my_app_events_total', { type: 'PeerUp' })).toBe(3);
    expect(sampleValue(families, 'my_app_events_total', { type: 'PeerUpdate' })).toBe(1);
    expect(sampleValue(families, 'my_app_events_total', { type: 'PeerDown' })).toBe(1);
    expect(sampleValue(families, 'my_app_syncs_total')).toBeGreaterThanOrEqual(1);
    expect(sampleValue(families, 'my_app_sync_failures_total')).toBe(0);
    expect(sampleValue(families, 'my_app_sync_duration_seconds_total')).toBeGreaterThan(0);
    expect(sampleValue(families, 'my_app_last_sync_duration_seconds')).toBeGreaterThan(0);
    // The controlled backend is no gossip: those families are there, without samples.
    expect(families.get('my_app_gossip_packets_total')?.samples).toEqual([]);
  });

  it('answers 404 for unknown routes and 405 for other methods, as JSON', async () => {
    await start();
    const base = await serve();
    for (const path of ['/nope', '/v1', '/v1/events/x', '/metrics/', '/../etc/passwd']) {
      const response = await fetch(`${base}${path}`);
      expect(response.status, path).toBe(404);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    }
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      for (const path of ['/', '/v1/health', '/metrics', '/v1/events']) {
        const response = await fetch(`${base}${path}`, { method });
        expect(response.status, `${method} ${path}`).toBe(405);
        expect(response.headers.get('allow')).toBe('GET, HEAD');
      }
    }
    expect(discovery.health().type).toBe('Up');
  });

  it('requires the token on every route but the page files and health; the page signs in for an HttpOnly, SameSite=Strict cookie', async () => {
    await start();
    const base = await serve({ token: 'sesame' });
    for (const path of ['/v1/members', '/metrics', '/v1/metrics', '/v1/statechart', '/v1/events']) {
      expect((await fetch(`${base}${path}`)).status, path).toBe(401);
      expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong' } })).status, path).toBe(401);
      // The token is never read from the request line, where logs would keep it.
      expect((await fetch(`${base}${path}?token=sesame`)).status, path).toBe(401);
    }
    // Probes need no token.
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
    expect((await fetch(`${base}/v1/members`, { headers: { authorization: 'Bearer sesame' } })).status).toBe(200);

    const json = { 'content-type': 'application/json' };
    expect((await fetch(`${base}/v1/login`, { method: 'POST', headers: json, body: '{"token":"wrong"}' })).status).toBe(401);
    expect((await fetch(`${base}/v1/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"token":"sesame"}' })).status).toBe(415);
    const signedIn = await fetch(`${base}/v1/login`, { method: 'POST', headers: json, body: '{"token":"sesame"}' });
    expect(signedIn.status).toBe(200);
    const cookie = signedIn.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^distribute_[0-9a-f]{12}=[\w-]+; Path=\/; HttpOnly; SameSite=Strict$/);
    expect(cookie).not.toContain('sesame');
    const session = cookie.split(';')[0]!;
    expect((await fetch(`${base}/v1/members`, { headers: { cookie: session } })).status).toBe(200);
    expect((await fetch(`${base}/v1/members`, { headers: { cookie: `${session.split('=')[0]}=forged` } })).status).toBe(401);
    const stream = sse(`${base}/v1/events`, { token: 'sesame' });
    expect(await stream.status).toBe(200);
    await stream.waitFor(1);
    expect(stream.events[0]!.event).toBe('Health');
  });

  it('refuses a foreign Host (421) and a foreign Origin (403) before any route, unless the user allowed them', async () => {
    await start();
    const base = await serve({ token: 'sesame' });
    const { port } = new URL(base);
    const ask = (headers: Record<string, string>, path = '/v1/health') => rawExchange(Number(port), `GET ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    expect(statusOf(await ask({ Host: `evil.example:${port}` }))).toBe(421);
    expect(statusOf(await ask({ Host: `evil.example:${port}` }, '/'))).toBe(421);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `app.localhost:${port}`, `[::1]:${port}`, `10.1.2.3:${port}`]) {
      expect(statusOf(await ask({ Host: host })), host).toBe(200);
    }
    expect(statusOf(await ask({ Host: `127.0.0.1:${port}`, Origin: 'http://evil.example' }))).toBe(403);
    expect(statusOf(await ask({ Host: `127.0.0.1:${port}`, Origin: 'null' }))).toBe(403);
    expect(statusOf(await ask({ Host: `127.0.0.1:${port}`, Origin: `http://127.0.0.1:${port}` }))).toBe(200);
    for (const target of ['//[', 'http://[', '//a:99999', '//%zz']) {
      const answer = await rawExchange(Number(port), `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      expect(statusOf(answer), target).toBe(400);
    }

    const allowing = await serve({ token: 'sesame', allowedHosts: ['ops.example.com'], allowedOrigins: ['https://ops.example.com'] });
    const allowedPort = Number(new URL(allowing).port);
    const askAllowing = (headers: string) => rawExchange(allowedPort, `GET /v1/health HTTP/1.1\r\n${headers}\r\n`);
    expect(statusOf(await askAllowing(`Host: ops.example.com\r\nOrigin: https://ops.example.com\r\n`))).toBe(200);
    expect(statusOf(await askAllowing(`Host: OPS.example.com:${allowedPort}\r\n`))).toBe(200);
    expect(statusOf(await askAllowing(`Host: other.example.com\r\n`))).toBe(421);
  });

  it('answers event streams beyond maxStreams with 503 and Retry-After, and serves again when one closes', async () => {
    await start();
    const base = await serve({ maxStreams: 2 });
    const first = sse(`${base}/v1/events`);
    const second = sse(`${base}/v1/events`);
    expect([await first.status, await second.status]).toEqual([200, 200]);
    const refused = await fetch(`${base}/v1/events`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
    first.close();
    // The slot frees when the server sees the close: try until a stream is served.
    let third = sse(`${base}/v1/events`);
    for (let attempt = 0; (await third.status) !== 200 && attempt < 100; attempt++) {
      await sleep(20);
      third = sse(`${base}/v1/events`);
    }
    expect(await third.status).toBe(200);
    await third.waitFor(1);
  });

  it('answers 500 when the members callback throws, and goes on serving', async () => {
    await start();
    const base = await serve({
      members: () => {
        throw new Error('table unavailable');
      },
    });
    const response = await fetch(`${base}/v1/members`);
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({ error: 'table unavailable' });
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
  });

  it('refuses bad options with InvalidConfiguration naming the field', () => {
    const attempt = (options: Record<string, unknown>) => {
      try {
        discovery.httpHandler(options as discovery.HttpHandlerOptions);
        return undefined;
      } catch (error) {
        return (error as discovery.DiscoveryFailure).error;
      }
    };
    expect(attempt({ token: '' })).toMatchObject({ type: 'InvalidConfiguration', field: 'token' });
    expect(attempt({ token: 'a b' })).toMatchObject({ type: 'InvalidConfiguration', field: 'token' });
    expect(attempt({ allowedHosts: ['ops.example.com:443'] })).toMatchObject({ type: 'InvalidConfiguration', field: 'allowedHosts' });
    expect(attempt({ allowedOrigins: ['ops.example.com'] })).toMatchObject({ type: 'InvalidConfiguration', field: 'allowedOrigins' });
    expect(attempt({ maxStreams: 0 })).toMatchObject({ type: 'InvalidConfiguration', field: 'maxStreams' });
    expect(attempt({ maxBufferedBytes: -1 })).toMatchObject({ type: 'InvalidConfiguration', field: 'maxBufferedBytes', value: -1 });
    expect(attempt({ heartbeatMs: 0 })).toMatchObject({ type: 'InvalidConfiguration', field: 'heartbeatMs' });
    expect(attempt({ members: 'x' })).toMatchObject({ type: 'InvalidConfiguration', field: 'members' });
  });
});

describe('the event stream', () => {
  it('sends Health, then the current table as PeerUp, then live events in order', async () => {
    const control = await start();
    control.up(...['p0', 'p1', 'p2', 'p3', 'p4'].map((id) => peer(id)));
    await eventually(() => unwrap(discovery.snapshot()).length === 5, 5000, 'five peers');
    const base = await serve();
    const stream = sse(`${base}/v1/events`);
    expect(await stream.status).toBe(200);
    await stream.waitFor(6);
    const facade = collector();
    unwrap(discovery.subscribe(facade.callback));

    control.up(peer('p5'));
    control.suspect('p3');
    control.up(peer('p1', { v: '2' }));
    control.suspect('p3', false);
    control.down('p2', { type: 'Left' });
    control.down('p4', { type: 'Failed', message: 'gone' });
    await stream.waitFor(12);

    const seen = stream.events.map((e) => `${e.event}:${(e.data.peer as { id?: string } | undefined)?.id ?? e.data.state}`);
    expect(seen[0]).toBe('Health:up');
    expect(stream.events[0]!.data).toMatchObject({ status: { type: 'Up' }, self: { id: 'self' } });
    expect(seen.slice(1, 6).sort()).toEqual(['PeerUp:p0', 'PeerUp:p1', 'PeerUp:p2', 'PeerUp:p3', 'PeerUp:p4']);
    // Live events in the order they happened, suspicion changes among them.
    expect(seen.slice(6)).toEqual(['PeerUp:p5', 'PeerSuspicion:p3', 'PeerUpdate:p1', 'PeerSuspicion:p3', 'PeerDown:p2', 'PeerDown:p4']);
    const suspicions = stream.events.filter((e) => e.event === 'PeerSuspicion').map((e) => (e.data.peer as { status?: string }).status);
    expect(suspicions).toEqual(['suspect', undefined]);
    expect(stream.events.find((e) => e.event === 'PeerDown' && (e.data.peer as { id: string }).id === 'p4')!.data.reason).toEqual({ type: 'Failed', message: 'gone' });
    for (const e of stream.events) expect(typeof e.data.at).toBe('number');
    // Subscribers of the facade never hear of suspicion.
    await eventually(() => facade.events.length === 4, 5000, 'facade events');
    expect(facade.summary()).toEqual(['PeerUp:p5', 'PeerUpdate:p1', 'PeerDown:p2', 'PeerDown:p4']);
  });

  it('sends health changes and ends when the adapter stops', async () => {
    const control = await start();
    const base = await serve();
    const stream = sse(`${base}/v1/events`);
    await stream.waitFor(1);
    control.lost('store unreachable');
    await stream.waitFor(2);
    expect(stream.events[1]).toMatchObject({ event: 'Health', data: { state: 'down', status: { type: 'Down', reason: 'store unreachable' } } });
    unwrap(await discovery.stop(2000));
    await stream.ended;
    // With no adapter, a new stream is refused rather than left hanging.
    expect((await fetch(`${base}/v1/events`)).status).toBe(503);
  });

  it('cuts off a client that never reads, and goes on serving the others', async () => {
    const control = await start();
    const base = await serve({ maxBufferedBytes: 64 * 1024 });
    const { port } = new URL(base);
    const stalled = connect(Number(port), '127.0.0.1');
    stalled.write('GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    // Reads nothing: the kernel buffers fill, then the handler's.
    stalled.pause();
    stalled.on('error', () => undefined);
    const reader = sse(`${base}/v1/events`);
    await reader.waitFor(1);
    const subscribers = () => lookupRegistration(discovery.defaultAdapterName)?.hub.size ?? 0;
    await eventually(() => subscribers() === 2, 5000, 'two stream subscribers');

    const big = 'x'.repeat(4000);
    let sent = 0;
    // Updates of ~4 KB each, in rounds, until the stalled client is dropped (bounded at 1.6 GB).
    // A paused socket does not see its own end, so the cut-off is read on the server's side.
    // Each round stays under the bound, so a client that reads is never behind by more.
    for (let round = 0; subscribers() === 2 && round < 50_000; round++) {
      for (let i = 0; i < 8; i++) control.up(peer('chatty', { big, n: String(sent++) }));
      await sleep(1);
    }
    expect(subscribers()).toBe(1);
    expect(discovery.health().type).toBe('Up');
    // The reading client keeps up with everything.
    await reader.waitFor(1 + sent, 30_000);
    expect(reader.events.at(-1)!.data).toMatchObject({ type: 'PeerUpdate', peer: { metadata: { n: String(sent - 1) } } });
    stalled.destroy();
  });

  it('serves 1,000 clients connecting and leaving at once', async () => {
    const control = await start();
    const base = await serve();
    const agent = new Agent({ maxSockets: Infinity });
    try {
      for (let wave = 0; wave < 2; wave++) {
        const streams = Array.from({ length: 1000 }, () => sse(`${base}/v1/events`, { agent }));
        await Promise.all(streams.map((s) => s.waitFor(1 + wave, 30_000)));
        control.up(peer(`wave${wave}`));
        await Promise.all(streams.map((s) => s.waitFor(2 + wave, 30_000)));
        for (const s of streams) expect(s.events.at(-1)).toMatchObject({ event: 'PeerUp', data: { peer: { id: `wave${wave}` } } });
        for (const s of streams) s.close();
        await eventually(() => (lookupRegistration(discovery.defaultAdapterName)?.hub.size ?? -1) === 0, 10_000, 'every subscriber gone');
      }
      expect(discovery.health().type).toBe('Up');
    } finally {
      agent.destroy();
    }
  });
});
