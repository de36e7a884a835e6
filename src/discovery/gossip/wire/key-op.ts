/**
 * Key operations between members: one request frame on the push-pull stream
 * channel and its answer, both sealed like every other frame (so only a
 * holder of a current key can send one, and key material crosses only
 * sealed streams).
 *
 * Frame:  [version] [9, op 0-3, arg]           key operation (arg: the key in base64 to install,
 *                                              the fingerprint to use or remove, '' to list)
 *         [version] [10, error, [fingerprint, …]]  its answer (error '' when applied; the keyring
 *                                              after it, primary first)
 */
import { PROTOCOL_VERSION } from './codec.js';
import { MsgpackError, pack, unpack } from './msgpack.js';

export type KeyOpName = 'install' | 'use' | 'remove' | 'list';

/** A change to (or a look at) the receiving member's keyring. */
export interface KeyOp {
  readonly type: 'keyOp';
  readonly op: KeyOpName;
  /** The key (base64) for `install`, a fingerprint for `use` and `remove`, '' for `list`. */
  readonly arg: string;
}

/** A member's answer: why the operation was refused ('' when applied), and its keyring's fingerprints after it, primary first. */
export interface KeyReply {
  readonly type: 'keyReply';
  readonly error: string;
  readonly keys: readonly string[];
}

const KEY_OP = 9;
const KEY_REPLY = 10;
const OPS: readonly KeyOpName[] = ['install', 'use', 'remove', 'list'];
/** Bounds on what a key frame carries: a base64 key is 44 characters, a fingerprint 16. */
const MAX_ARG = 64;
const MAX_ERROR = 512;
const MAX_KEYS = 64;

const withVersion = (body: Uint8Array) => {
  const out = new Uint8Array(1 + body.length);
  out[0] = PROTOCOL_VERSION;
  out.set(body, 1);
  return out;
};

export const encodeKeyOp = (msg: KeyOp): Uint8Array => withVersion(pack([KEY_OP, OPS.indexOf(msg.op), msg.arg]));

export const encodeKeyReply = (msg: KeyReply): Uint8Array => withVersion(pack([KEY_REPLY, msg.error.slice(0, MAX_ERROR), msg.keys.slice(0, MAX_KEYS)]));

/** Whether decoded bytes are a key frame (its small array's first element is code 9 or 10), not a packet or push-pull. */
export function isKeyFrame(data: Uint8Array): boolean {
  return data[0] === PROTOCOL_VERSION && data[1] !== undefined && data[1] >= 0x90 && data[1] <= 0x9f && (data[2] === KEY_OP || data[2] === KEY_REPLY);
}

const isBoundedString = (value: unknown, max: number): value is string => typeof value === 'string' && value.length <= max;

/** A key frame, or why it is malformed. Never throws. */
export function decodeKeyFrame(data: Uint8Array): { ok: true; value: KeyOp | KeyReply } | { ok: false; error: string } {
  if (data[0] !== PROTOCOL_VERSION) return { ok: false, error: `Protocol version ${data[0]} is not ${PROTOCOL_VERSION}` };
  let t: unknown;
  try {
    t = unpack(data.subarray(1));
  } catch (error) {
    return { ok: false, error: error instanceof MsgpackError ? error.message : String(error) };
  }
  if (!Array.isArray(t) || t.length !== 3) return { ok: false, error: 'key frame is not a 3-tuple' };
  if (t[0] === KEY_OP) {
    const op = typeof t[1] === 'number' ? OPS[t[1]] : undefined;
    if (op === undefined || !isBoundedString(t[2], MAX_ARG)) return { ok: false, error: 'key operation has an unknown op or a bad argument' };
    return { ok: true, value: { type: 'keyOp', op, arg: t[2] } };
  }
  const keys = t[2] as unknown;
  if (t[0] !== KEY_REPLY || !isBoundedString(t[1], MAX_ERROR) || !Array.isArray(keys) || keys.length > MAX_KEYS || !keys.every((k) => isBoundedString(k, MAX_ARG))) {
    return { ok: false, error: 'key answer is malformed' };
  }
  return { ok: true, value: { type: 'keyReply', error: t[1], keys: keys as string[] } };
}
