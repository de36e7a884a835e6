/**
 * The network under the gossip protocol, as an interface: datagrams for
 * probes and gossip, one-frame requests for push-pull exchanges, and
 * liveness watches. Bytes only; the codec is elsewhere. `net_transport.ts`
 * implements it over sockets (UDP and TCP on one port), `memory_transport.ts`
 * in process, for tests.
 *
 * Nothing that arrives can throw out of a socket handler: oversized packets,
 * bad frames and failing handlers are counted, logged and dropped, and socket
 * errors after start go to `onError`.
 *
 * Over sockets, every TCP connection starts with one byte saying what it is for:
 *
 * - `R` (request): then one frame (4-byte big-endian length, payload) from the
 *   client and one frame back, after which the server ends the connection.
 * - `W` (watch): held open with nothing more said. When the watched process
 *   dies its kernel closes the connection, so the watcher learns at once;
 *   one reconnect then tells a dead process (refused) from a dropped link.
 */
import type { Endpoint } from '../../address.js';
import type { BackendLog } from '../../types.js';
import type { Result } from '../../types.js';

export type { Endpoint } from '../../address.js';


/** Options of `openTransport` (net_transport.ts); every field has a default. */
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
  readonly logger?: BackendLog;
}

/** Why `openTransport` (net_transport.ts) failed. */
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
  /** Incoming watch connections of non-members closed to make room for a member's. */
  watchersEvicted: number;
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
  /**
   * Tells which addresses are members', for the watch slots: when
   * `maxWatchersIn` are held, a member's new watch closes an outsider's
   * (counted in `watchersEvicted`) rather than being refused. Without it,
   * nobody is a member and a newcomer is refused.
   */
  checkWatchers(isMember: (address: string) => boolean): void;
  /** Sets the handler of socket errors after start (replacing any earlier one). Without one they are logged. */
  onError(handler: TransportErrorHandler): void;
  /** A copy of the running totals. */
  counters(): TransportCounters;
  /** Closes every socket and timer; pending requests resolve `Closed`. Idempotent; later calls get the same promise. */
  close(): Promise<void>;
}

/**
 * Every counter at zero, as a transport opens.
 *
 * @example
 * const stats = zeroCounters();
 * stats.packetsOut++;
 */
export function zeroCounters(): TransportCounters {
  return {
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
    watchersEvicted: 0,
    streamsShed: 0,
    watchersIn: 0,
    streamsOpenIn: 0,
    bufferedBytes: 0,
    socketsOpen: 0,
  };
}
