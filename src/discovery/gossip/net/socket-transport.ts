/**
 * The {@link Transport} over sockets: one UDP socket for probes and gossip,
 * and a TCP listener on the same port for push-pull requests and peer
 * watches. Binding is in `binding.ts`, framing in `framing.ts`, serving
 * incoming connections in `serve.ts`, outgoing requests in `request.ts`,
 * watches in `watches.ts`; this file holds them together and does UDP.
 *
 * Nothing that arrives can throw out of a socket handler: oversized packets,
 * bad frames and failing handlers are counted, logged and dropped, and socket
 * errors after start go to `onError`.
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { isIP, type Server, type Socket } from 'node:net';
import { formatAddress, parseAddress, type Endpoint } from '../../address.js';
import type { Result } from '../../types.js';
import { bindBoth, defaultAdvertiseHost, resolveBindHost, type Bound } from './binding.js';
import { request } from './request.js';
import { serve } from './serve.js';
import { resolveTransportConfig, type TransportConfig, type Shared } from './transport-config.js';
import type {
  PacketHandler,
  PeerGoneHandler,
  RequestHandler,
  StreamError,
  Transport,
  TransportCounters,
  TransportError,
  TransportErrorHandler,
  TransportOptions,
} from './transport.js';
import type { BackendLog } from '../../types.js';
import { zeroCounters } from './transport.js';
import { Watches } from './watches.js';

/** How long `close()` waits for UDP sends already handed to the socket (a goodbye must not be cut off). */
const CLOSE_DRAIN_MS = 250;
/** Parsed destination addresses kept for the UDP send path; cleared when full. */
const ADDRESS_CACHE_LIMIT = 1024;

/**
 * Binds UDP and TCP on one port and starts serving. A port in use is an
 * `AddressInUse` error naming `host:port`; nothing here throws.
 *
 * @example
 * ```ts
 * const opened = await openTransport({ bindHost: '127.0.0.1', bindPort: 0 });
 * if (opened.ok) {
 *   const transport = opened.value;
 *   transport.onPacket((data, from) => console.log(`${data.length} bytes from ${from}`));
 *   transport.onRequest((data) => data);
 *   await transport.close();
 * }
 * ```
 */
export async function openTransport(options: TransportOptions = {}): Promise<Result<Transport, TransportError>> {
  const config = resolveTransportConfig(options);
  if (!config.ok) return config;
  const host = await resolveBindHost(config.value.bindHost, config.value.bindPort);
  if (!host.ok) return host;
  const sockets = await bindBoth(host.value, config.value.bindPort);
  if (!sockets.ok) return sockets;
  return { ok: true, value: new SocketTransport(config.value, host.value, sockets.value) };
}

class SocketTransport implements Transport, Shared {
  readonly address: Endpoint;
  readonly bound: Endpoint;
  readonly stats = zeroCounters();
  readonly log: BackendLog;
  private readonly server: Server;
  private readonly udp: UdpSocket;
  private readonly udp6: boolean;
  private readonly watches: Watches;
  readonly watchers = new Set<{ readonly member: boolean; evict(): void }>();
  private memberCheck: (address: string) => boolean = () => false;
  private packetHandler: PacketHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private errorHandler: TransportErrorHandler | undefined;
  private isClosed = false;
  private closing: Promise<void> | undefined;
  /** Every TCP socket open, either way, so `close` can end them. */
  private readonly sockets = new Set<Socket>();
  /** Settles each request still waiting, for `close`. */
  private readonly pending = new Set<() => void>();
  private readonly targets = new Map<string, Endpoint>();
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(
    readonly config: TransportConfig,
    host: string,
    sockets: Bound,
  ) {
    this.log = config.logger;
    this.server = sockets.server;
    this.udp = sockets.udp;
    this.udp6 = isIP(host) === 6;
    this.watches = new Watches(this);
    this.bound = { host, port: sockets.port };
    this.address = { host: config.advertiseHost ?? defaultAdvertiseHost(host), port: config.advertisePort ?? sockets.port };
    this.udp.on('message', this.onMessage);
    this.udp.on('error', this.onSocketError);
    this.server.on('error', this.onSocketError);
    this.server.on('connection', this.onConnection);
  }

  closed(): boolean {
    return this.isClosed;
  }

  // --- UDP -----------------------------------------------------------------

  sendPacket(to: string, data: Uint8Array): void {
    if (this.isClosed) return;
    if (data.length > this.config.maxPacketBytes) {
      this.stats.oversizedSends++;
      return;
    }
    const target = this.target(to);
    if (target === undefined) {
      this.log.debug({ to }, 'Not sending a packet to a malformed address');
      return;
    }
    try {
      this.udp.send(data, target.port, target.host, this.onSent);
    } catch (error) {
      this.log.debug({ to, err: error }, 'UDP send failed');
      return;
    }
    this.inFlight++;
    this.stats.packetsOut++;
    this.stats.bytesOut += data.length;
  }

  onPacket(handler: PacketHandler): void {
    this.packetHandler = handler;
  }

  /** Parsed once per address: the send path runs for every probe and gossip message. */
  private target(to: string): Endpoint | undefined {
    let target = this.targets.get(to);
    if (target === undefined) {
      const parsed = parseAddress(to);
      if (parsed === undefined) return undefined;
      // A dual-stack IPv6 socket reaches IPv4 peers through their mapped address.
      target = this.udp6 && isIP(parsed.host) === 4 ? { host: `::ffff:${parsed.host}`, port: parsed.port } : parsed;
      if (this.targets.size >= ADDRESS_CACHE_LIMIT) this.targets.clear();
      this.targets.set(to, target);
    }
    return target;
  }

  private readonly onSent = (error: Error | null): void => {
    if (error) this.log.debug({ err: error }, 'UDP send failed');
    if (--this.inFlight === 0) this.drained?.();
  };

  private readonly onMessage = (data: Buffer, rinfo: RemoteInfo): void => {
    const stats = this.stats;
    stats.packetsIn++;
    stats.bytesIn += data.length;
    if (data.length > this.config.maxIncomingPacketBytes) {
      stats.oversizedPackets++;
      return;
    }
    const handler = this.packetHandler;
    if (handler === undefined || this.isClosed) return;
    try {
      handler(data, formatAddress(rinfo.address, rinfo.port));
    } catch (error) {
      this.handlerFailed('packet', error);
    }
  };

  // --- TCP -----------------------------------------------------------------

  request(to: string, data: Uint8Array, options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {}): Promise<Result<Buffer, StreamError>> {
    return request(this, this.pending, to, data, options);
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.isClosed) {
      socket.destroy();
      return;
    }
    this.track(socket);
    this.stats.streamsIn++;
    serve(this, socket, () => this.requestHandler);
  };

  watch(to: string): void {
    this.watches.watch(to);
  }

  unwatch(to: string): void {
    this.watches.unwatch(to);
  }

  onPeerGone(handler: PeerGoneHandler): void {
    this.watches.onPeerGone(handler);
  }

  checkWatchers(isMember: (address: string) => boolean): void {
    this.memberCheck = isMember;
  }

  isMember(address: string): boolean {
    return this.memberCheck(address);
  }

  // --- Common --------------------------------------------------------------

  onError(handler: TransportErrorHandler): void {
    this.errorHandler = handler;
  }

  counters(): TransportCounters {
    return { ...this.stats };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.isClosed = true;
    this.watches.stopAll();
    for (const settle of [...this.pending]) settle();
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_DRAIN_MS);
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      new Promise<void>((resolve) => this.udp.close(() => resolve())),
    ]);
  }

  track(socket: Socket): void {
    this.sockets.add(socket);
    this.stats.socketsOpen++;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.socketsOpen--;
    });
  }

  private readonly onSocketError = (error: Error): void => {
    if (this.isClosed) return;
    const handler = this.errorHandler;
    if (handler === undefined) {
      this.log.error({ err: error }, 'Gossip transport socket error');
      return;
    }
    try {
      handler(error);
    } catch (thrown) {
      this.handlerFailed('error', thrown);
    }
  };

  /** Counts a failing handler; logs the 1st, 2nd, 4th, 8th… so one failing on every packet cannot flood the log. */
  handlerFailed(which: string, error: unknown): void {
    const count = ++this.stats.handlerErrors;
    if ((count & (count - 1)) === 0) this.log.warn({ err: error, handlerErrors: count }, `The ${which} handler failed`);
  }
}
