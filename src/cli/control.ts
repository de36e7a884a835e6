/**
 * The agent's control endpoint: an HTTP server on loopback (by default) that
 * serves the library's `httpHandler` and the operator verbs.
 *
 *   GET  /             the live page; /v1/events, /metrics as httpHandler serves them
 *   GET  /v1/members   the member table          (distribute members)
 *   GET  /v1/health    200 when Up, 503 with the reason otherwise
 *   GET  /v1/info      self, health, metrics, timings in force   (distribute info)
 *   POST /v1/join      {"addresses": [...]}: join through more members   (distribute join)
 *   PUT  /v1/tags      {"set": {...}, "delete": [...]}: new metadata     (distribute tags)
 *   POST /v1/leave     leave gracefully and exit                  (distribute leave)
 *   GET  /v1/keys      the keyring, primary first                 (distribute keys --list)
 *   POST /v1/keys      {"op": "install" | "use" | "remove", "key": BASE64}: this agent's keyring   (distribute keys --local)
 *   GET  /v1/cluster/keys   every live member's keyring, by fingerprint   (distribute keys --list)
 *   POST /v1/cluster/keys   {"op", "key"} on every live member: rotate the cluster   (distribute keys)
 *
 * Errors come back as `{"error": "..."}`: 400 for a bad value, 504 when the
 * cluster did not answer in time. Every route but the page's files and
 * `/v1/health` needs the token (`Authorization: Bearer <token>`, or the
 * page's session cookie); the checks of `src/http/guard.ts` run before any
 * route, for the verbs as for the handler.
 */
import type { IncomingMessage, Server } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpHandler } from '../discovery.js';
import type { MoreRoutes } from '../http/handler.js';
import { checkJson, readJsonBody, Refusal } from '../http/guard.js';
import { isRecord } from '../discovery/values.js';
import { formatAddress } from './args.js';
import type { Endpoint } from '../discovery/address.js';
import { failure, usage } from './errors.js';
import type { MemberRow } from './members.js';

/** The port `distribute agent` and the verbs use by default. */
export const DEFAULT_CONTROL_PORT = 7373;

export interface ControlServer {
  readonly address: Endpoint;
  close(): Promise<void>;
}

/** A request the agent refuses: answered with `status` and `message`. */
export { Refusal as ControlRefusal };

/** The operator verbs' side of the endpoint, and the member table `httpHandler` serves. */
export interface ControlSource {
  members(): MemberRow[];
  info(): unknown;
  join(addresses: string[]): Promise<unknown>;
  tags(set: Record<string, string>, remove: string[]): unknown;
  /** Called after the answer has gone out. */
  leave(): void;
  /** The keyring after `change` (none: just list it); throws `ControlRefusal` when refused. */
  keys(change: { readonly op: KeyOp; readonly key: string } | undefined): unknown;
  /** The change (none: a listing) sent to every live member; each member's answer and who did not answer. */
  clusterKeys(change: { readonly op: KeyOp; readonly key: string } | undefined): Promise<unknown>;
}

/** What `distribute keys` can do to an agent's keyring. */
export type KeyOp = 'install' | 'use' | 'remove';
const KEY_OPS: readonly string[] = ['install', 'use', 'remove'];

const VERB_PATHS = new Set(['/v1/info', '/v1/join', '/v1/tags', '/v1/leave', '/v1/keys', '/v1/cluster/keys']);

function listen(server: Server, address: Endpoint): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address() as { address: string; port: number };
      resolve({ host: bound.address, port: bound.port });
    });
  });
}

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');
const isStringRecord = (value: unknown): value is Record<string, string> => isRecord(value) && Object.values(value).every((v) => typeof v === 'string');

async function readKeyChange(req: IncomingMessage): Promise<{ op: KeyOp; key: string }> {
  const { op, key } = await readJsonBody(req);
  if (typeof op !== 'string' || !KEY_OPS.includes(op) || typeof key !== 'string') {
    throw new Refusal(400, 'expected {"op": "install" | "use" | "remove", "key": BASE64}');
  }
  return { op: op as KeyOp, key };
}

async function route(req: IncomingMessage, path: string, source: ControlSource): Promise<{ status: number; body: unknown; after?: () => void }> {
  const at = `${req.method} ${path}`;
  // Changes are JSON only: what a browser sends cross-site without asking (forms, text/plain) is refused.
  if (req.method !== 'GET' && req.method !== 'HEAD') checkJson(req);
  switch (at) {
    case 'GET /v1/info':
      return { status: 200, body: source.info() };
    case 'POST /v1/join': {
      const { addresses } = await readJsonBody(req);
      if (!isStrings(addresses) || addresses.length === 0) throw new Refusal(400, 'addresses must be a non-empty array of host:port');
      return { status: 200, body: await source.join(addresses) };
    }
    case 'PUT /v1/tags': {
      const { set = {}, delete: remove = [] } = await readJsonBody(req);
      if (!isStringRecord(set) || !isStrings(remove)) throw new Refusal(400, 'set must map names to strings and delete list names');
      return { status: 200, body: source.tags(set, remove) };
    }
    case 'GET /v1/keys':
      return { status: 200, body: source.keys(undefined) };
    case 'POST /v1/keys':
      return { status: 200, body: source.keys(await readKeyChange(req)) };
    case 'GET /v1/cluster/keys':
      return { status: 200, body: await source.clusterKeys(undefined) };
    case 'POST /v1/cluster/keys':
      return { status: 200, body: await source.clusterKeys(await readKeyChange(req)) };
    case 'POST /v1/leave':
      return { status: 202, body: { leaving: true }, after: () => source.leave() };
    default:
      return { status: 404, body: { error: `No such endpoint: ${at}` } };
  }
}

/** How the control endpoint serves: what it answers (the handler with the verbs' routes), and over what. */
export interface ControlServe {
  readonly handler: HttpHandler;
  /** PEM certificate and key: HTTPS instead of HTTP. */
  readonly tls?: { readonly cert: Buffer; readonly key: Buffer };
}

/**
 * Timeouts short enough that clients sending slowly cannot hold the server:
 * a request's headers within 10 s, the whole request within 15 s (event
 * streams are responses, which these do not bound), checked every second.
 */
/** Node's errors for a client that broke the protocol or was too slow, as statuses; anything else is a 400. */
const CLIENT_ERRORS: Record<string, [number, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
};

const SERVER_TIMEOUTS = { headersTimeout: 10_000, requestTimeout: 15_000, connectionsCheckingInterval: 1000, keepAliveTimeout: 5000 };

/** The verbs' routes, served by the library's handler behind its checks and its token. */
export function controlRoutes(source: ControlSource): MoreRoutes {
  return {
    paths: VERB_PATHS,
    serve: async (req, res, path) => {
      const { status, body, after } = await route(req, path, source);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
      if (after) res.once('finish', after);
    },
  };
}

/**
 * Serves the control endpoint. When `fallback` is set and the port is taken,
 * a free port is used instead (the default port, not one the user asked for).
 * `maxConnections` keeps descriptors in reserve for the rest of the agent.
 */
export async function startControl(address: Endpoint, serve: ControlServe, fallback: boolean, maxConnections?: number): Promise<ControlServer> {
  const listener = serve.handler;
  // Node's HTTP and TLS load with the endpoint, not with the command: an agent joins first (see runAgent).
  const server: Server = serve.tls
    ? (await import('node:https')).createServer({ ...SERVER_TIMEOUTS, ...serve.tls }, listener)
    : (await import('node:http')).createServer(SERVER_TIMEOUTS, listener);
  if (maxConnections !== undefined) server.maxConnections = maxConnections;
  // A client that breaks the protocol, or is too slow, gets a one-line answer; nothing reaches the routes.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return void socket.destroy();
    const [status, reason] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'Bad Request'];
    const body = JSON.stringify({ error: `${reason}: ${error.code ?? 'malformed request'}` });
    socket.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
  });
  let bound: Endpoint;
  try {
    bound = await listen(server, address);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' && fallback) {
      bound = await listen(server, { host: address.host, port: 0 });
    } else {
      throw failure(`cannot serve the control endpoint on ${formatAddress(address)}: ${code === 'EADDRINUSE' ? 'address in use' : (error as Error).message}`);
    }
  }
  return {
    address: bound,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Codes of a connection that something accepted and then closed, or answered with what is not HTTP. */
const NOT_HTTP = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'HPE_INVALID_CONSTANT', 'UND_ERR_INFO', 'EPROTO']);

/**
 * What to tell an operator whose verb reached no control endpoint: nothing
 * there, or something that is not one (a gossip port takes TCP, then closes
 * on a request it cannot read).
 */
function noAgentMessage(where: string, error: unknown, timeoutMs: number, searched: string | undefined): string {
  const failed = error as { cause?: { code?: string }; code?: string };
  const code = failed.cause?.code ?? failed.code ?? '';
  if (NOT_HTTP.has(code)) {
    return (
      `nothing listens for control at ${where}, is that the gossip port? Something there took the connection and closed it without an HTTP answer. ` +
      `The agent prints its control address at start ("control on HOST:PORT"); without --control the verbs find it in the agent's file`
    );
  }
  const files = searched === undefined ? '' : `, and no agent of this user runs here (no agent file in ${searched})`;
  return `no agent at ${where} (${unreachable(error, timeoutMs)})${files}; start one with 'distribute agent', or pass --control host:port`;
}

/** Why a control request found no agent, in a few words. */
function unreachable(error: unknown, timeoutMs: number): string {
  const failed = error as { cause?: { code?: string }; code?: string; name: string };
  const cause = failed.cause?.code ?? failed.code ?? failed.name;
  if (cause === 'ECONNREFUSED') return 'connection refused';
  return cause === 'TimeoutError' || cause === 'ABORT_ERR' ? `no answer within ${timeoutMs} ms` : String(cause);
}

/**
 * HTTPS with the agent's own certificate trusted beside the system's roots
 * (a self-signed one is its own root), as a fetch Response.
 */
async function fetchTls(url: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }, ca: Buffer): Promise<Response> {
  const [{ request: httpsRequest }, { rootCertificates }] = await Promise.all([import('node:https'), import('node:tls')]);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method, headers: init.headers, ca: [...rootCertificates, ca.toString()], ...(init.signal ? { signal: init.signal } : {}) }, (res) => {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
      resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, { status: res.statusCode ?? 500, headers }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Where a control client connects, and with what token. */
export interface ControlClient {
  readonly address: Endpoint;
  readonly token: string | undefined;
  readonly scheme: 'http' | 'https';
  /** The agent's name, when its agent file named it. */
  readonly name?: string;
  /** The agent's TLS certificate (PEM), trusted for its HTTPS endpoint. */
  readonly ca?: Buffer;
  /** Where agent files were looked for and none found: the default address is a guess, and an error says so. */
  readonly searched?: string;
}

/**
 * One request to the agent's control endpoint, as a Response: no agent is a
 * failure (exit 1) saying what to do, a missing or wrong token too.
 */
export async function requestControl(
  client: ControlClient,
  method: string,
  path: string,
  options: { body?: unknown; timeoutMs?: number } = {},
): Promise<Response> {
  const where = formatAddress(client.address);
  const { token } = client;
  // Changes are JSON, as the endpoint requires of every one.
  const body = method === 'GET' ? undefined : JSON.stringify(options.body ?? {});
  let response: Response;
  try {
    const init = {
      method,
      ...(options.timeoutMs !== undefined ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(body !== undefined ? { body } : {}),
    };
    const url = `${client.scheme}://${where}${path}`;
    response = client.scheme === 'https' && client.ca ? await fetchTls(url, init, client.ca) : await fetch(url, init);
  } catch (error) {
    throw failure(noAgentMessage(where, error, options.timeoutMs ?? 0, client.searched));
  }
  if (response.status === 401) {
    throw failure(`agent at ${where} needs its token: run as the user who started it (its agent file holds the token), or pass --control-token-file (or DISTRIBUTE_CONTROL_TOKEN)`);
  }
  return response;
}

/**
 * One request to an agent's control endpoint; its JSON answer. No agent is a
 * failure (exit 1) saying what to do; a refused value is a usage error (exit 2).
 */
export async function callControl<T>(client: ControlClient, method: string, path: string, body?: unknown, timeoutMs = 3000): Promise<T> {
  const where = formatAddress(client.address);
  const response = await requestControl(client, method, path, { body, timeoutMs });
  const answer = (await response.json().catch(() => undefined)) as { error?: string } | undefined;
  if (response.status === 400) throw usage(answer?.error ?? `agent at ${where} refused the request`);
  if (!response.ok) throw failure(answer?.error ?? `agent at ${where} answered ${response.status}`);
  return answer as T;
}

/** Reads the member table from an agent's control endpoint. */
export async function fetchMembers(client: ControlClient, timeoutMs: number): Promise<MemberRow[]> {
  try {
    return await callControl<MemberRow[]>(client, 'GET', '/v1/members', undefined, timeoutMs);
  } catch (error) {
    // members can also join as an observer: say so.
    if (error instanceof Error && error.message.startsWith('no agent at ')) {
      throw failure(error.message.replace("or pass --control host:port", 'or use --join host:port'));
    }
    throw error;
  }
}
