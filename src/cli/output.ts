/**
 * What the command prints, split as serf splits it:
 *
 * - the agent's output (membership changes, status lines) on stdout, always:
 *   one JSON object per line with `--json` or when stdout is not a terminal,
 *   a readable line otherwise;
 * - diagnostics (the library's own log) on stderr as pino logs, at
 *   `--log-level`.
 *
 * pino is loaded on the first diagnostic that passes the level, and
 * pino-pretty (an optional peer) only on a terminal; without it diagnostics
 * are plain lines. A run that logs nothing loads neither.
 */
import { createRequire } from 'node:module';
import type { DiscoveryEvent, DiscoveryLogger, LogFn, PeerMetadata } from '../discovery.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

// pino's numbers for its levels.
const LEVEL_VALUES: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

/** Writes one line of the agent's output: fields as JSON, or `text` for a person. */
export type Print = (fields: Record<string, unknown>, text: string) => void;

export interface Output {
  /** Membership changes and status lines, on stdout, whatever the log level. */
  readonly print: Print;
  /** Diagnostics on stderr, at the chosen level. */
  readonly log: DiscoveryLogger;
  readonly json: boolean;
}

const clock = (date: Date) => date.toISOString().slice(11, 23);

let stdoutReader: AbortController | undefined;

/**
 * Aborts when stdout's reader has gone (`distribute agent | head -1`): the
 * write fails with EPIPE, which ends the output, not the program. Called
 * once at start so that no verb dies of it with a stack trace.
 */
export function stdoutClosed(): AbortSignal {
  if (!stdoutReader) {
    const reader = (stdoutReader = new AbortController());
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
      reader.abort();
    });
  }
  return stdoutReader.signal;
}

/** Writes to stdout while someone reads it; after EPIPE, nothing. */
function write(text: string): void {
  if (!stdoutClosed().aborted) process.stdout.write(text);
}

/** The printer and the diagnostics logger for one run. */
export function createOutput(options: { json: boolean; level: LogLevel }): Output {
  const json = options.json || !process.stdout.isTTY;
  const print: Print = json
    ? (fields, text) => write(`${JSON.stringify({ time: new Date().toISOString(), ...fields, msg: text })}\n`)
    : (_, text) => write(`[${clock(new Date())}] ${text}\n`);
  return { print, log: diagnostics(options.level, json), json };
}

// pino and pino-pretty are CommonJS: `require` loads them synchronously at the first log line.
const require = createRequire(import.meta.url);

interface PinoLike extends DiscoveryLogger {
  child(bindings: Record<string, unknown>): PinoLike;
}

function makePino(level: LogLevel, json: boolean): PinoLike {
  const pino = require('pino') as typeof import('pino').default;
  const options = { level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (json) return pino(options, pino.destination({ dest: 2, sync: true }));
  let pretty: typeof import('pino-pretty') | undefined;
  try {
    pretty = require('pino-pretty') as typeof import('pino-pretty');
  } catch {
    // pino-pretty is optional: plain lines then.
  }
  if (pretty) return pino(options, pretty({ sync: true, destination: 2, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' }));
  return pino(options, { write: (record: string) => process.stderr.write(plainLine(record)) });
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One pino record as `[time] LEVEL: message key=value ...`. */
export function plainLine(record: string): string {
  const { level, time, msg, ...rest } = JSON.parse(record) as { level: number; time: string; msg?: string } & Record<string, unknown>;
  const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `[${String(time).slice(11, 23)}] ${LEVEL_NAMES[level] ?? level}: ${[msg ?? '', ...fields].join(' ').trim()}\n`;
}

/** A logger that checks the level itself and makes the pino logger behind it on first use. */
function diagnostics(level: LogLevel, json: boolean): DiscoveryLogger {
  const threshold = LEVEL_VALUES[level];
  let root: PinoLike | undefined;
  const lazy = (resolve: () => PinoLike): DiscoveryLogger => {
    let real: PinoLike | undefined;
    const method =
      (name: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
      (data, message) => {
        if (LEVEL_VALUES[name] < threshold) return;
        real ??= resolve();
        real[name](data, message);
      };
    return {
      debug: method('debug'),
      info: method('info'),
      warn: method('warn'),
      error: method('error'),
      child: (bindings) => lazy(() => (real ?? resolve()).child(bindings)),
    };
  };
  return lazy(() => (root ??= makePino(level, json)));
}

export const formatMeta = (metadata: PeerMetadata) =>
  Object.entries(metadata)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');

/** One line per membership change, with every field a person needs. */
export function printEvent(print: Print, event: DiscoveryEvent): void {
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
  print(fields, `${event.type} ${peer.id} ${peer.address ?? '-'}${meta ? ` ${meta}` : ''}${why}`);
}
