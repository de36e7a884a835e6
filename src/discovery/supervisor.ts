/**
 * The supervisor behind `childSpec()`: it invokes the adapter under its
 * registered name and restarts it when it crashes, at most `maxRestarts`
 * times within `withinMs` (OTP's restart intensity). A start that cannot
 * happen (invalid options, the name taken, the backend refusing to start)
 * makes the supervisor fail with a `DiscoveryFailure`, which the user's
 * machine sees as the invoke's error.
 */
import { assign, setup } from 'xstate';
import type { Adapter } from './behaviour.js';
import { buildAdapterLogic, machineInput } from './adapter.js';
import { isNameTaken } from './registry.js';
import { DiscoveryErrors, type AdapterOptions, type DiscoveryError, type Result } from './types.js';

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

export interface SupervisorContext {
  readonly failure: DiscoveryError | undefined;
  /** Times (epoch ms) of recent restarts, for the intensity check. */
  readonly restarts: readonly number[];
}

/** Builds the supervisor logic for one set of options. */
export function supervisorLogic(options: Result<AdapterOptions>, adapter: Adapter, policy: RestartPolicy) {
  const name = options.ok ? options.value.name : '';
  const adapterLogic = options.ok ? buildAdapterLogic(options.value, adapter) : undefined;
  return setup({
    types: { context: {} as SupervisorContext },
    actors: { adapter: adapterLogic! },
  }).createMachine({
    id: 'discoverySupervisor',
    context: ({ self }) => ({
      failure: !options.ok
        ? options.error
        : isNameTaken(name) || self.system.get(name) !== undefined
          ? DiscoveryErrors.startFailed(`An adapter named ${JSON.stringify(name)} is already running`)
          : undefined,
      restarts: [],
    }),
    initial: 'checking',
    states: {
      checking: {
        always: [{ guard: ({ context }) => context.failure !== undefined, target: 'failed' }, { target: 'running' }],
      },
      running: {
        invoke: {
          id: 'adapter',
          src: 'adapter',
          systemId: name,
          input: () => machineInput((options as { value: AdapterOptions }).value),
          onDone: [
            {
              // The adapter ended without ever running: that is a failed start, not a stop.
              guard: ({ event }) => (event.output as { startError?: string } | undefined)?.startError !== undefined,
              target: 'failed',
              actions: assign({
                failure: ({ event }) => DiscoveryErrors.startFailed((event.output as { startError: string }).startError),
              }),
            },
            { target: 'stopped' },
          ],
          onError: [
            {
              guard: ({ context }) => {
                const now = Date.now();
                return context.restarts.filter((at) => now - at < policy.withinMs).length < policy.maxRestarts;
              },
              target: 'running',
              reenter: true,
              actions: assign({
                restarts: ({ context }) => [...context.restarts.filter((at) => Date.now() - at < policy.withinMs), Date.now()],
              }),
            },
            {
              target: 'failed',
              actions: assign({
                failure: ({ event }) =>
                  DiscoveryErrors.startFailed(
                    `Adapter crashed more than ${policy.maxRestarts} times within ${policy.withinMs} ms: ${
                      event.error instanceof Error ? event.error.message : String(event.error)
                    }`,
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
}
