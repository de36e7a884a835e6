/** A plain event-stream client over node:http, for tests and benchmarks. */
import { request, type Agent, type ClientRequest } from 'node:http';
import { pushedWaits } from '../support/wait.js';

export interface SseEvent {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

export interface SseClient {
  readonly status: Promise<number>;
  readonly events: SseEvent[];
  /** Resolves once `count` events have arrived, or rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<void>;
  readonly ended: Promise<void>;
  close(): void;
}

export function openSse(url: string, options: { token?: string; agent?: Agent } = {}): SseClient {
  const events: SseEvent[] = [];
  const waits = pushedWaits();
  let resolveStatus: (status: number) => void = () => {};
  let resolveEnded: () => void = () => {};
  const status = new Promise<number>((resolve) => (resolveStatus = resolve));
  const ended = new Promise<void>((resolve) => (resolveEnded = resolve));
  const req: ClientRequest = request(url, {
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
    ...(options.agent ? { agent: options.agent } : {}),
  });
  req.on('response', (res) => {
    resolveStatus(res.statusCode ?? 0);
    let buffer = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        let data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) event = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        if (data) events.push({ event, data: JSON.parse(data) as Record<string, unknown> });
      }
      waits.wake();
    });
    res.on('close', () => {
      resolveEnded();
      waits.wake();
    });
  });
  req.on('error', () => {
    resolveStatus(0);
    resolveEnded();
  });
  req.end();
  const waitFor = (count: number, timeoutMs = 10_000) =>
    waits.until(
      () => (events.length >= count ? true : undefined),
      timeoutMs,
      () => `${count} events, got ${events.length}: ${JSON.stringify(events.map((e) => e.event))}`,
    ).then(() => undefined);
  return { status, events, waitFor, ended, close: () => req.destroy() };
}
