/**
 * `distribute/discovery/internals`: the machine, its events, its selectors,
 * the backend protocol and the registry, for tests and for users who build
 * their own adapter logic without `defineAdapter`. Not covered by the same
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
  machineInput,
  resolveOptions,
  validateMetadata,
  type AdapterLogic,
} from './discovery/kit/adapter.js';
export { prepare } from './discovery/supervisor.js';
export { isNameTaken, lookupRegistration, register, release, type Registration, type RegisterOptions } from './discovery/registry.js';
export { EventHub } from './discovery/hub.js';
export { QueuedEventStream } from './discovery/event-stream.js';
