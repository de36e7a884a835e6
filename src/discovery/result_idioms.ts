/**
 * Results that also work with the language's own idioms: a `Result` whose
 * value ends at the end of a `using` scope, or that a `for await` reads. The
 * added methods are not enumerable, so the Result still prints, spreads and
 * compares as `{ ok, value }` or `{ ok, error }`, and `if (r.ok)` narrows as before.
 */
import { DiscoveryFailure, type DiscoveryError, type Result } from './types.js';

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
