/**
 * The checks every request to the HTTP handler and the agent's control
 * endpoint passes before any route runs: a readable target, a `Host` that is
 * this server (DNS rebinding), no foreign `Origin` (CSRF), JSON for changes,
 * a bounded body, and the bearer token or the page's session cookie.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

/** A request refused before any route: answered with `status` and a one-line `message`. */
export class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Who may reach the endpoint from a browser, beside loopback names and IP addresses. */
export interface RequestPolicy {
  /** Lower-case host names (no port) accepted in `Host`; `*` accepts any. */
  readonly allowedHosts: ReadonlySet<string>;
  /** Origins (`scheme://host[:port]`) whose pages may call the endpoint, beside its own. */
  readonly allowedOrigins: ReadonlySet<string>;
}

/** The largest request body any route reads. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The name of `Host` without its port, lower case; undefined when it cannot be read. */
function hostName(host: string): string | undefined {
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(host);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const plain = /^([^:[\]\s/@]+)(?::\d{1,5})?$/.exec(host);
  return plain ? plain[1]!.toLowerCase() : undefined;
}

/**
 * A name DNS can point anywhere is refused unless allowed: an IP address
 * cannot be rebound, and `localhost` names resolve to this host by rule.
 */
export function checkHost(req: IncomingMessage, policy: RequestPolicy): void {
  const host = req.headers.host;
  // Without Host (HTTP/1.0, a probe) the request came from no browser.
  if (host === undefined) return;
  const name = hostName(host);
  if (name === undefined) throw new Refusal(400, 'Unreadable Host header');
  if (isIP(name) !== 0 || name === 'localhost' || name.endsWith('.localhost')) return;
  if (policy.allowedHosts.has(name) || policy.allowedHosts.has('*')) return;
  throw new Refusal(421, `Host ${JSON.stringify(name)} is not this endpoint; allow it explicitly to serve it`);
}

/** A browser names the page that sent the request in `Origin`: only this endpoint's own pages (and allowed ones) pass. */
export function checkOrigin(req: IncomingMessage, policy: RequestPolicy): void {
  const origin = req.headers.origin;
  if (origin === undefined) return;
  const scheme = (req.socket as { encrypted?: boolean } | undefined)?.encrypted ? 'https' : 'http';
  if (req.headers.host !== undefined && origin.toLowerCase() === `${scheme}://${req.headers.host.toLowerCase()}`) return;
  if (policy.allowedOrigins.has(origin)) return;
  throw new Refusal(403, `Requests from ${JSON.stringify(origin.slice(0, 100))} are refused: not this endpoint's page`);
}

/** Changes must be JSON: a form or a `text/plain` fetch, which a browser sends cross-site without asking, is refused. */
export function checkJson(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new Refusal(415, 'Changes need Content-Type: application/json');
}

/** A declared body over the bound is refused before it is read. */
export function checkBodyLength(req: IncomingMessage): void {
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > MAX_BODY_BYTES) {
    throw new Refusal(413, `Request body over ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
  }
}

/** The request target as a URL; a malformed one is a 400. */
export function parseTarget(req: IncomingMessage): URL {
  const target = req.url ?? '/';
  if (!target.startsWith('/') || target.startsWith('//')) throw new Refusal(400, 'Unreadable request target: expected a path');
  try {
    return new URL(target, 'http://localhost');
  } catch {
    throw new Refusal(400, 'Unreadable request target');
  }
}

/** The body as a JSON object, at most `MAX_BODY_BYTES`. */
export async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Refusal(413, `Request body over ${MAX_BODY_BYTES} bytes`, { connection: 'close' });
    chunks.push(chunk);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // answered below
  }
  throw new Refusal(400, 'The request body must be a JSON object');
}

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * The token's checks: the bearer header, or the session cookie the page gets
 * by signing in with the token. The cookie's name carries a digest of the
 * token, so two agents on one host keep their own.
 */
export class Credentials {
  private readonly expected: Buffer;
  readonly cookieName: string;
  private readonly session: string;

  constructor(token: string) {
    this.expected = digest(token);
    this.cookieName = `distribute_${digest(`name:${token}`).toString('hex').slice(0, 12)}`;
    this.session = digest(`session:${token}`).toString('base64url');
  }

  /** True when the request carries the token or this endpoint's session cookie. */
  admits(req: IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (header !== undefined) return header.startsWith('Bearer ') && this.matches(header.slice(7));
    const cookie = this.cookie(req.headers.cookie);
    return cookie !== undefined && timingSafeEqual(digest(cookie), digest(this.session));
  }

  matches(token: string): boolean {
    return timingSafeEqual(digest(token), this.expected);
  }

  /** The `Set-Cookie` value that signs the page in: never readable by scripts, never sent from another site. */
  setCookie(secure: boolean): string {
    return `${this.cookieName}=${this.session}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  private cookie(header: string | undefined): string | undefined {
    if (!header) return undefined;
    for (const part of header.split(';')) {
      const at = part.indexOf('=');
      if (at > 0 && part.slice(0, at).trim() === this.cookieName) return part.slice(at + 1).trim();
    }
    return undefined;
  }
}
