/**
 * `distribute monitor`: prints an agent's event stream (`GET /v1/events`),
 * one line per event, until the agent goes away or a signal arrives.
 */
import type { DiscoveryEvent, StreamEvent } from '../discovery.js';
import { requestControl, type ControlClient } from './control.js';
import { formatAddress } from './args.js';
import { failure } from './errors.js';
import { printEvent, stdoutClosed, type Output } from './output.js';

/** Splits a Server-Sent Events body into the `data` of each event. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block
        .split('\n')
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(line.startsWith('data: ') ? 6 : 5))
        .join('\n');
      if (data) yield data;
    }
  }
}

/** Where the adapter stops: one stop is one `Health Down`, however many states it passes on the way. */
const STOPPING = new Set(['stopping', 'stopped']);

function show(output: Output, event: StreamEvent, last: { state?: string }): void {
  const { print } = output;
  if (event.type === 'Health') {
    const sameStop = last.state !== undefined && STOPPING.has(last.state) && STOPPING.has(event.state);
    last.state = event.state;
    if (sameStop) return;
    const reason = 'reason' in event.status ? event.status.reason : '';
    print(
      { event: 'Health', state: event.state, status: event.status.type, ...(reason ? { reason } : {}), node: event.self.id },
      `Health ${event.status.type} (${event.state})${reason ? `: ${reason}` : ''}`,
    );
  } else if (event.type === 'PeerSuspicion') {
    const status = event.peer.status ?? 'alive';
    print({ event: 'PeerSuspicion', peer: event.peer.id, address: event.peer.address ?? null, status }, `PeerSuspicion ${event.peer.id} ${status}`);
  } else {
    printEvent(print, event as DiscoveryEvent);
  }
}

/** Prints events until the stream ends (exit 1) or a signal arrives (exit 0). */
export async function runMonitor(client: ControlClient, output: Output): Promise<number> {
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // `distribute monitor | head`: the reader is done, and so is the monitor.
  stdoutClosed().addEventListener('abort', stop, { once: true });
  try {
    const response = await requestControl(client, 'GET', '/v1/events');
    if (!response.ok) throw failure(`agent at ${formatAddress(client.address)} answered ${response.status}`);
    if (!response.body) throw failure('the agent sent no event stream');
    const reading = sseData(response.body);
    // The stream is locked to its reader, so it cannot be cancelled: stopping stops waiting for it.
    const stopped = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve(), { once: true }));
    const last = {};
    const printed = (async () => {
      for await (const data of reading) show(output, JSON.parse(data) as StreamEvent, last);
    })();
    // Once stopped, a stream that breaks later is nobody's error.
    printed.catch(() => undefined);
    await Promise.race([printed, stopped]);
    if (abort.signal.aborted) return 0;
    process.stderr.write('distribute: the agent closed the event stream\n');
    return 1;
  } catch (error) {
    if (abort.signal.aborted) return 0;
    throw error;
  } finally {
    stdoutClosed().removeEventListener('abort', stop);
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
