/**
 * The supervising actor logic behind `discoveryLogic` and `childSpec()`: it
 * takes the options as its input, spawns the adapter under its registered
 * name and restarts it when it crashes, at most `maxRestarts` times within
 * `withinMs` (OTP's restart intensity). A start that cannot happen (invalid
 * options, the name taken, the backend refusing to start) makes the
 * supervisor fail with a `DiscoveryFailure`, which the user's machine sees as
 * the invoke's error.
 */
import { assign, enqueueActions, setup, stopChild, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import type { AdapterMachineInput } from '../../machines/adapter.machine.js';
import type { Adapter } from './behaviour.js';
import { buildAdapterLogic, machineInput, resolveOptions, type AdapterLogic, type AdapterOptionsInput } from './adapter.js';
import { gossipAdapter } from './gossip_adapter.js';
import { isNameTaken, nameTakenMessage } from './registry.js';
import { DiscoveryErrors, err, ok, type AdapterOptions, type DiscoveryError, type Result } from './types.js';

/** Options of `startLink`, `childSpec` and `adapterActor`. */
export type DiscoveryOptions = AdapterOptionsInput & {
  /** The backend; default: the embedded default adapter. */
  readonly adapter?: Adapter;
  /** An inspection observer, e.g. `createWebSocketInspector(...).inspect` from `@statelyai/inspect`. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
};

/** The error a supervised adapter fails with; `error` says why. */
export class DiscoveryFailure extends Error {
  constructor(readonly error: DiscoveryError) {
    super(error.message);
    this.name = 'DiscoveryFailure';
  }
}

/** Restart intensity: more than `maxRestarts` crashes within `withinMs` and the supervisor gives up. */
export interface RestartPolicy {
  /** Default 3. */
  readonly maxRestarts: number;
  /** Default 5000. */
  readonly withinMs: number;
}

export const defaultRestartPolicy: RestartPolicy = { maxRestarts: 3, withinMs: 5000 };

/** The input of `discoveryLogic`: the adapter options, plus the restart policy. */
export type DiscoveryInput = Omit<DiscoveryOptions, 'inspect'> & {
  /** Restart intensity; default 3 restarts within 5000 ms. */
  readonly restart?: Partial<RestartPolicy>;
};

/** The adapter used when `adapter` is not given: gossip on `0.0.0.0:7946`, `lan` timings. */
export function defaultAdapter(): Adapter {
  return gossipAdapter();
}

/** Resolves the options once and picks the adapter; `InvalidConfiguration` names what is wrong. */
export function prepare(options: DiscoveryOptions | undefined): Result<{ options: AdapterOptions; adapter: Adapter }> {
  const { adapter = defaultAdapter(), inspect: _inspect, ...rest } = options ?? {};
  if (!adapter || typeof adapter.backend !== 'function') {
    return err(DiscoveryErrors.invalidConfiguration('adapter', adapter, 'an adapter, e.g. memoryAdapter() or staticAdapter()'));
  }
  // An adapter may ask for a sync interval (a poll interval); an explicit syncIntervalMs wins.
  const asked = adapter.syncIntervalMs;
  const resolved = resolveOptions(asked !== undefined && rest.syncIntervalMs === undefined ? { ...rest, syncIntervalMs: asked } : rest);
  if (!resolved.ok) return resolved;
  const problem = adapter.validate?.(resolved.value);
  if (problem) return err(problem);
  return ok({ options: resolved.value, adapter });
}

export interface SupervisorContext {
  /** The adapter's registered name; empty when the options are invalid. */
  readonly name: string;
  readonly policy: RestartPolicy;
  readonly failure: DiscoveryError | undefined;
  /** Times (epoch ms) of recent restarts, for the intensity check. */
  readonly restarts: readonly number[];
}

// What each supervisor spawns. Kept beside the context, not in it, so the
// context stays plain data for the inspector.
const spawnables = new WeakMap<AnyActorRef, { logic: AdapterLogic; input: AdapterMachineInput }>();

const ADAPTER_ID = 'adapter';

function crashMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The supervising actor logic: register it once under a key of your choice
 * and invoke or spawn it with the options as `input`. The adapter registers
 * in your system as `system.get(input.name ?? defaultAdapterName)`.
 *
 * @example
 * ```ts
 * const app = setup({ actors: { discovery: discoveryLogic } }).createMachine({
 *   invoke: { src: 'discovery', input: { adapter: memoryAdapter(), nodeId: 'node1' } },
 * });
 * ```
 */
export const discoveryLogic = setup({
  types: {
    context: {} as SupervisorContext,
    // `void`, not `undefined`: setup() would drop `undefined`, and then every invoke would need an input.
    input: {} as DiscoveryInput | void,
  },
  actions: {
    spawnAdapter: enqueueActions(({ context, self, enqueue }) => {
      const spawnable = spawnables.get(self);
      if (!spawnable) return;
      // XState's types allow an id only for logic named in `actors`; this is that actor, built per input.
      const spawnChild = enqueue.spawnChild as unknown as (
        logic: AdapterLogic,
        options: { id: string; systemId: string; input: AdapterMachineInput },
      ) => void;
      spawnChild(spawnable.logic, { id: ADAPTER_ID, systemId: context.name, input: spawnable.input });
    }),
    stopAdapter: stopChild(ADAPTER_ID),
  },
  guards: {
    failed: ({ context }) => context.failure !== undefined,
    mayRestart: ({ context }) => {
      const now = Date.now();
      return context.restarts.filter((at) => now - at < context.policy.withinMs).length < context.policy.maxRestarts;
    },
    neverRan: ({ event }) => (event as { output?: { startError?: string } }).output?.startError !== undefined,
  },
}).createMachine({
  id: 'discoverySupervisor',
  context: ({ input, self }) => {
    const { restart, ...options } = input ?? {};
    const policy = { ...defaultRestartPolicy, ...restart };
    // An invoked actor is inspected through its system's root (`createActor(app, { inspect })`), never on its own.
    const inspect = (options as { inspect?: unknown }).inspect;
    if (inspect !== undefined) {
      const failure = DiscoveryErrors.invalidConfiguration('inspect', typeof inspect, 'no inspect here: pass it to createActor() of your root machine');
      return { name: '', policy, failure, restarts: [] };
    }
    const prepared = prepare(options);
    if (!prepared.ok) return { name: '', policy, failure: prepared.error, restarts: [] };
    const { name } = prepared.value.options;
    if (isNameTaken(name) || self.system.get(name) !== undefined) {
      return {
        name,
        policy,
        failure: DiscoveryErrors.startFailed(nameTakenMessage(name)),
        restarts: [],
      };
    }
    spawnables.set(self, {
      logic: buildAdapterLogic(prepared.value.options, prepared.value.adapter),
      input: machineInput(prepared.value.options),
    });
    return { name, policy, failure: undefined, restarts: [] };
  },
  initial: 'checking',
  states: {
    checking: {
      always: [{ guard: 'failed', target: 'failed' }, { target: 'running' }],
    },
    running: {
      entry: 'spawnAdapter',
      exit: 'stopAdapter',
      on: {
        [`xstate.done.actor.${ADAPTER_ID}`]: [
          {
            // The adapter ended without ever running: that is a failed start, not a stop.
            guard: 'neverRan',
            target: 'failed',
            actions: assign({
              failure: ({ event }) =>
                DiscoveryErrors.startFailed((event as unknown as { output: { startError: string } }).output.startError),
            }),
          },
          { target: 'stopped' },
        ],
        [`xstate.error.actor.${ADAPTER_ID}`]: [
          {
            guard: 'mayRestart',
            target: 'running',
            reenter: true,
            actions: assign({
              restarts: ({ context }) => [
                ...context.restarts.filter((at) => Date.now() - at < context.policy.withinMs),
                Date.now(),
              ],
            }),
          },
          {
            target: 'failed',
            actions: assign({
              failure: ({ context, event }) =>
                DiscoveryErrors.startFailed(
                  `Adapter crashed more than ${context.policy.maxRestarts} times within ${context.policy.withinMs} ms: ${crashMessage(
                    (event as unknown as { error: unknown }).error,
                  )}`,
                ),
            }),
          },
        ],
      },
    },
    stopped: { type: 'final' },
    failed: {
      entry: ({ context }) => {
        throw new DiscoveryFailure(context.failure ?? DiscoveryErrors.startFailed('Unknown failure'));
      },
    },
  },
});

/** The supervising logic's type. */
export type DiscoveryLogic = typeof discoveryLogic;
