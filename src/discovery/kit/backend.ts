/**
 * The contract between the adapter statechart and a backend.
 *
 * A backend is actor logic the adapter machine invokes under the id
 * `backend`. It owns the I/O (sockets, a store client, a DNS resolver) and
 * reports membership; the machine owns health, retries, metrics, the peer
 * table and event fan-out. Most backends are written with `defineAdapter`,
 * which turns a small session object into that actor logic.
 *
 * @module
 */
import type { ActorOptions, AnyActorLogic, CallbackActorLogic } from 'xstate';
import type { AdapterOptions, BackendLog, DiscoveryError, PeerDownReason, PeerInfo, PeerMetadata, SeedLookup } from '../types.js';

export type { BackendLog };

/** A change a push-style backend reports as it happens. */
export type MembershipChange =
  | { readonly type: 'up'; readonly peer: PeerInfo }
  /** The peer entered (`suspect: true`) or left suspicion; no event for subscribers. */
  | { readonly type: 'suspect'; readonly id: string; readonly suspect: boolean }
  | { readonly type: 'down'; readonly id: string; readonly reason: PeerDownReason };

/** What the machine sends to its backend. */
export type BackendCommand =
  /** Run one sync and answer with `backend.synced` or `backend.syncFailed` carrying `seq`. */
  | { readonly type: 'backend.sync'; readonly seq: number }
  /** Publish new metadata for this node. */
  | { readonly type: 'backend.setMetadata'; readonly metadata: PeerMetadata }
  /** Contact more members (`host:port`) and join through them. */
  | { readonly type: 'backend.join'; readonly seeds: readonly string[] }
  /** Leave the cluster gracefully, release everything, then answer `backend.left`. */
  | { readonly type: 'backend.leave' }
  /**
   * Hand the session's keyring to `use` (undefined for a backend without
   * keys), at once: a key operation changes only this member's keyring and
   * waits on no I/O, so it is answered as it arrives, in the order sent.
   */
  | { readonly type: 'backend.keys'; readonly use: (keyring: KeyringControl | undefined) => void };

/** What a backend sends to the machine (its parent). */
export type BackendReport =
  /** Bound and running; `self` carries the address others reach it at. */
  | { readonly type: 'backend.ready'; readonly self: PeerInfo }
  | { readonly type: 'backend.startFailed'; readonly message: string }
  | {
      readonly type: 'backend.synced';
      readonly seq: number;
      /** Epoch ms when the sync finished. */
      readonly at: number;
      readonly durationMs: number;
      /** The full membership, for poll-style backends only; push-style ones report `backend.changes`. */
      readonly peers?: readonly PeerInfo[];
      /** Why peers missing from `peers` are down. */
      readonly missingReason?: PeerDownReason;
      /** The sync worked but something is off (e.g. no seed reachable yet). */
      readonly degraded?: string;
      /** Backend-specific counters, surfaced in `metrics().backend`. */
      readonly counters?: Readonly<Record<string, number>>;
      /** Probe round-trip times by peer id, surfaced in `metrics().probeRttMs`. */
      readonly probeRttMs?: Readonly<Record<string, number>>;
      /** Surfaced in `metrics()`. */
      readonly facts?: BackendFacts;
    }
  | { readonly type: 'backend.syncFailed'; readonly seq: number; readonly durationMs: number; readonly message: string }
  | { readonly type: 'backend.changes'; readonly changes: readonly MembershipChange[] }
  /** The backend lost what it runs on (socket closed, session gone): health is Down until a sync succeeds. */
  | { readonly type: 'backend.lost'; readonly message: string }
  /**
   * The feed of changes broke (a watch stream, a pub/sub connection): health
   * is Degraded with `message` at once, until a sync finds the feed back.
   */
  | { readonly type: 'backend.interrupted'; readonly message: string }
  | { readonly type: 'backend.left' };

/** The input the machine gives its backend. */
export interface BackendInput {
  /** Registered name of the adapter. */
  readonly name: string;
  /** This node as configured (the backend may add an address in `backend.ready`). */
  readonly self: PeerInfo;
  readonly seedPeers: readonly string[];
  readonly syncTimeoutMs: number;
  /** Bound on the graceful leave. */
  readonly stopTimeoutMs: number;
  readonly custom: Readonly<Record<string, string>>;
}

/** Actor logic that can serve as a backend (`fromCallback`, usually through `defineAdapter`). */
export type BackendLogic = CallbackActorLogic<BackendCommand, BackendInput>;

/** What the adapter builder hands a backend besides its input. */
export interface BackendRuntime {
  /** Logger for backend-internal events, scoped to the adapter. */
  readonly log: BackendLog;
}

/** An adapter: a kind name plus a maker of its backend logic. Pass it as `startLink({ adapter })`. */
export interface Adapter {
  /** Short name, e.g. `gossip`, `static`, `memory`. */
  readonly kind: string;
  backend(runtime: BackendRuntime): BackendLogic;
  /**
   * The sync interval this adapter asks for (a poll interval, e.g. the `dns`
   * adapter's `intervalMs`); an explicit `syncIntervalMs` option wins.
   */
  readonly syncIntervalMs?: number;
  /**
   * Checks the adapter's own options and the adapter options it reads (e.g.
   * `seedPeers`) before anything starts; the error, usually
   * `InvalidConfiguration`, is what `startLink` returns.
   */
  validate?(options: AdapterOptions): DiscoveryError | undefined;
  /**
   * The clock the adapter's delays must run on (a simulated network's):
   * `startLink` creates the adapter actor with it, and an invoked adapter
   * needs a root actor created with it.
   */
  readonly clock?: AdapterClock;
}

/** XState's clock (`createActor(logic, { clock })`): what times delayed events. */
export type AdapterClock = NonNullable<ActorOptions<AnyActorLogic>['clock']>;

/** What `defineAdapter`'s start function gets. */
export interface BackendContext {
  readonly input: BackendInput;
  /** Report changes as they happen (push-style backends). */
  report(changes: readonly MembershipChange[]): void;
  /** Report that the backend lost its transport or session. */
  lost(message: string): void;
  /**
   * Report that the feed of changes broke; the session says so again in its
   * sync result (`degraded`) until the feed is back.
   */
  interrupted(message: string): void;
  /** Logger for backend-internal events, already scoped to the adapter. */
  readonly log: BackendLog;
}


/** The result of one sync of a session. */
export interface SyncResult {
  /**
   * The full membership, from poll-style backends only (static lists, DNS).
   * Push-style backends (gossip, etcd watch, Redis pub/sub) leave it out and
   * report changes through `BackendContext.report`; never both.
   */
  readonly peers?: readonly PeerInfo[];
  readonly missingReason?: PeerDownReason;
  readonly degraded?: string;
}

/** A started backend, as `defineAdapter` expects it. */
export interface BackendSession {
  /** This node as the cluster sees it (with its address). */
  readonly self: PeerInfo;
  /** One sync; reject (or throw) to report failure. `signal` aborts when the sync is abandoned. */
  sync(signal: AbortSignal): Promise<SyncResult>;
  setMetadata?(metadata: PeerMetadata): void | Promise<void>;
  /** Contact more members and join through them, while running (gossip does; list-based backends need not). */
  join?(seeds: readonly string[]): void | Promise<void>;
  /** Tell the others we are leaving; called once, before `close`. */
  leave?(signal: AbortSignal): Promise<void>;
  /** Release every resource. Called exactly once, also after a crash. */
  close(): void | Promise<void>;
  counters?(): Readonly<Record<string, number>>;
  /** Round-trip time of the last direct probe per peer id, in ms, where the backend measures it. */
  probeRttMs?(): Readonly<Record<string, number>>;
  /** Facts beyond counters for `metrics()`: the last seed lookup, peers unreachable over UDP. */
  facts?(): BackendFacts;
  /** The keyring of a backend that seals its traffic; the facade's key functions reach it through the adapter machine. */
  readonly keyring?: KeyringControl;
}

/** A key operation sent to every live member: the key (base64) for `install`, a fingerprint for `use` and `remove`, '' for `list`. */
export type ClusterKeyOp = 'install' | 'use' | 'remove' | 'list';

/** One member's answer to a key operation sent across the cluster; fingerprints only, never keys. */
export interface MemberKeys {
  readonly id: string;
  readonly address: string;
  /** False when the member did not answer (timed out, refused the connection, closed): `error` says how. */
  readonly answered: boolean;
  /** Why the member refused the operation or did not answer; absent when it applied it. */
  readonly error?: string;
  /** The member's keyring after the operation, as fingerprints, primary first (empty without an answer). */
  readonly keys: readonly string[];
}

/** What a backend that seals its traffic lets the facade do with its keyring. Methods throw `Error` with a reason on a refused change. */
export interface KeyringControl {
  install(key: string): void;
  use(key: string): void;
  remove(key: string): void;
  /** Keys as base64, primary first. */
  list(): string[];
  /** Applies `op` here and on every live member over sealed streams, in parallel, each bounded by `timeoutMs`; this member first. */
  cluster(op: ClusterKeyOp, arg: string, timeoutMs: number): Promise<MemberKeys[]>;
}

/** What a backend may tell beyond counters, surfaced in `metrics()` under the same names. */
export interface BackendFacts {
  readonly seeds?: SeedLookup;
  readonly udpUnreachable?: readonly string[];
}

export { errorMessage } from '../values.js';
