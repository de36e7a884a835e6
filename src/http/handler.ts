/**
 * One HTTP handler for the running adapter, a plain `(req, res)` listener:
 * the page, its event stream, Prometheus metrics, health and the member
 * table. `distribute agent` serves it on its control endpoint; library users
 * mount it in their own server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { adapterMachine, type AdapterActorRef } from '../../machines/adapter.machine.js';
import { isRunning, selectState, selectTelemetryPrefix } from '../../machines/selectors.js';
import { bind, type Discovery, type DiscoveryTarget } from '../discovery/facade.js';
import { defaultAdapterName } from '../discovery/kit/adapter.js';
import { lookupRegistration } from '../discovery/registry.js';
import { DiscoveryErrors, DiscoveryFailure } from '../discovery/types.js';
import { pageAssets } from './assets.js';
import { streamEvents } from './events.js';
import { checkBodyLength, checkHost, checkJson, checkOrigin, Credentials, parseTarget, readJsonBody, Refusal, type RequestPolicy } from './guard.js';
import { memberRow, udpUnreachableOf, type MemberRow } from './members.js';
import { createMetricsRegistry, loadPromClient } from './metrics.js';
import { statechartOf } from './statechart.js';
import type { Registry } from 'prom-client';

/** Options of `httpHandler`. */
export interface HttpHandlerOptions extends DiscoveryTarget {
  /**
   * A bearer token every route but the page's own files and `/v1/health`
   * requires (`Authorization: Bearer <token>`). The page signs in with it
   * (opened as `/#token=<token>`: the fragment never leaves the browser) and
   * then holds an `HttpOnly`, `SameSite=Strict` session cookie. Default: none.
   */
  readonly token?: string;
  /**
   * Host names (no port) the server is reached by, beside `localhost` and IP
   * addresses; any other `Host` is refused with 421, so a DNS name an
   * attacker points at this host (DNS rebinding) reaches nothing. `'*'`
   * accepts any. Default: none.
   */
  readonly allowedHosts?: readonly string[];
  /**
   * Origins (`https://ops.example.com`) whose pages may call the handler,
   * beside its own page; a request with any other `Origin` is refused with
   * 403 (CSRF). Default: none.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * Event streams open at once; beyond it `GET /v1/events` answers 503 with
   * `Retry-After`. Default: half the process's open-file limit (at most
   * 4096), so health and the other routes keep descriptors to answer with.
   */
  readonly maxStreams?: number;
  /** The member table `GET /v1/members` serves. Default: self and the live peers. */
  readonly members?: () => readonly MemberRow[];
  /**
   * Bytes an event-stream client may leave unread before it is cut off. It
   * must exceed the largest burst, such as the replay of the whole table
   * (~150 bytes a peer) on connect. Default 8 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Interval of the event stream's keep-alive comment, in ms. Default 15000. */
  readonly heartbeatMs?: number;
}

/** A `node:http` request listener. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

const STATIC_ROUTES = new Map([
  ['/', '/index.html'],
  ['/index.html', '/index.html'],
  ['/app.js', '/app.js'],
  ['/app.css', '/app.css'],
  ['/elk-worker.js', '/elk-worker.js'],
]);
const API_ROUTES = new Set(['/v1/events', '/metrics', '/v1/health', '/v1/members', '/v1/metrics', '/v1/statechart']);
/** Routes anyone may read: the page's files come from STATIC_ROUTES; probes read health. */
const OPEN_ROUTES = new Set(['/v1/health']);

/** The process's soft limit on open files, where the system says (Linux); undefined elsewhere. */
function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return line ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Half the descriptors for streams, the rest kept for sockets, files and the routes that must answer. */
export function defaultMaxStreams(): number {
  return Math.max(16, Math.min(4096, Math.floor((openFileLimit() ?? 2048) / 2)));
}

function invalid(field: string, value: unknown, expected: string): never {
  throw new DiscoveryFailure(DiscoveryErrors.invalidConfiguration(field, value, expected));
}

function sendJson(res: ServerResponse, status: number, body: unknown, head = false): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(head ? undefined : text);
}

/** A refusal as its JSON answer; the connection closes when the refusal says so. */
export function sendRefusal(res: ServerResponse, refusal: Refusal): void {
  for (const [name, value] of Object.entries(refusal.headers)) res.setHeader(name, value);
  sendJson(res, refusal.status, { error: refusal.message });
}

/** The request policy from the user's lists, checked once. */
export function requestPolicy(allowedHosts: readonly string[] = [], allowedOrigins: readonly string[] = []): RequestPolicy {
  if (!Array.isArray(allowedHosts) || !allowedHosts.every((h) => typeof h === 'string' && h.length > 0 && !h.includes(':'))) {
    invalid('allowedHosts', allowedHosts, 'an array of host names without ports');
  }
  if (!Array.isArray(allowedOrigins) || !allowedOrigins.every((o) => typeof o === 'string' && /^https?:\/\/[^/]+$/.test(o))) {
    invalid('allowedOrigins', allowedOrigins, 'an array of origins such as https://ops.example.com');
  }
  return { allowedHosts: new Set(allowedHosts.map((h) => h.toLowerCase())), allowedOrigins: new Set(allowedOrigins) };
}

/**
 * The request listener serving the page, `GET /v1/events` (SSE),
 * `GET /metrics` (Prometheus), `GET /v1/health` (200 when Up, 503 otherwise),
 * `GET /v1/members`, `GET /v1/metrics` and `GET /v1/statechart` for the adapter
 * registered under `name` (default `defaultAdapterName`). Throws a
 * `DiscoveryFailure` (`InvalidConfiguration`) for bad options.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * const server = createServer(discovery.httpHandler({ token: process.env.TOKEN }));
 * server.listen(0, '127.0.0.1');
 * ```
 */
export function httpHandler(options: HttpHandlerOptions = {}): HttpHandler {
  return httpHandlerWith(options, undefined);
}

/** Routes served beside the handler's own, behind the same checks and the same token: the agent's operator verbs. */
export interface MoreRoutes {
  readonly paths: ReadonlySet<string>;
  /** Answers a request for one of `paths`; a rejection (a `Refusal`, or any error) is answered for it. */
  serve(req: IncomingMessage, res: ServerResponse, path: string): Promise<void>;
}

/** `httpHandler` with `more` routes, so every request passes the checks once, whichever route serves it. */
export function httpHandlerWith(options: HttpHandlerOptions, more: MoreRoutes | undefined): HttpHandler {
  const routes = new HttpRoutes(resolveHttpOptions(options ?? {}), more);
  return (req, res) => routes.handle(req, res);
}

/** The handler's options, checked once. */
interface ResolvedHttpOptions {
  readonly target: DiscoveryTarget;
  readonly name: string;
  /** The token's checks, when one is required. */
  readonly credentials: Credentials | undefined;
  readonly policy: RequestPolicy;
  readonly maxStreams: number;
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
  readonly members: (() => readonly MemberRow[]) | undefined;
}

function resolveHttpOptions(options: HttpHandlerOptions): ResolvedHttpOptions {
  const { token, maxBufferedBytes = 8 * 1024 * 1024, heartbeatMs = 15_000, maxStreams = defaultMaxStreams() } = options;
  if (token !== undefined && (typeof token !== 'string' || token.length === 0 || /\s/.test(token))) {
    invalid('token', token, 'a non-empty string without spaces');
  }
  if (!(Number.isInteger(maxBufferedBytes) && maxBufferedBytes > 0)) invalid('maxBufferedBytes', maxBufferedBytes, 'a positive whole number of bytes');
  if (!(Number.isFinite(heartbeatMs) && heartbeatMs > 0)) invalid('heartbeatMs', heartbeatMs, 'a positive number of milliseconds');
  if (options.members !== undefined && typeof options.members !== 'function') invalid('members', options.members, 'a function');
  if (!(Number.isInteger(maxStreams) && maxStreams > 0)) invalid('maxStreams', maxStreams, 'a positive whole number of streams');
  return {
    target: options,
    name: options.name ?? defaultAdapterName,
    credentials: token === undefined ? undefined : new Credentials(token),
    policy: requestPolicy(options.allowedHosts, options.allowedOrigins),
    maxStreams,
    maxBufferedBytes,
    heartbeatMs,
    members: options.members,
  };
}

let chartJson: string | undefined;
/** The adapter machine's chart as the page draws it: one for every handler, made when first asked for, not as an agent starts. */
const statechartJson = (): string => (chartJson ??= JSON.stringify(statechartOf(adapterMachine)));

/** The routes of one handler, each a short method over the facade and the selectors. */
class HttpRoutes {
  private readonly discovery: Discovery;
  private readonly registries = new Map<string, Registry>();
  /** Event streams open now, against `maxStreams`. */
  private streams = 0;

  constructor(
    private readonly options: ResolvedHttpOptions,
    private readonly more: MoreRoutes | undefined,
  ) {
    this.discovery = bind(options.target);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    try {
      this.route(req, res);
    } catch (error) {
      this.fail(res, error);
    }
  }

  /** A refused request, or a failing `members` callback (the user's code): an answer, never a crash. */
  private fail(res: ServerResponse, error: unknown): void {
    if (res.headersSent) return void res.destroy();
    if (error instanceof Refusal) return sendRefusal(res, error);
    sendJson(res, 500, { error: (error as Error).message ?? String(error) });
  }

  /** Whether the request carries the token where one is required; answers 401 when it does not. */
  private admitted(req: IncomingMessage, res: ServerResponse, credentials: Credentials | undefined): boolean {
    if (!credentials || credentials.admits(req)) return true;
    res.setHeader('www-authenticate', 'Bearer');
    sendJson(res, 401, { error: 'A bearer token is required' });
    return false;
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const { policy, credentials } = this.options;
    checkHost(req, policy);
    checkOrigin(req, policy);
    checkBodyLength(req);
    const path = parseTarget(req).pathname;
    if (path === '/v1/login' && credentials) return this.login(req, res, credentials);
    if (this.more?.paths.has(path)) {
      if (this.admitted(req, res, credentials)) this.more.serve(req, res, path).catch((error: unknown) => this.fail(res, error));
      return;
    }
    const file = STATIC_ROUTES.get(path);
    if (!file && !API_ROUTES.has(path)) return sendJson(res, 404, { error: `No such endpoint: ${path}` });
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      return sendJson(res, 405, { error: `${req.method} is not allowed on ${path}; use GET` });
    }
    if (file) return this.asset(file, res, head);
    if (OPEN_ROUTES.has(path) || this.admitted(req, res, credentials)) this.api(path, req, res, head);
  }

  /** `POST /v1/login` `{"token": ...}`: the page trades the token from its URL fragment for the session cookie. */
  private login(req: IncomingMessage, res: ServerResponse, credentials: Credentials): void {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return sendJson(res, 405, { error: `${req.method} is not allowed on /v1/login; use POST` });
    }
    checkJson(req);
    readJsonBody(req).then(
      ({ token }) => {
        if (typeof token !== 'string' || !credentials.matches(token)) return sendJson(res, 401, { error: 'Wrong token' });
        res.setHeader('set-cookie', credentials.setCookie((req.socket as { encrypted?: boolean }).encrypted === true));
        sendJson(res, 200, { signedIn: true });
      },
      (error: unknown) => (error instanceof Refusal ? sendRefusal(res, error) : sendJson(res, 400, { error: (error as Error).message })),
    );
  }

  private asset(file: string, res: ServerResponse, head: boolean): void {
    const asset = pageAssets()?.get(file);
    if (!asset) return sendJson(res, 500, { error: 'The page was not built: run npm run build' });
    res.writeHead(200, { 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' });
    res.end(head ? undefined : asset.body);
  }

  private runningActor(): AdapterActorRef | undefined {
    const { target, name } = this.options;
    const actor: AdapterActorRef | undefined = target.system ? target.system.get(name) : lookupRegistration(name)?.actor;
    return actor && isRunning(actor.getSnapshot()) ? actor : undefined;
  }

  private members(): MemberRow[] {
    if (this.options.members) return [...this.options.members()];
    const self = this.discovery.self();
    const peers = this.discovery.snapshot();
    if (!self.ok || !peers.ok) return [];
    const udpUnreachable = udpUnreachableOf(this.discovery.metrics());
    return [memberRow(self.value), ...peers.value.map((peer) => memberRow(peer, udpUnreachable)).sort((a, b) => a.name.localeCompare(b.name))];
  }

  private async registry(): Promise<Registry> {
    const actor = this.runningActor();
    const prefix = actor ? selectTelemetryPrefix(actor.getSnapshot()) : 'discovery';
    const known = this.registries.get(prefix);
    if (known) return known;
    const discovery = this.discovery;
    const registry = createMetricsRegistry(await loadPromClient(), prefix, {
      read: () => {
        const metrics = discovery.metrics();
        const peers = discovery.snapshot();
        const info = discovery.healthInfo();
        if (!metrics.ok || !peers.ok || !info.ok) return undefined;
        return { peers: peers.value, metrics: metrics.value, health: info.value.status, lastSyncAt: info.value.lastSyncTimeMs };
      },
    });
    this.registries.set(prefix, registry);
    return registry;
  }

  private async scrape(res: ServerResponse, head: boolean): Promise<void> {
    const registry = await this.registry();
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(head ? undefined : text);
  }

  private api(path: string, req: IncomingMessage, res: ServerResponse, head: boolean): void {
    switch (path) {
      case '/v1/health': {
        const status = this.discovery.health();
        const actor = this.runningActor();
        const state = actor ? selectState(actor.getSnapshot()) : 'stopped';
        return sendJson(res, status.type === 'Up' ? 200 : 503, { ...status, state }, head);
      }
      case '/v1/members':
        return sendJson(res, 200, this.members(), head);
      case '/v1/statechart': {
        const chart = statechartJson();
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(chart) });
        return void res.end(head ? undefined : chart);
      }
      case '/v1/metrics':
        return this.metrics(res, head);
      case '/metrics':
        return void this.scrape(res, head).catch((error: unknown) => {
          if (!res.headersSent) sendJson(res, 501, { error: (error as Error).message });
          else res.destroy();
        });
      case '/v1/events':
        return this.events(req, res, head);
    }
  }

  private metrics(res: ServerResponse, head: boolean): void {
    const metrics = this.discovery.metrics();
    const info = this.discovery.healthInfo();
    if (!metrics.ok) return sendJson(res, 503, { error: metrics.error.message }, head);
    if (!info.ok) return sendJson(res, 503, { error: info.error.message }, head);
    sendJson(res, 200, { metrics: metrics.value, health: info.value }, head);
  }

  private events(req: IncomingMessage, res: ServerResponse, head: boolean): void {
    const { name, maxBufferedBytes, heartbeatMs } = this.options;
    const actor = this.runningActor();
    const hub = lookupRegistration(name)?.hub;
    if (!actor || !hub) return sendJson(res, 503, { error: `Discovery is not running: no adapter named ${JSON.stringify(name)}` });
    if (head) {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
      return void res.end();
    }
    if (this.streams >= this.options.maxStreams) {
      // The connection closes too, so a refused client holds no descriptor.
      throw new Refusal(503, `${this.options.maxStreams} event streams are open; retry later`, { 'retry-after': '5', connection: 'close' });
    }
    this.streams++;
    res.once('close', () => this.streams--);
    streamEvents(this.discovery, hub, actor, req, res, { maxBufferedBytes, heartbeatMs });
  }
}
