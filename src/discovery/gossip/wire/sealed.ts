/**
 * The codec with the keyring and the cluster label around it: what goes out
 * is encoded, sealed, then labelled; what comes in is checked for its label,
 * opened, then decoded, in one place, and whatever does not pass is counted
 * and dropped.
 *
 * A label header opens every packet and push-pull frame when the label is
 * not empty, sealed or not: [244, length, label bytes]. 244 is neither the
 * protocol version nor the seal version, so unlabelled traffic keeps its
 * format and is told apart by its first byte. The label keeps clusters apart
 * that share a network by mistake; it is no secret and no fence (anyone can
 * write any label): keys are the fence.
 */
import type { BackendLog } from '../../types.js';
import { decodePacket, decodeStream, encodePacket, encodeStream, isPacket, MAX_PACKET_BYTES, type Decoded } from './codec.js';
import { MAX_LABEL_BYTES, SEAL_OVERHEAD, type Keyring } from './crypto.js';
import { decodeKeyFrame, encodeKeyOp, encodeKeyReply, isKeyFrame, type KeyOp, type KeyReply } from './key-op.js';
import type { PacketMessage, PushPull } from './messages.js';

/** What did not open or decode, by kind. */
export interface SealedCounters {
  /** Packets that did not decode at all. */
  malformedPackets: number;
  /** Messages dropped from packets that otherwise decoded. */
  malformedMessages: number;
  /** Push-pull frames that did not decode. */
  malformedStreams: number;
  /** Packets and frames that did not open with any installed key. */
  unopenedMessages: number;
  /** Packets and frames with another cluster label, or none where one is expected. */
  labelMismatches: number;
}

/** First byte of a label header. */
const LABEL_TAG = 244;
/** A dropped label mismatch is logged once per sender address per this long. */
const MISMATCH_LOG_MS = 60_000;
/** Senders remembered for that; past it the memory starts over, so no sender makes it grow. */
const MISMATCH_LOG_SENDERS = 1024;

const hostOf = (address: string) => address.slice(0, Math.max(0, address.lastIndexOf(':'))) || address;

/** The label of a packet or frame (empty without a header) and what follows it, or undefined when the header is cut short. */
function splitLabel(data: Buffer): { label: string; rest: Buffer } | undefined {
  if (data[0] !== LABEL_TAG) return { label: '', rest: data };
  if (data.length < 2 || data.length < 2 + data[1]!) return undefined;
  return { label: data.subarray(2, 2 + data[1]!).toString('utf8'), rest: data.subarray(2 + data[1]!) };
}

/**
 * Seals and opens the protocol's bytes with an optional keyring, under one
 * cluster label.
 *
 * @example
 * const codec = new SealedCodec({ keyring, label: '', maxStreamBytes: 4 << 20, log });
 * const read = codec.read('packet', bytes, '10.0.0.2:7946');
 * if (read.ok) driver.step({ type: 'packet', from: '10.0.0.2:7946', msgs: read.value });
 */
export class SealedCodec {
  readonly counters: SealedCounters = { malformedPackets: 0, malformedMessages: 0, malformedStreams: 0, unopenedMessages: 0, labelMismatches: 0 };
  private readonly header: Buffer;
  /** When a mismatch from each sender address was last logged. */
  private readonly mismatchLogged = new Map<string, number>();

  constructor(
    private readonly options: {
      readonly keyring: Keyring | undefined;
      readonly label: string;
      readonly maxStreamBytes: number;
      readonly log: Pick<BackendLog, 'debug' | 'warn'>;
      /** The clock for rate-limiting logs; Date.now by default. */
      readonly now?: () => number;
    },
  ) {
    const label = Buffer.from(options.label, 'utf8');
    if (label.length > MAX_LABEL_BYTES) throw new RangeError(`Invalid label: ${label.length} bytes; expected at most ${MAX_LABEL_BYTES}`);
    this.header = label.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.of(LABEL_TAG, label.length), label]);
  }

  /** Bytes this adds to each packet: the label header, and the seal with a keyring. */
  get overhead(): number {
    return this.header.length + (this.options.keyring ? SEAL_OVERHEAD : 0);
  }

  /** Seals encoded bytes (as they are, without a keyring), behind the label header when there is a label. */
  seal(bytes: Uint8Array): Uint8Array {
    const { keyring, label } = this.options;
    const sealed = keyring ? keyring.seal(bytes, label) : bytes;
    return this.header.length === 0 ? sealed : Buffer.concat([this.header, sealed]);
  }

  /** Encodes and seals one message as a packet, to go over TCP (a probe's fallback ping and its ack). */
  sealMessage(msg: PacketMessage): Uint8Array {
    return this.seal(encodePacket([msg], MAX_PACKET_BYTES)!);
  }

  /** Encodes and seals a key operation or its answer. */
  sealKeyFrame(msg: KeyOp | KeyReply): Uint8Array {
    return this.seal(msg.type === 'keyOp' ? encodeKeyOp(msg) : encodeKeyReply(msg));
  }

  /** Encodes and seals a push-pull. */
  sealStream(msg: PushPull): Uint8Array {
    return this.seal(encodeStream(msg));
  }

  /**
   * Opens and decodes a packet or a push-pull frame from `from`, counting what
   * is dropped. A `request` (an incoming TCP frame) is either: a push-pull, or
   * a packet sent over TCP (a probe's fallback ping), or a key operation;
   * `keyReply` is the answer to a key operation.
   */
  read(kind: 'packet', data: Buffer, from: string): Decoded<PacketMessage[], string>;
  read(kind: 'stream', data: Buffer, from: string): Decoded<PushPull, string>;
  read(kind: 'keyReply', data: Buffer, from: string): Decoded<KeyReply, string>;
  read(kind: 'request', data: Buffer, from: string): Decoded<PacketMessage[] | PushPull | KeyOp, string>;
  read(kind: 'packet' | 'stream' | 'request' | 'keyReply', data: Buffer, from: string): Decoded<PacketMessage[] | PushPull | KeyOp | KeyReply, string> {
    const { keyring, label, maxStreamBytes, log } = this.options;
    const labelled = splitLabel(data);
    if (labelled === undefined || labelled.label !== label) {
      // A stream comes from a fresh port each time: its host is the sender.
      this.mismatch(kind === 'stream' ? hostOf(from) : from, labelled?.label);
      return { ok: false, error: 'Another cluster label' };
    }
    const opened = keyring ? keyring.open(labelled.rest, label) : { ok: true as const, value: labelled.rest };
    if (!opened.ok) {
      this.counters.unopenedMessages++;
      return { ok: false, error: 'Did not open with our keys' };
    }
    if (kind === 'request' || kind === 'keyReply') {
      const keyFrame = this.readKeyFrame(kind, opened.value, from);
      if (keyFrame) return keyFrame;
    }
    if (kind === 'request' && isPacket(opened.value)) kind = 'packet';
    if (kind !== 'packet') {
      const decoded = decodeStream(opened.value, maxStreamBytes);
      if (decoded.ok) return decoded;
      this.counters.malformedStreams++;
      log.debug({ from, error: decoded.error }, 'Dropped a malformed stream');
      return { ok: false, error: decoded.error.message };
    }
    const decoded = decodePacket(opened.value);
    if (!decoded.ok) {
      this.counters.malformedPackets++;
      log.debug({ from, error: decoded.error }, 'Dropped a malformed packet');
      return { ok: false, error: decoded.error.message };
    }
    if (decoded.skipped > 0) {
      this.counters.malformedMessages += decoded.skipped;
      log.debug({ from, skipped: decoded.skipped }, 'Dropped malformed messages from a packet');
    }
    return { ok: true, value: decoded.value };
  }

  /** A key operation (in a request) or its answer (in a reply), or undefined when a request is something else. */
  private readKeyFrame(kind: 'request' | 'keyReply', data: Buffer, from: string): Decoded<KeyOp | KeyReply, string> | undefined {
    if (kind === 'request' && !isKeyFrame(data)) return undefined;
    const decoded = isKeyFrame(data) ? decodeKeyFrame(data) : ({ ok: false, error: 'not a key frame' } as const);
    const expected = kind === 'request' ? 'keyOp' : 'keyReply';
    if (decoded.ok && decoded.value.type === expected) return decoded;
    this.counters.malformedStreams++;
    this.options.log.debug({ from, error: decoded.ok ? `a ${decoded.value.type} where a ${expected} belongs` : decoded.error }, 'Dropped a malformed key frame');
    return { ok: false, error: 'Malformed key frame' };
  }

  /** Counts a packet or frame of another cluster, and logs it once per sender per minute. */
  private mismatch(from: string, theirs: string | undefined): void {
    this.counters.labelMismatches++;
    const now = (this.options.now ?? Date.now)();
    const last = this.mismatchLogged.get(from);
    if (last !== undefined && now - last < MISMATCH_LOG_MS) return;
    if (this.mismatchLogged.size >= MISMATCH_LOG_SENDERS) this.mismatchLogged.clear();
    this.mismatchLogged.set(from, now);
    this.options.log.warn(
      { from, label: theirs === undefined ? '(cut short)' : theirs, expected: this.options.label },
      'Dropped gossip with another cluster label (logged once a minute per sender)',
    );
  }
}
