/** Key frames on the stream channel: they round-trip sealed, and anything malformed is counted and dropped. */
import { describe, expect, it } from 'vitest';
import { generateKey, Keyring } from '../../src/discovery/gossip/wire/crypto.js';
import { PROTOCOL_VERSION } from '../../src/discovery/gossip/wire/codec.js';
import { decodeKeyFrame, encodeKeyOp } from '../../src/discovery/gossip/wire/key-op.js';
import { pack } from '../../src/discovery/gossip/wire/msgpack.js';
import { SealedCodec } from '../../src/discovery/gossip/wire/sealed.js';

const quiet = { debug: () => {}, warn: () => {} };
const codecWith = (keyring: Keyring) => new SealedCodec({ keyring, label: 'prod', maxStreamBytes: 1 << 20, log: quiet });
const raw = (value: unknown) => Buffer.concat([Buffer.of(PROTOCOL_VERSION), pack(value)]);

describe('key frames', () => {
  it('a key operation and its answer round-trip through the sealed codec', () => {
    const codec = codecWith(new Keyring([generateKey()]));
    const key = generateKey();
    const read = codec.read('request', Buffer.from(codec.sealKeyFrame({ type: 'keyOp', op: 'install', arg: key })), 'x:1');
    expect(read).toEqual({ ok: true, value: { type: 'keyOp', op: 'install', arg: key } });
    const reply = codec.read('keyReply', Buffer.from(codec.sealKeyFrame({ type: 'keyReply', error: '', keys: ['0123456789abcdef'] })), 'x:1');
    expect(reply).toEqual({ ok: true, value: { type: 'keyReply', error: '', keys: ['0123456789abcdef'] } });
  });

  it('counts and drops malformed key frames, an answer where a request belongs, and a request where an answer belongs', () => {
    const codec = codecWith(new Keyring([generateKey()]));
    const bad = [raw([9, 7, '']), raw([9, 0, 'x'.repeat(65)]), raw([9, 0]), raw([10, '', ['0123456789abcdef']]), raw([10, 5, []])];
    for (const frame of bad) expect(codec.read('request', Buffer.from(codec.seal(frame)), 'x:1').ok).toBe(false);
    expect(codec.read('keyReply', Buffer.from(codec.seal(encodeKeyOp({ type: 'keyOp', op: 'list', arg: '' }))), 'x:1').ok).toBe(false);
    expect(codec.counters.malformedStreams).toBe(bad.length + 1);
    expect(decodeKeyFrame(Uint8Array.of(PROTOCOL_VERSION, 0xc1)).ok).toBe(false);
  });

  it('a key operation sealed under another key or label does not open', () => {
    const ours = codecWith(new Keyring([generateKey()]));
    const theirs = codecWith(new Keyring([generateKey()]));
    const frame = Buffer.from(theirs.sealKeyFrame({ type: 'keyOp', op: 'use', arg: '0123456789abcdef' }));
    expect(ours.read('request', frame, 'x:1').ok).toBe(false);
    expect(ours.counters.unopenedMessages).toBe(1);
  });
});
