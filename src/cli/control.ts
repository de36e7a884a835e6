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
 *   POST /v1/keys      {"op": "install" | "use" | "remove", "key": BASE64}: rotate keys   (distribute keys)
 *
 * Errors come back as `{"error": "..."}`: 400 for a bad value, 504 when the
 * cluster did not answer in time. With a token, every route but the page's
 * files needs `Authorization: Bearer <token>`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { HttpHandler } from '../discovery.js';
import { formatAddress, type HostPort } from './args.js';
import { failure, usage } from './errors.js';
import type { MemberRow } from './members.js';

/** The port `distribute agent` and the verbs use by default. */
export const DEFAULT_CONTROL_PORT = 7373;

export interface ControlServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

/** A request the agent refuses: answered with `status` and `message`. */
export class ControlRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

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
}

/** What `distribute keys` can do to an agent's keyring. */
export type KeyOp = 'install' | 'use' | 'remove';
const KEY_OPS: readonly string[] = ['install', 'use', 'remove'];

const VERB_PATHS = new Set(['/v1/info', '/v1/join', '/v1/tags', '/v1/leave', '/v1/keys']);

const digest = (text: string) => createHash('sha256').update(text).digest();

function listen(server: Server, address: HostPort): Promise<HostPort> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      const bound = server.address() as { address: string; port: number };
      resolve({ host: bound.address, port: bound.port });
    });
  });
}

const MAX_BODY_BYTES = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > MAX_BODY_BYTES) throw new ControlRefusal(413, `request body over ${MAX_BODY_BYTES} bytes`);
  }
  try {
    const parsed: unknown = JSON.parse(body || '{}');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new ControlRefusal(400, 'the request body must be a JSON object');
}

const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');
const isStringRecord = (value: unknown): value is Record<string, string> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');

async function route(req: IncomingMessage, source: ControlSource): Promise<{ status: number; body: unknown; after?: () => void }> {
  const at = `${req.method} ${req.url}`;
  switch (at) {
    case 'GET /v1/info':
      return { status: 200, body: source.info() };
    case 'POST /v1/join': {
      const { addresses } = await readJson(req);
      if (!isStrings(addresses) || addresses.length === 0) throw new ControlRefusal(400, 'addresses must be a non-empty array of host:port');
      return { status: 200, body: await source.join(addresses) };
    }
    case 'PUT /v1/tags': {
      const { set = {}, delete: remove = [] } = await readJson(req);
      if (!isStringRecord(set) || !isStrings(remove)) throw new ControlRefusal(400, 'set must map names to strings and delete list names');
      return { status: 200, body: source.tags(set, remove) };
    }
    case 'GET /v1/keys':
      return { status: 200, body: source.keys(undefined) };
    case 'POST /v1/keys': {
      const { op, key } = await readJson(req);
      if (typeof op !== 'string' || !KEY_OPS.includes(op) || typeof key !== 'string') {
        throw new ControlRefusal(400, 'expected {"op": "install" | "use" | "remove", "key": BASE64}');
      }
      return { status: 200, body: source.keys({ op: op as KeyOp, key }) };
    }
    case 'POST /v1/leave':
      return { status: 202, body: { leaving: true }, after: () => source.leave() };
    default:
      return { status: 404, body: { error: `No such endpoint: ${at}` } };
  }
}

/**
 * Serves the control endpoint. When `fallback` is set and the port is taken,
 * a free port is used instead (the default port, not one the user asked for).
 */
export async function startControl(
  address: HostPort,
  serve: { readonly handler: HttpHandler; readonly source: ControlSource; readonly token: string | undefined },
  fallback: boolean,
): Promise<ControlServer> {
  const { handler, source, token } = serve;
  const expected = token === undefined ? undefined : digest(token);
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    // The page, its stream, metrics, health and members are the library's handler (which checks the token itself).
    if (!VERB_PATHS.has(new URL(req.url ?? '/', 'http://localhost').pathname)) return handler(req, res);
    const header = req.headers.authorization;
    if (expected && !timingSafeEqual(digest(header?.startsWith('Bearer ') ? header.slice(7) : ''), expected)) {
      res.setHeader('www-authenticate', 'Bearer');
      return send(401, { error: 'A bearer token is required' });
    }
    route(req, source).then(
      ({ status, body, after }) => {
        send(status, body);
        if (after) res.once('finish', after);
      },
      (error: unknown) => send(error instanceof ControlRefusal ? error.status : 500, { error: (error as Error).message }),
    );
  });
  let bound: HostPort;
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

/** Why a control request found no agent, in a few words. */
function unreachable(error: unknown, timeoutMs: number): string {
  const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
  return cause === 'ECONNREFUSED' ? 'connection refused' : cause === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : String(cause);
}

/** Where a control client connects, and with what token. */
export interface ControlClient {
  readonly address: HostPort;
  readonly token: string | undefined;
}

/** The token for the agent's control endpoint: the given one, else DISTRIBUTE_CONTROL_TOKEN. */
const controlTokenFromEnv = (): string | undefined => process.env.DISTRIBUTE_CONTROL_TOKEN || undefined;

/**
 * One request to the agent's control endpoint, as a Response: no agent is a
 * failure (exit 1) saying what to do, a missing or wrong token too.
 */
export async function requestControl(
  address: HostPort,
  method: string,
  path: string,
  options: { body?: unknown; timeoutMs?: number; token?: string | undefined } = {},
): Promise<Response> {
  const where = formatAddress(address);
  const token = options.token ?? controlTokenFromEnv();
  let response: Response;
  try {
    response = await fetch(`http://${where}${path}`, {
      method,
      ...(options.timeoutMs !== undefined ? { signal: AbortSignal.timeout(options.timeoutMs) } : {}),
      headers: {
        ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
  } catch (error) {
    throw failure(`no agent at ${where} (${unreachable(error, options.timeoutMs ?? 0)}); start one with 'distribute agent', or pass --control host:port`);
  }
  if (response.status === 401) throw failure(`agent at ${where} needs a token: pass --control-token (or DISTRIBUTE_CONTROL_TOKEN)`);
  return response;
}

/**
 * One request to an agent's control endpoint; its JSON answer. No agent is a
 * failure (exit 1) saying what to do; a refused value is a usage error (exit 2).
 */
export async function callControl<T>(address: HostPort, method: string, path: string, body?: unknown, timeoutMs = 3000, token?: string): Promise<T> {
  const where = formatAddress(address);
  const response = await requestControl(address, method, path, { body, timeoutMs, token });
  const answer = (await response.json().catch(() => undefined)) as { error?: string } | undefined;
  if (response.status === 400) throw usage(answer?.error ?? `agent at ${where} refused the request`);
  if (!response.ok) throw failure(answer?.error ?? `agent at ${where} answered ${response.status}`);
  return answer as T;
}

/** Reads the member table from an agent's control endpoint. */
export async function fetchMembers(address: HostPort, timeoutMs: number, token?: string): Promise<MemberRow[]> {
  try {
    return await callControl<MemberRow[]>(address, 'GET', '/v1/members', undefined, timeoutMs, token);
  } catch (error) {
    // members can also join as an observer: say so.
    if (error instanceof Error && error.message.startsWith('no agent at ')) {
      throw failure(error.message.replace("or pass --control host:port", 'or use --join host:port'));
    }
    throw error;
  }
}
