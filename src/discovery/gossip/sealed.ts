/**
 * The codec with the keyring around it: what goes out is encoded then
 * sealed; what comes in is opened then decoded, in one place, and whatever
 * does not open or decode is counted and dropped.
 */
import type { BackendLog } from '../backend.js';
import { decodePacket, decodeStream, encodePacket, encodeStream, isPacket, MAX_PACKET_BYTES } from './codec.js';
import type { Keyring } from './crypto.js';
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
}

/** Where a dropped packet or frame is logged. */
/** A packet's messages or a push-pull, or why it was dropped. */
export type Unsealed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

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
  readonly counters: SealedCounters = { malformedPackets: 0, malformedMessages: 0, malformedStreams: 0, unopenedMessages: 0 };

  constructor(
    private readonly options: {
      readonly keyring: Keyring | undefined;
      readonly label: string;
      readonly maxStreamBytes: number;
      readonly log: Pick<BackendLog, 'debug'>;
    },
  ) {}

  /** Seals encoded bytes (as they are, without a keyring). */
  seal(bytes: Uint8Array): Uint8Array {
    const { keyring, label } = this.options;
    return keyring ? keyring.seal(bytes, label) : bytes;
  }

  /** Encodes and seals one message as a packet, to go over TCP (a probe's fallback ping and its ack). */
  sealMessage(msg: PacketMessage): Uint8Array {
    return this.seal(encodePacket([msg], MAX_PACKET_BYTES)!);
  }

  /** Encodes and seals a push-pull. */
  sealStream(msg: PushPull): Uint8Array {
    return this.seal(encodeStream(msg));
  }

  /**
   * Opens and decodes a packet or a push-pull frame from `from`, counting what
   * is dropped. A `request` (an incoming TCP frame) is either: a push-pull, or
   * a packet sent over TCP (a probe's fallback ping).
   */
  read(kind: 'packet', data: Buffer, from: string): Unsealed<PacketMessage[]>;
  read(kind: 'stream', data: Buffer, from: string): Unsealed<PushPull>;
  read(kind: 'request', data: Buffer, from: string): Unsealed<PacketMessage[] | PushPull>;
  read(kind: 'packet' | 'stream' | 'request', data: Buffer, from: string): Unsealed<PacketMessage[] | PushPull> {
    const { keyring, label, maxStreamBytes, log } = this.options;
    const opened = keyring ? keyring.open(data, label) : { ok: true as const, value: data };
    if (!opened.ok) {
      this.counters.unopenedMessages++;
      return { ok: false, error: 'Did not open with our keys' };
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
}
