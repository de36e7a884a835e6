/**
 * The subset of MessagePack the gossip codec needs: nil, booleans, numbers,
 * strings, arrays and maps with string keys. The decoder is written for
 * hostile input: every length is checked against the bytes that remain,
 * nesting is bounded, and anything outside the subset (binary, extensions)
 * is refused. Errors are thrown as `MsgpackError` for the codec to turn into
 * typed results.
 */

export class MsgpackError extends Error {
  constructor(
    readonly kind: 'Truncated' | 'Malformed',
    message: string,
  ) {
    super(message);
  }
}

const MAX_DEPTH = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.length++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function write(w: Writer, value: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw new MsgpackError('Malformed', 'Nested too deeply');
  if (value === null || value === undefined) return w.u8(0xc0);
  if (value === false) return w.u8(0xc2);
  if (value === true) return w.u8(0xc3);
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) {
      if (value < 0x80) return w.u8(value);
      if (value <= 0xff) return w.u8(0xcc), w.u8(value);
      if (value <= 0xffff) return w.u8(0xcd), w.u16(value);
      if (value <= 0xffffffff) return w.u8(0xce), w.u32(value);
      return w.u8(0xcf), w.u32(Math.floor(value / 2 ** 32)), w.u32(value >>> 0);
    }
    if (Number.isInteger(value) && value >= -32) return w.u8(0xe0 | (value + 32));
    return w.u8(0xcb), w.f64(value);
  }
  if (typeof value === 'string') {
    const bytes = encoder.encode(value);
    const n = bytes.length;
    if (n < 32) w.u8(0xa0 | n);
    else if (n <= 0xff) w.u8(0xd9), w.u8(n);
    else if (n <= 0xffff) w.u8(0xda), w.u16(n);
    else w.u8(0xdb), w.u32(n);
    return w.bytes(bytes);
  }
  if (Array.isArray(value)) {
    const n = value.length;
    if (n < 16) w.u8(0x90 | n);
    else if (n <= 0xffff) w.u8(0xdc), w.u16(n);
    else w.u8(0xdd), w.u32(n);
    for (const item of value) write(w, item, depth + 1);
    return;
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    const n = entries.length;
    if (n < 16) w.u8(0x80 | n);
    else if (n <= 0xffff) w.u8(0xde), w.u16(n);
    else w.u8(0xdf), w.u32(n);
    for (const [k, v] of entries) {
      write(w, k, depth + 1);
      write(w, v, depth + 1);
    }
    return;
  }
  throw new MsgpackError('Malformed', `Cannot encode a ${typeof value}`);
}

/** Encodes `value` (nil, booleans, numbers, strings, arrays, plain objects). */
export function pack(value: unknown): Uint8Array {
  const w = new Writer();
  write(w, value, 0);
  return w.result();
}

class Reader {
  at = 0;
  private readonly view: DataView;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  need(n: number): void {
    if (this.at + n > this.buf.length) throw new MsgpackError('Truncated', 'Unexpected end of input');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.at);
    this.at += 8;
    return v;
  }
  str(n: number): string {
    this.need(n);
    const bytes = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    try {
      return decoder.decode(bytes);
    } catch {
      throw new MsgpackError('Malformed', 'String is not valid UTF-8');
    }
  }
  /** A container of `n` items needs at least `n` more bytes: refuse sizes the input cannot hold. */
  count(n: number, perItem: number): number {
    if (n * perItem > this.buf.length - this.at) throw new MsgpackError('Truncated', `Declared ${n} items but too few bytes remain`);
    return n;
  }
}

function read(r: Reader, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new MsgpackError('Malformed', 'Nested too deeply');
  const b = r.u8();
  if (b < 0x80) return b;
  if (b >= 0xe0) return b - 0x100;
  if ((b & 0xe0) === 0xa0) return r.str(b & 0x1f);
  if ((b & 0xf0) === 0x90) return readArray(r, b & 0x0f, depth);
  if ((b & 0xf0) === 0x80) return readMap(r, b & 0x0f, depth);
  switch (b) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xcc:
      return r.u8();
    case 0xcd:
      return r.u16();
    case 0xce:
      return r.u32();
    case 0xcf: {
      const hi = r.u32();
      const lo = r.u32();
      const v = hi * 2 ** 32 + lo;
      if (!Number.isSafeInteger(v)) throw new MsgpackError('Malformed', 'Integer beyond 2^53');
      return v;
    }
    case 0xd0:
      return (r.u8() << 24) >> 24;
    case 0xd1:
      return (r.u16() << 16) >> 16;
    case 0xd2:
      return r.u32() | 0;
    case 0xcb:
      return r.f64();
    case 0xd9:
      return r.str(r.u8());
    case 0xda:
      return r.str(r.u16());
    case 0xdb:
      return r.str(r.u32());
    case 0xdc:
      return readArray(r, r.u16(), depth);
    case 0xdd:
      return readArray(r, r.u32(), depth);
    case 0xde:
      return readMap(r, r.u16(), depth);
    case 0xdf:
      return readMap(r, r.u32(), depth);
    default:
      throw new MsgpackError('Malformed', `Unsupported MessagePack type 0x${b.toString(16)}`);
  }
}

function readArray(r: Reader, n: number, depth: number): unknown[] {
  const out = new Array<unknown>(r.count(n, 1));
  for (let i = 0; i < n; i++) out[i] = read(r, depth + 1);
  return out;
}

function readMap(r: Reader, n: number, depth: number): Record<string, unknown> {
  r.count(n, 2);
  const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (let i = 0; i < n; i++) {
    const key = read(r, depth + 1);
    if (typeof key !== 'string') throw new MsgpackError('Malformed', 'Map key is not a string');
    if (Object.prototype.hasOwnProperty.call(out, key)) throw new MsgpackError('Malformed', `Duplicate map key ${JSON.stringify(key)}`);
    out[key] = read(r, depth + 1);
  }
  return out;
}

/** Decodes exactly one value filling all of `data`. */
export function unpack(data: Uint8Array): unknown {
  const r = new Reader(data);
  const value = read(r, 0);
  if (r.at !== data.length) throw new MsgpackError('Malformed', `${data.length - r.at} bytes after the value`);
  return value;
}
