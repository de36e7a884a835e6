/**
 * Incoming TCP connections: the kind byte, then either one request frame
 * answered by the request handler, or a watch held open. Bounded by
 * `maxStreamsIn`, `maxWatchersIn` and `maxBufferedBytes`; anything malformed
 * is counted and the connection dropped.
 */
import type { Socket } from 'node:net';
import { formatAddress, parseAddress } from '../../address.js';
import { FrameReader, frameHeader, HEADER_BYTES, KIND_REQUEST, KIND_WATCH, watcherAddress } from './framing.js';
import type { Shared } from './transport-config.js';
import type { RequestHandler } from './transport.js';
import { WATCH_KEEPALIVE_MS } from './watches.js';

type ServePhase = 'kind' | 'frame' | 'handling' | 'replied' | 'watch' | 'done';

const noop = () => {};

/**
 * Serves one accepted connection, or sheds it when `maxStreamsIn` are open.
 * `handler()` is read when a request is whole, so a handler set later is used.
 */
export function serve(shared: Shared, socket: Socket, handler: () => RequestHandler | undefined): void {
  const { stats } = shared;
  const from = formatAddress(socket.remoteAddress ?? 'unknown', socket.remotePort ?? 0);
  if (stats.streamsOpenIn >= shared.config.maxStreamsIn) {
    stats.streamsShed++;
    shared.log.debug({ from, open: stats.streamsOpenIn }, 'Too many incoming streams; dropped one');
    socket.destroy();
    return;
  }
  stats.streamsOpenIn++;
  new Incoming(shared, socket, from, handler).start();
}

/** One incoming connection, through its phases. */
class Incoming {
  private readonly reader: FrameReader;
  private phase: ServePhase = 'kind';
  /** Bytes of `maxBufferedBytes` this connection holds: its frame's declared length once the header is in. */
  private reserved = -1;
  private watching = false;

  constructor(
    private readonly shared: Shared,
    private readonly socket: Socket,
    private readonly from: string,
    private readonly handler: () => RequestHandler | undefined,
  ) {
    this.reader = new FrameReader(shared.config.maxStreamBytes);
  }

  start(): void {
    const { socket, shared } = this;
    const { streamTimeoutMs } = shared.config;
    // Whatever the connection held is given back once, when it closes.
    socket.once('close', () => {
      if (this.watching) shared.stats.watchersIn--;
      else shared.stats.streamsOpenIn--;
      if (this.reserved > 0) shared.stats.bufferedBytes -= this.reserved;
    });
    socket.setTimeout(streamTimeoutMs);
    socket.on('timeout', () => {
      if (this.phase === 'kind' || this.phase === 'frame') return this.malformed(`no whole frame within ${streamTimeoutMs} ms`);
      if (this.phase === 'handling') shared.handlerFailed('request', new Error(`No answer within ${streamTimeoutMs} ms`));
      this.phase = 'done';
      socket.destroy();
    });
    // 'close' follows every error and tells what it meant.
    socket.on('error', noop);
    socket.on('end', () => {
      if (this.phase === 'frame') return this.malformed('ended in the middle of a frame');
      // Half-closed after a whole request: still answer. Otherwise end our side too.
      if (this.phase === 'kind' || this.phase === 'watch') {
        this.phase = 'done';
        socket.end();
      }
    });
    socket.on('close', () => {
      if (this.phase === 'frame' && !shared.closed()) this.malformed('closed in the middle of a frame');
      this.phase = 'done';
    });
    socket.on('data', (chunk: Buffer) => this.data(chunk));
  }

  private malformed(why: string): void {
    if (this.phase === 'done') return;
    this.phase = 'done';
    this.shared.stats.malformedStreams++;
    this.shared.log.debug({ from: this.from, why }, 'Dropped a malformed stream');
    this.socket.destroy();
  }

  private data(chunk: Buffer): void {
    const { phase } = this;
    if (phase === 'watch' || phase === 'done') return;
    if (phase === 'handling' || phase === 'replied') return this.malformed('bytes after the request frame');
    let offset = 0;
    if (phase === 'kind') {
      const kind = chunk[0];
      if (kind === KIND_WATCH) return this.becomeWatch(chunk.subarray(1));
      if (kind !== KIND_REQUEST) return this.malformed(`unknown connection kind ${kind}`);
      this.phase = 'frame';
      offset = 1;
    }
    const reader = this.reader;
    const status = reader.push(chunk, offset);
    if (status === 'oversized') return this.malformed(`a frame of ${reader.declared} bytes is over the ${this.shared.config.maxStreamBytes} byte limit`);
    if (this.reserved < 0 && reader.declared >= 0 && !this.reserve(reader.declared)) return;
    if (status === 'more') return;
    if (reader.overrun) return this.malformed('bytes after the request frame');
    this.phase = 'handling';
    this.shared.stats.bytesIn += HEADER_BYTES + reader.declared;
    void this.answer(reader.take());
  }

  /** Holds `declared` bytes of `maxBufferedBytes`, or drops the connection when they would pass it. */
  private reserve(declared: number): boolean {
    const { stats, config, log } = this.shared;
    if (stats.bufferedBytes + declared > config.maxBufferedBytes) {
      this.phase = 'done';
      stats.streamsShed++;
      log.debug({ from: this.from, declared, buffered: stats.bufferedBytes }, 'Too many frame bytes in flight; dropped a stream');
      this.socket.destroy();
      return false;
    }
    this.reserved = declared;
    stats.bufferedBytes += declared;
    return true;
  }

  private becomeWatch(hello: Buffer): void {
    const { stats, config, log } = this.shared;
    stats.streamsOpenIn--;
    this.watching = true;
    stats.watchersIn++;
    const member = this.fromMember(hello);
    if (stats.watchersIn > config.maxWatchersIn && !(member && this.evictOutsider())) {
      // Refused rather than evicting an older one: watchers already held are the ring's, or outsiders' while no member needs the slot.
      this.phase = 'done';
      stats.watchersRefused++;
      log.debug({ from: this.from, held: config.maxWatchersIn }, 'Too many watchers; closed one');
      this.socket.destroy();
      return;
    }
    const held = { member, evict: () => this.socket.destroy() };
    this.shared.watchers.add(held);
    this.socket.once('close', () => this.shared.watchers.delete(held));
    // Held open with no timeout: its closing is the signal. Anything sent on it is drained.
    // Keep-alive, so a watcher whose host vanished does not hold the descriptor forever.
    this.phase = 'watch';
    this.socket.setTimeout(0);
    this.socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
  }

  /** Whether the watcher names a live member's address, on the host it connects from (an outsider elsewhere cannot borrow one). */
  private fromMember(hello: Buffer): boolean {
    const claimed = watcherAddress(hello);
    const endpoint = claimed === undefined ? undefined : parseAddress(claimed);
    const host = (this.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    return endpoint !== undefined && endpoint.host.replace(/^::ffff:/, '') === host && this.shared.isMember(claimed!);
  }

  /** Closes the oldest watch held by a non-member, for a member's; false when every slot is a member's. */
  private evictOutsider(): boolean {
    for (const held of this.shared.watchers) {
      if (held.member) continue;
      this.shared.watchers.delete(held);
      held.evict();
      this.shared.stats.watchersEvicted++;
      this.shared.log.debug({ for: this.from }, "Closed an outsider's watch for a member's");
      return true;
    }
    return false;
  }

  private async answer(frame: Buffer): Promise<void> {
    const handler = this.handler();
    let reply: Uint8Array | undefined;
    try {
      reply = handler === undefined ? undefined : await handler(frame, this.from);
    } catch (error) {
      if (this.phase !== 'handling') return;
      this.phase = 'done';
      this.shared.handlerFailed('request', error);
      this.socket.destroy();
      return;
    }
    // Timed out, or the caller went away, while the handler worked.
    if (this.phase !== 'handling') return;
    this.reply(reply);
  }

  private reply(reply: Uint8Array | undefined): void {
    const { socket, shared } = this;
    const limit = shared.config.maxStreamBytes;
    if (reply === undefined) {
      this.phase = 'done';
      socket.end();
      return;
    }
    if (reply.length > limit) {
      this.phase = 'done';
      shared.stats.oversizedSends++;
      shared.log.warn({ from: this.from, bytes: reply.length, limit }, 'Not sending an answer over the frame limit');
      socket.destroy();
      return;
    }
    this.phase = 'replied';
    socket.cork();
    socket.write(frameHeader(undefined, reply.length));
    socket.write(reply);
    socket.uncork();
    socket.end();
    shared.stats.bytesOut += HEADER_BYTES + reply.length;
  }
}
