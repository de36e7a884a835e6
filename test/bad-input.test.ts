/** Bad input gets a typed answer naming what was wrong; nothing starts and nothing throws. */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { MAX_METADATA_BYTES, memoryAdapter, type DiscoveryError } from 'distribute/discovery';
import { unwrap } from './support/index.js';

afterEach(async () => {
  await discovery.stop(1000);
});

async function startError(options: Record<string, unknown>): Promise<DiscoveryError> {
  const result = await discovery.startLink({ adapter: memoryAdapter({ group: 'bad' }), ...options } as discovery.DiscoveryOptions);
  if (result.ok) {
    await result.value.stop();
    throw new Error('expected startLink to fail');
  }
  return result.error;
}

describe('invalid options', () => {
  const cases: [string, Record<string, unknown>, string, unknown][] = [
    ['an empty name', { name: '' }, 'name', ''],
    ['a zero sync interval', { syncIntervalMs: 0 }, 'syncIntervalMs', 0],
    ['a negative sync timeout', { syncTimeoutMs: -5 }, 'syncTimeoutMs', -5],
    ['a NaN interval', { syncIntervalMs: Number.NaN }, 'syncIntervalMs', Number.NaN],
    ['a backoff max below its initial value', { retryConfig: { initialDelayMs: 500, maxDelayMs: 100 } }, 'retryConfig.maxDelayMs', 100],
    ['zero attempts', { retryConfig: { maxAttempts: 0 } }, 'retryConfig.maxAttempts', 0],
    ['a multiplier below 1', { retryConfig: { multiplier: 0.5 } }, 'retryConfig.multiplier', 0.5],
    ['a metadata value that is not a string', { metadata: { port: 8080 } }, 'metadata.port', 8080],
    ['metadata that is not an object', { metadata: 'x' }, 'metadata', 'x'],
    ['seed peers that are not strings', { seedPeers: [1] }, 'seedPeers', [1]],
    ['an onPeerUp that is not a function', { onPeerUp: 'yes' }, 'onPeerUp', 'yes'],
  ];
  for (const [what, options, field, value] of cases) {
    it(`rejects ${what} with InvalidConfiguration naming ${field}`, async () => {
      const error = await startError(options);
      expect(error).toMatchObject({ type: 'InvalidConfiguration', field });
      expect((error as { value: unknown }).value).toEqual(value);
      expect(error.message).toContain(field);
      expect(discovery.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
    });
  }

  it(`rejects metadata over ${MAX_METADATA_BYTES} bytes`, async () => {
    const error = await startError({ metadata: { blob: 'x'.repeat(MAX_METADATA_BYTES) } });
    expect(error).toMatchObject({ type: 'InvalidConfiguration', field: 'metadata' });
    expect(error.message).toContain(`at most ${MAX_METADATA_BYTES} bytes`);
  });

  it('rejects invalid metadata in setMetadata and keeps the old one', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'bad2' }), metadata: { a: '1' } }));
    const result = discovery.setMetadata({ a: 2 } as unknown as Record<string, string>);
    expect(!result.ok && result.error).toMatchObject({ type: 'InvalidConfiguration', field: 'metadata.a', value: 2 });
    expect(unwrap(discovery.self()).metadata).toEqual({ a: '1' });
  });
});

describe('misuse of a running adapter', () => {
  it('answers a non-function callback with SubscriptionFailed', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'bad3' }) }));
    const result = discovery.subscribe('not a function' as never);
    expect(!result.ok && result.error.type).toBe('SubscriptionFailed');
    expect(!result.ok && result.error.message).toContain('string');
  });

  it('answers a lookup of an unknown peer with PeerNotFound naming it', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'bad5' }) }));
    const result = discovery.lookup('ghost');
    expect(!result.ok && result.error).toMatchObject({ type: 'PeerNotFound', peerId: 'ghost' });
  });

  it('answers a double stop with StopFailed, and a second start under a taken name with StartFailed', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'bad6' }), nodeId: 'one' }));
    const second = await discovery.startLink({ adapter: memoryAdapter({ group: 'bad6' }), nodeId: 'two' });
    expect(!second.ok && second.error.type).toBe('StartFailed');
    expect(unwrap(await discovery.stop())).toBeUndefined();
    const again = await discovery.stop();
    expect(!again.ok && again.error.type).toBe('StopFailed');
  });

  it('answers a node id already in the group with StartFailed from the backend', async () => {
    unwrap(await discovery.startLink({ adapter: memoryAdapter({ group: 'bad7' }), nodeId: 'same' }));
    const other = await discovery.startLink({ name: 'other', adapter: memoryAdapter({ group: 'bad7' }), nodeId: 'same' });
    expect(!other.ok && other.error).toMatchObject({ type: 'StartFailed' });
    expect(!other.ok && other.error.message).toContain('already a member');
  });

  it('returns a typed error, not a throw, for every facade call when nothing runs', async () => {
    for (const result of [discovery.snapshot(), discovery.lookup('x'), discovery.metrics(), discovery.healthInfo(), discovery.self()]) {
      expect(result.ok).toBe(false);
    }
    expect(discovery.subscribe(() => {}).ok).toBe(false);
    expect(discovery.events().ok).toBe(false);
    expect((await discovery.stop()).ok).toBe(false);
  });
});
