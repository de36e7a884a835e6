/**
 * The {@link Transport} in process, for tests: members on one
 * {@link MemoryNetwork} reach each other by address with no sockets.
 * Packets and requests are delivered on a later turn of the event loop, as
 * over a network; closing a member (or `kill`) tells those watching it that
 * it is gone (`refused`, as a host whose process died answers).
 */
import { parseAddress, type Endpoint } from '../../address.js';
import type { Result } from '../../types.js';
import { zeroCounters, type PacketHandler, type PeerGoneHandler, type RequestHandler, type StreamError, type Transport } from './transport.js';
import type { TransportCounters, TransportError, TransportErrorHandler, TransportOptions } from './transport.js';

/**
 * Addresses and the transports open at them.
 *
 * @example
 * const network = new MemoryNetwork();
 * const a = network.open('10.0.0.1:7946');
 * const b = network.open('10.0.0.2:7946');
 * b.onPacket((data, from) => console.log(data.length, from)); // 3 '10.0.0.1:7946'
 * a.sendPacket('10.0.0.2:7946', Uint8Array.of(1, 2, 3));
 */
export class MemoryNetwork {
  private readonly open_ = new Map<string, MemoryTransport>();
  private next = 1;

  /** A transport at `address`; throws when one is open there already. */
  open(address: string): Transport {
    if (this.open_.has(address)) throw new Error(`${address} is in use`);
    const transport = new MemoryTransport(this, address);
    this.open_.set(address, transport);
    return transport;
  }

  /** An `openTransport` look-alike giving each caller the next free `10.0.0.N:7946`, whatever it asks to bind. */
  opener(): (options: TransportOptions) => Promise<Result<Transport, TransportError>> {
    return async () => ({ ok: true, value: this.open(`10.0.0.${this.next++}:7946`) });
  }

  /** The process at `address` dies: its transport closes without a word, and its watchers learn it is gone. */
  async kill(address: string): Promise<void> {
    await this.open_.get(address)?.close();
  }

  /** @internal The transport open at `address`. */
  at(address: string): MemoryTransport | undefined {
    return this.open_.get(address);
  }

  /** @internal Forgets a closed transport and tells its watchers. */
  closed(transport: MemoryTransport): void {
    if (this.open_.get(transport.addressText) !== transport) return;
    this.open_.delete(transport.addressText);
    for (const other of this.open_.values()) other.lost(transport.addressText);
  }
}

/** One member's end of a {@link MemoryNetwork}. */
class MemoryTransport implements Transport {
  readonly address: Endpoint;
  readonly bound: Endpoint;
  private readonly stats = zeroCounters();
  private readonly watched = new Set<string>();
  private packetHandler: PacketHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private peerGoneHandler: PeerGoneHandler | undefined;
  private isClosed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly addressText: string,
  ) {
    const endpoint = parseAddress(addressText);
    if (!endpoint) throw new Error(`Expected host:port, got "${addressText}"`);
    this.address = endpoint;
    this.bound = endpoint;
  }

  sendPacket(to: string, data: Uint8Array): void {
    if (this.isClosed) return;
    this.stats.packetsOut++;
    this.stats.bytesOut += data.length;
    const copy = Buffer.from(data);
    setImmediate(() => this.network.at(to)?.receive(copy, this.addressText));
  }

  onPacket(handler: PacketHandler): void {
    this.packetHandler = handler;
  }

  async request(to: string, data: Uint8Array, options: { readonly timeoutMs?: number } = {}): Promise<Result<Buffer, StreamError>> {
    const failure = (type: StreamError['type'], message: string) => ({ ok: false as const, error: { type, message, to } });
    if (this.isClosed) return failure('Closed', 'The transport is closed');
    this.stats.streamsOut++;
    this.stats.bytesOut += data.length;
    await new Promise((resolve) => setImmediate(resolve));
    const target = this.network.at(to);
    if (!target) return failure('Refused', `${to}: nothing listens there`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(resolve, options.timeoutMs ?? 5000, undefined)));
    const reply = await Promise.race([target.answer(Buffer.from(data), this.addressText), timeout]);
    clearTimeout(timer);
    if (!reply) return failure('Closed', `${to} closed the connection without a whole answer`);
    this.stats.bytesIn += reply.length;
    return { ok: true, value: reply };
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  watch(to: string): void {
    if (this.isClosed || this.watched.has(to)) return;
    this.watched.add(to);
    // Nothing listens there: refused at once, as a first connection would be.
    if (!this.network.at(to)) setImmediate(() => this.lost(to));
  }

  unwatch(to: string): void {
    this.watched.delete(to);
  }

  onPeerGone(handler: PeerGoneHandler): void {
    this.peerGoneHandler = handler;
  }

  checkWatchers(_isMember: (address: string) => boolean): void {
    // Watches here hold no slot on the watched side, so there is nothing to choose between.
  }

  onError(_handler: TransportErrorHandler): void {
    // No sockets, so no socket errors.
  }

  counters(): TransportCounters {
    return { ...this.stats };
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.watched.clear();
    this.network.closed(this);
  }

  /** @internal A datagram from `from`. */
  receive(data: Buffer, from: string): void {
    if (this.isClosed) return;
    this.stats.packetsIn++;
    this.stats.bytesIn += data.length;
    this.guard('packet', () => this.packetHandler?.(data, from));
  }

  /** @internal A request from `from`, answered by the handler. */
  async answer(data: Buffer, from: string): Promise<Buffer | undefined> {
    if (this.isClosed || !this.requestHandler) return undefined;
    this.stats.streamsIn++;
    this.stats.bytesIn += data.length;
    try {
      const reply = await this.requestHandler(data, from);
      if (reply) this.stats.bytesOut += reply.length;
      return reply ? Buffer.from(reply) : undefined;
    } catch {
      this.stats.handlerErrors++;
      return undefined;
    }
  }

  /** @internal The member at `address` is gone: watchers of it are told. */
  lost(address: string): void {
    if (this.isClosed || !this.watched.has(address)) return;
    this.stats.watchEvents++;
    this.guard('peer-gone', () => this.peerGoneHandler?.(address, 'refused'));
  }

  private guard(_which: string, fn: () => void): void {
    try {
      fn();
    } catch {
      this.stats.handlerErrors++;
    }
  }
}
