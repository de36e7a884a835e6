/**
 * The network under the gossip protocol: one UDP socket for probes and
 * gossip, and a TCP listener on the same port for push-pull exchanges and
 * liveness streams. Bytes only; the codec is elsewhere. Nothing that arrives
 * can throw out of a socket handler: bad frames are counted and dropped.
 *
 * TCP connections start with one byte saying what they are for: a request
 * (one length-prefixed frame each way) or a watch (held open, so that the
 * kernel's close tells the watcher at once that the process has gone).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';

const KIND_REQUEST = 0x52; // 'R'
const KIND_WATCH = 0x57; // 'W'

export interface TransportOptions {
  /** Default `0.0.0.0`. */
  readonly bindHost?: string;
  /** 0 picks a free port (the same for UDP and TCP). */
  readonly bindPort: number;
  /** What others should dial. Default: the bound host, or for a wildcard bind the first non-internal IPv4 address, else 127.0.0.1. */
  readonly advertiseHost?: string;
  readonly advertisePort?: number;
  /** Largest UDP payload sent. Default 1400. */
  readonly maxPacketBytes?: number;
  /** Largest TCP frame accepted or sent. Default 4 MiB. */
  readonly maxStreamBytes?: number;
  /** An idle incoming connection is closed after this. Default 5000. */
  readonly streamTimeoutMs?: number;
  readonly logger?: { debug(data: object, message: string): void; warn(data: object, message: string): void };
}

export type TransportError = { readonly type: 'AddressInUse' | 'BindFailed'; readonly message: string; readonly address: string };
export type StreamError = { readonly type: 'Refused' | 'Timeout' | 'Closed' | 'Oversized' | 'Failed'; readonly message: string };
export type Result<T, E> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: E };

export interface TransportCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  oversizedSends: number;
  malformedFrames: number;
  handlerErrors: number;
  streamsIn: number;
  streamsOut: number;
  watchEvents: number;
}

export interface Transport {
  /** Where others reach this node. */
  readonly address: { readonly host: string; readonly port: number };
  /** Where it is bound. */
  readonly bound: { readonly host: string; readonly port: number };
  sendPacket(to: string, data: Uint8Array): void;
  onPacket(handler: (data: Buffer, from: string) => void): void;
  request(to: string, data: Uint8Array, options: { timeoutMs: number }): Promise<Result<Buffer, StreamError>>;
  onRequest(handler: (data: Buffer, from: string) => Uint8Array | undefined): void;
  watch(to: string): void;
  unwatch(to: string): void;
  /** A watched member's connection closed: `refused` when its port no longer listens (the process is gone). */
  onPeerGone(handler: (to: string, why: 'refused' | 'reset' | 'timeout') => void): void;
  onError(handler: (error: Error) => void): void;
  counters(): TransportCounters;
  close(): Promise<void>;
}

function split(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(address);
  if (!match) return undefined;
  return { host: (match[1] ?? match[2])!, port: Number(match[3]) };
}

const join = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

function defaultAdvertiseHost(bindHost: string): string {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return bindHost;
  for (const list of Object.values(networkInterfaces())) {
    for (const net of list ?? []) if (net.family === 'IPv4' && !net.internal) return net.address;
  }
  return '127.0.0.1';
}

function listenTcp(server: Server, host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => resolve(error);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve(undefined);
    });
  });
}

function bindUdp(socket: UdpSocket, host: string, port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const onError = (error: NodeJS.ErrnoException) => resolve(error);
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve(undefined);
    });
  });
}

/** Opens UDP and TCP on one port; a port in use is an `AddressInUse` error naming it. */
export async function openTransport(options: TransportOptions): Promise<Result<Transport, TransportError>> {
  const bindHost = options.bindHost ?? '0.0.0.0';
  const maxPacket = options.maxPacketBytes ?? 1400;
  const maxStream = options.maxStreamBytes ?? 4 * 1024 * 1024;
  const idleMs = options.streamTimeoutMs ?? 5000;
  const log = options.logger;
  const family = bindHost.includes(':') ? 'udp6' : 'udp4';

  let server: Server | undefined;
  let udp: UdpSocket | undefined;
  let port = options.bindPort;
  for (let attempt = 0; attempt < 10; attempt++) {
    const tcp = createServer();
    const tcpError = await listenTcp(tcp, bindHost, port);
    if (tcpError) {
      const address = join(bindHost, port);
      return {
        ok: false,
        error:
          tcpError.code === 'EADDRINUSE'
            ? { type: 'AddressInUse', address, message: `Address ${address} is already in use (TCP)` }
            : { type: 'BindFailed', address, message: `Cannot listen on ${address}: ${tcpError.message}` },
      };
    }
    const boundPort = (tcp.address() as { port: number }).port;
    const socket = createSocket({ type: family });
    const udpError = await bindUdp(socket, bindHost, boundPort);
    if (!udpError) {
      server = tcp;
      udp = socket;
      port = boundPort;
      break;
    }
    socket.close();
    await new Promise((resolve) => tcp.close(resolve));
    // With port 0 another process may hold the UDP side of the port TCP got: try another.
    if (options.bindPort !== 0 || udpError.code !== 'EADDRINUSE') {
      const address = join(bindHost, boundPort);
      return {
        ok: false,
        error:
          udpError.code === 'EADDRINUSE'
            ? { type: 'AddressInUse', address, message: `Address ${address} is already in use (UDP)` }
            : { type: 'BindFailed', address, message: `Cannot bind UDP ${address}: ${udpError.message}` },
      };
    }
  }
  if (!server || !udp) {
    const address = join(bindHost, 0);
    return { ok: false, error: { type: 'BindFailed', address, message: `No free port for UDP and TCP on ${bindHost}` } };
  }
  const tcpServer = server;
  const udpSocket = udp;

  const counters: TransportCounters = {
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    oversizedSends: 0,
    malformedFrames: 0,
    handlerErrors: 0,
    streamsIn: 0,
    streamsOut: 0,
    watchEvents: 0,
  };
  let packetHandler: (data: Buffer, from: string) => void = () => {};
  let requestHandler: (data: Buffer, from: string) => Uint8Array | undefined = () => undefined;
  let goneHandler: (to: string, why: 'refused' | 'reset' | 'timeout') => void = () => {};
  let errorHandler: (error: Error) => void = () => {};
  let closed = false;
  // Sends still in flight: close() lets them go out first (a goodbye must not be cut off).
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const sockets = new Set<Socket>();
  const watches = new Map<string, Socket>();

  const guard = (what: string, fn: () => void) => {
    try {
      fn();
    } catch (error) {
      counters.handlerErrors++;
      log?.warn({ err: error }, `${what} handler failed`);
    }
  };

  udpSocket.on('message', (data, rinfo) => {
    counters.packetsIn++;
    counters.bytesIn += data.length;
    guard('Packet', () => packetHandler(data, join(rinfo.address, rinfo.port)));
  });
  udpSocket.on('error', (error) => {
    if (!closed) errorHandler(error);
  });
  tcpServer.on('error', (error) => {
    if (!closed) errorHandler(error);
  });

  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };

  tcpServer.on('connection', (socket) => {
    track(socket);
    counters.streamsIn++;
    socket.on('error', () => socket.destroy());
    socket.setTimeout(idleMs, () => {
      counters.malformedFrames++;
      socket.destroy();
    });
    const from = join(socket.remoteAddress ?? '?', socket.remotePort ?? 0);
    let buffer = Buffer.alloc(0);
    let kind: number | undefined;
    socket.on('data', (chunk) => {
      if (kind === KIND_WATCH) return;
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk]);
      if (kind === undefined) {
        kind = buffer[0];
        buffer = buffer.subarray(1);
        if (kind === KIND_WATCH) {
          // Held open with no timeout: its closing is the signal.
          socket.setTimeout(0);
          buffer = Buffer.alloc(0);
          return;
        }
        if (kind !== KIND_REQUEST) {
          counters.malformedFrames++;
          socket.destroy();
          return;
        }
      }
      if (buffer.length < 4) return;
      const length = buffer.readUInt32BE(0);
      if (length > maxStream) {
        counters.malformedFrames++;
        socket.destroy();
        return;
      }
      if (buffer.length < 4 + length) return;
      if (buffer.length > 4 + length) {
        counters.malformedFrames++;
        socket.destroy();
        return;
      }
      const frame = buffer.subarray(4, 4 + length);
      buffer = Buffer.alloc(0);
      socket.setTimeout(0);
      let reply: Uint8Array | undefined;
      guard('Request', () => {
        reply = requestHandler(frame, from);
      });
      if (reply === undefined) {
        counters.malformedFrames++;
        socket.destroy();
        return;
      }
      const header = Buffer.alloc(4);
      header.writeUInt32BE(reply.length);
      counters.bytesOut += reply.length + 4;
      socket.end(Buffer.concat([header, reply]));
    });
    socket.on('end', () => {
      if (kind !== KIND_WATCH && buffer.length > 0) counters.malformedFrames++;
    });
  });

  const bound = { host: bindHost, port };
  const address = { host: options.advertiseHost ?? defaultAdvertiseHost(bindHost), port: options.advertisePort ?? port };

  const request = (to: string, data: Uint8Array, { timeoutMs }: { timeoutMs: number }) =>
    new Promise<Result<Buffer, StreamError>>((resolve) => {
      const target = split(to);
      if (closed || !target) {
        resolve({ ok: false, error: { type: 'Failed', message: closed ? 'Transport closed' : `Bad address ${to}` } });
        return;
      }
      if (data.length > maxStream) {
        resolve({ ok: false, error: { type: 'Oversized', message: `${data.length} bytes is over the frame limit` } });
        return;
      }
      counters.streamsOut++;
      const socket = connect({ host: target.host, port: target.port });
      track(socket);
      let buffer = Buffer.alloc(0);
      let settled = false;
      const finish = (result: Result<Buffer, StreamError>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(() => finish({ ok: false, error: { type: 'Timeout', message: `No answer from ${to} within ${timeoutMs} ms` } }), timeoutMs);
      socket.once('connect', () => {
        const header = Buffer.alloc(5);
        header[0] = KIND_REQUEST;
        header.writeUInt32BE(data.length, 1);
        counters.bytesOut += data.length + 5;
        socket.write(Buffer.concat([header, data]));
      });
      socket.on('data', (chunk) => {
        buffer = Buffer.concat([buffer, chunk]);
        if (buffer.length < 4) return;
        const length = buffer.readUInt32BE(0);
        if (length > maxStream) return finish({ ok: false, error: { type: 'Oversized', message: `Reply from ${to} is over the frame limit` } });
        if (buffer.length >= 4 + length) {
          counters.bytesIn += 4 + length;
          finish({ ok: true, value: buffer.subarray(4, 4 + length) });
        }
      });
      socket.on('error', (error: NodeJS.ErrnoException) =>
        finish({
          ok: false,
          error: { type: error.code === 'ECONNREFUSED' ? 'Refused' : 'Failed', message: `${to}: ${error.code ?? error.message}` },
        }),
      );
      socket.on('close', () => finish({ ok: false, error: { type: 'Closed', message: `${to} closed the connection without answering` } }));
    });

  const openWatch = (to: string, reconnect: boolean) => {
    const target = split(to);
    if (!target || closed) return;
    const socket = connect({ host: target.host, port: target.port });
    track(socket);
    watches.set(to, socket);
    let connected = false;
    socket.setTimeout(reconnect ? 2000 : 10_000);
    socket.once('connect', () => {
      connected = true;
      socket.setTimeout(0);
      socket.setKeepAlive(true, 5000);
      socket.write(Buffer.of(KIND_WATCH));
    });
    socket.on('timeout', () => socket.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    socket.on('data', () => {});
    let failure: string | undefined;
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure = error.code ?? 'error';
    });
    socket.on('close', () => {
      if (closed || watches.get(to) !== socket) return;
      watches.delete(to);
      if (!connected) {
        // The first connection failed, or a reconnect after a drop: say what it means.
        if (reconnect) {
          counters.watchEvents++;
          guard('Peer gone', () => goneHandler(to, failure === 'ECONNREFUSED' ? 'refused' : 'timeout'));
        }
        return;
      }
      // Dropped: one immediate reconnect tells a dead process (refused) from a blip.
      counters.watchEvents++;
      openWatch(to, true);
    });
  };

  const transport: Transport = {
    address,
    bound,
    sendPacket(to, data) {
      if (closed) return;
      if (data.length > maxPacket) {
        counters.oversizedSends++;
        return;
      }
      const target = split(to);
      if (!target) return;
      counters.packetsOut++;
      counters.bytesOut += data.length;
      inFlight++;
      udpSocket.send(data, target.port, target.host, (error) => {
        if (error) log?.debug({ to, err: error }, 'UDP send failed');
        if (--inFlight === 0) drained?.();
      });
    },
    onPacket(handler) {
      packetHandler = handler;
    },
    request,
    onRequest(handler) {
      requestHandler = handler;
    },
    watch(to) {
      if (!watches.has(to)) openWatch(to, false);
    },
    unwatch(to) {
      const socket = watches.get(to);
      watches.delete(to);
      socket?.destroy();
    },
    onPeerGone(handler) {
      goneHandler = handler;
    },
    onError(handler) {
      errorHandler = handler;
    },
    counters: () => ({ ...counters }),
    async close() {
      if (closed) return;
      closed = true;
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          drained = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      watches.clear();
      for (const socket of sockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => tcpServer.close(() => resolve())),
        new Promise<void>((resolve) => udpSocket.close(() => resolve())),
      ]);
    },
  };
  return { ok: true, value: transport };
}
