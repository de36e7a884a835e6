/**
 * Starting an adapter: \`startLink\` (no supervisor), \`childSpec\` (invoked
 * by a user's machine, under the supervisor) and \`adapterActor\` (created, not
 * started), and the handle \`startLink\` returns.
 *
 * @module
 */
import { createActor } from 'xstate';
import { isRunning, isSettled, selectSelf, selectStartError } from '../../machines/selectors.js';
import { bind, settle } from './facade.js';
import type { AdapterHandle, DiscoveryActorRef } from './handle.js';
import { adapterLogger, buildAdapterLogic, defaultAdapterName, machineInput } from './kit/adapter.js';
import type { Adapter } from './kit/backend.js';
import { isNameTaken, lookupRegistration, nameTakenMessage, register } from './registry.js';
import { discoveryLogic, prepare, type DiscoveryInput, type DiscoveryOptions } from './supervisor.js';
import { DiscoveryErrors, attempt, err, ok, type AdapterOptions, type Result } from './types.js';

/** Options of `startLink`: `signal` cancels a start still in progress. */
export type StartOptions = DiscoveryOptions & {
  /** Aborting it before the adapter runs stops it and resolves `StartFailed`. */
  readonly signal?: AbortSignal;
};

/**
 * An invoke config for a user's machine: `invoke: discovery.childSpec()`, the
 * one-line form of `{ src: discoveryLogic, input: options }`. In a `setup()`
 * machine, register `discoveryLogic` under `actors` and invoke it by key
 * instead. The adapter is registered as `system.get(defaultAdapterName)` (or
 * the given name) and restarted if it crashes, at most `restart.maxRestarts`
 * times within `restart.withinMs`. A start that cannot happen fails the
 * invoke with a `DiscoveryFailure` whose `error` says why.
 *
 * @example
 * ```ts
 * const app = createMachine({ invoke: discovery.childSpec({ adapter: memoryAdapter() }) });
 * const actor = createActor(app).start();
 * actor.system.get(discovery.defaultAdapterName); // the adapter
 * ```
 */
export function childSpec(options: DiscoveryInput = {}) {
  const name = typeof options?.name === 'string' ? options.name : defaultAdapterName;
  return { id: `${name}.supervisor`, src: discoveryLogic, input: options } as const;
}

/**
 * The adapter as an actor, not started: for users who run or inspect it
 * themselves. Prefer `startLink` or `childSpec`. It is not registered: the
 * facade finds it once its creator calls `register` from
 * `distribute/discovery/internals`, which also feeds its events to subscribers.
 *
 * @example
 * ```ts
 * const created = adapterActor({ adapter: memoryAdapter() });
 * if (created.ok) created.value.start();
 * ```
 */
export function adapterActor(options: DiscoveryOptions = {}) {
  const prepared = attempt(() => prepare(options));
  if (!prepared.ok) return prepared;
  return ok(createAdapterActor(prepared.value.options, prepared.value.adapter, options.inspect));
}

function createAdapterActor(resolved: AdapterOptions, adapter: Adapter, inspect: DiscoveryOptions['inspect']) {
  return createActor(buildAdapterLogic(resolved, adapter), {
    input: machineInput(resolved),
    systemId: resolved.name,
    ...(inspect ? { inspect } : {}),
    ...(adapter.clock ? { clock: adapter.clock } : {}),
  });
}

/**
 * Starts the adapter without a supervisor. Resolves once it is bound and
 * running, or with `StartFailed` (`InvalidConfiguration` for bad options).
 *
 * @example
 * ```ts
 * const started = await discovery.startLink({ adapter: memoryAdapter(), nodeId: 'a' });
 * if (started.ok) await started.value.stop();
 * ```
 */
export async function startLink(options: StartOptions = {}): Promise<Result<AdapterHandle>> {
  const { signal, ...discoveryOptions } = options ?? {};
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    return err(DiscoveryErrors.invalidConfiguration('signal', signal, 'an AbortSignal'));
  }
  if (signal?.aborted) return err(DiscoveryErrors.startFailed(abortedMessage(signal)));
  const prepared = attempt(() => prepare(discoveryOptions));
  if (!prepared.ok) return prepared;
  const resolved = prepared.value.options;
  if (isNameTaken(resolved.name)) return err(DiscoveryErrors.startFailed(nameTakenMessage(resolved.name)));
  const actor = createAdapterActor(resolved, prepared.value.adapter, options.inspect);
  const logger = adapterLogger(resolved);
  // An error observer keeps a crash from becoming an uncaught exception.
  actor.subscribe({ error: (error) => logger.error({ err: error }, 'Discovery adapter crashed') });
  // The creator wires the actor's events to the name's hub.
  register(resolved.name, actor, { log: logger, root: true, onPeerUp: resolved.onPeerUp });
  actor.start();
  const started = await settle(actor, isSettled, resolved.syncTimeoutMs, signal);
  const failure = startFailure(actor, started, resolved.syncTimeoutMs, signal);
  if (failure !== undefined) {
    actor.stop();
    return err(DiscoveryErrors.startFailed(failure));
  }
  return ok(adapterHandle(resolved.name, actor));
}

/** Why a start did not happen, or undefined when the adapter runs. */
function startFailure(actor: DiscoveryActorRef, started: boolean, timeoutMs: number, signal: AbortSignal | undefined): string | undefined {
  const snapshot = actor.getSnapshot();
  if (signal?.aborted) return abortedMessage(signal);
  if (!started) return `Adapter did not start within ${timeoutMs} ms`;
  if (snapshot.status === 'error') return `Adapter crashed while starting: ${String(snapshot.error)}`;
  if (!isRunning(snapshot)) return selectStartError(snapshot) ?? 'Adapter stopped while starting';
  return undefined;
}

/** The handle `startLink` returns for a running adapter. */
function adapterHandle(name: string, actor: DiscoveryActorRef): AdapterHandle {
  const bound = bind({ name });
  return {
    name,
    self: selectSelf(actor.getSnapshot()),
    actor,
    stop: (timeoutMs?: number) => bound.stop(timeoutMs),
    // `await using` stops it at the end of the scope; an adapter already stopped is no error there.
    [Symbol.asyncDispose]: async () => {
      if (lookupRegistration(name)?.actor === actor && isRunning(actor.getSnapshot())) await bound.stop();
    },
  };
}

const abortedMessage = (signal: AbortSignal) =>
  `Start aborted${signal.reason instanceof Error ? `: ${signal.reason.message}` : signal.reason !== undefined ? `: ${String(signal.reason)}` : ''}`;

