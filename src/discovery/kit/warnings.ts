/**
 * The logger an adapter uses when its user gave none. Debug, info and warn
 * records are dropped; errors (a subscriber callback that threw, a backend
 * that failed to close, a crashed adapter) become process warnings on stderr,
 * so they are never silent. Each message is shown at most once per
 * `WARNING_INTERVAL_MS`, with a count of the ones held back, so a callback
 * that throws on every event cannot flood the terminal.
 */
import type { DiscoveryLogger } from '../types.js';

/** At most one warning per message in this many ms. */
export const WARNING_INTERVAL_MS = 10_000;

const lastShown = new Map<string, { at: number; held: number }>();

function describe(data: object): string {
  const error = (data as { err?: unknown }).err;
  if (error instanceof Error) return error.message;
  if (error !== undefined) return String(error);
  return '';
}

function warn(bindings: Record<string, unknown>, data: object, message = 'Discovery error'): void {
  const where = typeof bindings.adapter === 'string' ? ` (adapter ${bindings.adapter})` : '';
  const key = `${message}${where}`;
  const now = Date.now();
  const seen = lastShown.get(key);
  if (seen && now - seen.at < WARNING_INTERVAL_MS) {
    seen.held++;
    return;
  }
  lastShown.set(key, { at: now, held: 0 });
  const cause = describe(data);
  const held = seen && seen.held > 0 ? ` [${seen.held} more since the last one]` : '';
  process.emitWarning(`${key}${cause ? `: ${cause}` : ''}${held}; pass a logger to see every one`, 'DiscoveryWarning');
}

const ignore = () => {};

/** A logger that shows only errors, as rate-limited `DiscoveryWarning`s. */
export function warningLogger(bindings: Record<string, unknown> = {}): DiscoveryLogger {
  return {
    debug: ignore,
    info: ignore,
    warn: ignore,
    error: (data, message) => warn(bindings, data, message),
    child: (more) => warningLogger({ ...bindings, ...more }),
  };
}
