/**
 * `distribute/discovery/internals`: everything `distribute/discovery` exports,
 * and beneath it the machine, its events, its selectors, the backend protocol
 * and the registry, for tests and for users who build their own adapter logic
 * without `defineAdapter`. Not covered by the same
 * stability promise as `distribute/discovery`.
 *
 * @example
 * ```ts fragment
 * import { selectPeers } from 'distribute/discovery/internals';
 * selectPeers(handle.actor.getSnapshot());
 * ```
 *
 * @module
 */
export * from './discovery.js';
export { DiscoveryImpl } from './discovery/facade.js';
export { adapterActor } from './discovery/start.js';
export { attempt, err, ok } from './discovery/types.js';
export type { Statechart, StatechartState, StatechartTransition } from './http/statechart.js';
export {
  adapterMachine,
  applyChanges,
  backoffDelay,
  diffFullList,
  type AdapterActorRef,
  type AdapterCommand,
  type AdapterContext,
  type AdapterEvent,
  type AdapterLogRecord,
  type AdapterMachine,
  type AdapterMachineInput,
} from '../machines/adapter.machine.js';
export * from '../machines/selectors.js';
export type {
  BackendCommand,
  BackendInput,
  BackendLogic,
  BackendReport,
  BackendRuntime,
} from './discovery/kit/backend.js';
export {
  adapterLogger,
  buildAdapterLogic,
  defaultOptions,
  machineInput,
  resolveOptions,
  validateMetadata,
  type AdapterLogic,
} from './discovery/kit/adapter.js';
export { prepare } from './discovery/supervisor.js';
export { isNameTaken, lookupRegistration, register, release, type Registration, type RegisterOptions } from './discovery/registry.js';
export { EventHub } from './discovery/hub.js';
export type { ClusterKeyOp, KeyringControl, KeyringRequest, MemberKeys } from './discovery/kit/keys.js';
export { QueuedEventStream } from './discovery/event-stream.js';
