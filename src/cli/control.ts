/**
 * The agent's control endpoint: a small HTTP server on loopback that
 * `distribute members` reads. `GET /v1/members` gives the member table,
 * `GET /v1/health` the adapter's health.
 */
import { createServer, type Server } from 'node:http';
import type { HealthStatus } from '../discovery.js';
import { formatAddress, type HostPort } from './args.js';
import { failure } from './errors.js';
import type { MemberRow } from './members.js';

/** The port `distribute agent` and `distribute members` use by default. */
export const DEFAULT_CONTROL_PORT = 7373;

export interface ControlServer {
  readonly address: HostPort;
  close(): Promise<void>;
}

export interface ControlSource {
  members(): MemberRow[];
  health(): HealthStatus;
}

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

/**
 * Serves the control endpoint. When `fallback` is set and the port is taken,
 * a free port is used instead (the default port, not one the user asked for).
 */
export async function startControl(address: HostPort, source: ControlSource, fallback: boolean): Promise<ControlServer> {
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'Only GET is served' });
    if (req.url === '/v1/members') return send(200, source.members());
    if (req.url === '/v1/health') return send(200, source.health());
    return send(404, { error: `No such endpoint: ${req.url}` });
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

/** Reads the member table from an agent's control endpoint. */
export async function fetchMembers(address: HostPort, timeoutMs: number): Promise<MemberRow[]> {
  const url = `http://${formatAddress(address)}/v1/members`;
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
    const why = cause === 'ECONNREFUSED' ? 'connection refused' : cause === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : cause;
    throw failure(`no agent at ${formatAddress(address)} (${why}); start one with 'distribute agent', or use --join host:port`);
  }
  if (!response.ok) throw failure(`agent at ${formatAddress(address)} answered ${response.status}`);
  return (await response.json()) as MemberRow[];
}
