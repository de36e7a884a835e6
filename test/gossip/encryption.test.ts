/** Sealed gossip: members sharing a key and label form a cluster; nobody else gets in. */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { generateKey, gossipAdapter, type GossipAdapterOptions } from 'distribute/discovery';
import { eventually, sleep, unwrap } from '../support/index.js';

const names: string[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
});

async function member(name: string, options: Partial<GossipAdapterOptions>, seeds: string[] = []) {
  names.push(name);
  const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', ...options });
  unwrap(await discovery.startLink({ name, nodeId: name, adapter, seedPeers: seeds, syncIntervalMs: 50 }));
  return discovery.bind({ name });
}

describe('encrypted gossip', () => {
  it('members with the same key and label join; one without the key, or with another label, cannot', async () => {
    const key = generateKey();
    const a = await member('a', { secretKeys: [key], label: 'prod' });
    const address = unwrap(a.self()).address!;
    const b = await member('b', { secretKeys: [key], label: 'prod' }, [address]);
    await eventually(() => a.lookup('b').ok && b.lookup('a').ok, 5000, 'a and b to see each other');

    const stranger = await member('stranger', {}, [address]);
    const otherLabel = await member('staging', { secretKeys: [key], label: 'staging' }, [address]);
    const wrongKey = await member('wrong-key', { secretKeys: [generateKey()], label: 'prod' }, [address]);
    await sleep(1500);
    for (const outsider of [stranger, otherLabel, wrongKey]) expect(unwrap(outsider.snapshot())).toEqual([]);
    expect(unwrap(a.snapshot()).map((p) => p.id)).toEqual(['b']);
    await eventually(() => (unwrap(a.metrics()).backend.unopenedMessages ?? 0) > 0, 3000, 'a to count what it could not open');
    // The outsiders' health says why they are alone.
    await eventually(() => stranger.health().type === 'Degraded', 3000, 'the stranger to be degraded');
    expect(stranger.health()).toMatchObject({ reason: expect.stringContaining('No seed reachable') });
  });

  it('rotates keys without a flag day: install, use, then remove the old key', async () => {
    const oldKey = generateKey();
    const newKey = generateKey();
    const a = await member('r1', { secretKeys: [oldKey, newKey] });
    // r2 already seals with the new key; r1 still seals with the old one and opens both.
    const b = await member('r2', { secretKeys: [newKey, oldKey] }, [unwrap(a.self()).address!]);
    await eventually(() => a.lookup('r2').ok && b.lookup('r1').ok, 5000, 'members on either key to see each other');
  });

  it('rotates a running three-member cluster from key A to key B with no PeerDown; a member holding only A is shut out', async () => {
    const keyA = generateKey();
    const keyB = generateKey();
    const downs: string[] = [];
    const first = await member('k1', { secretKeys: [keyA] });
    const seed = unwrap(first.self()).address!;
    const cluster = [first, await member('k2', { secretKeys: [keyA] }, [seed]), await member('k3', { secretKeys: [keyA] }, [seed])];
    for (const m of cluster) unwrap(m.subscribe((e) => void (e.type === 'PeerDown' && downs.push(`${m.name} saw ${e.peer.id} down`))));
    await eventually(() => cluster.every((m) => unwrap(m.snapshot()).length === 2), 5000, 'three members to see each other');

    // The four steps, each on every member before the next: (keygen,) install, use, remove.
    for (const m of cluster) unwrap(m.installKey(keyB));
    await sleep(300);
    for (const m of cluster) unwrap(m.useKey(keyB));
    await sleep(300);
    for (const m of cluster) unwrap(m.removeKey(keyA));
    for (const m of cluster) expect(unwrap(m.listKeys())).toEqual({ primary: keyB, keys: [keyB] });

    // Still one cluster, sealed with B only: news travels, nobody went down.
    unwrap(cluster[2]!.setMetadata({ rotated: 'yes' }));
    await eventually(() => cluster.slice(0, 2).every((m) => m.lookup('k3').ok && unwrap(m.lookup('k3')).metadata.rotated === 'yes'), 5000, 'metadata sealed with B to arrive');
    const opened = unwrap(first.metrics()).backend.unopenedMessages ?? 0;
    const stale = await member('k-old', { secretKeys: [keyA] }, [seed]);
    await sleep(1500);
    expect(unwrap(stale.snapshot())).toEqual([]);
    expect(unwrap(first.snapshot()).map((p) => p.id).sort()).toEqual(['k2', 'k3']);
    expect(unwrap(first.metrics()).backend.unopenedMessages ?? 0).toBeGreaterThan(opened);
    expect(downs).toEqual([]);
  });

  it('key functions answer with typed errors: a malformed key, a key not installed, the primary, an adapter without keys', async () => {
    const key = generateKey();
    const m = await member('typed', { secretKeys: [key] });
    expect(m.installKey('c2hvcnQ=')).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', field: 'key' } });
    expect(m.useKey(generateKey())).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', message: expect.stringContaining('installed') } });
    expect(m.removeKey(key)).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', message: expect.stringContaining('primary') } });
    expect(m.removeKey(generateKey())).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', message: expect.stringContaining('installed') } });
    const plain = await member('plain', {});
    expect(plain.installKey(generateKey())).toMatchObject({ ok: false, error: { type: 'KeysUnavailable' } });
    expect(plain.listKeys()).toMatchObject({ ok: false, error: { type: 'KeysUnavailable' } });
    expect(discovery.bind({ name: 'nobody' }).listKeys()).toMatchObject({ ok: false, error: { type: 'KeysUnavailable' } });
  });

  it('refuses a key that is not 32 bytes with StartFailed', async () => {
    const result = await discovery.startLink({ name: 'badkey', adapter: gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, secretKeys: ['c2hvcnQ='] }) });
    expect(!result.ok && result.error).toMatchObject({ type: 'StartFailed', message: expect.stringContaining('32 bytes') });
  });
});
