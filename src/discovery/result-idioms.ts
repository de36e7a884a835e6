/**
 * Results that also work with the language's own idioms: a `Result` whose
 * value ends at the end of a `using` scope, or that a `for await` reads. The
 * added methods are not enumerable, so the Result still prints, spreads and
 * compares as `{ ok, value }` or `{ ok, error }`, and `if (r.ok)` narrows as before.
 */
import type { EventStream } from './event-stream.js';
import type { AdapterHandle } from './handle.js';
import type { Subscription } from './subscription.js';
import { DiscoveryFailure, type DiscoveryError, type DiscoveryEvent, type Result } from './types.js';

/**
 * What `startLink` resolves to: a `Result`, which an `await using`
 * declaration also ends (it stops the adapter it started; a failed start has
 * nothing to stop).
 */
export type StartResult = Result<AdapterHandle> & AsyncDisposable;

/** What `subscription` returns: a `Result` that a `using` declaration ends (it unsubscribes). */
export type SubscriptionResult = Result<Subscription> & Disposable & AsyncDisposable;

/**
 * What `events` returns: a `Result` that is also the stream. `for await`
 * reads it (a failed one rejects at once with its `DiscoveryFailure`), and
 * `await using` closes it.
 */
export type EventsResult = Result<EventStream> & AsyncIterable<DiscoveryEvent> & AsyncDisposable;

/** A copy of `result` carrying `methods`, not enumerable. */
export function withIdioms<T, M extends object>(result: Result<T>, methods: M): Result<T> & M {
  const copy = { ...result };
  for (const key of Reflect.ownKeys(methods)) {
    Object.defineProperty(copy, key, { value: (methods as Record<PropertyKey, unknown>)[key], enumerable: false, configurable: true });
  }
  return copy as Result<T> & M;
}

/** An iterator that fails at once, with the error as a `DiscoveryFailure`: what a `for await` over a failed Result meets. */
export function failingIterator<T>(error: DiscoveryError): AsyncIterableIterator<T> {
  return {
    next: () => Promise.reject(new DiscoveryFailure(error)),
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

/** `startLink`'s Result, ending the adapter at the end of an `await using` scope. */
export function startResult(started: Result<AdapterHandle>): StartResult {
  return withIdioms(started, { [Symbol.asyncDispose]: () => (started.ok ? started.value[Symbol.asyncDispose]() : Promise.resolve()) });
}

/** `subscription`'s Result, unsubscribing at the end of a `using` scope. */
export function subscriptionResult(subscribed: Result<Subscription>): SubscriptionResult {
  const end = () => (subscribed.ok ? subscribed.value[Symbol.dispose]() : undefined);
  return withIdioms(subscribed, { [Symbol.dispose]: end, [Symbol.asyncDispose]: async () => end() });
}

/** `events`'s Result, read by `for await` and closed at the end of an `await using` scope. */
export function eventsResult(opened: Result<EventStream>): EventsResult {
  return withIdioms(opened, {
    [Symbol.asyncIterator]: () => (opened.ok ? opened.value : failingIterator<DiscoveryEvent>(opened.error)),
    [Symbol.asyncDispose]: () => (opened.ok ? opened.value[Symbol.asyncDispose]() : Promise.resolve()),
  });
}
