/** Helpers for tests and benchmarks that run real child processes. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';

/**
 * The first port the kernel hands out for a bind to port 0 and for outgoing
 * connections (the low end of Linux's ip_local_port_range), when known.
 */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined; // Not Linux.
  }
}

/**
 * Where this process takes ports from: a slice of its own below the kernel's
 * ephemeral range. A port taken there is not handed to a bind to port 0 or to
 * an outgoing connection (a control port, a fetch, a Redis client) between
 * being found free and being bound by the agent it was found for, and vitest's
 * workers (VITEST_POOL_ID) do not share slices.
 */
const slice = (() => {
  const floor = 16_384;
  const low = ephemeralLow();
  if (low === undefined || low - floor < 4_096) return undefined;
  const slices = 8;
  const size = Math.floor((low - floor) / slices);
  const index = (Number(process.env.VITEST_POOL_ID) || process.pid) % slices;
  const start = floor + index * size;
  return { start, size, next: Math.floor(Math.random() * size) };
})();

async function isFree(port: number): Promise<boolean> {
  const server = createServer();
  const tcp = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!tcp) return false;
  await new Promise((resolve) => server.close(resolve));
  const udp = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    udp.once('error', () => resolve(false));
    udp.bind(port, '127.0.0.1', () => resolve(true));
  });
  await new Promise<void>((resolve) => udp.close(() => resolve()));
  return ok;
}

/**
 * A port free on 127.0.0.1 for both TCP and UDP at the time of asking, from
 * this process's slice below the ephemeral range (any free port where the
 * range is unknown).
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; ; tries++) {
    let port: number;
    if (slice && tries < slice.size) {
      port = slice.start + (slice.next++ % slice.size);
    } else {
      const server = createServer();
      port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
      await new Promise((resolve) => server.close(resolve));
    }
    if (await isFree(port)) return port;
  }
}

/**
 * Gives this process, and every process it starts from now on, an agent
 * directory of its own (XDG_RUNTIME_DIR) under the temporary directory, so
 * that agents a run starts (and kills) leave nothing in the user's, and the
 * user's verbs do not find them. Answers the function that removes it.
 */
export function ownAgentDirectory(prefix: string): () => void {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  process.env.XDG_RUNTIME_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}

/** Calls `onLine` with each line of `stream`, parsed as JSON when it is JSON. */
export function readLines(stream: Readable, onLine: (line: Record<string, unknown> | string) => void): void {
  let buffer = '';
  stream.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      try {
        onLine(JSON.parse(line) as Record<string, unknown>);
      } catch {
        onLine(line);
      }
    }
  });
}

/** Kills with SIGKILL every child still running, and waits for each to exit (for afterAll). */
export function killChildren(children: readonly ChildProcess[]): Promise<unknown> {
  return Promise.all(
    children.map((child) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}
