/** The wire codec: round trips, and every kind of bad input rejected with a typed error, never a throw. */
import { describe, expect, it } from 'vitest';
import {
  decodePacket,
  decodeStream,
  encodePackets,
  encodeStream,
  MAX_META_BYTES,
  PROTOCOL_VERSION,
} from '../../src/discovery/gossip/codec.js';
import type { PacketMessage, PushPull } from '../../src/discovery/gossip/messages.js';
import { Rng } from '../../src/discovery/gossip/rng.js';
import { pack } from '../../src/discovery/gossip/msgpack.js';

const all: PacketMessage[] = [
  { type: 'ping', seq: 1, target: 'b', from: 'a' },
  { type: 'indirect', seq: 2, target: 'c', targetAddr: '10.0.0.3:7946', nack: true },
  { type: 'ack', seq: 3 },
  { type: 'nack', seq: 4 },
  { type: 'alive', name: 'd', addr: '[::1]:7946', incarnation: 1_795_000_000, meta: { role: 'db', zone: 'eu-1' } },
  { type: 'suspect', name: 'e', incarnation: 9, from: 'a' },
  { type: 'dead', name: 'f', incarnation: 9, from: 'f' },
];

describe('codec', () => {
  it('round-trips every message type in one packet', () => {
    const packets = encodePackets(all, 1400);
    expect(packets).toHaveLength(1);
    expect(packets[0]![0]).toBe(PROTOCOL_VERSION);
    expect(decodePacket(packets[0]!)).toEqual({ ok: true, value: all });
  });

  it('splits messages over packets that stay under the size limit', () => {
    const many: PacketMessage[] = Array.from({ length: 200 }, (_, i) => ({ type: 'alive', name: `member-${i}`, addr: `10.0.${i}.1:7946`, incarnation: i, meta: { k: 'v' } }));
    const packets = encodePackets(many, 1400);
    expect(packets.length).toBeGreaterThan(1);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(1400);
    expect(packets.flatMap((p) => (decodePacket(p) as { value: PacketMessage[] }).value)).toEqual(many);
  });

  it('round-trips a push-pull frame', () => {
    const msg: PushPull = {
      type: 'pushPull',
      join: true,
      from: 'a',
      members: [
        { name: 'a', addr: 'h:1', incarnation: 1, status: 'alive', meta: {} },
        { name: 'b', addr: 'h:2', incarnation: 2, status: 'left', meta: { x: 'y' } },
      ],
    };
    expect(decodeStream(encodeStream(msg))).toEqual({ ok: true, value: msg });
  });

  it('rejects a newer protocol version, empty, truncated and oversized input by type', () => {
    const packet = encodePackets(all, 1400)[0]!;
    const future = Uint8Array.from(packet);
    future[0] = PROTOCOL_VERSION + 1;
    expect(decodePacket(future)).toMatchObject({ ok: false, error: { type: 'UnsupportedVersion' } });
    expect(decodePacket(new Uint8Array(0))).toMatchObject({ ok: false, error: { type: 'Truncated' } });
    expect(decodePacket(packet.subarray(0, packet.length - 5))).toMatchObject({ ok: false, error: { type: 'Truncated' } });
    expect(decodePacket(new Uint8Array(70_000))).toMatchObject({ ok: false, error: { type: 'Oversized' } });
    expect(decodeStream(new Uint8Array(10), 5)).toMatchObject({ ok: false, error: { type: 'Oversized' } });
  });

  it('rejects well-formed MessagePack of the wrong shape as Malformed', () => {
    const wrap = (value: unknown) => Uint8Array.from([PROTOCOL_VERSION, ...pack(value)]);
    const shapes: unknown[] = [
      { a: 1 },
      [],
      [[99, 1]],
      [[1, -1, 'b', 'a']],
      [[1, 1.5, 'b', 'a']],
      [[1, 1, '', 'a']],
      [[1, 1, 'b']],
      [[5, 'd', 'h:1', 1, { k: 7 }]],
      [[5, 'd', 'h:1', 1, { big: 'x'.repeat(MAX_META_BYTES) }]],
      [[5, 'x'.repeat(300), 'h:1', 1, {}]],
      [[2, 1, 'c', 'h:1', 'yes']],
    ];
    for (const shape of shapes) {
      const decoded = decodePacket(wrap(shape));
      expect(decoded, JSON.stringify(shape).slice(0, 60)).toMatchObject({ ok: false, error: { type: 'Malformed' } });
    }
    expect(decodeStream(wrap([8, true, 'a', [['a', 'h:1', 1, 9, {}]]]))).toMatchObject({ ok: false, error: { type: 'Malformed' } });
    expect(decodeStream(wrap([1, 1, 'b', 'a']))).toMatchObject({ ok: false, error: { type: 'Malformed' } });
  });

  it('never throws on random or mutated input (seeded fuzz, 5,000 cases)', () => {
    const rng = new Rng(2024);
    const seedPackets = [...encodePackets(all, 1400), encodeStream({ type: 'pushPull', join: false, from: 'a', members: [] })];
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = Uint8Array.from({ length: rng.int(200) }, () => rng.int(256));
        if (i % 4 === 0 && input.length > 0) input[0] = PROTOCOL_VERSION;
      } else {
        input = Uint8Array.from(seedPackets[rng.int(seedPackets.length)]!);
        for (let flips = 1 + rng.int(4); flips > 0; flips--) input[1 + rng.int(input.length - 1)] = rng.int(256);
      }
      const packet = decodePacket(input);
      const stream = decodeStream(input);
      if (!packet.ok) rejected++;
      expect(typeof packet.ok).toBe('boolean');
      expect(typeof stream.ok).toBe('boolean');
    }
    expect(rejected).toBeGreaterThan(4000);
  });
});

describe('the MessagePack subset', () => {
  it('round-trips the values it supports, at every width', async () => {
    const { pack: p, unpack } = await import('../../src/discovery/gossip/msgpack.js');
    const values = [0, 127, 128, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER, -1, -32, -33, -(2 ** 40), 1.5, '', 'é', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(300), 'x'.repeat(70_000), true, false, null, [], Array.from({ length: 20 }, (_, i) => i), { a: 'b' }, Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]))];
    for (const value of values) expect(unpack(p(value))).toEqual(value);
  });

  it('refuses binary, extensions, deep nesting, bad UTF-8, trailing bytes and impossible lengths', async () => {
    const { unpack, MsgpackError } = await import('../../src/discovery/gossip/msgpack.js');
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
