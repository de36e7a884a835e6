/**
 * Cluster labels without keys, over real UDP and TCP on loopback: members
 * with another label, or none, never merge with a labelled cluster; their
 * packets and push-pulls are counted and dropped. Members with the same
 * label merge as before.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { gossipAdapter } from 'distribute/discovery';
import { encodePackets } from '../../src/discovery/gossip/wire/codec.js';
import { SealedCodec } from '../../src/discovery/gossip/wire/sealed.js';
import { eventually, unwrap } from '../support/index.js';

const NAMES = ['prod1', 'prod2', 'staging', 'plain'] as const;
const view = (name: string) => discovery.bind({ name });
const sees = (observer: string, peer: string) => view(observer).lookup(peer).ok;
const mismatches = (name: string) => unwrap(view(name).metrics()).backend.labelMismatches ?? 0;

afterEach(async () => {
  await Promise.all(NAMES.map((name) => view(name).stop(2000)));
});

async function start(name: string, label: string | undefined, seed?: string): Promise<string> {
  const adapter = gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local', ...(label !== undefined ? { label } : {}) });
  unwrap(await discovery.startLink({ name, nodeId: name, adapter, syncIntervalMs: 50, ...(seed ? { seedPeers: [seed] } : {}) }));
  return unwrap(view(name).self()).address!;
}

describe('cluster labels on every packet and stream', () => {
  it('keep a prod cluster apart from a staging member and an unlabelled one, even unsealed', async () => {
    const seed = await start('prod1', 'prod');
    await start('staging', 'staging', seed);
    await start('plain', undefined, seed);
    await start('prod2', 'prod', seed);
    await eventually(() => sees('prod2', 'prod1') && sees('prod1', 'prod2'), 10_000, 'the two prod members to merge');
    // Both outsiders' join attempts reached prod1 (or, before the fix, got in).
    await eventually(() => mismatches('prod1') >= 2 || sees('staging', 'prod1') || sees('plain', 'prod1'), 10_000, 'the outsiders to try');
    for (const outsider of ['staging', 'plain']) {
      expect(sees(outsider, 'prod1')).toBe(false);
      expect(sees('prod1', outsider)).toBe(false);
      expect(sees('prod2', outsider)).toBe(false);
    }
    expect(mismatches('prod1')).toBeGreaterThanOrEqual(2);
  });

  it('are a header only when set: unlabelled bytes are as before, and each side drops the other', () => {
    const logged: unknown[] = [];
    const log = { debug: () => {}, warn: (fields: unknown) => void logged.push(fields) };
    let now = 0;
    const codec = (label: string) => new SealedCodec({ keyring: undefined, label, maxStreamBytes: 1 << 20, log, now: () => now });
    const plain = codec('');
    const prod = codec('prod');
    const [packet] = encodePackets([{ type: 'ack', seq: 7 }], 1400);
    expect(Buffer.from(plain.seal(packet!))).toEqual(Buffer.from(packet!));
    expect(prod.overhead).toBe(2 + 4);
    expect(prod.read('packet', Buffer.from(prod.seal(packet!)), 'h:1')).toEqual({ ok: true, value: [{ type: 'ack', seq: 7 }] });
    expect(plain.read('packet', Buffer.from(prod.seal(packet!)), 'h:1').ok).toBe(false);
    expect(prod.read('packet', Buffer.from(plain.seal(packet!)), 'h:1').ok).toBe(false);
    expect(prod.read('packet', Buffer.from(codec('staging').seal(packet!)), 'h:1').ok).toBe(false);
    expect(prod.read('packet', Buffer.from([244, 9, 1]), 'h:1').ok).toBe(false);
    expect(plain.counters.labelMismatches).toBe(1);
    expect(prod.counters.labelMismatches).toBe(3);
    // One log line per sender per minute.
    expect(logged).toHaveLength(2);
    now = 60_000;
    prod.read('packet', Buffer.from(plain.seal(packet!)), 'h:1');
    prod.read('packet', Buffer.from(plain.seal(packet!)), 'h:2');
    expect(logged).toHaveLength(4);
    expect(() => codec('x'.repeat(256))).toThrow(/at most 255/);
  });
});
