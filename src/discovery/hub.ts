/**
 * Event fan-out to subscribers. Each subscriber has its own queue, drained
 * asynchronously and in order, so a slow or failing callback holds up only
 * itself, and no callback ever runs inside a state transition.
 */
import { randomUUID } from 'node:crypto';
import type { BackendLog } from './kit/backend.js';
import type { DiscoveryEvent, PeerSuspicionEvent, SubscriptionId } from './types.js';

/** A subscriber callback: may return a promise, which is awaited before its next event. */
export type DiscoveryCallback = (event: DiscoveryEvent) => void | PromiseLike<void>;

/** What the hub carries: membership events, and suspicion changes for the views that ask for them. */
export type HubEvent = DiscoveryEvent | PeerSuspicionEvent;
type HubCallback = (event: HubEvent) => void | PromiseLike<void>;

/** Options of one subscription. */
export interface SubscribeOptions {
  /** Deliver the current peers first, as `PeerUp`, then live events. Default false. */
  readonly replay?: boolean;
  /**
   * Events that may wait for this subscriber before it is cut off (and
   * logged): a bound on memory. Default 10,000, the largest burst a cluster
   * sends at once (one event per member when a node joins a cluster of
   * 10,000), which a subscriber doing a few microseconds of work per event
   * clears in well under a second.
   */
  readonly maxPending?: number;
  /**
   * How far behind, in ms, the subscriber may fall before it is cut off (and
   * logged): the time the oldest event not yet handed to it has waited,
   * checked as events arrive. This is what catches a slow subscriber: one
   * taking a second per event is cut off 30 s behind, with a backlog of
   * about 30 events it could still have caught up on, not hours later with
   * 10,000. Default 30,000.
   */
  readonly maxPendingAgeMs?: number;
}

export const DEFAULT_MAX_PENDING = 10_000;
export const DEFAULT_MAX_PENDING_AGE_MS = 30_000;
// Compact a queue once this many delivered slots sit at its head.
const COMPACT_AFTER = 4096;

class Subscriber {
  private queue: (HubEvent | undefined)[] = [];
  /** When each queued event was queued (`performance.now()`), beside `queue`. */
  private queuedAt: number[] = [];
  private head = 0;
  /** Callback failures so far, for logging the 1st, 2nd, 4th, 8th… only. */
  private failures = 0;
  private loggedFailures = 0;
  private scheduled = false;
  private draining = false;
  closed = false;

  constructor(
    readonly id: SubscriptionId,
    private readonly callback: HubCallback,
    private readonly maxPending: number,
    private readonly maxPendingAgeMs: number,
    private readonly log: BackendLog,
    private readonly onCutOff: (id: SubscriptionId) => void,
    private readonly onClose: ((cutOff: Error | undefined) => void) | undefined,
    private readonly withSuspicion: boolean,
  ) {}

  /** Queues one event; `now` is `performance.now()`, read once per publish rather than once per subscriber. */
  push(event: HubEvent, now: number): void {
    if (this.closed || (event.type === 'PeerSuspicion' && !this.withSuspicion)) return;
    const pending = this.queue.length - this.head;
    const waitedMs = pending > 0 ? Math.round(now - this.queuedAt[this.head]!) : 0;
    if (pending >= this.maxPending || waitedMs > this.maxPendingAgeMs) {
      this.log.warn(
        { subscription: this.id, pending, maxPending: this.maxPending, oldestWaitedMs: waitedMs, maxPendingAgeMs: this.maxPendingAgeMs },
        'Subscriber cut off: it fell too far behind',
      );
      this.close(new Error(`Subscriber fell too far behind (${pending} events pending, the oldest ${waitedMs} ms old) and was cut off`));
      this.onCutOff(this.id);
      return;
    }
    this.queue.push(event);
    this.queuedAt.push(now);
    if (!this.scheduled && !this.draining) {
      this.scheduled = true;
      queueMicrotask(() => void this.drain());
    }
  }

  /** Ends the subscription; `cutOff` says why when it fell behind. */
  close(cutOff?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queuedAt = [];
    this.head = 0;
    this.onClose?.(cutOff);
  }

  private async drain(): Promise<void> {
    this.scheduled = false;
    this.draining = true;
    try {
      while (!this.closed && this.head < this.queue.length) {
        const event = this.queue[this.head]!;
        this.queue[this.head++] = undefined;
        let result: void | PromiseLike<void>;
        try {
          result = this.callback(event);
        } catch (error) {
          this.logFailure(error, event);
          continue;
        }
        if (result !== undefined && result !== null && typeof (result as PromiseLike<void>).then === 'function') {
          try {
            await result;
          } catch (error) {
            this.logFailure(error, event);
          }
        }
        if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
          this.queue = this.queue.slice(this.head);
          this.queuedAt = this.queuedAt.slice(this.head);
          this.head = 0;
        }
      }
      if (this.head === this.queue.length) {
        this.queue.length = 0;
        this.queuedAt.length = 0;
        this.head = 0;
      }
    } finally {
      this.draining = false;
    }
  }

  /** Logs the 1st, 2nd, 4th, 8th… failure, with how many went unlogged since the last line, so one throwing on every event cannot flood the log. */
  private logFailure(error: unknown, event: HubEvent): void {
    const count = ++this.failures;
    if ((count & (count - 1)) !== 0) return;
    const suppressed = count - this.loggedFailures - 1;
    this.loggedFailures = count;
    this.log.error({ subscription: this.id, event: event.type, peer: event.peer.id, err: error, failures: count, suppressed }, 'Subscriber callback failed');
  }
}

/** The subscribers of one adapter name; lives across adapter restarts. */
export class EventHub {
  private readonly subscribers = new Map<SubscriptionId, Subscriber>();

  constructor(private readonly log: BackendLog) {}

  get size(): number {
    return this.subscribers.size;
  }

  /** Queues `event` for every subscriber. Never runs a callback itself. */
  publish(event: HubEvent): void {
    const now = performance.now();
    for (const subscriber of this.subscribers.values()) subscriber.push(event, now);
  }

  /**
   * Adds a subscriber; `initial` events are queued before any later one.
   * `onClose` runs once when the subscription ends for any reason, with an
   * error when the subscriber was cut off for falling behind.
   */
  add(
    callback: DiscoveryCallback,
    initial: readonly DiscoveryEvent[],
    maxPending: number,
    onClose?: (cutOff: Error | undefined) => void,
    maxPendingAgeMs = DEFAULT_MAX_PENDING_AGE_MS,
  ): SubscriptionId {
    // A plain subscriber never receives a suspicion change, so its narrower callback is safe here.
    return this.addSubscriber(callback as HubCallback, initial, maxPending, maxPendingAgeMs, onClose, false);
  }

  /** As `add`, and the subscriber also receives `PeerSuspicion`, in order with the rest (for views). */
  addWithSuspicion(
    callback: HubCallback,
    initial: readonly DiscoveryEvent[],
    maxPending: number,
    onClose?: (cutOff: Error | undefined) => void,
  ): SubscriptionId {
    return this.addSubscriber(callback, initial, maxPending, DEFAULT_MAX_PENDING_AGE_MS, onClose, true);
  }

  private addSubscriber(
    callback: HubCallback,
    initial: readonly DiscoveryEvent[],
    maxPending: number,
    maxPendingAgeMs: number,
    onClose: ((cutOff: Error | undefined) => void) | undefined,
    withSuspicion: boolean,
  ): SubscriptionId {
    const id = randomUUID() as SubscriptionId;
    const subscriber = new Subscriber(
      id,
      callback,
      Math.max(maxPending, initial.length + 1),
      maxPendingAgeMs,
      this.log,
      (gone) => this.subscribers.delete(gone),
      onClose,
      withSuspicion,
    );
    this.subscribers.set(id, subscriber);
    const now = performance.now();
    for (const event of initial) subscriber.push(event, now);
    return id;
  }

  remove(id: SubscriptionId): boolean {
    const subscriber = this.subscribers.get(id);
    if (!subscriber) return false;
    subscriber.close();
    this.subscribers.delete(id);
    return true;
  }

  /** Drops every subscriber and every queued event. */
  close(): void {
    for (const subscriber of this.subscribers.values()) subscriber.close();
    this.subscribers.clear();
  }
}
