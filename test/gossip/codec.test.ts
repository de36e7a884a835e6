/** The wire codec: round trips, and every kind of bad input rejected with a typed error, never a throw. */
import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  decodeStream,
  encodeMessage,
  encodePacket,
  encodePackets,
  encodeStream,
  MAX_INCARNATION,
  MAX_NAME_BYTES,
  PROTOCOL_VERSION,
  type Decoded,
} from '../../src/discovery/gossip/wire/codec.js';
import type { MemberState, PacketMessage, PushPull } from '../../src/discovery/gossip/wire/messages.js';
import { MAX_METADATA_BYTES } from '../../src/discovery/metadata.js';
import { Rng } from '../../src/discovery/rng.js';
import { pack } from '../../src/discovery/gossip/wire/msgpack.js';

const all: PacketMessage[] = [
  { type: 'ping', seq: 1, target: 'b', from: 'a' },
  { type: 'indirect', seq: 2, target: 'c', targetAddress: '10.0.0.3:7946', nack: true },
  { type: 'ack', seq: 3 },
  { type: 'nack', seq: 4 },
  { type: 'alive', id: 'd', address: '[::1]:7946', incarnation: 1_795_000_000, metadata: { role: 'db', zone: 'eu-1' } },
  { type: 'suspect', id: 'e', incarnation: 9, from: 'a' },
  { type: 'dead', id: 'f', incarnation: 9, from: 'f' },
];

const pushPull: PushPull = {
  type: 'pushPull',
  join: true,
  from: 'a',
  members: [
    { id: 'a', address: 'h:1', incarnation: 1, status: 'alive', metadata: {} },
    { id: 'b', address: 'h:2', incarnation: 2, status: 'left', metadata: { x: 'y' } },
    { id: 'c', address: 'h:3', incarnation: 3, status: 'suspect', metadata: {} },
    { id: 'd', address: 'h:4', incarnation: 2 ** 40, status: 'dead', metadata: { 'ключ': 'значение' } },
  ],
};

const errorType = (decoded: Decoded<unknown>) => (decoded.ok ? 'ok' : decoded.error.type);

describe('codec', () => {
  it('round-trips every message type in one packet', () => {
    const packets = encodePackets(all, 1400);
    expect(packets).toHaveLength(1);
    expect(packets[0]![0]).toBe(PROTOCOL_VERSION);
    expect(decodePacket(packets[0]!)).toEqual({ ok: true, value: all, skipped: 0 });
  });

  it('packs a primary message and as many piggybacked broadcasts as fit under the budget', () => {
    const broadcasts = Array.from({ length: 60 }, (_, i) =>
      encodeMessage({ type: 'alive', id: `member-${i}`, address: `10.0.${i}.1:7946`, incarnation: i, metadata: { zone: 'eu-west-1' } }),
    );
    const primary: PacketMessage = { type: 'ping', seq: 9, target: 'b', from: 'a' };
    const bytes = encodePacket([primary, ...broadcasts], 1400)!;
    expect(bytes.length).toBeLessThanOrEqual(1400);
    const decoded = decodePacket(bytes);
    if (!decoded.ok) throw new Error(decoded.error.message);
    expect(decoded.value[0]).toEqual(primary);
    const room = 1400 - bytes.length;
    expect(decoded.value.length).toBeGreaterThan(20);
    expect(room).toBeLessThan(broadcasts[0]!.length); // nothing more would have fitted
    // A primary larger than the budget gives no packet at all.
    expect(encodePacket([primary, ...broadcasts], 8)).toBeUndefined();
  });

  it('splits messages over packets that stay under the size limit', () => {
    const many: PacketMessage[] = Array.from({ length: 200 }, (_, i) => ({ type: 'alive', id: `member-${i}`, address: `10.0.${i}.1:7946`, incarnation: i, metadata: { k: 'v' } }));
    const packets = encodePackets(many, 1400);
    expect(packets.length).toBeGreaterThan(1);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(1400);
    expect(packets.flatMap((p) => (decodePacket(p) as { value: PacketMessage[] }).value)).toEqual(many);
  });

  it('round-trips a push-pull frame with every status', () => {
    expect(decodeStream(encodeStream(pushPull))).toEqual({ ok: true, value: pushPull });
  });

  it('carries a 10,000-member push-pull within the default frame bound', () => {
    const members: MemberState[] = Array.from({ length: 10_000 }, (_, i) => ({ id: `node-${i}`, address: `10.${i >> 8}.${i & 255}.1:7946`, incarnation: 1_795_000_000 + i, status: 'alive', metadata: { zone: 'eu-1' } }));
    const bytes = encodeStream({ type: 'pushPull', join: false, from: 'node-0', members });
    expect(bytes.length).toBeLessThan(4 * 1024 * 1024);
    const decoded = decodeStream(bytes);
    expect(decoded.ok && decoded.value.members).toHaveLength(10_000);
  });

  it('rejects a newer protocol version, empty, truncated and oversized input by type', () => {
    const packet = encodePackets(all, 1400)[0]!;
    const future = Uint8Array.from(packet);
    future[0] = PROTOCOL_VERSION + 1;
    expect(errorType(decodePacket(future))).toBe('UnsupportedVersion');
    expect(errorType(decodePacket(new Uint8Array(0)))).toBe('Truncated');
    expect(errorType(decodePacket(packet.subarray(0, packet.length - 5)))).toBe('Truncated');
    expect(errorType(decodePacket(new Uint8Array(70_000)))).toBe('Oversized');
    expect(errorType(decodePacket(packet, packet.length - 1))).toBe('Oversized');
    const frame = encodeStream(pushPull);
    const futureFrame = Uint8Array.from(frame);
    futureFrame[0] = 2;
    expect(errorType(decodeStream(futureFrame))).toBe('UnsupportedVersion');
    expect(errorType(decodeStream(frame.subarray(0, frame.length - 3)))).toBe('Truncated');
    expect(errorType(decodeStream(new Uint8Array(10), 5))).toBe('Oversized');
    expect(errorType(decodeStream(new Uint8Array(0)))).toBe('Truncated');
  });

  it('rejects well-formed MessagePack of the wrong shape as Malformed', () => {
    const wrap = (value: unknown) => Uint8Array.from([PROTOCOL_VERSION, ...pack(value)]);
    const shapes: unknown[] = [
      { a: 1 },
      [],
      'hello',
      [[99, 1]],
      [[1, -1, 'b', 'a']],
      [[1, 1.5, 'b', 'a']],
      [[1, 2 ** 53, 'b', 'a']],
      [[1, 1, '', 'a']],
      [[1, 1, 'b']],
      [[1, 1, 'b', 'a', 'extra']],
      [[3, '1']],
      [[5, 'd', 'h:1', 1, { k: 7 }]],
      [[5, 'd', 'h:1', 1, { '': 'v' }]],
      [[5, 'd', 'h:1', 1, { big: 'x'.repeat(MAX_METADATA_BYTES) }]],
      [[5, 'd', 'h:1', 1, Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, '']))]],
      [[5, 'd', 'h:1', 1, ['not', 'a', 'map']]],
      [[5, 'x'.repeat(MAX_NAME_BYTES + 1), 'h:1', 1, {}]],
      [[5, 'd', 'h'.repeat(301), 1, {}]],
      [[2, 1, 'c', 'h:1', 'yes']],
      [[6, 'e', 9, null]],
      [[8, true, 'a', []]],
      [[5, 'd', 'h:1', MAX_INCARNATION + 1, {}]],
      [[6, 'e', 2 ** 53 - 1, 'a']],
      [[7, 'e', MAX_INCARNATION + 1, 'a']],
      Array.from({ length: 256 }, () => [3, 1]),
    ];
    for (const shape of shapes) {
      expect(errorType(decodePacket(wrap(shape))), JSON.stringify(shape).slice(0, 60)).toBe('Malformed');
    }
    const streamShapes: unknown[] = [
      [8, true, 'a', [['a', 'h:1', 2 ** 53 - 1, 0, {}]]],
      [8, true, 'a', [['a', 'h:1', 1, 9, {}]]],
      [8, true, 'a', [['a', 'h:1', 1, 0]]],
      [8, 'yes', 'a', []],
      [8, true, '', []],
      [8, true, 'a', {}],
      [8, true, 'a', [], 'extra'],
      [1, 1, 'b', 'a'],
      { type: 'pushPull' },
    ];
    for (const shape of streamShapes) {
      expect(errorType(decodeStream(wrap(shape))), JSON.stringify(shape).slice(0, 60)).toBe('Malformed');
    }
  });

  it('decodes the messages of a packet one by one, skipping and counting the bad ones', () => {
    const wrap = (value: unknown) => Uint8Array.from([PROTOCOL_VERSION, ...pack(value)]);
    const packet = wrap([[3, 7], [6, 'e', 2 ** 53 - 1, 'a'], [99], [5, 'd', 'h:1', MAX_INCARNATION, {}]]);
    expect(decodePacket(packet)).toEqual({
      ok: true,
      value: [
        { type: 'ack', seq: 7 },
        { type: 'alive', id: 'd', address: 'h:1', incarnation: MAX_INCARNATION, metadata: {} },
      ],
      skipped: 2,
    });
  });

  it('never throws on random or mutated input (seeded fuzz, 5,000 cases)', () => {
    const rng = new Rng(2024);
    const seeds = [...encodePackets(all, 1400), encodeStream(pushPull)];
    let rejected = 0;
    const kinds = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      let input: Uint8Array;
      const mode = i % 4;
      if (mode === 0) {
        // Random bytes, some behind a valid version byte.
        input = Uint8Array.from({ length: rng.int(200) }, () => rng.int(256));
        if (i % 8 === 0 && input.length > 0) input[0] = PROTOCOL_VERSION;
      } else if (mode === 1) {
        // A real packet or frame with a few bytes flipped.
        input = Uint8Array.from(seeds[rng.int(seeds.length)]!);
        for (let flips = 1 + rng.int(4); flips > 0; flips--) input[1 + rng.int(input.length - 1)] = rng.int(256);
      } else if (mode === 2) {
        // Cut short.
        const whole = seeds[rng.int(seeds.length)]!;
        input = whole.subarray(0, rng.int(whole.length));
      } else {
        // Bytes inserted or removed in the middle.
        const whole = Array.from(seeds[rng.int(seeds.length)]!);
        const at = 1 + rng.int(whole.length - 1);
        if (rng.next() < 0.5) whole.splice(at, 1 + rng.int(3));
        else whole.splice(at, 0, ...Array.from({ length: 1 + rng.int(3) }, () => rng.int(256)));
        input = Uint8Array.from(whole);
      }
      let packet: Decoded<unknown>;
      let stream: Decoded<unknown>;
      expect(() => {
        packet = decodePacket(input);
        stream = decodeStream(input);
      }).not.toThrow();
      for (const decoded of [packet!, stream!]) {
        expect(typeof decoded.ok).toBe('boolean');
        if (!decoded.ok) {
          kinds.add(decoded.error.type);
          expect(['Malformed', 'Truncated', 'Oversized', 'UnsupportedVersion']).toContain(decoded.error.type);
          expect(decoded.error.message.length).toBeGreaterThan(0);
        }
      }
      if (!packet!.ok) rejected++;
    }
    expect(rejected).toBeGreaterThan(4000);
    expect([...kinds].sort()).toEqual(['Malformed', 'Truncated', 'UnsupportedVersion']);
  });
});

describe('the MessagePack subset', () => {
  it('round-trips the values it supports, at every width', async () => {
    const { pack: p, unpack } = await import('../../src/discovery/gossip/wire/msgpack.js');
    const values = [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -32, -33, -(2 ** 40), 1.5, '', 'é', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(300), 'x'.repeat(70_000), true, false, null, [], Array.from({ length: 20 }, (_, i) => i), { a: 'b' }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))];
    for (const value of values) expect(unpack(p(value))).toEqual(value);
  });

  it('refuses binary, extensions, deep nesting, bad UTF-8, trailing bytes and impossible lengths', async () => {
    const { unpack, MsgpackError } = await import('../../src/discovery/gossip/wire/msgpack.js');
    const cases: [number[], string][] = [
      [[0xc4, 1, 0], 'Malformed'],
      [[0xd4, 1, 0], 'Malformed'],
      [[...Array(12).fill(0x91), 0], 'Malformed'],
      [[0xa2, 0xff, 0xfe], 'Malformed'],
      [[0x01, 0x02], 'Malformed'],
      [[0xdd, 0xff, 0xff, 0xff, 0xff], 'Truncated'],
      [[0x81, 0x01, 0x02], 'Malformed'],
      [[0x82, 0xa1, 0x61, 1, 0xa1, 0x61, 2], 'Malformed'],
    ];
    for (const [bytes, kind] of cases) {
      let error: unknown;
      try {
        unpack(Uint8Array.from(bytes));
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(bytes)).toBeInstanceOf(MsgpackError);
      expect((error as InstanceType<typeof MsgpackError>).kind, JSON.stringify(bytes)).toBe(kind);
    }
  });
});
