/**
 * The transport's config: its options, checked and merged with their defaults once, and
 * what the socket transport's parts share.
 */
import type { Socket } from 'node:net';
import type { Endpoint } from '../../address.js';
import type { Result } from '../../types.js';
import { MAX_FRAME_LIMIT } from './framing.js';
import type { TransportCounters, TransportError, TransportOptions } from './transport.js';
import type { BackendLog } from '../../types.js';

/** Largest UDP payload over IPv4. */
const MAX_UDP_PAYLOAD = 65_507;
/** Largest delay Node's timers accept. */
const MAX_TIMER_MS = 2_147_483_647;

/** Defaults of {@link TransportOptions}, merged once when the transport opens. */
const TRANSPORT_DEFAULTS = {
  bindHost: '0.0.0.0',
  bindPort: 0,
  maxPacketBytes: 1400,
  maxIncomingPacketBytes: MAX_UDP_PAYLOAD,
  maxStreamBytes: 4 * 1024 * 1024,
  streamTimeoutMs: 5000,
  watchRetryMs: 5000,
  maxWatchersIn: 6,
  maxStreamsIn: 64,
} as const;

/** Every option, defaults filled in. */
export type TransportConfig = {
  readonly [K in Exclude<keyof TransportOptions, 'advertiseHost' | 'advertisePort' | 'logger' | 'maxBufferedBytes'>]-?: NonNullable<TransportOptions[K]>;
} & {
  readonly maxBufferedBytes: number;
  readonly advertiseHost: string | undefined;
  readonly advertisePort: number | undefined;
  readonly logger: BackendLog;
};

const quiet: BackendLog = { debug() {}, warn() {}, error() {} };

function invalid(option: keyof TransportOptions, value: unknown, expected: string): Result<never, TransportError> {
  return { ok: false, error: { type: 'InvalidOption', option, value, message: `${option} must be ${expected}, got ${String(value)}` } };
}

/** The options checked and merged with the defaults; `InvalidOption` names the first wrong one. */
export function resolveTransportConfig(options: TransportOptions): Result<TransportConfig, TransportError> {
  const s: TransportConfig = {
    ...TRANSPORT_DEFAULTS,
    ...definedOnly(options),
    maxBufferedBytes: options.maxBufferedBytes ?? 4 * (options.maxStreamBytes ?? TRANSPORT_DEFAULTS.maxStreamBytes),
    advertiseHost: options.advertiseHost,
    advertisePort: options.advertisePort,
    logger: options.logger ?? quiet,
  };
  const integers: [keyof TransportOptions, number | undefined, number, number][] = [
    ['bindPort', s.bindPort, 0, 65_535],
    ['advertisePort', s.advertisePort, 1, 65_535],
    ['maxPacketBytes', s.maxPacketBytes, 1, MAX_UDP_PAYLOAD],
    ['maxIncomingPacketBytes', s.maxIncomingPacketBytes, 1, 65_535],
    ['maxStreamBytes', s.maxStreamBytes, 1, MAX_FRAME_LIMIT],
    ['streamTimeoutMs', s.streamTimeoutMs, 1, MAX_TIMER_MS],
    ['watchRetryMs', s.watchRetryMs, 1, MAX_TIMER_MS],
    ['maxWatchersIn', s.maxWatchersIn, 0, 65_535],
    ['maxStreamsIn', s.maxStreamsIn, 1, 65_535],
    ['maxBufferedBytes', s.maxBufferedBytes, s.maxStreamBytes, Number.MAX_SAFE_INTEGER],
  ];
  for (const [option, value, min, max] of integers) {
    if (value === undefined && option === 'advertisePort') continue;
    if (!Number.isInteger(value) || value! < min || value! > max) return invalid(option, value, `an integer from ${min} to ${max}`);
  }
  if (typeof s.bindHost !== 'string' || s.bindHost === '') return invalid('bindHost', s.bindHost, 'a host name or IP address');
  if (s.advertiseHost !== undefined && (typeof s.advertiseHost !== 'string' || s.advertiseHost === '')) {
    return invalid('advertiseHost', s.advertiseHost, 'a host name or IP address');
  }
  return { ok: true, value: s };
}

/** Drops `undefined` fields, so they do not hide the defaults when spread. */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** What the socket transport's parts (serving, requests, watches) share. */
export interface Shared {
  /** Where others reach this node. */
  readonly address: Endpoint;
  readonly config: TransportConfig;
  /** Incoming watch connections held, each closed by `evict`; members' first to be kept. */
  readonly watchers: Set<{ readonly member: boolean; evict(): void }>;
  /** Whether `address` is a live member's (see `Transport.checkWatchers`). */
  isMember(address: string): boolean;
  readonly stats: TransportCounters;
  readonly log: BackendLog;
  /** True once `close` began. */
  closed(): boolean;
  /** Counts an open TCP socket until it closes, and ends it on `close`. */
  track(socket: Socket): void;
  /** Counts (and now and then logs) a handler that threw. */
  handlerFailed(which: string, error: unknown): void;
}
