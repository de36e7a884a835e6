/**
 * Compiled by `npm run typecheck` and, as a user's strict app, by
 * test/types.test.ts: the language's idioms work on the facade's Results as
 * written, with no unwrapping, and the Results still narrow on `ok`. Lines
 * marked `@ts-expect-error` must stay errors.
 */
import { assign, setup } from 'xstate';
import * as discovery from 'distribute/discovery';
import {
  discoveryLogic,
  memoryAdapter,
  type AdapterHandle,
  type DiscoveryError,
  type DiscoveryEvent,
  type DiscoveryParentEvent,
  type EventsResult,
  type PeerDownReason,
  type Result,
  type StartResult,
  type Subscription,
} from 'distribute/discovery';

export async function scoped(signal: AbortSignal): Promise<void> {
  // The Result itself is disposable: the adapter stops (leaving) at the end of the scope.
  await using started = await discovery.startLink({ adapter: memoryAdapter(), nodeId: 'typed' });
  // And it narrows as before.
  if (!started.ok) {
    const error: DiscoveryError = started.error;
    console.error(error.message);
    return;
  }
  const handle: AdapterHandle = started.value;
  console.log(handle.self.id);

  using subscribed = discovery.subscription((event) => console.log(event.type));
  if (subscribed.ok) {
    const subscription: Subscription = subscribed.value;
    console.log(subscription.id);
  }

  for await (const event of discovery.events({ replay: true, signal })) {
    const typed: DiscoveryEvent = event;
    if (typed.type === 'PeerDown') console.log(typed.reason.type);
  }
  await using stream = discovery.events();
  for await (const event of stream) console.log(event.peer.id);
}

// Still plain Results where one is expected.
export const asResult = (started: StartResult): Result<AdapterHandle> => started;
export const eventsAsResult = (events: EventsResult) => (events.ok ? events.value.close() : events.error.type);

// @ts-expect-error events() takes no option of another name
discovery.events({ signals: AbortSignal.timeout(1) });

export const counter = setup({
  types: { context: {} as { peers: number }, events: {} as DiscoveryParentEvent },
  actors: { discovery: discoveryLogic },
}).createMachine({
  context: { peers: 0 },
  invoke: { src: 'discovery', input: { adapter: memoryAdapter(), notifyParent: true } },
  on: {
    'discovery.peerUp': { actions: assign({ peers: ({ context }) => context.peers + 1 }) },
    'discovery.peerDown': {
      actions: assign(({ context, event }) => {
        // Narrowed: only a peerDown has a reason.
        const reason: PeerDownReason = event.reason;
        return { peers: context.peers - (reason.type === 'Left' || reason.type === 'Failed' ? 1 : 0) };
      }),
    },
    'discovery.health': {
      actions: ({ event }) => {
        // @ts-expect-error a health event has no peer
        console.log(event.peer);
      },
    },
  },
});

export const wrongNotify = setup({ actors: { discovery: discoveryLogic } }).createMachine({
  // @ts-expect-error notifyParent is a boolean
  invoke: { src: 'discovery', input: { notifyParent: 'yes' } },
});
