/**
 * An outsider on the network: a plain UDP socket that sends hand-made gossip
 * packets to members, and a TCP client that asks a member for its table (as
 * any process that reaches the port can). What an attacker without keys has.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { decodePacket, decodeStream, encodePackets, encodeStream } from '../../src/discovery/gossip/wire/codec.js';
import { FrameReader, frameHeader, KIND_REQUEST } from '../../src/discovery/gossip/net/framing.js';
import type { MemberState, PacketMessage } from '../../src/discovery/gossip/wire/messages.js';
import { eventually } from '../support/index.js';

const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

export class Outsider {
  private readonly acks = new Set<number>();
  private seq = 1000;

  private constructor(private readonly socket: Socket) {
    socket.on('message', (data) => {
      const decoded = decodePacket(data);
      if (decoded.ok) for (const msg of decoded.value) if (msg.type === 'ack') this.acks.add(msg.seq);
    });
  }

  static async open(): Promise<Outsider> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new Outsider(socket);
  }

  /** This socket's `host:port`: where a forged claim can say a member now lives. */
  get address(): string {
    return `127.0.0.1:${this.socket.address().port}`;
  }

  /** Sends raw bytes to a member. */
  raw(to: string, bytes: Uint8Array): Promise<void> {
    return new Promise((resolve) => this.socket.send(bytes, portOf(to), '127.0.0.1', () => resolve()));
  }

  /**
   * Sends `msgs` to the member `target` at `to`, then a ping, and waits for
   * its ack: once it comes, the member has handled the forged packet (UDP on
   * loopback keeps order).
   */
  async forge(to: string, target: string, msgs: readonly PacketMessage[], packed = true): Promise<void> {
    const seq = ++this.seq;
    const ping: PacketMessage = { type: 'ping', seq, target, from: 'outsider' };
    if (packed) {
      for (const bytes of encodePackets([...msgs, ping], 1400)) await this.raw(to, bytes);
    } else {
      for (const bytes of encodePackets(msgs, 1400)) await this.raw(to, bytes);
      for (const bytes of encodePackets([ping], 1400)) await this.raw(to, bytes);
    }
    await eventually(() => this.acks.has(seq), 5000, `an ack from ${target}`);
  }

  close(): void {
    this.socket.close();
  }
}

/**
 * A member's table, asked for over TCP with a push-pull (empty, or carrying
 * `members`), as anyone reaching its port can. `joinAs` makes it the join
 * of the member of that id; with no answer within `timeoutMs` it rejects.
 */
export function pullTable(to: string, members: readonly MemberState[] = [], options: { joinAs?: string; timeoutMs?: number } = {}): Promise<MemberState[]> {
  return new Promise((resolve, reject) => {
    const { joinAs, timeoutMs = 10_000 } = options;
    const request = encodeStream({ type: 'pushPull', join: joinAs !== undefined, from: joinAs ?? 'outsider', members });
    const reader = new FrameReader(16 << 20);
    const socket = connect(portOf(to), '127.0.0.1', () => {
      socket.write(frameHeader(KIND_REQUEST, request.length));
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => {
      if (reader.push(chunk, 0) !== 'frame') return;
      const decoded = decodeStream(reader.take());
      socket.destroy();
      if (decoded.ok) resolve([...decoded.value.members]);
      else reject(new Error(decoded.error.message));
    });
    socket.on('error', reject);
    // Closed without an answer (a member that could not read the request); after one, a no-op.
    socket.on('close', () => reject(new Error(`${to} closed the connection without an answer`)));
    socket.setTimeout(timeoutMs, () => {
      socket.destroy();
      reject(new Error(`no answer from ${to} within ${timeoutMs} ms`));
    });
  });
}
