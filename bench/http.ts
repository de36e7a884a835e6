/**
 * The HTTP handler and the page: `/metrics` scrape time at 1,000 and 10,000
 * members; SSE fan-out to 1,000 clients (events per second, server memory
 * per client); the page's first paint and the time from a metadata change
 * at a member to the page showing it (Debian's chromium, headless).
 *
 *   npm run build && node --expose-gc --import tsx bench/http.ts   (writes bench/results/http.json)
 *
 * `--only requests` measures just the request throughput of the handler as a
 * user mounts it (token, Host and Origin checks included), keep-alive, 32
 * requests in flight: writes bench/results/http-requests.json. `--only
 * metrics` measures just the scrapes: writes bench/results/http-metrics.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, createServer, request, type Server } from 'node:http';
import { join } from 'node:path';
import * as discovery from '../src/discovery.js';
import { defineAdapter, type BackendContext, type PeerInfo } from '../src/discovery.js';
import { browserUnavailable, launchBrowser } from '../test/support/browser.js';
import { freePort, ownAgentDirectory, readLines } from '../test/support/processes.js';
import { eventually } from '../test/support/wait.js';
import { median, quantile, round, timeEach, writeResults } from './support.js';
import { checkBodyLength, checkHost, checkOrigin, Credentials, parseTarget } from '../src/http/guard.js';
import { requestPolicy } from '../src/http/handler.js';

const COMMAND = 'npm run build && node --expose-gc --import tsx bench/http.ts';
const root = join(import.meta.dirname, '..');

function benchAdapter() {
  let context: BackendContext | undefined;
  const adapter = defineAdapter('bench', async (ctx) => {
    context = ctx;
    return {
      self: ctx.input.self,
      sync: async () => ({}),
      close: () => {},
      // Figures of the size the gossip adapter reports, so the scrape renders every family.
      counters: () => ({ packetsIn: 1e6, packetsOut: 1e6, bytesIn: 1e9, bytesOut: 1e9, malformedPackets: 3, malformedStreams: 1, unopenedMessages: 0, suspicions: 12, refutations: 2, membersLeft: 5, membersFailed: 7 }),
    };
  });
  return { adapter, report: (changes: Parameters<BackendContext['report']>[0]) => context!.report(changes) };
}

const makePeer = (i: number, version = 0): PeerInfo => ({
  id: `node-${i}`,
  address: `10.0.${(i >> 8) & 255}.${i & 255}:7946`,
  metadata: { zone: `z${i % 3}`, version: String(version) },
  ...(i % 50 === 0 ? { status: 'suspect' as const } : {}),
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

const summary = (samples: number[], digits = 4) => ({ medianMs: round(median(samples), digits), p99Ms: round(quantile(samples, 0.99), digits), samples: samples.length });

async function scrapes(figures: Record<string, unknown>) {
  for (const count of [1000, 10_000]) {
    const name = `bench-metrics-${count}`;
    const { adapter, report } = benchAdapter();
    const started = await discovery.startLink({ name, adapter, syncIntervalMs: 200 });
    if (!started.ok) throw new Error(started.error.message);
    report(Array.from({ length: count }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) })));
    await new Promise((resolve) => setTimeout(resolve, 500)); // a sync, so backend counters are in
    const server = createServer(discovery.httpHandler({ name }));
    const base = await listen(server);
    const body = await getText(`${base}/metrics`);
    if (!body.includes(`discovery_members{status="alive"} ${count - count / 50}`)) throw new Error(`unexpected scrape:\n${body.slice(0, 400)}`);
    const http: number[] = [];
    const collect: number[] = [];
    for (let i = 0; i < 50; i++) await getText(`${base}/metrics`);
    for (let i = 0; i < 500; i++) {
      const start = performance.now();
      await getText(`${base}/metrics`);
      http.push(performance.now() - start);
    }
    // The handler's own work without the HTTP round trip: one scrape through a fake response.
    const handler = discovery.httpHandler({ name });
    for (let i = 0; i < 500; i++) {
      const start = performance.now();
      await new Promise<void>((resolve) => {
        const res = { writeHead: () => res, setHeader: () => {}, end: () => resolve(), headersSent: false };
        handler({ url: '/metrics', method: 'GET', headers: {} } as never, res as never);
      });
      collect.push(performance.now() - start);
    }
    figures[`metrics scrape, members=${count}`] = { overHttp: summary(http), inHandler: summary(collect), bytes: body.length };
    server.closeAllConnections();
    server.close();
    await started.value.stop();
  }
}

async function fanOut(figures: Record<string, unknown>) {
  const CLIENTS = 1000;
  const EVENTS = 2000;
  const name = 'bench-sse';
  const { adapter, report } = benchAdapter();
  const started = await discovery.startLink({ name, adapter, syncIntervalMs: 60_000 });
  if (!started.ok) throw new Error(started.error.message);
  report(Array.from({ length: 10 }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) })));
  const server = createServer(discovery.httpHandler({ name }));
  const base = await listen(server);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage();
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', 'sse-clients.ts'), `${base}/v1/events`, String(CLIENTS)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  readLines(child.stdout!, (line) => typeof line === 'object' && lines.push(line));
  await eventually(() => lines.some((l) => l.ready), 60_000, 'all clients connected');
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc?.();
  const after = process.memoryUsage();
  const rates: number[] = [];
  for (let round = 0; round < 5; round++) {
    lines.length = 0;
    child.stdin!.write(`mark ${EVENTS}\n`);
    await eventually(() => lines.some((l) => l.marked), 10_000, 'marked');
    const start = Date.now();
    // In batches, as a busy cluster reports them.
    for (let i = 0; i < EVENTS; i += 100) {
      report(Array.from({ length: 100 }, (_, j) => ({ type: 'up' as const, peer: makePeer(j % 10, round * EVENTS + i + j + 1) })));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => lines.some((l) => l.done), 120_000, 'all events delivered');
    const at = Number(lines.find((l) => l.done)!.at);
    rates.push((EVENTS * CLIENTS) / ((at - start) / 1000));
  }
  figures['SSE fan-out, 1000 clients'] = {
    deliveredEventsPerSecondMedian: Math.round(median(rates)),
    deliveredEventsPerSecondMin: Math.round(Math.min(...rates)),
    eventsPerRound: EVENTS,
    rounds: rates.length,
    serverHeapPerClientKiB: round((after.heapUsed - before.heapUsed) / CLIENTS / 1024, 3),
    serverRssPerClientKiB: round((after.rss - before.rss) / CLIENTS / 1024, 3),
    note: 'clients in a separate process on the same 2 cores; one event = one PeerUpdate of ~200 bytes to every client',
  };
  child.stdin!.write('exit\n');
  await new Promise((resolve) => child.once('exit', resolve));
  server.closeAllConnections();
  server.close();
  await started.value.stop();
}

async function page(figures: Record<string, unknown>) {
  const unavailable = browserUnavailable();
  if (unavailable) {
    figures.page = { skipped: unavailable };
    return;
  }
  const cli = join(root, 'dist', 'cli.cjs');
  const children: ChildProcess[] = [];
  const start = (args: string[]) => {
    const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines: Record<string, unknown>[] = [];
    readLines(child.stdout!, (line) => typeof line === 'object' && lines.push(line));
    children.push(child);
    return { child, lines };
  };
  const port = await freePort();
  const agent = start([cli, 'agent', '--name', 'alpha', '--bind', `127.0.0.1:${port}`, '--profile', 'local', '--control', '127.0.0.1:0', '--json']);
  await eventually(() => agent.lines.some((l) => l.event === 'AgentStarted'), 10_000, 'agent');
  const control = String(agent.lines.find((l) => l.event === 'AgentStarted')!.control);
  const member = start([join(root, 'test', 'fixtures', 'member.mjs'), 'gamma', String(await freePort()), `127.0.0.1:${port}`]);
  await eventually(() => member.lines.some((l) => l.type === 'PeerUp'), 10_000, 'member joined');
  const browser = await launchBrowser();
  try {
    const paints: number[] = [];
    const live: number[] = [];
    for (let i = 0; i < 10; i++) {
      const tab = await browser.context.newPage();
      const opened = Date.now();
      await tab.goto(`http://${control}/`);
      await tab.locator('#members tbody tr[data-name="gamma"]').waitFor();
      live.push(Date.now() - opened);
      paints.push(Number(await tab.evaluate(`performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN`)));
      await tab.close();
    }
    const tab = await browser.context.newPage();
    await tab.goto(`http://${control}/`);
    await tab.locator('#members tbody tr[data-name="gamma"]').waitFor();
    const updates: number[] = [];
    for (let i = 0; i < 20; i++) {
      // Stamp the moment the row shows the new value, inside the page (a string: this file has no DOM types).
      await tab.evaluate(`(() => {
        window.shownAt = undefined;
        const observer = new MutationObserver(() => {
          const cell = document.querySelector('#members tbody tr[data-name="gamma"] td.metadata');
          if (cell && cell.textContent.includes('v=${i}')) {
            window.shownAt = Date.now();
            observer.disconnect();
          }
        });
        observer.observe(document.querySelector('#members tbody'), { childList: true, subtree: true, characterData: true });
      })()`);
      const sent = Date.now();
      member.child.stdin!.write(`meta v=${i}\n`);
      await tab.waitForFunction('window.shownAt !== undefined', undefined, { timeout: 10_000 });
      updates.push(Number(await tab.evaluate('window.shownAt')) - sent);
    }
    figures.page = {
      firstContentfulPaint: summary(paints, 3),
      openToMembersShown: summary(live, 3),
      metadataChangeAtMemberToPage: summary(updates, 3),
      note: 'agent and member on loopback (local profile); the change travels member → gossip → agent → SSE → DOM',
    };
  } finally {
    await browser.close();
    for (const child of children) child.kill('SIGKILL');
  }
}

/** Requests per second through `httpHandler` with a token: `/v1/health` and `/v1/members`, 32 in flight on keep-alive sockets. */
async function requests(figures: Record<string, unknown>) {
  const ROUNDS = 9;
  const ROUND_MS = 1500;
  const IN_FLIGHT = 32;
  const name = 'bench-requests';
  const { adapter, report } = benchAdapter();
  const started = await discovery.startLink({ name, adapter, syncIntervalMs: 200 });
  if (!started.ok) throw new Error(started.error.message);
  report(Array.from({ length: 20 }, (_, i) => ({ type: 'up' as const, peer: makePeer(i) })));
  const server = createServer(discovery.httpHandler({ name, token: 'bench-token' }));
  const base = await listen(server);
  const agent = new Agent({ keepAlive: true, maxSockets: IN_FLIGHT });
  const headers = { authorization: 'Bearer bench-token' };
  const once = (path: string) =>
    new Promise<void>((resolve, reject) => {
      request(`${base}${path}`, { agent, headers }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`${path} answered ${res.statusCode}`));
        res.resume().on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
  const rate = async (path: string) => {
    let done = 0;
    const until = performance.now() + ROUND_MS;
    const worker = async () => {
      while (performance.now() < until) {
        await once(path);
        done++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return (done * 1000) / (performance.now() - start);
  };
  for (const path of ['/v1/health', '/v1/members']) {
    await rate(path); // warm-up
    const samples: number[] = [];
    for (let i = 0; i < ROUNDS; i++) samples.push(await rate(path));
    figures[`requests per second, GET ${path}`] = { median: round(median(samples)), min: round(Math.min(...samples)), max: round(Math.max(...samples)), rounds: ROUNDS };
  }
  agent.destroy();
  server.closeAllConnections();
  server.close();
  await started.value.stop();
  figures['checks per request (Host, Origin, body length, target, token), in process'] = guardCost();
}

/** The checks every request passes before a route, on a request as the bench sends it: µs each. */
function guardCost() {
  const policy = requestPolicy();
  const credentials = new Credentials('bench-token');
  const req = { url: '/v1/members', method: 'GET', headers: { host: '127.0.0.1:7373', authorization: 'Bearer bench-token' }, socket: {} } as never;
  const check = () => {
    checkHost(req, policy);
    checkOrigin(req, policy);
    checkBodyLength(req);
    parseTarget(req);
    if (!credentials.admits(req)) throw new Error('refused');
  };
  const samples = timeEach(() => {
    for (let i = 0; i < 1000; i++) check();
  }, 200);
  return { medianMicroseconds: round(median(samples), 3), p99Microseconds: round(quantile(samples, 0.99), 3) };
}

async function main() {
  // Agents started here, and killed, leave nothing in the user's agent directory.
  process.once('exit', ownAgentDirectory('distribute-bench-'));
  if (process.argv.includes('--only') && process.argv.includes('requests')) {
    const figures: Record<string, unknown> = {};
    await requests(figures);
    console.log(JSON.stringify(figures, null, 2));
    console.log(`wrote ${writeResults(process.env.BENCH_RESULTS ?? 'http-requests', `${COMMAND} --only requests`, figures)}`);
    return;
  }
  if (process.argv.includes('--only') && process.argv.includes('metrics')) {
    const figures: Record<string, unknown> = {};
    await scrapes(figures);
    console.log(JSON.stringify(figures, null, 2));
    console.log(`wrote ${writeResults(process.env.BENCH_RESULTS ?? 'http-metrics', `${COMMAND} --only metrics`, figures)}`);
    return;
  }
  const figures: Record<string, unknown> = {};
  await scrapes(figures);
  await fanOut(figures);
  await page(figures);
  console.log(JSON.stringify(figures, null, 2));
  console.log(`wrote ${writeResults('http', COMMAND, figures)}`);
}

await main();
