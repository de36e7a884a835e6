/**
 * The wire format. A packet (UDP) or frame (TCP) is one version byte and a
 * MessagePack array (see msgpack.ts); each message is a short array whose
 * first element is its type code (field names are not sent). Lengths are
 * bounded and every decoded value is checked for shape, so no input can throw
 * or allocate without bound: bad input comes back as a typed error, to be
 * counted and dropped.
 *
 * Packet:  [version] [array of messages: primary first, then piggybacked broadcasts]
 * Message: [1, seq, target, from]                ping
 *          [2, seq, target, targetAddr, nack]    indirect ping request
 *          [3, seq] / [4, seq]                   ack / nack
 *          [5, name, addr, incarnation, meta]    alive
 *          [6, name, incarnation, from]          suspect
 *          [7, name, incarnation, from]          dead (from = name: left)
 * Frame:   [version] [8, join, from, [[name, addr, incarnation, status 0-3, meta], …]]
 *          [version] [9, …] / [10, …]            key operation / its answer (see keyop.ts)
 */
import { describeMetadataProblem, metadataProblem } from '../../metadata.js';
import { MsgpackError, pack, unpack as unpackValue } from './msgpack.js';
import type { MemberState, ProtocolStatus, PacketMessage, PushPull } from './messages.js';

/** The first byte of every packet and frame. */
export const PROTOCOL_VERSION = 1;

/** Longest member name, in UTF-8 bytes. */
export const MAX_NAME_BYTES = 255;
/** Longest `host:port`, in UTF-8 bytes: a full DNS name and a port. */
export const MAX_ADDR_BYTES = 300;
/**
 * Largest incarnation on the wire. Far below 2^53 (where JavaScript numbers
 * stop being exact and MessagePack writers switch to floats) yet far above
 * what a member reaches: incarnations start at the Unix time in seconds and
 * grow by one per refutation or metadata change. A message carrying a larger
 * one is malformed. Incarnations compare modulo 2^48 (2^48 itself is 0; see
 * incarnations.ts), so a member at the top wraps and still refutes.
 */
export const MAX_INCARNATION = 2 ** 48;
/** Most messages in one packet. */
const MAX_MESSAGES_PER_PACKET = 255;
/** Most members in one push-pull frame. */
const MAX_MEMBERS_PER_STREAM = 100_000;
/** Largest UDP payload there can be; the default bound on a packet to decode. */
export const MAX_PACKET_BYTES = 65_507;
/** Default bound on a push-pull frame to decode: the default `maxStreamBytes`. */
const MAX_STREAM_BYTES = 4 * 1024 * 1024;
/** Bytes a packet adds around its messages: the version byte and an array header of up to 3 bytes. */
const PACKET_OVERHEAD_BYTES = 4;

/** Why bytes were not accepted as a packet or frame. */
export type DecodeError = {
  readonly type: 'Malformed' | 'Truncated' | 'Oversized' | 'UnsupportedVersion';
  readonly message: string;
};
/** A decoded value, or why there is none (a `DecodeError` from the codec; a reason in words once the value was also opened with the keys). */
export type Decoded<T, E = DecodeError> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

const CODES = { ping: 1, indirect: 2, ack: 3, nack: 4, alive: 5, suspect: 6, dead: 7, pushPull: 8 } as const;
const STATUS_CODES: Record<ProtocolStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 };
const STATUSES: readonly ProtocolStatus[] = ['alive', 'suspect', 'dead', 'left'];

function tuple(msg: PacketMessage): unknown[] {
  switch (msg.type) {
    case 'ping':
      return [CODES.ping, msg.seq, msg.target, msg.from];
    case 'indirect':
      return [CODES.indirect, msg.seq, msg.target, msg.targetAddress, msg.nack];
    case 'ack':
      return [CODES.ack, msg.seq];
    case 'nack':
      return [CODES.nack, msg.seq];
    case 'alive':
      return [CODES.alive, msg.id, msg.address, msg.incarnation, msg.metadata];
    case 'suspect':
      return [CODES.suspect, msg.id, msg.incarnation, msg.from];
    case 'dead':
      return [CODES.dead, msg.id, msg.incarnation, msg.from];
  }
}

/**
 * One message, packed; its length is what it costs in a packet.
 *
 * @example
 * encodeMessage({ type: 'ack', seq: 7 }); // Uint8Array [0x92, 0x03, 0x07]
 */
export function encodeMessage(msg: PacketMessage): Uint8Array {
  return pack(tuple(msg));
}

function arrayHeader(count: number): Uint8Array {
  return count < 16 ? Uint8Array.of(0x90 | count) : Uint8Array.of(0xdc, count >> 8, count & 0xff);
}

function frame(parts: readonly Uint8Array[], size: number): Uint8Array {
  const header = arrayHeader(parts.length);
  const out = new Uint8Array(1 + header.length + size);
  out[0] = PROTOCOL_VERSION;
  out.set(header, 1);
  let at = 1 + header.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * One packet of at most `maxBytes`: the primary message `msgs[0]`, then as
 * many of the rest (piggybacked broadcasts, already encoded or not) as fit,
 * in order, skipping any too large for the room left. Undefined when the
 * primary alone does not fit (the codec's bounds keep real ones far below
 * any sensible budget).
 *
 * @example
 * const bytes = encodePacket([{ type: 'ack', seq: 7 }, encodeMessage(alive)], 1400);
 * decodePacket(bytes!); // { ok: true, value: [{ type: 'ack', seq: 7 }, alive] }
 */
export function encodePacket(msgs: readonly (PacketMessage | Uint8Array)[], maxBytes: number): Uint8Array | undefined {
  const parts: Uint8Array[] = [];
  let left = maxBytes - PACKET_OVERHEAD_BYTES;
  for (const msg of msgs) {
    const bytes = msg instanceof Uint8Array ? msg : encodeMessage(msg);
    if (bytes.length > left) {
      if (parts.length === 0) return undefined;
      continue;
    }
    parts.push(bytes);
    left -= bytes.length;
    if (parts.length === MAX_MESSAGES_PER_PACKET) break;
  }
  return parts.length === 0 ? undefined : frame(parts, maxBytes - PACKET_OVERHEAD_BYTES - left);
}

/**
 * Packs messages into as few packets of at most `maxBytes` as they fit in,
 * in order: for a list longer than one packet holds. A single message larger
 * than `maxBytes` is dropped (the codec's bounds keep real ones far below it).
 *
 * @example
 * encodePackets(manyAlives, 1400).length; // several packets, each ≤ 1400 bytes
 */
export function encodePackets(msgs: readonly (PacketMessage | Uint8Array)[], maxBytes: number): Uint8Array[] {
  const packets: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let size = 0;
  const flush = () => {
    if (current.length === 0) return;
    packets.push(frame(current, size));
    current = [];
    size = 0;
  };
  for (const msg of msgs) {
    const bytes = msg instanceof Uint8Array ? msg : encodeMessage(msg);
    if (bytes.length + PACKET_OVERHEAD_BYTES > maxBytes) continue;
    if (size + bytes.length + PACKET_OVERHEAD_BYTES > maxBytes || current.length === MAX_MESSAGES_PER_PACKET) flush();
    current.push(bytes);
    size += bytes.length;
  }
  flush();
  return packets;
}

/**
 * A push-pull frame.
 *
 * @example
 * const bytes = encodeStream({ type: 'pushPull', join: true, from: 'a', members: [] });
 * decodeStream(bytes); // { ok: true, value: { type: 'pushPull', join: true, from: 'a', members: [] } }
 */
export function encodeStream(msg: PushPull): Uint8Array {
  const members = msg.members.map((m) => [m.id, m.address, m.incarnation, STATUS_CODES[m.status], m.metadata]);
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
  const problem = metadataProblem(value);
  if (problem) return fail(describeMetadataProblem(problem, 'meta'));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, string>)) {
    // Would set the prototype of the plain object built here, not a key.
    if (k === '__proto__') return fail('meta key __proto__ is not allowed');
    out[k] = v;
  }
  return out;
}

function arity(t: unknown[], n: number, what: string): void {
  if (t.length !== n) fail(`${what} has ${t.length} fields, expected ${n}`);
}

function incarnation(value: unknown): number {
  const n = uint(value, 'incarnation');
  if (n > MAX_INCARNATION) return fail(`incarnation ${n} is over ${MAX_INCARNATION}`);
  return n;
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
        targetAddress: str(t[3], 'targetAddr', MAX_ADDR_BYTES),
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
        id: str(t[1], 'name', MAX_NAME_BYTES),
        address: str(t[2], 'addr', MAX_ADDR_BYTES),
        incarnation: incarnation(t[3]),
        metadata: meta(t[4]),
      };
    case CODES.suspect:
    case CODES.dead:
      arity(t, 4, t[0] === CODES.suspect ? 'suspect' : 'dead');
      return {
        type: t[0] === CODES.suspect ? 'suspect' : 'dead',
        id: str(t[1], 'name', MAX_NAME_BYTES),
        incarnation: incarnation(t[2]),
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

/**
 * A packet's messages that decoded, and how many did not. Messages are
 * decoded one by one: a packet carries broadcasts from many origins, and one
 * bad message must not take its neighbours (an ack, someone's refutation)
 * down with it.
 */
export type DecodedPacket =
  | { readonly ok: true; readonly value: PacketMessage[]; readonly skipped: number }
  | { readonly ok: false; readonly error: DecodeError };

/**
 * The messages of one UDP packet, or why it was rejected: `Truncated` (empty
 * or cut short), `Oversized` (over `maxBytes`), `UnsupportedVersion` (first
 * byte not {@link PROTOCOL_VERSION}), `Malformed` (anything else, including
 * well-formed MessagePack of the wrong shape, or no message that decodes).
 * Messages of the wrong shape among good ones are skipped and counted in
 * `skipped`. Never throws.
 *
 * @example
 * const decoded = decodePacket(bytes);
 * if (decoded.ok) handle(core, { type: 'packet', from, msgs: decoded.value }, Date.now());
 * if (decoded.ok && decoded.skipped > 0) malformedMessages += decoded.skipped;
 */
export function decodePacket(data: Uint8Array, maxBytes = MAX_PACKET_BYTES): DecodedPacket {
  let skipped = 0;
  const decoded = guarded(() => {
    const value = unpack(data, maxBytes);
    if (!Array.isArray(value)) return fail('packet is not an array of messages');
    if (value.length === 0 || value.length > MAX_MESSAGES_PER_PACKET) return fail(`packet has ${value.length} messages`);
    const msgs: PacketMessage[] = [];
    let firstError: unknown;
    for (const item of value) {
      try {
        msgs.push(message(item));
      } catch (error) {
        if (!(error instanceof Invalid)) throw error;
        firstError ??= error;
        skipped++;
      }
    }
    if (msgs.length === 0) throw firstError;
    return msgs;
  });
  return decoded.ok ? { ok: true, value: decoded.value, skipped } : decoded;
}

/**
 * Whether decoded bytes look like a packet (an array of messages) rather
 * than a push-pull frame (one message): how a TCP request carrying a packet
 * (a probe's fallback ping) is told apart. Decoding still checks everything.
 *
 * @example
 * isPacket(encodePacket([{ type: 'ping', seq: 1, target: 'b', from: 'a' }], 1400)!); // true
 */
export function isPacket(data: Uint8Array): boolean {
  // After the version byte: a packet is an array whose first element is an array (fixarray 0x90–0x9f,
  // array16 0xdc, array32 0xdd); a push-pull frame's first element is its type code.
  const outer = data[1];
  const first = outer === 0xdc ? data[4] : outer === 0xdd ? data[6] : data[2];
  return first !== undefined && ((first >= 0x90 && first <= 0x9f) || first === 0xdc || first === 0xdd);
}

/**
 * A push-pull frame, or why it was rejected (the same error types as
 * {@link decodePacket}). Never throws.
 *
 * @example
 * const decoded = decodeStream(frameBytes, config.maxStreamBytes);
 * if (!decoded.ok) console.warn(decoded.error.type, decoded.error.message);
 */
export function decodeStream(data: Uint8Array, maxBytes = MAX_STREAM_BYTES): Decoded<PushPull> {
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
        id: str(m[0], 'name', MAX_NAME_BYTES),
        address: str(m[1], 'addr', MAX_ADDR_BYTES),
        incarnation: incarnation(m[2]),
        status,
        metadata: meta(m[4]),
      };
    });
    return { type: 'pushPull', join: t[1] as boolean, from: str(t[2], 'from', MAX_NAME_BYTES), members };
  });
}
