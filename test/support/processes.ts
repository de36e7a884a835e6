/** Helpers for tests and benchmarks that run real child processes. */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { Readable } from 'node:stream';

/** A port free on 127.0.0.1 for both TCP and UDP at the time of asking. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
    await new Promise((resolve) => server.close(resolve));
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      udp.once('error', () => resolve(false));
      udp.bind(port, '127.0.0.1', () => resolve(true));
    });
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) return port;
  }
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
