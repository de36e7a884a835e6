/**
 * What the command prints. Membership changes and status lines go to stdout:
 * one JSON object per line with `--json` or when stdout is not a terminal,
 * a readable line otherwise. Diagnostics (the library's own log) go to stderr
 * at `--log-level`.
 */
import pino, { type Level, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { DiscoveryEvent, PeerMetadata } from '../discovery.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Output {
  /** Membership changes and status lines. */
  readonly out: Logger;
  /** Diagnostics, at the chosen level. */
  readonly log: Logger;
  readonly json: boolean;
}

/** Builds the two loggers; pretty printing is synchronous so nothing is lost on exit. */
export function createOutput(options: { json: boolean; level: LogLevel }): Output {
  const json = options.json || !process.stdout.isTTY;
  const base = { base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  const out = json
    ? pino(base, pino.destination({ dest: 1, sync: true }))
    : pino(base, pretty({ sync: true, destination: 1, ignore: 'pid,hostname', hideObject: true, translateTime: 'HH:MM:ss.l' }));
  const log = json
    ? pino({ ...base, level: options.level as Level }, pino.destination({ dest: 2, sync: true }))
    : pino(
        { ...base, level: options.level as Level },
        pretty({ sync: true, destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }),
      );
  return { out, log, json };
}

export const formatMeta = (metadata: PeerMetadata) =>
  Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** One line per membership change, with every field a person needs. */
export function printEvent(out: Logger, event: DiscoveryEvent): void {
  const { peer } = event;
  const fields = {
    event: event.type,
    peer: peer.id,
    address: peer.address ?? null,
    metadata: peer.metadata,
    ...(event.type === 'PeerDown'
      ? { reason: event.reason.type === 'Left' ? 'left' : 'failed', ...(event.reason.type === 'Failed' ? { detail: event.reason.message } : {}) }
      : {}),
  };
  const why =
    event.type === 'PeerDown' ? (event.reason.type === 'Left' ? ' (left)' : ` (failed: ${event.reason.message})`) : '';
  const meta = formatMeta(peer.metadata);
  out.info(fields, `${event.type} ${peer.id} ${peer.address ?? '-'}${meta ? ` ${meta}` : ''}${why}`);
}
