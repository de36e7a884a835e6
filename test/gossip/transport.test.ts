/**
 * The gossip transport over real sockets on loopback: UDP both ways, binding
 * and its errors, request/response frames and bad input on TCP, watch streams
 * to a real child process killed with SIGKILL, and a close that leaves no
 * handle behind; and the bounds on what an outsider can pin before any key
 * is checked (idle watchers, open connections, large frames sent slowly),
 * read from the transport's own counters.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { openTransport } from '../../src/discovery/gossip/net/socket-transport.js';
import type { PeerGoneReason, Transport, TransportOptions } from '../../src/discovery/gossip/net/transport.js';
import { eventually, sleep, unwrap } from '../support/index.js';

const HOST = '127.0.0.1';
const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(options: TransportOptions = {}): Promise<Transport> {
  const transport = unwrap(await openTransport({ bindHost: HOST, ...options }));
  cleanups.push(() => transport.close());
  return transport;
}

const addressOf = (transport: Transport) => `${transport.address.host}:${transport.address.port}`;

/** Reports a transport's watch gives, as `to why` strings. */
function goneLog(transport: Transport): string[] {
  const gone: string[] = [];
  transport.onPeerGone((to: string, why: PeerGoneReason) => gone.push(`${to} ${why}`));
  return gone;
}

/** A plain TCP listener on loopback that counts connections; `dropEvery` destroys each at once. */
async function listener(options: { port?: number; dropEvery?: boolean } = {}) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.resume();
    if (options.dropEvery) socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, HOST, resolve));
  const stop = async () => {
    for (const socket of sockets) socket.destroy();
    if (server.listening) await new Promise((resolve) => server.close(resolve));
  };
  cleanups.push(stop);
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    sockets,
    stop,
  };
}

/** A port nothing listens on (it did a moment ago). */
async function closedPort(): Promise<number> {
  const { port, stop } = await listener();
  await stop();
  return port;
}

/** A child process with a tiny TCP server; it prints its port, then one line per connection. */
async function childListener(backlog = 511) {
  const script = `
    const server = require('node:net').createServer((socket) => {
      socket.on('error', () => {});
      socket.resume();
      process.stdout.write('conn\\n');
    });
    server.listen({ port: 0, host: '${HOST}', backlog: ${backlog} }, () => process.stdout.write('port ' + server.address().port + '\\n'));
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let port = 0;
  let connections = 0;
  let buffer = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let at: number;
    while ((at = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      if (line.startsWith('port ')) port = Number(line.slice(5));
      if (line === 'conn') connections++;
    }
  });
  await eventually(() => port > 0, 10_000, 'the child to listen');
  return { child, address: `${HOST}:${port}`, port, connections: () => connections, exited };
}

/**
 * Connects and writes `bytes`; then `end` ends the connection, `reset`
 * resets it, `stay` leaves it open. Resolves when the connection is closed.
 */
function rawTcp(port: number, bytes: Buffer, then: 'end' | 'reset' | 'stay'): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, HOST, () => {
      if (bytes.length > 0) socket.write(bytes);
      if (then === 'end') socket.end();
      if (then === 'reset') socket.write(Buffer.alloc(0), () => socket.resetAndDestroy());
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.resume();
    cleanups.push(() => socket.destroy());
  });
}

function frame(kind: number, length: number, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = kind;
  header.writeUInt32BE(length, 1);
  return Buffer.concat([header, body]);
}

describe('UDP', () => {
  it('two transports exchange packets both ways', async () => {
    const a = await open();
    const b = await open();
    const atA: string[] = [];
    const atB: string[] = [];
    a.onPacket((data, from) => atA.push(`${from} ${data.toString()}`));
    b.onPacket((data, from) => atB.push(`${from} ${data.toString()}`));

    a.sendPacket(addressOf(b), Buffer.from('hello b'));
    b.sendPacket(addressOf(a), Buffer.from('hello a'));
    await eventually(() => atA.length === 1 && atB.length === 1, 5000, 'a packet each way');

    expect(atB).toEqual([`${addressOf(a)} hello b`]);
    expect(atA).toEqual([`${addressOf(b)} hello a`]);
    expect(a.counters()).toMatchObject({ packetsOut: 1, packetsIn: 1, bytesOut: 7, bytesIn: 7 });
  });

  it('refuses sends over maxPacketBytes and drops datagrams over maxIncomingPacketBytes', async () => {
    const a = await open({ maxPacketBytes: 100 });
    const b = await open({ maxIncomingPacketBytes: 50 });
    const sizes: number[] = [];
    b.onPacket((data) => sizes.push(data.length));

    a.sendPacket(addressOf(b), Buffer.alloc(101));
    expect(a.counters()).toMatchObject({ oversizedSends: 1, packetsOut: 0 });

    a.sendPacket(addressOf(b), Buffer.alloc(60));
    await eventually(() => b.counters().oversizedPackets === 1, 5000, 'the oversized packet to be counted');
    a.sendPacket(addressOf(b), Buffer.alloc(10));
    await eventually(() => sizes.length === 1, 5000, 'the small packet');
    expect(sizes).toEqual([10]);
  });

  it('a packet handler that throws is counted, and the next packet is still delivered', async () => {
    const a = await open();
    const b = await open();
    const seen: string[] = [];
    b.onPacket((data) => {
      seen.push(data.toString());
      if (data.toString() === 'boom') throw new Error('handler bug');
    });
    a.sendPacket(addressOf(b), Buffer.from('boom'));
    await eventually(() => b.counters().handlerErrors === 1, 5000, 'the handler error to be counted');
    a.sendPacket(addressOf(b), Buffer.from('fine'));
    await eventually(() => seen.includes('fine'), 5000, 'the next packet');
    expect(b.counters().handlerErrors).toBe(1);
  });
});

describe('binding', () => {
  it('port 0 binds a real port, the same for UDP and TCP, and address tells it', async () => {
    const transport = await open({ bindPort: 0 });
    const { port } = transport.bound;
    expect(port).toBeGreaterThan(0);
    expect(transport.address).toEqual({ host: HOST, port });

    const got: Buffer[] = [];
    transport.onPacket((data) => got.push(data));
    const udp = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
    udp.send(Buffer.from('x'), port, HOST);
    await eventually(() => got.length === 1, 5000, 'a datagram on the advertised port');

    transport.onRequest((data) => data);
    const echoed = unwrap(await transport.request(addressOf(transport), Buffer.from('y'), { timeoutMs: 5000 }));
    expect(echoed.toString()).toBe('y');
  });

  it('a TCP port in use is AddressInUse naming host:port', async () => {
    const { port } = await listener();
    const result = await openTransport({ bindHost: HOST, bindPort: port });
    expect(result.ok).toBe(false);
    if (result.ok) return void (await result.value.close());
    expect(result.error).toMatchObject({ type: 'AddressInUse', address: `${HOST}:${port}` });
    expect(result.error.message).toContain(`${HOST}:${port}`);
  });

  it('a UDP port in use is AddressInUse naming host:port', async () => {
    const udp = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => udp.close(() => resolve())));
    await new Promise<void>((resolve) => udp.bind(0, HOST, resolve));
    const { port } = udp.address();
    const result = await openTransport({ bindHost: HOST, bindPort: port });
    expect(result.ok).toBe(false);
    if (result.ok) return void (await result.value.close());
    expect(result.error).toMatchObject({ type: 'AddressInUse', address: `${HOST}:${port}` });
    expect(result.error.message).toContain(`${HOST}:${port}`);
  });

  it('an address this machine does not have is BindFailed', async () => {
    // 192.0.2.0/24 is reserved for documentation: never a local address.
    const result = await openTransport({ bindHost: '192.0.2.1', bindPort: 0 });
    expect(result.ok).toBe(false);
    if (result.ok) return void (await result.value.close());
    expect(result.error).toMatchObject({ type: 'BindFailed', address: '192.0.2.1:0' });
  });

  it('an option out of range is InvalidOption naming it', async () => {
    const result = await openTransport({ bindHost: HOST, bindPort: 70_000 });
    expect(result.ok).toBe(false);
    if (result.ok) return void (await result.value.close());
    expect(result.error).toMatchObject({ type: 'InvalidOption', option: 'bindPort', value: 70_000 });
  });

  it('advertises what it is told, and never the wildcard', async () => {
    const told = await open({ advertiseHost: '10.1.2.3', advertisePort: 9999 });
    expect(told.address).toEqual({ host: '10.1.2.3', port: 9999 });
    expect(told.bound.host).toBe(HOST);

    const wildcard = await open({ bindHost: '0.0.0.0' });
    expect(wildcard.bound.host).toBe('0.0.0.0');
    expect(wildcard.address.host).not.toBe('0.0.0.0');
    expect(wildcard.address.port).toBe(wildcard.bound.port);
  });
});

describe('requests', () => {
  it('a request gets the one frame the handler answers, sync or async', async () => {
    const server = await open();
    const client = await open();
    const froms: string[] = [];
    server.onRequest(async (data, from) => {
      froms.push(from);
      await sleep(1);
      return Buffer.concat([Buffer.from('re:'), data]);
    });
    const reply = unwrap(await client.request(addressOf(server), Buffer.from('ping'), { timeoutMs: 5000 }));
    expect(reply.toString()).toBe('re:ping');
    expect(froms).toHaveLength(1);
    expect(froms[0]).toMatch(/^127\.0\.0\.1:\d+$/);

    server.onRequest((data) => data.subarray(0, 2));
    expect(unwrap(await client.request(addressOf(server), Buffer.from('sync'))).toString()).toBe('sy');
    expect(client.counters().streamsOut).toBe(2);
    expect(server.counters().streamsIn).toBe(2);
  });

  it('carries a 1 MiB frame both ways', async () => {
    const server = await open();
    const client = await open();
    server.onRequest((data) => Buffer.from(data).reverse());
    const big = randomBytes(1024 * 1024);
    const reply = unwrap(await client.request(addressOf(server), big, { timeoutMs: 10_000 }));
    expect(reply.length).toBe(big.length);
    expect(reply.equals(Buffer.from(big).reverse())).toBe(true);
    expect(server.counters().malformedStreams).toBe(0);
  });

  it('counts and drops oversized, truncated, trailing and random input, and keeps serving', async () => {
    // The idle timeout is long here, so each of these is caught for what it is, not for idling.
    const server = await open({ maxStreamBytes: 1024, streamTimeoutMs: 20_000 });
    const client = await open();
    server.onRequest((data) => data);
    const port = server.bound.port;
    const malformed = () => server.counters().malformedStreams;

    await rawTcp(port, frame(0x52, 2048, randomBytes(100)), 'stay');
    expect(malformed()).toBe(1);

    await rawTcp(port, frame(0x52, 100, randomBytes(10)), 'end');
    await eventually(() => malformed() === 2, 5000, 'the truncated frame, ended, to be counted');

    await rawTcp(port, frame(0x52, 100, randomBytes(10)), 'reset');
    await eventually(() => malformed() === 3, 5000, 'the truncated frame, reset, to be counted');

    await rawTcp(port, frame(0x52, 2, Buffer.from('ab!!')), 'stay');
    await eventually(() => malformed() === 4, 5000, 'the trailing bytes to be counted');

    const garbage = randomBytes(256);
    if (garbage[0] === 0x52 || garbage[0] === 0x57) garbage[0] = 0;
    await rawTcp(port, garbage, 'stay');
    await eventually(() => malformed() === 5, 5000, 'the random bytes to be counted');

    const reply = unwrap(await client.request(addressOf(server), Buffer.from('still here'), { timeoutMs: 5000 }));
    expect(reply.toString()).toBe('still here');
    expect(malformed()).toBe(5);
    expect(server.counters().handlerErrors).toBe(0);
  });

  it('drops a silent connection after streamTimeoutMs, and keeps serving', async () => {
    const server = await open({ streamTimeoutMs: 300 });
    const client = await open();
    server.onRequest((data) => data);
    await rawTcp(server.bound.port, Buffer.alloc(0), 'stay');
    expect(server.counters().malformedStreams).toBe(1);

    const reply = unwrap(await client.request(addressOf(server), Buffer.from('still here'), { timeoutMs: 5000 }));
    expect(reply.toString()).toBe('still here');
    expect(server.counters().malformedStreams).toBe(1);
  });

  it('a request to a port nothing listens on is Refused', async () => {
    const client = await open();
    const port = await closedPort();
    const result = await client.request(`${HOST}:${port}`, Buffer.from('anyone?'), { timeoutMs: 10_000 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatchObject({ type: 'Refused', to: `${HOST}:${port}`, code: 'ECONNREFUSED' });
  });

  it('a handler that throws or answers nothing closes the connection; the caller gets Closed', async () => {
    const server = await open();
    const client = await open();
    server.onRequest(() => {
      throw new Error('handler bug');
    });
    const thrown = await client.request(addressOf(server), Buffer.from('a'), { timeoutMs: 5000 });
    expect(thrown.ok).toBe(false);
    expect(server.counters().handlerErrors).toBe(1);

    server.onRequest(() => undefined);
    const nothing = await client.request(addressOf(server), Buffer.from('b'), { timeoutMs: 5000 });
    expect(nothing.ok ? 'answered' : nothing.error.type).toBe('Closed');
    expect(server.counters().malformedStreams).toBe(0);
  });

  it('times out, aborts, and refuses frames over the limit either way', async () => {
    const server = await open({ streamTimeoutMs: 10_000 });
    const client = await open({ maxStreamBytes: 10 });
    const to = addressOf(server);
    server.onRequest(() => new Promise<undefined>(() => {}));

    const slow = await client.request(to, Buffer.from('x'), { timeoutMs: 200 });
    expect(slow.ok ? 'answered' : slow.error.type).toBe('Timeout');

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const aborted = await client.request(to, Buffer.from('x'), { timeoutMs: 10_000, signal: controller.signal });
    expect(aborted.ok ? 'answered' : aborted.error.type).toBe('Aborted');

    const tooBig = await client.request(to, Buffer.alloc(11), { timeoutMs: 5000 });
    expect(tooBig.ok ? 'answered' : tooBig.error.type).toBe('Oversized');
    expect(client.counters().oversizedSends).toBe(1);

    server.onRequest(() => Buffer.alloc(100));
    const bigAnswer = await client.request(to, Buffer.from('x'), { timeoutMs: 5000 });
    expect(bigAnswer.ok ? 'answered' : bigAnswer.error.type).toBe('Oversized');
  });

  it('close settles requests still waiting with Closed', async () => {
    const server = await open();
    const client = await open();
    server.onRequest(() => new Promise<undefined>(() => {}));
    const waiting = client.request(addressOf(server), Buffer.from('x'), { timeoutMs: 10_000 });
    await eventually(() => server.counters().streamsIn === 1, 5000, 'the request to arrive');
    await client.close();
    const result = await waiting;
    expect(result.ok ? 'answered' : result.error.type).toBe('Closed');
  });
});

describe('watch', () => {
  it('reports a watched process killed with SIGKILL as refused', async () => {
    const peer = await childListener();
    const watcher = await open();
    const gone = goneLog(watcher);
    watcher.watch(peer.address);
    await eventually(() => peer.connections() === 1, 5000, 'the watch to connect');

    peer.child.kill('SIGKILL');
    await eventually(() => gone.length > 0, 1000, 'the peer to be reported gone');
    expect(gone).toEqual([`${peer.address} refused`]);
    expect(watcher.counters().watchEvents).toBeGreaterThanOrEqual(1);
  });

  it('does not report after unwatch or close', async () => {
    const peer = await childListener();
    const unwatched = await open();
    const closed = await open();
    const control = await open();
    const gone = { unwatched: goneLog(unwatched), closed: goneLog(closed), control: goneLog(control) };
    for (const transport of [unwatched, closed, control]) transport.watch(peer.address);
    await eventually(() => peer.connections() === 3, 5000, 'three watches to connect');

    unwatched.unwatch(peer.address);
    await closed.close();
    peer.child.kill('SIGKILL');
    await eventually(() => gone.control.length > 0, 5000, 'the control watcher to report');
    await sleep(200);
    expect(gone).toEqual({ unwatched: [], closed: [], control: [`${peer.address} refused`] });
  });

  it('a watch that cannot connect in time is reported timeout', async () => {
    // A stopped process whose accept queue is full: the kernel drops new SYNs, so connecting hangs.
    const peer = await childListener(1);
    peer.child.kill('SIGSTOP');
    for (let i = 0; i < 4; i++) {
      const filler = connect(peer.port, HOST);
      filler.on('error', () => {});
      cleanups.push(() => filler.destroy());
    }
    await sleep(100);
    const watcher = await open({ streamTimeoutMs: 300 });
    const gone = goneLog(watcher);
    watcher.watch(peer.address);
    await eventually(() => gone.length > 0, 5000, 'the watch to time out');
    expect(gone).toEqual([`${peer.address} timeout`]);
  });

  it('watching one address twice is one connection', async () => {
    const peer = await listener();
    const watcher = await open();
    const to = `${HOST}:${peer.port}`;
    watcher.watch(to);
    watcher.watch(to);
    await eventually(() => peer.connections() >= 1, 5000, 'the watch to connect');
    await sleep(200);
    expect(peer.connections()).toBe(1);
  });

  it('a dropped connection to a live listener reconnects silently', async () => {
    const peer = await listener();
    const watcher = await open();
    const gone = goneLog(watcher);
    watcher.watch(`${HOST}:${peer.port}`);
    await eventually(() => peer.sockets.size === 1, 5000, 'the watch to connect');

    for (const socket of peer.sockets) socket.destroy();
    await eventually(() => peer.connections() === 2 && peer.sockets.size === 1, 5000, 'the watch to reconnect');
    await sleep(200);
    expect(gone).toEqual([]);
    expect(watcher.counters().watchEvents).toBe(1);
  });

  it('a listener that keeps dropping reconnects at once is reported reset', async () => {
    const peer = await listener({ dropEvery: true });
    const watcher = await open();
    const gone = goneLog(watcher);
    watcher.watch(`${HOST}:${peer.port}`);
    await eventually(() => gone.length > 0, 5000, 'the peer to be reported');
    expect(gone).toEqual([`${HOST}:${peer.port} reset`]);
    // The first connection and two quick reconnects, then no more until the retry.
    expect(peer.connections()).toBe(3);
  });

  it('a first connection that is refused is reported; the watch then retries quietly and resumes', async () => {
    const port = await closedPort();
    const to = `${HOST}:${port}`;
    const watcher = await open({ watchRetryMs: 50 });
    const gone = goneLog(watcher);
    watcher.watch(to);
    await eventually(() => gone.length > 0, 5000, 'the refused watch to be reported');
    await sleep(300);
    // Several quiet retries were refused in the meantime: still one report.
    expect(gone).toEqual([`${to} refused`]);

    const peer = await listener({ port });
    await eventually(() => peer.sockets.size === 1, 5000, 'the watch to resume');
    await peer.stop();
    await eventually(() => gone.length === 2, 5000, 'the second loss to be reported');
    expect(gone).toEqual([`${to} refused`, `${to} refused`]);
  });
});

describe('close', () => {
  const kinds = ['TCPServerWrap', 'TCPSocketWrap', 'UDPWrap', 'Timeout'] as const;
  const handles = () => {
    const active = process.getActiveResourcesInfo();
    return Object.fromEntries(kinds.map((kind) => [kind, active.filter((k) => k === kind).length]));
  };
  /** Kinds with more handles now than in `before`. */
  const added = (before: Record<string, number>) => kinds.filter((kind) => handles()[kind]! > before[kind]!);

  it('leaves no handle open, is idempotent, and makes later calls no-ops', async () => {
    const before = handles();
    const a = unwrap(await openTransport({ bindHost: HOST }));
    const b = unwrap(await openTransport({ bindHost: HOST }));
    b.onRequest(() => new Promise<undefined>(() => {}));
    const got: string[] = [];
    b.onPacket((data) => got.push(data.toString()));
    a.watch(addressOf(b));
    b.watch(addressOf(a));
    // A watch from outside: only a's close can end it.
    const outsider = rawTcp(a.bound.port, Buffer.of(0x57), 'stay');
    const waiting = a.request(addressOf(b), Buffer.from('x'), { timeoutMs: 10_000 });
    a.sendPacket(addressOf(b), Buffer.from('bye'));
    await eventually(() => got.length === 1 && a.counters().streamsIn === 2 && b.counters().streamsIn === 2, 5000, 'traffic to flow');
    expect(added(before)).toEqual(['TCPServerWrap', 'TCPSocketWrap', 'UDPWrap', 'Timeout']);

    const closing = a.close();
    expect(a.close()).toBe(closing);
    await Promise.all([closing, b.close(), b.close()]);
    expect((await waiting).ok).toBe(false);
    await outsider;
    expect(a.counters().malformedStreams).toBe(0);

    a.sendPacket(addressOf(b), Buffer.from('after'));
    a.watch(addressOf(b));
    expect((await a.request(addressOf(b), Buffer.from('x'))).ok).toBe(false);
    expect(a.counters().packetsOut).toBe(1);
    await eventually(() => added(before).length === 0, 5000, 'every handle to be released');
  });
});

/** Raw client connections that each write `hello` once; `closed()` counts those the server has closed. */
async function clients(port: number, count: number, hello: Buffer) {
  const sockets: Socket[] = [];
  let closed = 0;
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve) => {
          const socket = connect({ host: HOST, port }, () => socket.write(hello, () => resolve()));
          socket.on('error', () => resolve());
          socket.on('close', () => {
            closed++;
            resolve();
          });
          socket.resume();
          sockets.push(socket);
        }),
    ),
  );
  const destroy = () => {
    for (const socket of sockets) socket.destroy();
  };
  cleanups.push(destroy);
  return { closed: () => closed, destroy };
}

/** 'R', then a header declaring `declared` bytes, then only `sent` of them. */
function stalledFrame(declared: number, sent: number): Buffer {
  const header = Buffer.alloc(5);
  header[0] = 0x52;
  header.writeUInt32BE(declared, 1);
  return Buffer.concat([header, Buffer.alloc(sent, 7)]);
}

describe('resource bounds', () => {
  it('holds at most maxWatchersIn idle watch connections and closes the rest at once', async () => {
    const server = await open({ maxWatchersIn: 6 });
    const flood = await clients(server.bound.port, 200, Buffer.from('W'));
    await eventually(() => server.counters().watchersRefused === 194, 10_000, 'the excess watchers to be refused');
    await eventually(() => flood.closed() === 194, 10_000, 'the refused watchers to see their connection closed');
    expect(server.counters()).toMatchObject({ watchersIn: 6, socketsOpen: 6 });

    flood.destroy();
    await eventually(() => server.counters().socketsOpen === 0, 5000, 'the held descriptors to be given back');
    expect(server.counters().watchersIn).toBe(0);
    // Room again for the ring's own watchers.
    const client = await open();
    client.watch(`${server.address.host}:${server.address.port}`);
    await eventually(() => server.counters().watchersIn === 1, 5000, 'a new watcher to be held');
  });

  it('bounds open request connections and the bytes of frames being read, and gives them back', async () => {
    const limit = 1024 * 1024;
    const server = await open({ maxStreamBytes: limit, maxBufferedBytes: 4 * limit, maxStreamsIn: 64, streamTimeoutMs: 1500 });
    server.onRequest((data) => data);
    // 48 frames just under the limit, each stalled after 64 KiB: only four fit the byte bound.
    const stalled = await clients(server.bound.port, 48, stalledFrame(limit - 1, 64 * 1024));
    await eventually(() => server.counters().streamsShed === 44, 10_000, 'the frames past the byte bound to be shed');
    const held = server.counters();
    expect(held.bufferedBytes).toBe(4 * (limit - 1));
    expect(held.bufferedBytes).toBeLessThanOrEqual(4 * limit);
    expect(held.streamsOpenIn).toBe(4);
    // The server counts a shed connection before its client sees the close.
    await eventually(() => stalled.closed() >= 44, 5000, 'the shed clients to see their connection closed');

    // Stalled past streamTimeoutMs, the rest are dropped and their bytes released.
    await eventually(() => server.counters().bufferedBytes === 0, 10_000, 'the stalled frames to be released');
    expect(server.counters().streamsOpenIn).toBe(0);
    const client = await open({ maxStreamBytes: limit });
    const answer = await client.request(`${server.address.host}:${server.address.port}`, Buffer.alloc(limit - 1, 1));
    expect(unwrap(answer).length).toBe(limit - 1);

    // Connections that send nothing past the kind byte count against maxStreamsIn.
    const idle = await clients(server.bound.port, 100, Buffer.from('R'));
    await eventually(() => server.counters().streamsShed === 44 + 36, 10_000, 'the connections past maxStreamsIn to be shed');
    expect(server.counters().streamsOpenIn).toBe(64);
    idle.destroy();
    await eventually(() => server.counters().socketsOpen === 0, 5000, 'every connection to be given back');
  });

  it('refuses a byte bound below one frame', async () => {
    const opened = await openTransport({ bindHost: HOST, maxStreamBytes: 1024, maxBufferedBytes: 1000 });
    expect(opened.ok ? 'opened' : opened.error).toMatchObject({ type: 'InvalidOption', option: 'maxBufferedBytes', value: 1000 });
  });
});
