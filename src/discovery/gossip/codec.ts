/**
 * The wire format. A packet (UDP) or frame (TCP) is one version byte and a
 * MessagePack array (see msgpack.ts); each message is a short array whose first element is
 * its type code. Lengths are bounded and every decoded value is checked for
 * shape, so no input can throw or allocate without bound: bad input comes
 * back as a typed error, to be counted and dropped.
 */
import { MsgpackError, pack, unpack as unpackValue } from './msgpack.js';
import type { MemberState, MemberStatus, PacketMessage, PushPull } from './messages.js';

/** The first byte of every packet and frame. */
export const PROTOCOL_VERSION = 1;

export const MAX_NAME_BYTES = 255;
export const MAX_ADDR_BYTES = 300;
export const MAX_META_ENTRIES = 32;
export const MAX_META_BYTES = 512;
export const MAX_MESSAGES_PER_PACKET = 255;
export const MAX_MEMBERS_PER_STREAM = 100_000;

export type DecodeError = {
  readonly type: 'Malformed' | 'Truncated' | 'Oversized' | 'UnsupportedVersion';
  readonly message: string;
};
export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

const CODES = { ping: 1, indirect: 2, ack: 3, nack: 4, alive: 5, suspect: 6, dead: 7, pushPull: 8 } as const;
const STATUS_CODES: Record<MemberStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATUSES: readonly MemberStatus[] = ['alive', 'suspect', 'dead', 'left'];

function tuple(msg: PacketMessage): unknown[] {
  switch (msg.type) {
    case 'ping':
      return [CODES.ping, msg.seq, msg.target, msg.from];
    case 'indirect':
      return [CODES.indirect, msg.seq, msg.target, msg.targetAddr, msg.nack];
    case 'ack':
      return [CODES.ack, msg.seq];
    case 'nack':
      return [CODES.nack, msg.seq];
    case 'alive':
      return [CODES.alive, msg.name, msg.addr, msg.incarnation, msg.meta];
    case 'suspect':
      return [CODES.suspect, msg.name, msg.incarnation, msg.from];
    case 'dead':
      return [CODES.dead, msg.name, msg.incarnation, msg.from];
  }
}

/** One message, packed; its length is what it costs in a packet. */
export function encodeMessage(msg: PacketMessage): Uint8Array {
  return pack(tuple(msg));
}

function arrayHeader(count: number): Uint8Array {
  return count < 16 ? Uint8Array.of(0x90 | count) : Uint8Array.of(0xdc, count >> 8, count & 0xff);
}

/**
 * Packs messages into as few packets of at most `maxBytes` as they fit in,
 * in order. A single message larger than `maxBytes` is dropped (metadata
 * limits keep real ones far below it).
 */
export function encodePackets(msgs: readonly (PacketMessage | Uint8Array)[], maxBytes: number): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let size = 0;
  const flush = () => {
    if (current.length === 0) return;
    const header = arrayHeader(current.length);
    const out = new Uint8Array(1 + header.length + size);
    out[0] = PROTOCOL_VERSION;
    out.set(header, 1);
    let at = 1 + header.length;
    for (const part of current) {
      out.set(part, at);
      at += part.length;
    }
    packets.push(out);
    current = [];
    size = 0;
  };
  for (const msg of msgs) {
    const bytes = msg instanceof Uint8Array ? msg : encodeMessage(msg);
    // 1 version byte + up to 3 header bytes.
    if (bytes.length + 4 > maxBytes) continue;
    if (size + bytes.length + 4 > maxBytes || current.length === MAX_MESSAGES_PER_PACKET) flush();
    current.push(bytes);
    size += bytes.length;
  }
  flush();
  return packets;
}

/** A push-pull frame. */
export function encodeStream(msg: PushPull): Uint8Array {
  const members = msg.members.map((m) => [m.name, m.addr, m.incarnation, STATUS_CODES[m.status], m.meta]);
  const body = pack([CODES.pushPull, msg.join, msg.from, members]);
  const out = new Uint8Array(1 + body.length);
  out[0] = PROTOCOL_VERSION;
  out.set(body, 1);
  return out;
}

class Invalid extends Error {}

const fail = (what: string): never => {
  throw new Invalid(what);
};

function str(value: unknown, what: string, maxBytes: number): string {
  if (typeof value !== 'string') return fail(`${what} is not a string`);
  if (value.length === 0) return fail(`${what} is empty`);
  if (Buffer.byteLength(value) > maxBytes) return fail(`${what} is over ${maxBytes} bytes`);
  return value;
}

function uint(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return fail(`${what} is not a non-negative integer`);
  return value;
}

function meta(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('meta is not a map');
  const entries = Object.entries(value);
  if (entries.length > MAX_META_ENTRIES) return fail(`meta has over ${MAX_META_ENTRIES} entries`);
  let bytes = 0;
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (typeof v !== 'string') return fail(`meta value of ${JSON.stringify(k)} is not a string`);
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
    out[k] = v;
  }
  if (bytes > MAX_META_BYTES) return fail(`meta is over ${MAX_META_BYTES} bytes`);
  return out;
}

function arity(t: unknown[], n: number, what: string): void {
  if (t.length !== n) fail(`${what} has ${t.length} fields, expected ${n}`);
}

function message(value: unknown): PacketMessage {
  if (!Array.isArray(value) || value.length === 0) return fail('message is not a tuple');
  const t = value as unknown[];
  switch (t[0]) {
    case CODES.ping:
      arity(t, 4, 'ping');
      return { type: 'ping', seq: uint(t[1], 'seq'), target: str(t[2], 'target', MAX_NAME_BYTES), from: str(t[3], 'from', MAX_NAME_BYTES) };
    case CODES.indirect:
      arity(t, 5, 'indirect');
      if (typeof t[4] !== 'boolean') fail('nack is not a boolean');
      return {
        type: 'indirect',
        seq: uint(t[1], 'seq'),
        target: str(t[2], 'target', MAX_NAME_BYTES),
        targetAddr: str(t[3], 'targetAddr', MAX_ADDR_BYTES),
        nack: t[4] as boolean,
      };
    case CODES.ack:
      arity(t, 2, 'ack');
      return { type: 'ack', seq: uint(t[1], 'seq') };
    case CODES.nack:
      arity(t, 2, 'nack');
      return { type: 'nack', seq: uint(t[1], 'seq') };
    case CODES.alive:
      arity(t, 5, 'alive');
      return {
        type: 'alive',
        name: str(t[1], 'name', MAX_NAME_BYTES),
        addr: str(t[2], 'addr', MAX_ADDR_BYTES),
        incarnation: uint(t[3], 'incarnation'),
        meta: meta(t[4]),
      };
    case CODES.suspect:
    case CODES.dead:
      arity(t, 4, t[0] === CODES.suspect ? 'suspect' : 'dead');
      return {
        type: t[0] === CODES.suspect ? 'suspect' : 'dead',
        name: str(t[1], 'name', MAX_NAME_BYTES),
        incarnation: uint(t[2], 'incarnation'),
        from: str(t[3], 'from', MAX_NAME_BYTES),
      };
    default:
      return fail(`unknown message type ${JSON.stringify(t[0])}`);
  }
}

function unpack(data: Uint8Array, maxBytes: number): unknown {
  if (data.length === 0) throw new DecodeFailure({ type: 'Truncated', message: 'Empty input' });
  if (data.length > maxBytes) throw new DecodeFailure({ type: 'Oversized', message: `${data.length} bytes is over the ${maxBytes}-byte limit` });
  if (data[0] !== PROTOCOL_VERSION) {
    throw new DecodeFailure({ type: 'UnsupportedVersion', message: `Protocol version ${data[0]} is not ${PROTOCOL_VERSION}` });
  }
  try {
    return unpackValue(data.subarray(1));
  } catch (error) {
    if (error instanceof MsgpackError) throw new DecodeFailure({ type: error.kind, message: error.message });
    throw error;
  }
}

class DecodeFailure extends Error {
  constructor(readonly error: DecodeError) {
    super(error.message);
  }
}

function guarded<T>(decode: () => T): Decoded<T> {
  try {
    return { ok: true, value: decode() };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, error: error.error };
    return { ok: false, error: { type: 'Malformed', message: error instanceof Error ? error.message : String(error) } };
  }
}

/** The messages of one UDP packet, or why it was rejected. Never throws. */
export function decodePacket(data: Uint8Array, maxBytes = 65_507): Decoded<PacketMessage[]> {
  return guarded(() => {
    const value = unpack(data, maxBytes);
    if (!Array.isArray(value)) return fail('packet is not an array of messages');
    if (value.length === 0 || value.length > MAX_MESSAGES_PER_PACKET) return fail(`packet has ${value.length} messages`);
    return value.map(message);
  });
}

/** A push-pull frame, or why it was rejected. Never throws. */
export function decodeStream(data: Uint8Array, maxBytes = 4 * 1024 * 1024): Decoded<PushPull> {
  return guarded(() => {
    const t = unpack(data, maxBytes);
    if (!Array.isArray(t) || t[0] !== CODES.pushPull) return fail('frame is not a push-pull');
    arity(t, 4, 'pushPull');
    if (typeof t[1] !== 'boolean') fail('join is not a boolean');
    const list = t[3];
    if (!Array.isArray(list) || list.length > MAX_MEMBERS_PER_STREAM) return fail('members is not a bounded list');
    const members: MemberState[] = list.map((m: unknown) => {
      if (!Array.isArray(m)) return fail('member is not a tuple');
      arity(m, 5, 'member');
      const status = STATUSES[uint(m[3], 'status')];
      if (!status) return fail(`unknown status ${JSON.stringify(m[3])}`);
      return {
        name: str(m[0], 'name', MAX_NAME_BYTES),
        addr: str(m[1], 'addr', MAX_ADDR_BYTES),
        incarnation: uint(m[2], 'incarnation'),
        status,
        meta: meta(m[4]),
      };
    });
    return { type: 'pushPull', join: t[1] as boolean, from: str(t[2], 'from', MAX_NAME_BYTES), members };
  });
}
