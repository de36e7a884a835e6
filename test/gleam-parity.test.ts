/**
 * Where the facade follows the Gleam `distribute/discovery` module to the
 * letter: the default name, error classification, the Timeout variant,
 * unsubscribe, and the names of the health and metrics fields.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createActor, createMachine } from 'xstate';
import * as discovery from 'distribute/discovery';
import {
  defineAdapter,
  isPermanentError,
  isTransientError,
  memoryAdapter,
  type DiscoveryError,
  type SubscriptionId,
} from 'distribute/discovery';
import { eventually, unwrap } from './support/index.js';

afterEach(async () => {
  await discovery.stop(1000);
});

describe('the default adapter name', () => {
  it('is the Gleam module default_adapter_name, and the adapter registers under it', async () => {
    expect(discovery.defaultAdapterName).toBe('distribute_discovery_adapter');
    const app = createMachine({ invoke: discovery.childSpec({ adapter: memoryAdapter({ group: 'parity-name' }) }) });
    const actor = createActor(app).start();
    try {
      expect(actor.system.get('distribute_discovery_adapter')).toBeDefined();
      await eventually(() => discovery.health().type !== 'Down');
    } finally {
      actor.stop();
    }
  });
});

describe('error classification', () => {
  const every: [DiscoveryError, 'transient' | 'permanent' | 'neither'][] = [
    [{ type: 'SyncFailed', message: '' }, 'transient'],
    [{ type: 'Timeout', operation: 'sync', timeoutMs: 1, message: '' }, 'transient'],
    [{ type: 'InvalidConfiguration', field: 'x', value: 1, message: '' }, 'permanent'],
    [{ type: 'PeerNotFound', peerId: 'x', message: '' }, 'permanent'],
    [{ type: 'StartFailed', message: '' }, 'permanent'],
    [{ type: 'StopFailed', message: '' }, 'neither'],
    [{ type: 'ShutdownTimeout', timeoutMs: 1, message: '' }, 'neither'],
    [{ type: 'SubscriptionFailed', message: '' }, 'neither'],
  ];
  for (const [error, kind] of every) {
    it(`classes ${error.type} as ${kind}`, () => {
      expect(isTransientError(error)).toBe(kind === 'transient');
      expect(isPermanentError(error)).toBe(kind === 'permanent');
    });
  }
});

describe('a sync that runs past syncTimeoutMs', () => {
  it('is the Timeout variant carrying the milliseconds waited, counted as a failed sync', async () => {
    let syncs = 0;
    // Its syncs never answer (a store that accepts the request and goes quiet).
    const silent = defineAdapter('silent', async ({ input }) => ({
      self: input.self,
      sync: () => {
        syncs++;
        return new Promise(() => {});
      },
      close: () => {},
    }));
    unwrap(
      await discovery.startLink({ adapter: silent, syncTimeoutMs: 40, retryConfig: { initialDelayMs: 10, maxAttempts: 5 } }),
    );
    await eventually(() => unwrap(discovery.metrics()).syncFailures >= 2, 5000, 'two timed-out syncs');
    const info = unwrap(discovery.healthInfo());
    expect(info.lastError).toEqual({
      type: 'Timeout',
      operation: 'sync',
      timeoutMs: 40,
      message: 'The sync did not finish within 40 ms',
    });
    expect(info.status).toMatchObject({ type: 'Degraded', reason: expect.stringContaining('did not finish within 40 ms') });
    expect(info.consecutiveFailures).toBeGreaterThanOrEqual(2);
    const metrics = unwrap(discovery.metrics());
    expect(metrics.syncFailures).toBe(metrics.syncCount);
    expect(metrics.errorRate).toBe(1);
    expect(syncs).toBeGreaterThanOrEqual(2);
  });
});

describe('unsubscribe', () => {
  it('succeeds for an id it does not know and for one already removed', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'parity-unsub' }) }));
    expect(discovery.unsubscribe('nope' as SubscriptionId)).toEqual({ ok: true, value: undefined });
    const id = unwrap(discovery.subscribe(() => {}));
    expect(discovery.unsubscribe(id)).toEqual({ ok: true, value: undefined });
    expect(discovery.unsubscribe(id)).toEqual({ ok: true, value: undefined });
  });

  it('is SubscriptionFailed only when no adapter runs', () => {
    const result = discovery.unsubscribe('nope' as SubscriptionId);
    expect(!result.ok && result.error.type).toBe('SubscriptionFailed');
  });
});

describe('health and metrics field names', () => {
  it('use the module names in camelCase: lastSyncTimeMs and knownPeersCount', async () => {
    const group = memoryAdapter({ group: 'parity-fields' });
    unwrap(await discovery.startLink({ adapter: group, nodeId: 'a' }));
    const b = await discovery.startLink({ name: 'parity-b', adapter: group, nodeId: 'b' });
    try {
      await eventually(() => discovery.health().type === 'Up' && unwrap(discovery.snapshot()).length === 1);
      const before = Date.now();
      const info = unwrap(discovery.healthInfo());
      expect(Object.keys(info).sort()).toEqual(['consecutiveFailures', 'knownPeersCount', 'lastError', 'lastSyncTimeMs', 'status']);
      expect(info.knownPeersCount).toBe(1);
      expect(info.lastSyncTimeMs).toBeGreaterThan(0);
      expect(info.lastSyncTimeMs).toBeLessThanOrEqual(before);
      const metrics = unwrap(discovery.metrics());
      expect(metrics.knownPeersCount).toBe(1);
      expect(metrics).not.toHaveProperty('knownPeers');
    } finally {
      if (b.ok) await b.value.stop();
    }
  });
});
