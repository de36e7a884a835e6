/** machines/selectors.ts: what the facade reads, read from snapshots alone. */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { memoryAdapter } from 'distribute/discovery';
import { isRunning, selectHealth, selectHealthInfo, selectMetrics, selectPeer, selectPeers, selectSelf } from 'distribute/discovery/internals';
import { eventually, unwrap } from './support/index.js';

afterEach(async () => {
  await discovery.stop(1000);
  await discovery.bind({ name: 'sel-b' }).stop(1000);
});

describe('selectors', () => {
  it('give what the facade gives, from the snapshot alone', async () => {
    const group = memoryAdapter({ group: 'selectors' });
    const a = unwrap(await discovery.startLink({ adapter: group, nodeId: 'a', syncIntervalMs: 20 }));
    unwrap(await discovery.startLink({ name: 'sel-b', adapter: group, nodeId: 'b', metadata: { role: 'x' } }));
    await eventually(() => discovery.health().type === 'Up' && unwrap(discovery.snapshot()).length === 1);
    const snapshot = a.actor.getSnapshot();
    expect(selectPeers(snapshot)).toEqual(unwrap(discovery.snapshot()));
    expect(selectPeer(snapshot, 'b')?.metadata).toEqual({ role: 'x' });
    expect(selectPeer(snapshot, 'nobody')).toBeUndefined();
    expect(selectSelf(snapshot).id).toBe('a');
    expect(selectHealth(snapshot)).toEqual({ type: 'Up' });
    expect(selectHealthInfo(snapshot)).toMatchObject({ status: { type: 'Up' }, knownPeersCount: 1, consecutiveFailures: 0 });
    expect(selectMetrics(snapshot)).toMatchObject({ knownPeersCount: 1, syncFailures: 0, errorRate: 0 });
  });

  it('read a stopped adapter as Down with its reason', async () => {
    const a = unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'selectors-stop' }), nodeId: 'a' }));
    unwrap(await a.stop());
    const snapshot = a.actor.getSnapshot();
    expect(isRunning(snapshot)).toBe(false);
    expect(selectHealth(snapshot)).toEqual({ type: 'Down', reason: 'Stopped' });
  });
});
