/**
 * The usage examples of the Gleam `distribute/discovery` module, in
 * TypeScript, against the package's public entry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import * as discovery from 'distribute/discovery';
import { memoryAdapter, type DiscoveryEvent } from 'distribute/discovery';
import { eventually, unwrap } from './support/index.js';

afterEach(async () => {
  await discovery.stop();
  for (const name of ['peer_b', 'peer_c']) await discovery.bind({ name }).stop();
});

describe('the Gleam usage examples', () => {
  it('starts discovery as part of a supervision tree (childSpec in a machine)', async () => {
    const app = createMachine({
      invoke: discovery.childSpec({ adapter: memoryAdapter({ group: 'usage-tree' }), nodeId: 'node1' }),
    });
    const actor = createActor(app).start();
    await eventually(() => discovery.health().type !== 'Down', 2000, 'the adapter to run');
    expect(actor.system.get(discovery.defaultAdapterName)).toBeDefined();
    expect(unwrap(discovery.self()).id).toBe('node1');
    actor.stop();
    expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
  });

  it('subscribes with a callback, takes a snapshot, looks up a peer, checks health', async () => {
    const group = memoryAdapter({ group: 'usage-api' });
    unwrap(await discovery.startLink({ adapter: group, nodeId: 'node1@host', syncIntervalMs: 50 }));

    const lines: string[] = [];
    const callback = (event: DiscoveryEvent) => {
      switch (event.type) {
        case 'PeerUp':
          lines.push(`Peer joined: ${event.peer.id}`);
          break;
        case 'PeerDown':
          lines.push(`Peer left: ${event.peer.id}`);
          break;
        default:
          break;
      }
    };
    const subscription = discovery.subscribe(callback);
    expect(subscription.ok).toBe(true);

    const other = discovery.bind({ name: 'peer_b' });
    unwrap(await discovery.startLink({ name: 'peer_b', adapter: group, nodeId: 'node2@host', metadata: { zone: 'a' } }));
    await eventually(() => lines.includes('Peer joined: node2@host'), 2000, 'PeerUp');

    const peers = unwrap(discovery.snapshot());
    expect(peers.map((p) => p.id)).toEqual(['node2@host']);

    const found = discovery.lookup('node2@host');
    expect(found.ok && found.value.metadata).toEqual({ zone: 'a' });
    const missing = discovery.lookup('node9@host');
    expect(missing.ok).toBe(false);
    if (!missing.ok) expect(missing.error.type).toBe('PeerNotFound');

    await eventually(() => discovery.health().type === 'Up', 2000, 'health Up');

    unwrap(await other.stop());
    await eventually(() => lines.includes('Peer left: node2@host'), 2000, 'PeerDown');
    expect(unwrap(discovery.unsubscribe(unwrap(subscription)))).toBeUndefined();
  });

  it('health is Down("Discovery process not found") when nothing runs', () => {
    expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
    const snap = discovery.snapshot();
    expect(snap.ok).toBe(false);
    if (!snap.ok) expect(snap.error.type).toBe('SyncFailed');
    const sub = discovery.subscribe(() => {});
    expect(!sub.ok && sub.error.type).toBe('SubscriptionFailed');
  });
});
