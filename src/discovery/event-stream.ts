/**
 * `events()` as an async iterator over one hub subscription. The hub's
 * per-subscriber queue is the only buffer: the stream's callback returns a
 * promise that settles when the consumer takes the event, so the hub holds
 * the backlog and its limits (`maxPending`, `maxPendingAgeMs`) are the only
 * overflow rules. A subscriber cut off for falling behind ends the stream
 * with that error.
 */
import type { DiscoveryEvent } from './types.js';

/** Live events as an async iterator; `close()` (or `break`, or the end of an `await using` scope) ends it. */
export interface EventStream extends AsyncIterableIterator<DiscoveryEvent> {
  close(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** The stream's side of one hub subscription. */
export class QueuedEventStream implements EventStream {
  /** The one event the hub has handed over and the consumer not yet taken. */
  private offered: { readonly event: DiscoveryEvent; readonly taken: () => void } | undefined;
  private waiting: ((result: IteratorResult<DiscoveryEvent>) => void) | undefined;
  private failure: Error | undefined;
  private ended = false;

  /** `unsubscribe` ends the hub subscription when the consumer closes the stream. */
  constructor(private unsubscribe: () => void = () => {}) {}

  /** Starts the stream once its subscription exists. */
  attach(unsubscribe: () => void): void {
    this.unsubscribe = unsubscribe;
  }

  /** The hub callback: resolves once the consumer has taken `event`. */
  readonly deliver = (event: DiscoveryEvent): Promise<void> =>
    new Promise<void>((taken) => {
      if (this.ended) return taken();
      const wake = this.waiting;
      if (!wake) {
        this.offered = { event, taken };
        return;
      }
      this.waiting = undefined;
      wake({ value: event, done: false });
      taken();
    });

  /** The hub's `onClose`: the adapter stopped, the stream was closed, or it fell behind. */
  readonly closed = (cutOff: Error | undefined): void => {
    this.failure ??= cutOff;
    this.end();
  };

  next(): Promise<IteratorResult<DiscoveryEvent>> {
    const offered = this.offered;
    if (offered) {
      this.offered = undefined;
      offered.taken();
      return Promise.resolve({ value: offered.event, done: false });
    }
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.waiting = resolve));
  }

  return(): Promise<IteratorResult<DiscoveryEvent>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  close(): void {
    if (this.ended) return;
    this.unsubscribe();
    this.end();
  }

  [Symbol.asyncIterator](): EventStream {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  private end(): void {
    this.ended = true;
    // An event handed over before the end stays readable, as it would from any buffer.
    this.waiting?.({ value: undefined, done: true });
    this.waiting = undefined;
  }
}
