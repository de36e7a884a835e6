/**
 * Shared types of `distribute/discovery`: peers, events, health, options,
 * errors and the `Result` union every facade function returns.
 *
 * @module
 */

/** Metadata a peer publishes about itself: string keys to string values. */
export type PeerMetadata = Readonly<Record<string, string>>;

/** What is known of one peer. */
export interface PeerInfo {
  /** The peer's unique id within the cluster (a node name). */
  readonly id: string;
  /** The peer's metadata; an empty object when it published none. */
  readonly metadata: PeerMetadata;
  /** Where the peer can be reached (`host:port`), when the adapter knows it. */
  readonly address?: string;
  /**
   * `suspect` while the gossip adapter suspects the peer (it missed probes and
   * may be declared failed soon); absent while it is alive. Entering or leaving
   * suspicion is not a `PeerUpdate`.
   */
  readonly status?: 'suspect';
}

/**
 * A peer entered or left suspicion. Not a membership change: subscribers do
 * not receive it; the adapter actor emits it (`actor.on('PeerSuspicion', ...)`)
 * for views such as the HTTP handler's.
 */
export interface PeerSuspicionEvent {
  readonly type: 'PeerSuspicion';
  /** The peer as it is now: `status: 'suspect'`, or without status when cleared. */
  readonly peer: PeerInfo;
}

/** Why a peer went away: it said goodbye, or it was found to be gone. */
export type PeerDownReason =
  | { readonly type: 'Left' }
  | { readonly type: 'Failed'; readonly message: string };

/** A membership change, as delivered to subscribers. */
export type DiscoveryEvent =
  | { readonly type: 'PeerUp'; readonly peer: PeerInfo }
  | { readonly type: 'PeerUpdate'; readonly peer: PeerInfo; readonly previous: PeerInfo }
  | { readonly type: 'PeerDown'; readonly peer: PeerInfo; readonly reason: PeerDownReason };

/** The health of discovery, read from the adapter's state. */
export type HealthStatus =
  | { readonly type: 'Up' }
  | { readonly type: 'Degraded'; readonly reason: string }
  | { readonly type: 'Down'; readonly reason: string };

/** Health with the facts behind it. */
export interface HealthInfo {
  readonly status: HealthStatus;
  /** Epoch milliseconds of the last successful sync, if any (Gleam: `last_sync_time_ms`). */
  readonly lastSyncTimeMs: number | undefined;
  /** The error of the most recent failed sync, cleared by a success. */
  readonly lastError: DiscoveryError | undefined;
  /** Number of peers currently known, self excluded (Gleam: `known_peers_count`). */
  readonly knownPeersCount: number;
  /** Consecutive failed syncs. */
  readonly consecutiveFailures: number;
}

/** Counters kept by the adapter since it started. */
export interface DiscoveryMetrics {
  readonly syncCount: number;
  readonly syncFailures: number;
  /** Duration of the last completed sync (success or failure), in ms. */
  readonly lastSyncDurationMs: number;
  /** Time spent in completed syncs since start, in ms (with `syncCount`, the mean duration). */
  readonly syncDurationTotalMs: number;
  readonly eventsEmitted: number;
  /** Number of peers currently known, self excluded (Gleam: `known_peers_count`). */
  readonly knownPeersCount: number;
  /** `syncFailures / syncCount`, 0 when no sync ran. */
  readonly errorRate: number;
  /** Adapter-specific counters (e.g. packets dropped as malformed). */
  readonly backend: Readonly<Record<string, number>>;
  /** Events emitted since start, by type. */
  readonly eventsByType: Readonly<Record<DiscoveryEvent['type'], number>>;
  /** Round-trip time of the last direct probe per peer id, in ms, where the adapter measures it (gossip). */
  readonly probeRttMs: Readonly<Record<string, number>>;
  /** The last lookup of the seeds, where the adapter looks them up while running (gossip). */
  readonly seeds?: SeedLookup;
  /**
   * Peers whose UDP probes fail while they answer over TCP (a firewall that
   * only lets TCP through), by id, where the adapter tells (gossip).
   */
  readonly udpUnreachable?: readonly string[];
}

/** One lookup of the configured seeds: when it finished, and the addresses it gave (this node's own left out). */
export interface SeedLookup {
  /** Epoch ms. */
  readonly resolvedAt: number;
  readonly addresses: readonly string[];
}

/** Exponential backoff for failed syncs. */
export interface RetryConfig {
  /** Consecutive failures after which health is `Down`. Default 3. */
  readonly maxAttempts: number;
  /** First retry delay in ms. Default 100. */
  readonly initialDelayMs: number;
  /** Upper bound of the retry delay in ms. Default 5000. */
  readonly maxDelayMs: number;
  /** Growth factor between retries. Default 2. */
  readonly multiplier: number;
  /**
   * Fraction of each delay drawn at random and added or removed, so that many
   * nodes that failed together do not retry together. Default 0 (exact delays).
   */
  readonly jitter: number;
}

/** Options of an adapter; every field has a default (see `defaultOptions`). */
export interface AdapterOptions {
  /** Registered name of the adapter actor. Default `defaultAdapterName`. */
  readonly name: string;
  /** This node's id within the cluster. Default: `<hostname>-<pid>-<random>`. */
  readonly nodeId: string;
  /** This node's metadata, published to the others. */
  readonly metadata: PeerMetadata;
  /** Interval between syncs in ms. Default 5000. */
  readonly syncIntervalMs: number;
  /** Bound on one sync in ms. Default 10000. */
  readonly syncTimeoutMs: number;
  /** Prefix of every log event. Default `discovery`. */
  readonly telemetryPrefix: string;
  /** Peers to contact first (`host:port`), meaning depends on the adapter. */
  readonly seedPeers: readonly string[];
  readonly retryConfig: RetryConfig;
  /** Called (asynchronously) for every `PeerUp`. */
  readonly onPeerUp: ((peer: PeerInfo) => void) | undefined;
  /** Free-form settings a custom adapter may read. */
  readonly custom: Readonly<Record<string, string>>;
  /**
   * Where diagnostics go: a pino logger, or anything with its methods.
   * Default: errors only, as rate-limited process warnings on stderr.
   */
  readonly logger: DiscoveryLogger | undefined;
  /** How long a graceful stop may take before it is cut short, in ms. Default 5000. */
  readonly stopTimeoutMs: number;
  /**
   * A quorum to start: health stays `Degraded` ("Waiting for n peers, k seen")
   * until this many other members are known, and goes back to `Degraded` when
   * fewer remain. Keeps a node from acting as a cluster of its own at start.
   * Default 0 (no quorum).
   */
  readonly minPeers: number;
}

/** One log method, as pino has it: an object of fields, then a message. */
export type LogFn = (data: object, message?: string) => void;

/**
 * The logger the adapter writes to. A pino `Logger` is one; so is any object
 * with these methods, which keeps pino itself out of a library user's start-up.
 */
export interface DiscoveryLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): DiscoveryLogger;
}

/** The few methods of the adapter's logger (`DiscoveryLogger`) a backend uses. */
export type BackendLog = Pick<DiscoveryLogger, 'debug' | 'warn' | 'error'>;

/** Identifies one subscription; pass it to `unsubscribe`. */
export type SubscriptionId = string & { readonly __brand: 'SubscriptionId' };

/** Everything that can go wrong, as a union on `type`. */
export type DiscoveryError =
  | { readonly type: 'StartFailed'; readonly message: string }
  | { readonly type: 'StopFailed'; readonly message: string }
  | { readonly type: 'ShutdownTimeout'; readonly timeoutMs: number; readonly message: string }
  | { readonly type: 'SyncFailed'; readonly message: string }
  | { readonly type: 'PeerNotFound'; readonly peerId: string; readonly message: string }
  | {
      readonly type: 'InvalidConfiguration';
      readonly field: string;
      readonly value: unknown;
      readonly message: string;
    }
  /** `operation` ran `timeoutMs` milliseconds without finishing and was given up. */
  | { readonly type: 'Timeout'; readonly operation: string; readonly timeoutMs: number; readonly message: string }
  | { readonly type: 'SubscriptionFailed'; readonly message: string }
  /** A key function was called on an adapter that does not seal its traffic with keys (or none is running). */
  | { readonly type: 'KeysUnavailable'; readonly message: string };

/** The outcome of a facade call: a value, or a typed error. Never thrown. */
export type Result<T, E = DiscoveryError> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: E };

/**
 * A `DiscoveryError` as a thrown error: the one error shape inside the
 * library (and what a supervised adapter fails its invoke with); the facade
 * turns it into a `Result` once, at its edge.
 */
export class DiscoveryFailure extends Error {
  constructor(readonly error: DiscoveryError) {
    super(error.message);
    this.name = 'DiscoveryFailure';
  }
}

/**
 * Runs `work` and turns a `DiscoveryFailure` it throws into a failed `Result`;
 * anything else thrown is a bug and propagates.
 *
 * @example
 * ```ts fragment
 * const options = attempt(() => resolveOptions(input));
 * ```
 */
export function attempt<T>(work: () => T): Result<T> {
  try {
    return { ok: true, value: work() };
  } catch (error) {
    if (error instanceof DiscoveryFailure) return { ok: false, error: error.error };
    throw error;
  }
}

/** Wraps a value as a successful `Result`. */
export const ok = <T>(value: T): Result<T, never> => ({ ok: true, value });
/** Wraps an error as a failed `Result`. */
export const err = <E>(error: E): Result<never, E> => ({ ok: false, error });

/**
 * Errors worth retrying, as the Gleam module has them: `SyncFailed` and
 * `Timeout`. `StopFailed`, `ShutdownTimeout` and `SubscriptionFailed` are
 * neither transient nor permanent.
 *
 * @example
 * ```ts
 * isTransientError({ type: 'Timeout', operation: 'sync', timeoutMs: 10_000, message: '' }); // true
 * ```
 */
export function isTransientError(error: DiscoveryError): boolean {
  return error.type === 'SyncFailed' || error.type === 'Timeout';
}

/**
 * Errors that retrying will not fix: `InvalidConfiguration`, `PeerNotFound`
 * and `StartFailed`.
 *
 * @example
 * ```ts
 * isPermanentError({ type: 'PeerNotFound', peerId: 'b', message: '' }); // true
 * ```
 */
export function isPermanentError(error: DiscoveryError): boolean {
  return error.type === 'InvalidConfiguration' || error.type === 'PeerNotFound' || error.type === 'StartFailed';
}

/** Builders for each error, so messages are written once. */
export const DiscoveryErrors = {
  startFailed: (message: string): DiscoveryError => ({ type: 'StartFailed', message }),
  stopFailed: (message: string): DiscoveryError => ({ type: 'StopFailed', message }),
  shutdownTimeout: (timeoutMs: number): DiscoveryError => ({
    type: 'ShutdownTimeout',
    timeoutMs,
    message: `Adapter did not stop within ${timeoutMs} ms`,
  }),
  syncFailed: (message: string): DiscoveryError => ({ type: 'SyncFailed', message }),
  peerNotFound: (peerId: string): DiscoveryError => ({
    type: 'PeerNotFound',
    peerId,
    message: `No peer with id ${JSON.stringify(peerId)}`,
  }),
  invalidConfiguration: (field: string, value: unknown, expected: string): DiscoveryError => ({
    type: 'InvalidConfiguration',
    field,
    value,
    message: `Invalid ${field}: ${describeValue(value)}; expected ${expected}`,
  }),
  timeout: (operation: string, timeoutMs: number): DiscoveryError => ({
    type: 'Timeout',
    operation,
    timeoutMs,
    message: `The ${operation} did not finish within ${timeoutMs} ms`,
  }),
  subscriptionFailed: (message: string): DiscoveryError => ({ type: 'SubscriptionFailed', message }),
  keysUnavailable: (message: string): DiscoveryError => ({ type: 'KeysUnavailable', message }),
} as const;

function describeValue(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  try {
    const text = JSON.stringify(value);
    if (text === undefined) return String(value);
    return text.length > 80 ? `${text.slice(0, 80)}…` : text;
  } catch {
    return String(value);
  }
}
