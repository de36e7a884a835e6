/**
 * Binding: UDP and TCP on one address and port (a free one for port 0, the
 * same for both), and the address to advertise when bound to a wildcard.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { createServer, isIP, type AddressInfo, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { formatAddress } from '../../address.js';
import type { Result } from '../../types.js';
import type { TransportError } from './transport.js';

/** With port 0, how many fresh ports to try when another process holds the UDP side of the one TCP got. */
const BIND_ATTEMPTS = 8;

/** A bind host as an IP address (a name is looked up once). */
export async function resolveBindHost(host: string, port: number): Promise<Result<string, TransportError>> {
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

/** The two bound sockets and their port. */
export interface Bound {
  readonly server: Server;
  readonly udp: UdpSocket;
  readonly port: number;
}

/** Binds TCP then UDP on the same port; `AddressInUse` or `BindFailed` naming `host:port` when it cannot. */
export async function bindBoth(host: string, port: number): Promise<Result<Bound, TransportError>> {
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

/** The host to advertise for `bindHost`: itself, or for a wildcard this machine's first outside address. */
export function defaultAdvertiseHost(bindHost: string): string {
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
