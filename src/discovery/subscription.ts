/** A subscription as an object, and the checks of a subscriber's options. */
import { DEFAULT_MAX_PENDING, DEFAULT_MAX_PENDING_AGE_MS, type SubscribeOptions } from './hub.js';
import { DiscoveryErrors, err, ok, type Result, type SubscriptionId } from './types.js';

/** A subscription as an object: `unsubscribe()` ends it, and so does the end of a `using` scope. */
export interface Subscription {
  readonly id: SubscriptionId;
  /** Ends it; a second call is no error. */
  unsubscribe(): Result<void>;
  [Symbol.dispose](): void;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Checks subscribe options once; `SubscriptionFailed` says which is wrong. */
export function checkSubscriber(callback: unknown, options: SubscribeOptions): Result<{ maxPending: number; maxPendingAgeMs: number }> {
  if (typeof callback !== 'function') {
    return err(DiscoveryErrors.subscriptionFailed(`The callback must be a function, got ${callback === null ? 'null' : typeof callback}`));
  }
  const maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  if (!(Number.isInteger(maxPending) && maxPending > 0)) {
    return err(DiscoveryErrors.subscriptionFailed(`maxPending must be a positive integer, got ${String(maxPending)}`));
  }
  const maxPendingAgeMs = options.maxPendingAgeMs ?? DEFAULT_MAX_PENDING_AGE_MS;
  if (!(Number.isFinite(maxPendingAgeMs) && maxPendingAgeMs > 0)) {
    return err(DiscoveryErrors.subscriptionFailed(`maxPendingAgeMs must be a positive number of milliseconds, got ${String(maxPendingAgeMs)}`));
  }
  return ok({ maxPending, maxPendingAgeMs });
}

/** A subscription id as an object whose end is idempotent. */
export function subscriptionObject(id: SubscriptionId, unsubscribe: (id: SubscriptionId) => Result<void>): Subscription {
  let ended: Result<void> | undefined;
  const end = () => (ended ??= unsubscribe(id));
  return { id, unsubscribe: end, [Symbol.dispose]: () => void end(), [Symbol.asyncDispose]: async () => void end() };
}
