/**
 * The runner behind `defineAdapter`: one backend session behind its command
 * queue. `start` first, then every command in the order received; syncs and
 * metadata changes bounded by `syncTimeoutMs`, a leave by `stopTimeoutMs`;
 * a stop of the actor is a leave, a crash closes at once.
 */
import type { BackendCommand, BackendContext, BackendInput, BackendLog, BackendReport, BackendSession, SyncResult } from './backend.js';
import type { PeerMetadata } from '../types.js';
import { errorMessage } from '../values.js';
import { Histogram } from '../histogram.js';
import { attachLiveReader, type LiveReading } from './live-metrics.js';

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
 * Sessions still leaving or closing, by adapter name. A stopped adapter
 * leaves after its actor has gone, so a state exited and entered again starts
 * the next session under the same name at once: it waits for this one to let
 * go of what they share (a port, a node id, a store entry), at most
 * `stopTimeoutMs`.
 */
const departures = new Map<string, Promise<void>>();

/** One backend session behind its command queue; see `defineAdapter`. */
export class SessionRunner {
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
  /** Every completed sync's duration, successful or not. */
  private readonly syncDurations = new Histogram();
  /** Takes back the facade's live reader of this session. */
  private detachReader: (() => void) | undefined;

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
    const begin = () =>
      start(context).then(
        (started) => {
          this.session = started;
          if (this.ended) return;
          this.detachReader = attachLiveReader(this.input.name, () => this.reading(started));
          this.report({ type: 'backend.ready', self: started.self });
        },
        (error: unknown) => {
          if (!this.ended) this.report({ type: 'backend.startFailed', message: errorMessage(error) });
        },
      );
    const predecessor = departures.get(this.input.name);
    // A session stopped before its predecessor let go never starts.
    this.queue = predecessor
      ? until(predecessor, AbortSignal.timeout(this.input.stopTimeoutMs)).then(() => (this.ended ? undefined : begin()))
      : begin();
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
      case 'backend.crashed':
        this.stop('crash');
        break;
      case 'backend.leave':
        this.leaving = true;
        // A sync in flight no longer matters; do not make the leave wait for it.
        this.syncAbort?.abort();
        this.enqueue((current) => this.leave(current), () => void this.leave(undefined));
        break;
    }
  }

  /**
   * The actor is gone: no more reports. After a crash the session closes
   * without a goodbye, cutting short a leave in flight; after a stop it
   * leaves first, as the `leave` command would (one already under way goes on).
   */
  stop(how: 'leave' | 'crash'): void {
    if (this.ended && this.closing) return;
    this.ended = true;
    this.syncAbort?.abort();
    if (how === 'leave') {
      if (!this.leaving) {
        this.leaving = true;
        // After the command that is running, skipping those still waiting.
        this.enqueue((current) => this.leave(current));
      }
    } else {
      this.stopped.abort();
      // At once, even under a command still running: a restart must find the resources free.
      if (this.session) void this.closeOnce();
      else this.enqueue(() => this.closeOnce());
    }
    this.departing();
  }

  /** Records this session as leaving until it has closed, for the next one under its name. */
  private departing(): void {
    const { name } = this.input;
    const gone: Promise<void> = this.queue.then(() => this.closing);
    departures.set(name, gone);
    void gone.finally(() => {
      if (departures.get(name) === gone) departures.delete(name);
    });
  }

  private enqueue(task: (current: BackendSession) => Promise<void>, whenNoSession?: () => void): void {
    this.queue = this.queue
      .then(() => (this.session ? task(this.session) : whenNoSession?.()))
      .catch((error: unknown) => this.log.error({ err: error }, 'Backend command failed'));
  }

  /** What the session says now, for `metrics()` between syncs. */
  private reading(current: BackendSession): LiveReading {
    return {
      ...(current.counters ? { counters: current.counters() } : {}),
      ...(current.probeRttMs ? { probeRttMs: current.probeRttMs() } : {}),
      ...(current.facts ? { facts: current.facts() } : {}),
      histograms: { ...current.histograms?.(), syncDurationMs: this.syncDurations.snapshot() },
    };
  }

  private closeOnce(): Promise<void> {
    this.detachReader?.();
    const current = this.session;
    if (!current) return Promise.resolve();
    // `close` starts in this very call, not a tick later.
    this.closing ??= (async () => {
      try {
        await current.close();
      } catch (error) {
        this.log.error({ err: error }, 'Backend close failed');
      }
    })();
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
          if (silenced()) return;
          const durationMs = performance.now() - started;
          this.syncDurations.observe(durationMs);
          this.report(syncedReport(current, result, seq, durationMs));
        },
        (error: unknown) => {
          if (silenced()) return;
          const durationMs = performance.now() - started;
          this.syncDurations.observe(durationMs);
          this.report({ type: 'backend.syncFailed', seq, durationMs, message: errorMessage(error) });
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
    if (current?.leave && !this.stopped.signal.aborted) {
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
