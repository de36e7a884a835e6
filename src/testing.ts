/**
 * `distribute/discovery/testing`: test code that uses discovery under
 * partitions, loss and crashes, in simulated time. `simulatedNetwork()`
 * gives adapters that run the real gossip protocol over an in-process
 * network; the facade, the adapters' statecharts and a user's own machines
 * run on it unchanged, minutes of cluster life take milliseconds, and one
 * seed gives one run.
 *
 * @example
 * ```ts fragment
 * import { simulatedNetwork } from 'distribute/discovery/testing';
 * const network = simulatedNetwork({ seed: 1 });
 * await startLink({ name: 'a', nodeId: 'a', adapter: network.adapter() });
 * await network.advance(10_000);
 * ```
 *
 * @module
 */
export {
  simulatedNetwork,
  type SimulatedAdapterOptions,
  type SimulatedNetwork,
  type SimulatedNetworkOptions,
} from './discovery/testing/network.js';
export type { NetworkClock } from './discovery/testing/clock.js';
