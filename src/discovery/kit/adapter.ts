/**
 * Adapter utilities: defaults, option validation, `defineAdapter` for
 * writing backends, and the builder that turns options into the adapter
 * statechart with its backend and logger in place.
 *
 * @module
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { fromCallback } from 'xstate';
import { adapterMachine, type AdapterLogRecord, type AdapterMachineInput } from '../../../machines/adapter.machine.js';
import type { Adapter, BackendCommand, BackendContext, BackendInput, BackendRuntime, BackendSession } from './backend.js';
import { SessionRunner } from './session-runner.js';
import { warningLogger } from './warnings.js';
import {
  DiscoveryErrors,
  DiscoveryFailure,
  type AdapterOptions,
  type DiscoveryError,
  type DiscoveryLogger,
  type PeerMetadata,
  type RetryConfig,
} from '../types.js';
import { metadataProblem } from '../metadata.js';
import { isRecord } from '../values.js';

/** The registered name of the default (singleton) adapter. */
export const defaultAdapterName = 'distribute_discovery_adapter';

export { MAX_METADATA_BYTES, MAX_METADATA_ENTRIES } from '../metadata.js';

/** The retry defaults: 3 attempts, 100 ms first delay, 5000 ms at most, doubling, no jitter. */
export const defaultRetryConfig: RetryConfig = {
  maxAttempts: 3,
  initialDelayMs: 100,
  maxDelayMs: 5000,
  multiplier: 2,
  jitter: 0,
};

/** A node id unique enough for one host: `<hostname>-<pid>-<4 random hex bytes>`. */
export function generateNodeId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** How often an adapter syncs, how long a sync and a stop may take, unless told otherwise (ms). */
export const defaultTimings = { syncIntervalMs: 5000, syncTimeoutMs: 10_000, stopTimeoutMs: 5000 } as const;

/**
 * The full default options for an adapter registered under `name`: sync every
 * 5000 ms, each bounded by 10000 ms, telemetry prefix `discovery`,
 * `defaultRetryConfig`, and `nodeId`, or an id made up by `generateNodeId`.
 *
 * @example
 * ```ts
 * const options = defaultOptions('my_discovery');
 * options.syncIntervalMs; // 5000
 * ```
 */
export function defaultOptions(name: string = defaultAdapterName, nodeId: string = generateNodeId()): AdapterOptions {
  return {
    name,
    nodeId,
    metadata: {},
    ...defaultTimings,
    telemetryPrefix: 'discovery',
    seedPeers: [],
    retryConfig: defaultRetryConfig,
    onPeerUp: undefined,
    custom: {},
    logger: undefined,
    minPeers: 0,
  };
}

/** Options as users pass them: any subset, retry settings merged field by field. */
export type AdapterOptionsInput = Partial<Omit<AdapterOptions, 'retryConfig'>> & {
  readonly retryConfig?: Partial<RetryConfig>;
};

function positive(field: string, value: unknown): DiscoveryError | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
    ? undefined
    : DiscoveryErrors.invalidConfiguration(field, value, 'a positive, finite number of milliseconds');
}

function nonEmptyString(field: string, value: unknown): DiscoveryError | undefined {
  return typeof value === 'string' && value.trim().length > 0
    ? undefined
    : DiscoveryErrors.invalidConfiguration(field, value, 'a non-empty string');
}

/**
 * Checks metadata: a plain object of at most `MAX_METADATA_ENTRIES` string
 * values, keys non-empty, at most `MAX_METADATA_BYTES` bytes in all. The one
 * metadata-limit check; throws a `DiscoveryFailure` naming what is wrong.
 */
export function validateMetadata(value: unknown, field = 'metadata'): PeerMetadata {
  const problem = metadataProblem(value);
  if (problem) throw new DiscoveryFailure(DiscoveryErrors.invalidConfiguration(`${field}${problem.at}`, problem.found, problem.expected));
  return Object.freeze({ ...(value as Record<string, string>) });
}

/** Merges `input` over the defaults once, then validates every field; throws a `DiscoveryFailure` naming the first wrong one. */
export function resolveOptions(input: AdapterOptionsInput = {}): AdapterOptions {
  if (!isRecord(input)) throw new DiscoveryFailure(DiscoveryErrors.invalidConfiguration('options', input, 'an object'));
  // An id is made up only when none is given (and a wrong one is still refused below).
  const defaults = defaultOptions(input.name ?? defaultAdapterName, typeof input.nodeId === 'string' ? input.nodeId : undefined);
  if (input.retryConfig !== undefined && !isRecord(input.retryConfig)) {
    throw new DiscoveryFailure(DiscoveryErrors.invalidConfiguration('retryConfig', input.retryConfig, 'an object'));
  }
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const options: AdapterOptions = {
    ...defaults,
    ...defined,
    retryConfig: { ...defaults.retryConfig, ...(input.retryConfig ?? {}) },
  };
  const { retryConfig: retry } = options;
  const problem =
    nonEmptyString('name', options.name) ??
    nonEmptyString('nodeId', options.nodeId) ??
    nonEmptyString('telemetryPrefix', options.telemetryPrefix) ??
    positive('syncIntervalMs', options.syncIntervalMs) ??
    positive('syncTimeoutMs', options.syncTimeoutMs) ??
    positive('stopTimeoutMs', options.stopTimeoutMs) ??
    (Number.isSafeInteger(options.minPeers) && options.minPeers >= 0
      ? undefined
      : DiscoveryErrors.invalidConfiguration('minPeers', options.minPeers, 'a whole number of peers, 0 or more')) ??
    positive('retryConfig.initialDelayMs', retry.initialDelayMs) ??
    positive('retryConfig.maxDelayMs', retry.maxDelayMs) ??
    (Number.isInteger(retry.maxAttempts) && retry.maxAttempts >= 1
      ? undefined
      : DiscoveryErrors.invalidConfiguration('retryConfig.maxAttempts', retry.maxAttempts, 'an integer of at least 1')) ??
    (retry.maxDelayMs >= retry.initialDelayMs
      ? undefined
      : DiscoveryErrors.invalidConfiguration(
          'retryConfig.maxDelayMs',
          retry.maxDelayMs,
          `at least retryConfig.initialDelayMs (${retry.initialDelayMs})`,
        )) ??
    (typeof retry.multiplier === 'number' && retry.multiplier >= 1 && Number.isFinite(retry.multiplier)
      ? undefined
      : DiscoveryErrors.invalidConfiguration('retryConfig.multiplier', retry.multiplier, 'a finite number of at least 1')) ??
    (typeof retry.jitter === 'number' && retry.jitter >= 0 && retry.jitter <= 1
      ? undefined
      : DiscoveryErrors.invalidConfiguration('retryConfig.jitter', retry.jitter, 'a number from 0 to 1')) ??
    (Array.isArray(options.seedPeers) && options.seedPeers.every((s) => typeof s === 'string' && s.length > 0)
      ? undefined
      : DiscoveryErrors.invalidConfiguration('seedPeers', options.seedPeers, 'an array of non-empty strings')) ??
    (options.onPeerUp === undefined || typeof options.onPeerUp === 'function'
      ? undefined
      : DiscoveryErrors.invalidConfiguration('onPeerUp', options.onPeerUp, 'a function')) ??
    (isRecord(options.custom) && Object.values(options.custom).every((v) => typeof v === 'string')
      ? undefined
      : DiscoveryErrors.invalidConfiguration('custom', options.custom, 'an object of string values')) ??
    (options.logger === undefined || (isRecord(options.logger) && typeof options.logger.child === 'function')
      ? undefined
      : DiscoveryErrors.invalidConfiguration('logger', options.logger, 'a pino logger (or an object with its methods)'));
  if (problem) throw new DiscoveryFailure(problem);
  return { ...options, metadata: validateMetadata(options.metadata), seedPeers: [...options.seedPeers] };
}

/** The logger an adapter writes to: the user's, scoped to the adapter, or one that shows errors as warnings. */
export function adapterLogger(options: AdapterOptions): DiscoveryLogger {
  return (options.logger ?? warningLogger()).child({ adapter: options.name, node: options.nodeId });
}

/**
 * Turns a session-style backend into backend actor logic: `start` binds
 * resources and returns a session; syncs, metadata changes and the graceful
 * leave are forwarded to it; `close` runs exactly once, however the adapter ends.
 *
 * Commands reach the session one at a time, in the order they were sent: each
 * starts once the one before it has settled (a sync or metadata change waits
 * at most `syncTimeoutMs`, a leave at most `stopTimeoutMs`). Commands sent
 * while `start` runs wait for it; nothing reaches the session after `leave`.
 * An adapter actor that is stopped rather than crashed (its invoking state
 * exited, its root stopped) leaves too, in the background, within
 * `stopTimeoutMs`; only a crash closes the session without `leave`.
 *
 * @example
 * ```ts
 * const fixed = defineAdapter('fixed', async ({ input }) => ({
 *   self: input.self,
 *   sync: async () => ({ peers: [{ id: 'b', metadata: {} }] }),
 *   close: () => {},
 * }));
 * await startLink({ adapter: fixed });
 * ```
 */
export function defineAdapter(kind: string, start: (context: BackendContext) => Promise<BackendSession>): Adapter {
  const backend = ({ log }: BackendRuntime) =>
    fromCallback<BackendCommand, BackendInput>(({ input, self, sendBack, receive }) => {
      const runner = new SessionRunner(input, log, (event) => sendBack(event));
      runner.start(start);
      receive((command) => runner.command(command));
      // The adapter actor stops its backend in two ways: it crashed (its status is
      // `error`), or it was stopped (a state exited, a root stopped). Only a crash
      // goes without a goodbye.
      return () => runner.stop(self._parent?.getSnapshot().status === 'error' ? 'crash' : 'leave');
    });
  return { kind, backend };
}

/**
 * An adapter built from options that are wrong: its `validate` names the
 * problem, so `startLink` and `childSpec` answer `InvalidConfiguration`
 * before anything starts.
 *
 * @example
 * ```ts
 * const problem = DiscoveryErrors.invalidConfiguration('url', 'ftp://x', 'a redis:// URL');
 * invalidAdapter('redis', problem).validate?.(defaultOptions()); // problem
 * ```
 */
export function invalidAdapter(kind: string, problem: DiscoveryError): Adapter {
  return { ...defineAdapter(kind, () => Promise.reject(new Error(problem.message))), validate: () => problem };
}

/** The options the machine keeps in context: plain data only. */
export function machineInput(options: AdapterOptions): AdapterMachineInput {
  return {
    name: options.name,
    self: { id: options.nodeId, metadata: options.metadata },
    seedPeers: options.seedPeers,
    syncIntervalMs: options.syncIntervalMs,
    syncTimeoutMs: options.syncTimeoutMs,
    stopTimeoutMs: options.stopTimeoutMs,
    retry: options.retryConfig,
    custom: options.custom,
    telemetryPrefix: options.telemetryPrefix,
    minPeers: options.minPeers,
    seed: (Math.random() * 2 ** 32) >>> 0,
  };
}

function logRecord(logger: DiscoveryLogger, prefix: string, record: AdapterLogRecord): void {
  switch (record.kind) {
    case 'sync.success':
      logger.debug({ event: `${prefix}.sync.success`, durationMs: record.durationMs, peers: record.peers }, 'Sync succeeded');
      break;
    case 'sync.failure':
      logger.warn(
        { event: `${prefix}.sync.failure`, error: record.error, consecutiveFailures: record.consecutiveFailures },
        'Sync failed',
      );
      break;
    case 'peer.event':
      logger.info(
        {
          event: `${prefix}.peer_event`,
          type: record.event.type,
          peer: record.event.peer.id,
          ...(record.event.type === 'PeerDown' ? { reason: record.event.reason } : {}),
        },
        `${record.event.type} ${record.event.peer.id}`,
      );
      break;
    case 'adapter.error':
      logger.error({ event: `${prefix}.adapter.error`, message: record.message }, record.message);
      break;
  }
}

/**
 * The adapter statechart with this adapter's backend and the logger
 * provided. Create it with `input: machineInput(options)` and
 * `systemId: options.name`.
 */
export function buildAdapterLogic(options: AdapterOptions, adapter: Adapter) {
  const logger = adapterLogger(options);
  const prefix = options.telemetryPrefix;
  return adapterMachine.provide({
    actors: {
      backend: adapter.backend({ log: logger }),
    },
    actions: {
      log: (_, record: AdapterLogRecord) => logRecord(logger, prefix, record),
    },
  });
}

/** The provided adapter machine, as `buildAdapterLogic` returns it. */
export type AdapterLogic = ReturnType<typeof buildAdapterLogic>;
