/**
 * The network under the gossip protocol: one UDP socket for probes and
 * gossip, and a TCP listener on the same port for push-pull exchanges and
 * liveness streams. Bytes only; the codec is elsewhere.
 *
 * Nothing that arrives can throw out of a socket handler: oversized packets,
 * bad frames and failing handlers are counted, logged and dropped, and socket
 * errors after start go to `onError`.
 *
 * Every TCP connection starts with one byte saying what it is for:
 *
 * - `R` (request): then one frame (4-byte big-endian length, payload) from the
 *   client and one frame back, after which the server ends the connection.
 * - `W` (watch): held open with nothing more said. When the watched process
 *   dies its kernel closes the connection, so the watcher learns at once;
 *   one reconnect then tells a dead process (refused) from a dropped link.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect, createServer, isIP, type AddressInfo, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatAddress, parseAddress, type Endpoint } from '../address.js';
import type { Result } from '../types.js';

const KIND_REQUEST = 0x52; // 'R'
const KIND_WATCH = 0x57; // 'W'
const WATCH_HELLO = Buffer.of(KIND_WATCH);
const HEADER_BYTES = 4;
/** Largest length a 4-byte header can declare. */
const MAX_FRAME_LIMIT = 0xffff_ffff;
/** Largest UDP payload over IPv4. */
const MAX_UDP_PAYLOAD = 65_507;
/** Largest delay Node's timers accept. */
const MAX_TIMER_MS = 2_147_483_647;
/** With port 0, how many fresh ports to try when another process holds the UDP side of the one TCP got. */
const BIND_ATTEMPTS = 8;
/** How long `close()` waits for UDP sends already handed to the socket (a goodbye must not be cut off). */
const CLOSE_DRAIN_MS = 250;
/** TCP keep-alive on watch connections, so a vanished host eventually errors instead of hanging forever. */
const WATCH_KEEPALIVE_MS = 5000;
/**
 * Reconnects tried in a row while each is dropped right after connecting,
 * before reporting `reset`. More than one, because a reconnect racing a
 * process's death can land in the accept queue of its listener just before
 * the kernel closes that too.
 */
const WATCH_QUICK_RECONNECTS = 2;
/** Parsed destination addresses kept for the UDP send path; cleared when full. */
const ADDRESS_CACHE_LIMIT = 1024;

/** Defaults of {@link TransportOptions}, merged once when the transport opens. */
export const TRANSPORT_DEFAULTS = {
  bindHost: '0.0.0.0',
  bindPort: 0,
  maxPacketBytes: 1400,
  maxIncomingPacketBytes: MAX_UDP_PAYLOAD,
  maxStreamBytes: 4 * 1024 * 1024,
  streamTimeoutMs: 5000,
  watchRetryMs: 5000,
  maxWatchersIn: 6,
  maxStreamsIn: 64,
} as const;

/** The log methods the transport uses; a pino logger fits. */
export interface TransportLogger {
  debug(data: object, message: string): void;
  warn(data: object, message: string): void;
  error(data: object, message: string): void;
}

/** Options of {@link openTransport}; every field has a default. */
export interface TransportOptions {
  /** Address to bind UDP and TCP on. A name is resolved once, to one address. Default `0.0.0.0`. */
  readonly bindHost?: string;
  /** Port for both UDP and TCP. 0 picks a free port (the same for both); see `bound.port`. Default 0. */
  readonly bindPort?: number;
  /**
   * Host others should dial. Default: the bound host; for a wildcard bind
   * (`0.0.0.0` or `::`) the first non-internal IPv4 address of this machine,
   * then the first non-internal, non-link-local IPv6 one, and `127.0.0.1`
   * (`::1` for `::`) only when the machine has no other address.
   */
  readonly advertiseHost?: string;
  /** Port others should dial (NAT, containers). Default: the bound port. */
  readonly advertisePort?: number;
  /** Largest UDP payload sent; larger sends are refused and counted (`oversizedSends`). Default 1400, under a typical MTU. */
  readonly maxPacketBytes?: number;
  /** Larger incoming datagrams are counted (`oversizedPackets`) and dropped. Default 65507. */
  readonly maxIncomingPacketBytes?: number;
  /** Largest TCP frame accepted or sent, in bytes. Default 4 MiB. */
  readonly maxStreamBytes?: number;
  /**
   * An incoming connection that has not delivered a whole frame after this
   * long is dropped; also the default bound of `request`, the time a request
   * handler has to answer, and the time a watch connection has to connect.
   * Default 5000.
   */
  readonly streamTimeoutMs?: number;
  /** After a watched peer is reported gone, the watch quietly tries to reconnect this often until `unwatch`. Default 5000. */
  readonly watchRetryMs?: number;
  /**
   * Most watch connections others may hold to this node at once. A member is
   * watched by the few members before it in its ring; more are closed at
   * once and counted (`watchersRefused`), so idle connections cannot pin
   * file descriptors. Default 6.
   */
  readonly maxWatchersIn?: number;
  /**
   * Most incoming request connections open at once (watches not included);
   * more are closed at once and counted (`streamsShed`). Default 64.
   */
  readonly maxStreamsIn?: number;
  /**
   * Most bytes of incoming frames held at once, counted by the length each
   * frame declares as soon as its header is in. A frame that would pass the
   * bound is dropped and counted (`streamsShed`); the bytes are released when
   * its connection closes. At least `maxStreamBytes`. Default
   * `4 × maxStreamBytes`.
   */
  readonly maxBufferedBytes?: number;
  /** Default: logs nothing. */
  readonly logger?: TransportLogger;
}

/** Why {@link openTransport} failed. */
export type TransportError =
  | {
      readonly type: 'AddressInUse' | 'BindFailed';
      readonly message: string;
      /** The `host:port` that could not be bound. */
      readonly address: string;
      /** The system error code, e.g. `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, `ENOTFOUND`. */
      readonly code?: string;
    }
  | {
      readonly type: 'InvalidOption';
      readonly message: string;
      /** The option that was wrong. */
      readonly option: keyof TransportOptions;
      readonly value: unknown;
    };

/** Why a {@link Transport.request} got no answer. */
export interface StreamError {
  /**
   * `Refused`: nothing listens at `to`. `Timeout`: no whole answer within the
   * bound. `Closed`: the other side (or this transport's `close`) ended the
   * connection before a whole answer. `Oversized`: the request or the answer
   * is over `maxStreamBytes`. `Aborted`: the caller's signal fired.
   * `InvalidAddress`: `to` is not `host:port`. `Failed`: any other socket error.
   */
  readonly type: 'Refused' | 'Timeout' | 'Closed' | 'Oversized' | 'Aborted' | 'InvalidAddress' | 'Failed';
  readonly message: string;
  /** The address the request went to. */
  readonly to: string;
  /** The system error code, when there was one. */
  readonly code?: string;
}

/** What a watch learned when a watched connection went away (see {@link Transport.onPeerGone}). */
export type PeerGoneReason = 'refused' | 'reset' | 'timeout';

export type PacketHandler = (data: Buffer, from: string) => void;
export type RequestHandler = (data: Buffer, from: string) => Promise<Uint8Array | undefined> | Uint8Array | undefined;
export type PeerGoneHandler = (to: string, why: PeerGoneReason) => void;
export type TransportErrorHandler = (error: Error) => void;

/** Running totals since the transport opened. */
export interface TransportCounters {
  /** Datagrams received, oversized ones included. */
  packetsIn: number;
  /** Datagrams handed to the socket. */
  packetsOut: number;
  /** Bytes of datagrams received and of whole TCP frames received (headers included). */
  bytesIn: number;
  /** Bytes of datagrams and TCP frames sent (headers included). */
  bytesOut: number;
  /** Incoming datagrams over `maxIncomingPacketBytes`, dropped. */
  oversizedPackets: number;
  /** Datagrams over `maxPacketBytes` and frames over `maxStreamBytes` not sent. */
  oversizedSends: number;
  /** Incoming connections dropped: unknown kind byte, frame over the limit, truncated frame, idle past `streamTimeoutMs`, bytes after the frame. */
  malformedStreams: number;
  /** Packet, request, peer-gone and error handlers that threw (or request handlers that rejected or answered too late). */
  handlerErrors: number;
  /** Incoming TCP connections accepted. */
  streamsIn: number;
  /** Outgoing request connections opened (watch connections not included). */
  streamsOut: number;
  /** Watch connections that dropped or failed to connect. */
  watchEvents: number;
  /** Incoming watch connections closed because `maxWatchersIn` were already held. */
  watchersRefused: number;
  /** Incoming request connections dropped because of `maxStreamsIn` or `maxBufferedBytes`. */
  streamsShed: number;
  /** Now: incoming watch connections held. */
  watchersIn: number;
  /** Now: incoming request connections open. */
  streamsOpenIn: number;
  /** Now: bytes reserved by incoming frames being read or handled (see `maxBufferedBytes`). */
  bufferedBytes: number;
  /** Now: TCP sockets this transport holds open, either way (each one a file descriptor). */
  socketsOpen: number;
}

export type { Endpoint } from '../address.js';

/** The open network of one gossip member. Addresses are `host:port` strings (`[v6]:port` for IPv6). */
export interface Transport {
  /** Where others should reach this node (advertised). */
  readonly address: Endpoint;
  /** Where the sockets are bound (the port is the real one when 0 was asked for). */
  readonly bound: Endpoint;
  /**
   * Sends one datagram; fire and forget. Payloads over `maxPacketBytes` are
   * counted (`oversizedSends`) instead of sent; a malformed `to` is dropped.
   * `data` is read on a later turn of the event loop: do not reuse it.
   * A no-op after `close`.
   */
  sendPacket(to: string, data: Uint8Array): void;
  /** Sets the handler of incoming datagrams (replacing any earlier one). `from` is the sender's `host:port`. */
  onPacket(handler: PacketHandler): void;
  /**
   * Opens a connection, sends one frame and resolves with the one frame that
   * comes back. Never rejects. `timeoutMs` (default `streamTimeoutMs`) bounds
   * the whole exchange.
   */
  request(to: string, data: Uint8Array, options?: { readonly timeoutMs?: number; readonly signal?: AbortSignal }): Promise<Result<Buffer, StreamError>>;
  /**
   * Sets the handler of incoming requests (replacing any earlier one). Its
   * answer is sent back as one frame; `undefined` closes the connection
   * without an answer. `from` is the connection's source address, whose port
   * is the caller's ephemeral one, not its listening port.
   */
  onRequest(handler: RequestHandler): void;
  /**
   * Keeps a liveness connection to `to` until `unwatch(to)` or `close()`.
   * Watching an address already watched does nothing.
   */
  watch(to: string): void;
  /** Stops watching `to`, silently. */
  unwatch(to: string): void;
  /**
   * Sets the handler told when a watched peer seems gone (replacing any
   * earlier one). When a watch connection drops, one reconnect is tried at
   * once: `refused` means the host answered but nothing listens (the process
   * is gone); `timeout` means no answer in time (the host may be gone or cut
   * off); `reset` means the reconnect failed otherwise, or that reconnects
   * keep being dropped right after connecting (two in a row, within
   * `streamTimeoutMs`). A first connection that fails is reported the
   * same way. A successful reconnect is silent. After a report the watch
   * stays, retrying quietly every `watchRetryMs`, and reports again only
   * after it has connected and lost the connection once more.
   */
  onPeerGone(handler: PeerGoneHandler): void;
  /** Sets the handler of socket errors after start (replacing any earlier one). Without one they are logged. */
  onError(handler: TransportErrorHandler): void;
  /** A copy of the running totals. */
  counters(): TransportCounters;
  /** Closes every socket and timer; pending requests resolve `Closed`. Idempotent; later calls get the same promise. */
  close(): Promise<void>;
}

export { formatAddress, parseAddress } from '../address.js';

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
  const settings = resolveSettings(options);
  if (!settings.ok) return settings;
  const host = await resolveBindHost(settings.value.bindHost, settings.value.bindPort);
  if (!host.ok) return host;
  const sockets = await bindBoth(host.value, settings.value.bindPort);
  if (!sockets.ok) return sockets;
  return { ok: true, value: new SocketTransport(settings.value, host.value, sockets.value) };
}

type Settings = {
  readonly [K in Exclude<keyof TransportOptions, 'advertiseHost' | 'advertisePort' | 'logger' | 'maxBufferedBytes'>]-?: NonNullable<TransportOptions[K]>;
} & {
  readonly maxBufferedBytes: number;
  readonly advertiseHost: string | undefined;
  readonly advertisePort: number | undefined;
  readonly logger: TransportLogger;
};

const quiet: TransportLogger = { debug() {}, warn() {}, error() {} };
const noop = () => {};

function invalid(option: keyof TransportOptions, value: unknown, expected: string): Result<never, TransportError> {
  return { ok: false, error: { type: 'InvalidOption', option, value, message: `${option} must be ${expected}, got ${String(value)}` } };
}

function resolveSettings(options: TransportOptions): Result<Settings, TransportError> {
  const s: Settings = {
    ...TRANSPORT_DEFAULTS,
    ...definedOnly(options),
    maxBufferedBytes: options.maxBufferedBytes ?? 4 * (options.maxStreamBytes ?? TRANSPORT_DEFAULTS.maxStreamBytes),
    advertiseHost: options.advertiseHost,
    advertisePort: options.advertisePort,
    logger: options.logger ?? quiet,
  };
  const integers: [keyof TransportOptions, number | undefined, number, number][] = [
    ['bindPort', s.bindPort, 0, 65_535],
    ['advertisePort', s.advertisePort, 1, 65_535],
    ['maxPacketBytes', s.maxPacketBytes, 1, MAX_UDP_PAYLOAD],
    ['maxIncomingPacketBytes', s.maxIncomingPacketBytes, 1, 65_535],
    ['maxStreamBytes', s.maxStreamBytes, 1, MAX_FRAME_LIMIT],
    ['streamTimeoutMs', s.streamTimeoutMs, 1, MAX_TIMER_MS],
    ['watchRetryMs', s.watchRetryMs, 1, MAX_TIMER_MS],
    ['maxWatchersIn', s.maxWatchersIn, 0, 65_535],
    ['maxStreamsIn', s.maxStreamsIn, 1, 65_535],
    ['maxBufferedBytes', s.maxBufferedBytes, s.maxStreamBytes, Number.MAX_SAFE_INTEGER],
  ];
  for (const [option, value, min, max] of integers) {
    if (value === undefined && option === 'advertisePort') continue;
    if (!Number.isInteger(value) || value! < min || value! > max) return invalid(option, value, `an integer from ${min} to ${max}`);
  }
  if (typeof s.bindHost !== 'string' || s.bindHost === '') return invalid('bindHost', s.bindHost, 'a host name or IP address');
  if (s.advertiseHost !== undefined && (typeof s.advertiseHost !== 'string' || s.advertiseHost === '')) {
    return invalid('advertiseHost', s.advertiseHost, 'a host name or IP address');
  }
  return { ok: true, value: s };
}

/** Drops `undefined` fields, so they do not hide the defaults when spread. */
function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

async function resolveBindHost(host: string, port: number): Promise<Result<string, TransportError>> {
  if (isIP(host) !== 0) return { ok: true, value: host };
  // UDP and TCP must end up on the same address, so a name is resolved once here.
  try {
    return { ok: true, value: (await lookup(host)).address };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const address = formatAddress(host, port);
    return { ok: false, error: { type: 'BindFailed', address, message: `Cannot resolve bind host ${host}: ${code ?? String(error)}`, ...(code ? { code } : {}) } };
  }
}

function bindError(error: NodeJS.ErrnoException, protocol: 'TCP' | 'UDP', host: string, port: number): TransportError {
  const address = formatAddress(host, port);
  const code = error.code;
  if (code === 'EADDRINUSE') return { type: 'AddressInUse', address, code, message: `${protocol} port ${address} is already in use` };
  return { type: 'BindFailed', address, message: `Cannot bind ${protocol} on ${address}: ${code ?? error.message}`, ...(code ? { code } : {}) };
}

function listenTcp(server: Server, host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => resolve(error);
    server.once('error', onError);
    try {
      server.listen({ host, port, exclusive: true }, () => {
        server.off('error', onError);
        resolve(undefined);
      });
    } catch (error) {
      server.off('error', onError);
      resolve(error as NodeJS.ErrnoException);
    }
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => resolve(error);
    socket.once('error', onError);
    try {
      socket.bind({ address: host, port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(undefined);
      });
    } catch (error) {
      socket.off('error', onError);
      resolve(error as NodeJS.ErrnoException);
    }
  });
}

interface Bound {
  readonly server: Server;
  readonly udp: UdpSocket;
  readonly port: number;
}

async function bindBoth(host: string, port: number): Promise<Result<Bound, TransportError>> {
  for (let attempt = 1; ; attempt++) {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    const tcpError = await listenTcp(server, host, port);
    if (tcpError) return { ok: false, error: bindError(tcpError, 'TCP', host, port) };
    const actual = (server.address() as AddressInfo).port;
    const udp = createSocket({ type: isIP(host) === 6 ? 'udp6' : 'udp4' });
    const udpError = await bindUdp(udp, host, actual);
    if (!udpError) return { ok: true, value: { server, udp, port: actual } };
    try {
      udp.close();
    } catch {
      // Never bound: nothing to release.
    }
    await new Promise((resolve) => server.close(resolve));
    // With port 0, another process may hold the UDP side of the port TCP got: try a fresh one.
    if (port !== 0 || udpError.code !== 'EADDRINUSE' || attempt >= BIND_ATTEMPTS) {
      return { ok: false, error: bindError(udpError, 'UDP', host, actual) };
    }
  }
}

function defaultAdvertiseHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const v4 = all.find((net) => net.family === 'IPv4' && !net.internal);
  if (v4) return v4.address;
  if (bindHost === '::') {
    const v6 = all.find((net) => net.family === 'IPv6' && !net.internal && !net.address.startsWith('fe80:'));
    if (v6) return v6.address;
    return '::1';
  }
  return '127.0.0.1';
}

function peerGoneReason(code: string | undefined): PeerGoneReason {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') return 'timeout';
  return 'reset';
}

/**
 * Collects one length-prefixed frame from chunks as they come, copying the
 * payload at most once, and telling as soon as the header is in whether the
 * frame is over the limit.
 */
class FrameReader {
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

function frameHeader(kind: number | undefined, length: number): Buffer {
  const offset = kind === undefined ? 0 : 1;
  const header = Buffer.allocUnsafe(offset + HEADER_BYTES);
  if (kind !== undefined) header[0] = kind;
  header.writeUInt32BE(length, offset);
  return header;
}

interface Watch {
  readonly to: string;
  readonly target: Endpoint;
  socket: Socket | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Reported gone and not connected since: stay quiet until a connection is made again. */
  reported: boolean;
}

type ServePhase = 'kind' | 'frame' | 'handling' | 'replied' | 'watch' | 'done';

class SocketTransport implements Transport {
  readonly address: Endpoint;
  readonly bound: Endpoint;

  private readonly stats: TransportCounters = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    oversizedPackets: 0,
    oversizedSends: 0,
    malformedStreams: 0,
    handlerErrors: 0,
    streamsIn: 0,
    streamsOut: 0,
    watchEvents: 0,
    watchersRefused: 0,
    streamsShed: 0,
    watchersIn: 0,
    streamsOpenIn: 0,
    bufferedBytes: 0,
    socketsOpen: 0,
  };
  private readonly log: TransportLogger;
  private readonly server: Server;
  private readonly udp: UdpSocket;
  private readonly udp6: boolean;
  private packetHandler: PacketHandler | undefined;
  private requestHandler: RequestHandler | undefined;
  private peerGoneHandler: PeerGoneHandler | undefined;
  private errorHandler: TransportErrorHandler | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Every TCP socket open, either way, so `close` can end them. */
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Map<string, Watch>();
  /** Settles each request still waiting, for `close`. */
  private readonly pending = new Set<() => void>();
  private readonly targets = new Map<string, Endpoint>();
  private inFlight = 0;
  private drained: (() => void) | undefined;

  constructor(
    private readonly settings: Settings,
    host: string,
    sockets: Bound,
  ) {
    this.log = settings.logger;
    this.server = sockets.server;
    this.udp = sockets.udp;
    this.udp6 = isIP(host) === 6;
    this.bound = { host, port: sockets.port };
    this.address = { host: settings.advertiseHost ?? defaultAdvertiseHost(host), port: settings.advertisePort ?? sockets.port };
    this.udp.on('message', this.onMessage);
    this.udp.on('error', this.onSocketError);
    this.server.on('error', this.onSocketError);
    this.server.on('connection', this.onConnection);
  }

  // --- UDP -----------------------------------------------------------------

  sendPacket(to: string, data: Uint8Array): void {
    if (this.closed) return;
    if (data.length > this.settings.maxPacketBytes) {
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
    if (data.length > this.settings.maxIncomingPacketBytes) {
      stats.oversizedPackets++;
      return;
    }
    const handler = this.packetHandler;
    if (handler === undefined || this.closed) return;
    try {
      handler(data, formatAddress(rinfo.address, rinfo.port));
    } catch (error) {
      this.handlerFailed('packet', error);
    }
  };

  // --- TCP requests --------------------------------------------------------

  request(to: string, data: Uint8Array, options: { readonly timeoutMs?: number; readonly signal?: AbortSignal } = {}): Promise<Result<Buffer, StreamError>> {
    const failure = (type: StreamError['type'], message: string, code?: string): Result<Buffer, StreamError> => ({
      ok: false,
      error: { type, message, to, ...(code ? { code } : {}) },
    });
    if (this.closed) return Promise.resolve(failure('Closed', 'The transport is closed'));
    const target = parseAddress(to);
    if (target === undefined) return Promise.resolve(failure('InvalidAddress', `Expected host:port, got "${to}"`));
    const limit = this.settings.maxStreamBytes;
    if (data.length > limit) {
      this.stats.oversizedSends++;
      return Promise.resolve(failure('Oversized', `A request of ${data.length} bytes is over the ${limit} byte frame limit`));
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.resolve(failure('Aborted', `Request to ${to} aborted before it started`));
    const timeoutMs = options.timeoutMs ?? this.settings.streamTimeoutMs;

    return new Promise((resolve) => {
      this.stats.streamsOut++;
      const socket = connect({ host: target.host, port: target.port, noDelay: true });
      this.track(socket);
      const reader = new FrameReader(limit);
      let settled = false;
      const finish = (result: Result<Buffer, StreamError>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(onClose);
        socket.destroy();
        resolve(result);
      };
      const onAbort = () => finish(failure('Aborted', `Request to ${to} aborted`));
      const onClose = () => finish(failure('Closed', 'The transport closed before an answer came'));
      const timer = setTimeout(() => finish(failure('Timeout', `No answer from ${to} within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.add(onClose);

      socket.once('connect', () => {
        socket.cork();
        socket.write(frameHeader(KIND_REQUEST, data.length));
        socket.write(data);
        socket.uncork();
        this.stats.bytesOut += 1 + HEADER_BYTES + data.length;
      });
      socket.on('data', (chunk: Buffer) => {
        const status = reader.push(chunk, 0);
        if (status === 'more') return;
        if (status === 'oversized') return finish(failure('Oversized', `The answer from ${to} (${reader.declared} bytes) is over the ${limit} byte frame limit`));
        this.stats.bytesIn += HEADER_BYTES + reader.declared;
        finish({ ok: true, value: reader.take() });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => {
        const refused = error.code === 'ECONNREFUSED';
        finish(failure(refused ? 'Refused' : 'Failed', `${to}: ${refused ? 'nothing listens there' : (error.code ?? error.message)}`, error.code));
      });
      socket.on('close', () => finish(failure('Closed', `${to} closed the connection without a whole answer`)));
    });
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  private readonly onConnection = (socket: Socket): void => {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.track(socket);
    this.stats.streamsIn++;
    const from = formatAddress(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0);
    const { maxStreamBytes: limit, streamTimeoutMs, maxStreamsIn, maxWatchersIn, maxBufferedBytes } = this.settings;
    const stats = this.stats;
    if (stats.streamsOpenIn >= maxStreamsIn) {
      stats.streamsShed++;
      this.log.debug({ from, open: stats.streamsOpenIn }, 'Too many incoming streams; dropped one');
      socket.destroy();
      return;
    }
    stats.streamsOpenIn++;
    const reader = new FrameReader(limit);
    let phase: ServePhase = 'kind';
    /** Bytes of `maxBufferedBytes` this connection holds: its frame's declared length once the header is in. */
    let reserved = -1;
    let watching = false;
    // Whatever the connection held is given back once, when it closes.
    socket.once('close', () => {
      if (watching) stats.watchersIn--;
      else stats.streamsOpenIn--;
      if (reserved > 0) stats.bufferedBytes -= reserved;
    });

    const malformed = (why: string) => {
      if (phase === 'done') return;
      phase = 'done';
      this.stats.malformedStreams++;
      this.log.debug({ from, why }, 'Dropped a malformed stream');
      socket.destroy();
    };

    const answer = async (frame: Buffer) => {
      const handler = this.requestHandler;
      let reply: Uint8Array | undefined;
      try {
        reply = handler === undefined ? undefined : await handler(frame, from);
      } catch (error) {
        if (phase !== 'handling') return;
        phase = 'done';
        this.handlerFailed('request', error);
        socket.destroy();
        return;
      }
      // Timed out, or the caller went away, while the handler worked.
      if (phase !== 'handling') return;
      if (reply === undefined) {
        phase = 'done';
        socket.end();
        return;
      }
      if (reply.length > limit) {
        phase = 'done';
        this.stats.oversizedSends++;
        this.log.warn({ from, bytes: reply.length, limit }, 'Not sending an answer over the frame limit');
        socket.destroy();
        return;
      }
      phase = 'replied';
      socket.cork();
      socket.write(frameHeader(undefined, reply.length));
      socket.write(reply);
      socket.uncork();
      socket.end();
      this.stats.bytesOut += HEADER_BYTES + reply.length;
    };

    socket.setTimeout(streamTimeoutMs);
    socket.on('timeout', () => {
      if (phase === 'kind' || phase === 'frame') return malformed(`no whole frame within ${streamTimeoutMs} ms`);
      if (phase === 'handling') this.handlerFailed('request', new Error(`No answer within ${streamTimeoutMs} ms`));
      phase = 'done';
      socket.destroy();
    });
    // 'close' follows every error and tells what it meant.
    socket.on('error', noop);
    socket.on('end', () => {
      if (phase === 'frame') return malformed('ended in the middle of a frame');
      // Half-closed after a whole request: still answer. Otherwise end our side too.
      if (phase === 'kind' || phase === 'watch') {
        phase = 'done';
        socket.end();
      }
    });
    socket.on('close', () => {
      if (phase === 'frame' && !this.closed) malformed('closed in the middle of a frame');
      phase = 'done';
    });
    socket.on('data', (chunk: Buffer) => {
      if (phase === 'watch' || phase === 'done') return;
      if (phase === 'handling' || phase === 'replied') return malformed('bytes after the request frame');
      let offset = 0;
      if (phase === 'kind') {
        const kind = chunk[0];
        if (kind === KIND_WATCH) {
          stats.streamsOpenIn--;
          watching = true;
          stats.watchersIn++;
          if (stats.watchersIn > maxWatchersIn) {
            // Refused rather than evicting an older one: watchers already held are the ring's.
            phase = 'done';
            stats.watchersRefused++;
            this.log.debug({ from, held: maxWatchersIn }, 'Too many watchers; closed one');
            socket.destroy();
            return;
          }
          // Held open with no timeout: its closing is the signal. Anything sent on it is drained.
          // Keep-alive, so a watcher whose host vanished does not hold the descriptor forever.
          phase = 'watch';
          socket.setTimeout(0);
          socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
          return;
        }
        if (kind !== KIND_REQUEST) return malformed(`unknown connection kind ${kind}`);
        phase = 'frame';
        offset = 1;
      }
      const status = reader.push(chunk, offset);
      if (status === 'oversized') return malformed(`a frame of ${reader.declared} bytes is over the ${limit} byte limit`);
      if (reserved < 0 && reader.declared >= 0) {
        if (stats.bufferedBytes + reader.declared > maxBufferedBytes) {
          phase = 'done';
          stats.streamsShed++;
          this.log.debug({ from, declared: reader.declared, buffered: stats.bufferedBytes }, 'Too many frame bytes in flight; dropped a stream');
          socket.destroy();
          return;
        }
        reserved = reader.declared;
        stats.bufferedBytes += reserved;
      }
      if (status === 'more') return;
      if (reader.overrun) return malformed('bytes after the request frame');
      phase = 'handling';
      this.stats.bytesIn += HEADER_BYTES + reader.declared;
      void answer(reader.take());
    });
  };

  // --- Liveness streams ----------------------------------------------------

  watch(to: string): void {
    if (this.closed || this.watches.has(to)) return;
    const target = parseAddress(to);
    if (target === undefined) {
      this.log.warn({ to }, 'Cannot watch a malformed address');
      return;
    }
    const watch: Watch = { to, target, socket: undefined, timer: undefined, reported: false };
    this.watches.set(to, watch);
    this.connectWatch(watch, 0);
  }

  unwatch(to: string): void {
    const watch = this.watches.get(to);
    if (watch === undefined) return;
    this.watches.delete(to);
    this.stopWatch(watch);
  }

  onPeerGone(handler: PeerGoneHandler): void {
    this.peerGoneHandler = handler;
  }

  private stopWatch(watch: Watch): void {
    clearTimeout(watch.timer);
    watch.timer = undefined;
    watch.socket?.destroy();
    watch.socket = undefined;
  }

  /**
   * `reconnects`: how many reconnects in a row this is, each after a
   * connection that dropped right after it was made (0 for a first
   * connection, a retry, or a reconnect after a connection that lasted).
   */
  private connectWatch(watch: Watch, reconnects: number): void {
    const { streamTimeoutMs, watchRetryMs } = this.settings;
    const socket = connect({ host: watch.target.host, port: watch.target.port, noDelay: true });
    this.track(socket);
    watch.socket = socket;
    let connectedAt = -1;
    let failure: string | undefined;
    watch.timer = setTimeout(() => {
      failure = 'ETIMEDOUT';
      socket.destroy();
    }, streamTimeoutMs);

    socket.once('connect', () => {
      connectedAt = Date.now();
      clearTimeout(watch.timer);
      watch.timer = undefined;
      watch.reported = false;
      socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
      socket.write(WATCH_HELLO);
    });
    // The other side never writes; whatever comes is drained.
    socket.on('data', noop);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code ?? 'EUNKNOWN';
    });
    socket.on('close', () => {
      // Unwatched, replaced or closed: nothing to say.
      if (this.closed || this.watches.get(watch.to) !== watch || watch.socket !== socket) return;
      clearTimeout(watch.timer);
      watch.timer = undefined;
      watch.socket = undefined;
      this.stats.watchEvents++;
      if (connectedAt >= 0) {
        // Dropped: an immediate reconnect tells a dead process (refused) from a blip.
        const lasted = reconnects === 0 || Date.now() - connectedAt >= streamTimeoutMs;
        if (lasted || reconnects < WATCH_QUICK_RECONNECTS) {
          this.log.debug({ to: watch.to, failure }, 'Watch connection dropped; reconnecting');
          this.connectWatch(watch, lasted ? 1 : reconnects + 1);
          return;
        }
      }
      const why = connectedAt >= 0 ? 'reset' : peerGoneReason(failure);
      if (!watch.reported) {
        watch.reported = true;
        this.peerGone(watch.to, why);
      }
      if (this.closed || this.watches.get(watch.to) !== watch) return; // the handler unwatched or closed
      watch.timer = setTimeout(() => {
        watch.timer = undefined;
        this.connectWatch(watch, 0);
      }, watchRetryMs);
    });
  }

  private peerGone(to: string, why: PeerGoneReason): void {
    this.log.debug({ to, why }, 'Watched peer seems gone');
    const handler = this.peerGoneHandler;
    if (handler === undefined) return;
    try {
      handler(to, why);
    } catch (error) {
      this.handlerFailed('peer-gone', error);
    }
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
    this.closed = true;
    for (const watch of this.watches.values()) this.stopWatch(watch);
    this.watches.clear();
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

  private track(socket: Socket): void {
    this.sockets.add(socket);
    this.stats.socketsOpen++;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.stats.socketsOpen--;
    });
  }

  private readonly onSocketError = (error: Error): void => {
    if (this.closed) return;
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
  private handlerFailed(which: string, error: unknown): void {
    const count = ++this.stats.handlerErrors;
    if ((count & (count - 1)) === 0) this.log.warn({ err: error, handlerErrors: count }, `The ${which} handler failed`);
  }
}
