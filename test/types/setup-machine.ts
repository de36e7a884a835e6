/**
 * Compiled by test/types.test.ts with `tsc --strict` against the built
 * package: the XState v5 `setup()` forms a user writes must type-check as
 * written, with no casts. Lines marked `@ts-expect-error` must stay errors.
 */
import { createActor, setup, spawnChild } from 'xstate';
import {
  defaultAdapterName,
  discoveryLogic,
  memoryAdapter,
  type DiscoveryActorRef,
  type DiscoveryInput,
  type PeerInfo,
} from 'distribute/discovery';

export const invoked = setup({
  types: { context: {} as { nodeId: string } },
  actors: { discovery: discoveryLogic },
}).createMachine({
  context: { nodeId: 'node1' },
  invoke: {
    src: 'discovery',
    input: ({ context }) => ({ nodeId: context.nodeId, adapter: memoryAdapter() }),
    onError: { actions: ({ event }) => console.error(event.error) },
  },
});

export const spawned = setup({
  actors: { discovery: discoveryLogic },
}).createMachine({
  entry: spawnChild('discovery', { input: { nodeId: 'node2', adapter: memoryAdapter(), restart: { maxRestarts: 1 } } }),
});

// Input is optional: the defaults apply.
export const bare = setup({ actors: { discovery: discoveryLogic } }).createMachine({ invoke: { src: 'discovery' } });

export const wrongInput = setup({ actors: { discovery: discoveryLogic } }).createMachine({
  // @ts-expect-error nodeId is a string
  invoke: { src: 'discovery', input: { nodeId: 42 } },
});

export function readAdapter(actor: ReturnType<typeof createActor<typeof invoked>>): PeerInfo[] | undefined {
  const adapter: DiscoveryActorRef | undefined = actor.system.get(defaultAdapterName);
  if (!adapter) return undefined;
  const snapshot = adapter.getSnapshot();
  // @ts-expect-error not one of the health tags
  snapshot.hasTag('healthy');
  if (!snapshot.hasTag('up') && !snapshot.hasTag('degraded')) return undefined;
  adapter.send({ type: 'sync' });
  const self: PeerInfo = snapshot.context.self;
  return [self];
}

export const input: DiscoveryInput = { nodeId: 'node3', syncIntervalMs: 1000 };
