/**
 * Framing of the TCP side: one kind byte opening each connection (`R` a
 * request, `W` a watch), then frames of a 4-byte big-endian length and the
 * payload.
 */

/** First byte of a request connection. */
export const KIND_REQUEST = 0x52; // 'R'
/** First byte of a watch connection. */
export const KIND_WATCH = 0x57; // 'W'
/**
 * What a watcher sends once connected: the kind byte, then its own address
 * (a length byte and `host:port`), so that a member's watch can be told from
 * an outsider's when the slots are full. Older watchers send the kind byte
 * alone, and older members drain what follows it.
 */
export function watchHello(self: string): Buffer {
  const address = Buffer.from(self, 'utf8');
  return address.length > 255 ? Buffer.of(KIND_WATCH) : Buffer.concat([Buffer.of(KIND_WATCH, address.length), address]);
}

/** The address a watcher's hello names after its kind byte (`rest`), if it names one whole. */
export function watcherAddress(rest: Buffer): string | undefined {
  if (rest.length < 1 || rest.length < 1 + rest[0]!) return undefined;
  return rest.subarray(1, 1 + rest[0]!).toString('utf8');
}
/** Bytes of a frame's length prefix. */
export const HEADER_BYTES = 4;
/** Largest length a 4-byte header can declare. */
export const MAX_FRAME_LIMIT = 0xffff_ffff;

/**
 * Collects one length-prefixed frame from chunks as they come, copying the
 * payload at most once, and telling as soon as the header is in whether the
 * frame is over the limit.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private received = 0;
  /** The payload length the header declares; -1 until four bytes are in. */
  declared = -1;
  /** Bytes came after the frame. */
  overrun = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer, offset: number): 'more' | 'oversized' | 'frame' {
    if (offset >= chunk.length) return 'more';
    const part = offset === 0 ? chunk : chunk.subarray(offset);
    this.chunks.push(part);
    this.received += part.length;
    if (this.declared < 0) {
      if (this.received < HEADER_BYTES) return 'more';
      this.declared = this.header();
      if (this.declared > this.limit) return 'oversized';
    }
    const total = HEADER_BYTES + this.declared;
    if (this.received < total) return 'more';
    this.overrun = this.received > total;
    return 'frame';
  }

  take(): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.received);
    this.chunks = [];
    return all.subarray(HEADER_BYTES, HEADER_BYTES + this.declared);
  }

  private header(): number {
    let value = 0;
    let needed = HEADER_BYTES;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length && needed > 0; i++, needed--) value = value * 256 + chunk[i]!;
      if (needed === 0) break;
    }
    return value;
  }
}

/** The header of a frame of `length` bytes, after the connection's `kind` byte when given. */
export function frameHeader(kind: number | undefined, length: number): Buffer {
  const offset = kind === undefined ? 0 : 1;
  const header = Buffer.allocUnsafe(offset + HEADER_BYTES);
  if (kind !== undefined) header[0] = kind;
  header.writeUInt32BE(length, offset);
  return header;
}
