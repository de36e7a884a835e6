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
import {
  errorMessage,
  type Adapter,
  type BackendCommand,
  type BackendContext,
  type BackendInput,
  type BackendLog,
  type BackendReport,
  type BackendRuntime,
  type BackendSession,
  type SyncResult,
} from './backend.js';
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

/**
 * The full default options for an adapter registered under `name`: sync every
 * 5000 ms, each bounded by 10000 ms, telemetry prefix `discovery`, and
 * `defaultRetryConfig`.
 *
 * @example
 * ```ts
 * const options = defaultOptions('my_discovery');
 * options.syncIntervalMs; // 5000
 * ```
 */
export function defaultOptions(name: string = defaultAdapterName): AdapterOptions {
  return {
    name,
    nodeId: generateNodeId(),
    metadata: {},
    syncIntervalMs: 5000,
    syncTimeoutMs: 10_000,
    telemetryPrefix: 'discovery',
    seedPeers: [],
    retryConfig: defaultRetryConfig,
    onPeerUp: undefined,
    custom: {},
    logger: undefined,
    stopTimeoutMs: 5000,
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
  const defaults = defaultOptions(input.name ?? defaultAdapterName);
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

/** Waits for `work`, but not past `signal`: a hung backend call must not hold up the commands after it. */
function until(work: Promise<unknown>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([work.then(() => undefined), aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
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
    fromCallback<BackendCommand, BackendInput>(({ input, sendBack, receive }) => {
      const runner = new SessionRunner(input, log, (event) => sendBack(event));
      runner.start(start);
      receive((command) => runner.command(command));
      return () => runner.stop();
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

/** One backend session behind its command queue; see `defineAdapter`. */
class SessionRunner {
  private session: BackendSession | undefined;
  /** Set once the actor is stopped or the session has left: no reports, no more commands. */
  private ended = false;
  /** Set when `leave` is received: later commands are dropped, the leave runs last. */
  private leaving = false;
  private closing: Promise<void> | undefined;
  private syncAbort: AbortController | undefined;
  /** Cuts a graceful leave short when the actor is stopped under it. */
  private readonly stopped = new AbortController();
  /** The session's one queue: `start` first, then every command in the order received. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly input: BackendInput,
    private readonly log: BackendLog,
    private readonly report: (event: BackendReport) => void,
  ) {}

  start(start: (context: BackendContext) => Promise<BackendSession>): void {
    const context: BackendContext = {
      input: this.input,
      log: this.log,
      report: (changes) => {
        if (!this.ended && changes.length > 0) this.report({ type: 'backend.changes', changes });
      },
      lost: (message) => {
        if (!this.ended) this.report({ type: 'backend.lost', message });
      },
      interrupted: (message) => {
        if (!this.ended) this.report({ type: 'backend.interrupted', message });
      },
    };
    this.queue = start(context).then(
      (started) => {
        this.session = started;
        if (!this.ended) this.report({ type: 'backend.ready', self: started.self });
      },
      (error: unknown) => {
        if (!this.ended) this.report({ type: 'backend.startFailed', message: errorMessage(error) });
      },
    );
  }

  command(command: BackendCommand): void {
    // A key operation changes only the keyring, which stays until the session closes: answered at once, leaving or not.
    if (command.type === 'backend.keys') return command.use(this.ended ? undefined : this.session?.keyring);
    if (this.ended || this.leaving) return;
    switch (command.type) {
      case 'backend.sync': {
        // A newer sync supersedes one still running or waiting.
        this.syncAbort?.abort();
        const abort = new AbortController();
        this.syncAbort = abort;
        this.enqueue((current) => this.sync(current, command.seq, abort));
        break;
      }
      case 'backend.setMetadata':
        this.enqueue((current) => this.setMetadata(current, command.metadata));
        break;
      case 'backend.join':
        this.enqueue((current) => this.join(current, command.seeds));
        break;
      case 'backend.leave':
        this.leaving = true;
        // A sync in flight no longer matters; do not make the leave wait for it.
        this.syncAbort?.abort();
        this.enqueue((current) => this.leave(current), () => void this.leave(undefined));
        break;
    }
  }

  stop(): void {
    if (this.ended && this.closing) return;
    this.ended = true;
    this.syncAbort?.abort();
    this.stopped.abort();
    // Close after the command that is running, skipping those still waiting.
    this.enqueue(() => this.closeOnce());
  }

  private enqueue(task: (current: BackendSession) => Promise<void>, whenNoSession?: () => void): void {
    this.queue = this.queue
      .then(() => (this.session ? task(this.session) : whenNoSession?.()))
      .catch((error: unknown) => this.log.error({ err: error }, 'Backend command failed'));
  }

  private closeOnce(): Promise<void> {
    const current = this.session;
    if (!current) return Promise.resolve();
    this.closing ??= Promise.resolve()
      .then(() => current.close())
      .catch((error: unknown) => this.log.error({ err: error }, 'Backend close failed'));
    return this.closing;
  }

  private sync(current: BackendSession, seq: number, abort: AbortController): Promise<void> {
    if (this.ended || abort.signal.aborted) return Promise.resolve();
    const started = performance.now();
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(this.input.syncTimeoutMs)]);
    // The machine's own timer bounds a sync and records the Timeout; a late answer is not reported.
    const silenced = () => this.ended || signal.aborted;
    const work = Promise.resolve()
      .then(() => current.sync(signal))
      .then(
        (result) => {
          if (!silenced()) this.report(syncedReport(current, result, seq, performance.now() - started));
        },
        (error: unknown) => {
          if (silenced()) return;
          this.report({ type: 'backend.syncFailed', seq, durationMs: performance.now() - started, message: errorMessage(error) });
        },
      );
    return until(work, signal);
  }

  private setMetadata(current: BackendSession, metadata: PeerMetadata): Promise<void> {
    if (this.ended) return Promise.resolve();
    const work = Promise.resolve()
      .then(() => current.setMetadata?.(metadata))
      .catch((error: unknown) => this.log.error({ err: error }, 'Backend failed to publish metadata'));
    return until(work, AbortSignal.any([this.stopped.signal, AbortSignal.timeout(this.input.syncTimeoutMs)]));
  }

  private async join(current: BackendSession, seeds: readonly string[]): Promise<void> {
    if (this.ended) return;
    await Promise.resolve()
      .then(() => current.join?.(seeds))
      .catch((error: unknown) => this.log.error({ err: error }, 'Backend failed to join'));
  }

  private async leave(current: BackendSession | undefined): Promise<void> {
    if (current?.leave && !this.ended) {
      const signal = AbortSignal.any([this.stopped.signal, AbortSignal.timeout(this.input.stopTimeoutMs)]);
      await until(
        Promise.resolve()
          .then(() => current.leave!(signal))
          .catch((error: unknown) => this.log.warn({ err: error }, 'Graceful leave failed')),
        signal,
      );
    }
    await this.closeOnce();
    if (this.ended) return;
    this.ended = true;
    this.report({ type: 'backend.left' });
  }
}

/** The `backend.synced` report of one sync's result. */
function syncedReport(current: BackendSession, result: SyncResult, seq: number, durationMs: number): BackendReport {
  return {
    type: 'backend.synced',
    seq,
    at: Date.now(),
    durationMs,
    ...(result.peers ? { peers: result.peers } : {}),
    ...(result.missingReason ? { missingReason: result.missingReason } : {}),
    ...(result.degraded !== undefined ? { degraded: result.degraded } : {}),
    ...(current.counters ? { counters: current.counters() } : {}),
    ...(current.probeRttMs ? { probeRttMs: current.probeRttMs() } : {}),
    ...(current.facts ? { facts: current.facts() } : {}),
  };
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
    seed: randomBytes(4).readUInt32LE(),
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
