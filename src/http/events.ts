/**
 * `GET /v1/events`: Server-Sent Events. The stream opens with a `Health`
 * event (adapter state, health, self), then the current peers as `PeerUp`
 * (the facade's replay, so nothing falls between the table and the live
 * events), then every membership event, suspicion change and health change
 * as it happens. A client that does not read is cut off once
 * `maxBufferedBytes` wait for it; the adapter never waits for a client.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Discovery } from '../discovery/facade.js';
import type { AdapterActorRef } from '../../machines/adapter.machine.js';
import { selectPeers, selectSelf, selectState } from '../../machines/selectors.js';
import type { EventHub } from '../discovery/hub.js';
import type { DiscoveryEvent, HealthStatus, PeerInfo, PeerSuspicionEvent } from '../discovery/types.js';

/** The `Health` event: where the adapter's statechart is, and why. */
export interface HealthEvent {
  readonly type: 'Health';
  /** The statechart state: `starting`, `up`, `degraded`, `down`, `stopping`, `stopped`. */
  readonly state: string;
  readonly status: HealthStatus;
  readonly self: PeerInfo;
}

/** Every event on the stream; each carries `at`, epoch ms when it was sent. */
export type StreamEvent = (DiscoveryEvent | PeerSuspicionEvent | HealthEvent) & { readonly at: number };

export interface StreamOptions {
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
}

function frame(event: DiscoveryEvent | PeerSuspicionEvent | HealthEvent): string {
  return `event: ${event.type}\ndata: ${JSON.stringify({ ...event, at: Date.now() })}\n\n`;
}

function healthOf(discovery: Discovery, actor: AdapterActorRef): HealthEvent {
  const snapshot = actor.getSnapshot();
  return { type: 'Health', state: selectState(snapshot), status: discovery.health(), self: selectSelf(snapshot) };
}

/**
 * Streams `discovery`'s events to `res` until the client goes, the adapter
 * stops, or the client falls `maxBufferedBytes` behind.
 */
export function streamEvents(
  discovery: Discovery,
  hub: EventHub,
  actor: AdapterActorRef,
  req: IncomingMessage,
  res: ServerResponse,
  options: StreamOptions,
): void {
  let closed = false;
  const cleanups: (() => void)[] = [];
  const close = (cutOff: boolean) => {
    if (closed) return;
    closed = true;
    for (const cleanup of cleanups) cleanup();
    if (cutOff) res.destroy();
    else res.end();
  };
  const send = (text: string) => {
    if (closed) return;
    res.write(text);
    // Bytes the socket has not taken: a client that stopped reading is dropped, not waited for.
    if (res.writableLength > options.maxBufferedBytes) close(true);
  };

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  // The browser's EventSource reconnects after this many ms when the agent goes away.
  res.write('retry: 1000\n\n');

  let last = healthOf(discovery, actor);
  send(frame(last));
  // The facade's replay, with suspicion changes besides: the table is read and the subscriber
  // added in one synchronous step, so nothing falls between them, and one queue keeps the order.
  const replay = selectPeers(actor.getSnapshot()).map((peer): DiscoveryEvent => ({ type: 'PeerUp', peer }));
  // Delivery is synchronous, so the queue only holds one burst; the byte bound is what limits a client.
  const id = hub.addWithSuspicion((event) => send(frame(event)), replay, 1_000_000, () => queueMicrotask(() => close(false)));
  cleanups.push(() => hub.remove(id));
  const snapshots = actor.subscribe({
    next: () => {
      const now = healthOf(discovery, actor);
      if (now.state !== last.state || JSON.stringify(now.status) !== JSON.stringify(last.status)) {
        last = now;
        send(frame(now));
      }
    },
    // The adapter ended: so does the stream; the client reconnects to whatever runs next.
    error: () => queueMicrotask(() => close(false)),
    complete: () => {
      send(frame(healthOf(discovery, actor)));
      queueMicrotask(() => close(false));
    },
  });
  cleanups.push(() => snapshots.unsubscribe());
  const heartbeat = setInterval(() => send(': keep-alive\n\n'), options.heartbeatMs);
  heartbeat.unref();
  cleanups.push(() => clearInterval(heartbeat));
  req.once('close', () => close(false));
  res.once('close', () => close(false));
}
