/**
 * `distribute monitor`: prints an agent's event stream (`GET /v1/events`),
 * one line per event, until the agent goes away or a signal arrives.
 */
import type { DiscoveryEvent, StreamEvent } from '../discovery.js';
import { requestControl, type ControlClient } from './control.js';
import { formatAddress } from './args.js';
import { failure } from './errors.js';
import { printEvent, type Output } from './output.js';

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

function show(output: Output, event: StreamEvent): void {
  const { print } = output;
  if (event.type === 'Health') {
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
  try {
    const response = await requestControl(client, 'GET', '/v1/events');
    if (!response.ok) throw failure(`agent at ${formatAddress(client.address)} answered ${response.status}`);
    if (!response.body) throw failure('the agent sent no event stream');
    const reading = sseData(response.body);
    abort.signal.addEventListener('abort', () => void response.body?.cancel().catch(() => undefined), { once: true });
    for await (const data of reading) show(output, JSON.parse(data) as StreamEvent);
    if (abort.signal.aborted) return 0;
    process.stderr.write('distribute: the agent closed the event stream\n');
    return 1;
  } catch (error) {
    if (abort.signal.aborted) return 0;
    throw error;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
