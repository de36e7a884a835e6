/**
 * The supervising actor logic behind `discoveryLogic` and `childSpec()`: it
 * takes the options as its input, spawns the adapter under its registered
 * name and restarts it when it crashes, at most `maxRestarts` times within
 * `withinMs` (OTP's restart intensity), counted on the actor system's clock
 * (so a SimulatedClock drives it). A start that cannot happen (invalid
 * options, the name taken, the backend refusing to start) makes the
 * supervisor fail with a `DiscoveryFailure`, which the user's machine sees as
 * the invoke's error.
 */
import { assign, enqueueActions, setup, stopChild, type AnyActorRef, type InspectionEvent, type Observer } from 'xstate';
import type { AdapterActorRef, AdapterMachineInput } from '../../machines/adapter.machine.js';
import type { Adapter } from './kit/backend.js';
import { adapterLogger, buildAdapterLogic, machineInput, resolveOptions, type AdapterLogic, type AdapterOptionsInput } from './kit/adapter.js';
import { gossipAdapter } from './adapters/gossip.js';
import { isNameTaken, nameTakenMessage, register } from './registry.js';
import { DiscoveryErrors, DiscoveryFailure, attempt, type AdapterOptions, type DiscoveryError } from './types.js';
import { errorMessage } from './values.js';

/** Options of `startLink`, `childSpec` and `adapterActor`. */
export type DiscoveryOptions = AdapterOptionsInput & {
  /** The backend; default: the embedded default adapter. */
  readonly adapter?: Adapter;
  /** An inspection observer, e.g. `createWebSocketInspector(...).inspect` from `@statelyai/inspect`. */
  readonly inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
};

export { DiscoveryFailure };

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

/**
 * Resolves the options once and picks the adapter: the one place options are
 * read from raw input. Throws a `DiscoveryFailure` (`InvalidConfiguration`
 * naming what is wrong).
 */
export function prepare(options: DiscoveryOptions | undefined): { options: AdapterOptions; adapter: Adapter } {
  const { adapter = defaultAdapter(), inspect: _inspect, ...rest } = options ?? {};
  if (!adapter || typeof adapter.backend !== 'function') {
    throw new DiscoveryFailure(DiscoveryErrors.invalidConfiguration('adapter', adapter, 'an adapter, e.g. memoryAdapter() or staticAdapter()'));
  }
  // An adapter may ask for a sync interval (a poll interval); an explicit syncIntervalMs wins.
  const asked = adapter.syncIntervalMs;
  const resolved = resolveOptions(asked !== undefined && rest.syncIntervalMs === undefined ? { ...rest, syncIntervalMs: asked } : rest);
  const problem = adapter.validate?.(resolved);
  if (problem) throw new DiscoveryFailure(problem);
  return { options: resolved, adapter };
}

export interface SupervisorContext {
  /** The adapter's registered name; empty when the options are invalid. */
  readonly name: string;
  readonly policy: RestartPolicy;
  readonly failure: DiscoveryError | undefined;
  /** Restarts within the last `policy.withinMs`: each one is forgotten by a delayed event, on the system's clock. */
  readonly recentRestarts: number;
}

/** What a supervisor spawns, built once from its resolved options. */
interface Plan {
  readonly logic: AdapterLogic;
  readonly input: AdapterMachineInput;
  readonly options: AdapterOptions;
}

// What each supervisor spawns. Kept beside the context, not in it, so the
// context stays plain data for the inspector.
const plans = new WeakMap<AnyActorRef, Plan>();

const ADAPTER_ID = 'adapter';

/** The done event of the adapter child: its output says whether it ever ran. */
type AdapterDone = { readonly type: `xstate.done.actor.${typeof ADAPTER_ID}`; readonly output?: { readonly startError?: string } };
/** The error event of the adapter child. */
type AdapterCrash = { readonly type: `xstate.error.actor.${typeof ADAPTER_ID}`; readonly error: unknown };

/** Why a supervisor cannot start, or the plan it spawns; options are resolved here, once. */
function planFor(input: DiscoveryInput | void, system: AnyActorRef['system']): { plan?: Plan; name: string; failure?: DiscoveryError } {
  const { restart: _restart, ...options } = input ?? {};
  // An invoked actor is inspected through its system's root (`createActor(app, { inspect })`), never on its own.
  const inspect = (options as { inspect?: unknown }).inspect;
  if (inspect !== undefined) {
    return { name: '', failure: DiscoveryErrors.invalidConfiguration('inspect', typeof inspect, 'no inspect here: pass it to createActor() of your root machine') };
  }
  const prepared = attempt(() => prepare(options));
  if (!prepared.ok) return { name: '', failure: prepared.error };
  const { name } = prepared.value.options;
  const { clock } = prepared.value.adapter;
  // The system's clock times the adapter's delays: one that must run on another clock would silently stall.
  if (clock && system._clock !== clock) {
    return { name: '', failure: DiscoveryErrors.invalidConfiguration('adapter', prepared.value.adapter.kind, 'its clock on the root actor: createActor(app, { clock: network.clock })') };
  }
  if (isNameTaken(name) || system.get(name) !== undefined) {
    return { name, failure: DiscoveryErrors.startFailed(nameTakenMessage(name)) };
  }
  const plan = { logic: buildAdapterLogic(prepared.value.options, prepared.value.adapter), input: machineInput(prepared.value.options), options: prepared.value.options };
  return { name, plan };
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
    events: {} as AdapterDone | AdapterCrash | { readonly type: 'restart.forget' },
  },
  actions: {
    // The creator wires the adapter's events to the hub: spawned here, registered here.
    spawnAdapter: assign(({ context, self, spawn }) => {
      const plan = plans.get(self);
      if (!plan) return {};
      // XState's types allow an id only for logic named in `actors`; this is that actor, built per input.
      const spawnAny = spawn as unknown as (logic: AdapterLogic, options: { id: string; systemId: string; input: AdapterMachineInput }) => AdapterActorRef;
      const actor = spawnAny(plan.logic, { id: ADAPTER_ID, systemId: context.name, input: plan.input });
      register(context.name, actor, { log: adapterLogger(plan.options), root: false, onPeerUp: plan.options.onPeerUp });
      return {};
    }),
    stopAdapter: stopChild(ADAPTER_ID),
    countRestart: enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ recentRestarts: context.recentRestarts + 1 });
      enqueue.raise({ type: 'restart.forget' }, { delay: context.policy.withinMs });
    }),
  },
  guards: {
    failed: ({ context }) => context.failure !== undefined,
    mayRestart: ({ context }) => context.recentRestarts < context.policy.maxRestarts,
    neverRan: ({ event }) => event.type === `xstate.done.actor.${ADAPTER_ID}` && event.output?.startError !== undefined,
  },
}).createMachine({
  id: 'discoverySupervisor',
  context: ({ input, self }) => {
    const policy = { ...defaultRestartPolicy, ...input?.restart };
    const { plan, name, failure } = planFor(input, self.system);
    if (plan) plans.set(self, plan);
    return { name, policy, failure, recentRestarts: 0 };
  },
  on: {
    'restart.forget': { actions: assign({ recentRestarts: ({ context }) => Math.max(0, context.recentRestarts - 1) }) },
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
              failure: ({ event }) => DiscoveryErrors.startFailed(event.output?.startError ?? 'Adapter stopped while starting'),
            }),
          },
          { target: 'stopped' },
        ],
        [`xstate.error.actor.${ADAPTER_ID}`]: [
          { guard: 'mayRestart', target: 'running', reenter: true, actions: 'countRestart' },
          {
            target: 'failed',
            actions: assign({
              failure: ({ context, event }) =>
                DiscoveryErrors.startFailed(
                  `Adapter crashed more than ${context.policy.maxRestarts} times within ${context.policy.withinMs} ms: ${errorMessage(
                    event.error,
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
