/**
 * Peer watches: a TCP connection held open to each of a few members. When a
 * watched process dies its kernel closes the connection, so the watcher
 * learns at once; one reconnect then tells a dead process (refused) from a
 * dropped link.
 */
import { connect, type Socket } from 'node:net';
import { formatAddress, parseAddress, type Endpoint } from '../../address.js';
import { watchHello } from './framing.js';
import type { Shared } from './transport-config.js';
import type { PeerGoneHandler, PeerGoneReason } from './transport.js';

/** TCP keep-alive on watch connections, so a vanished host eventually errors instead of hanging forever. */
export const WATCH_KEEPALIVE_MS = 5000;
/**
 * Reconnects tried in a row while each is dropped right after connecting,
 * before reporting `reset`. More than one, because a reconnect racing a
 * process's death can land in the accept queue of its listener just before
 * the kernel closes that too.
 */
const WATCH_QUICK_RECONNECTS = 2;

const noop = () => {};

interface Watch {
  readonly to: string;
  readonly target: Endpoint;
  socket: Socket | undefined;
  timer: NodeJS.Timeout | undefined;
  /** Reported gone and not connected since: stay quiet until a connection is made again. */
  reported: boolean;
}

/** How one watch connection ended. */
interface Ending {
  /** When it connected; -1 if it never did. */
  readonly connectedAt: number;
  /** The error code that ended it, if any. */
  readonly failure: string | undefined;
  /** Reconnects in a row so far, each dropped right after connecting. */
  readonly reconnects: number;
}

function peerGoneReason(code: string | undefined): PeerGoneReason {
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EHOSTDOWN') return 'timeout';
  return 'reset';
}

/** The watches of one transport (see `Transport.watch` and `Transport.onPeerGone`). */
export class Watches {
  private readonly watches = new Map<string, Watch>();
  private handler: PeerGoneHandler | undefined;

  constructor(private readonly shared: Shared) {}

  watch(to: string): void {
    if (this.shared.closed() || this.watches.has(to)) return;
    const target = parseAddress(to);
    if (target === undefined) {
      this.shared.log.warn({ to }, 'Cannot watch a malformed address');
      return;
    }
    const watch: Watch = { to, target, socket: undefined, timer: undefined, reported: false };
    this.watches.set(to, watch);
    this.connect(watch, 0);
  }

  unwatch(to: string): void {
    const watch = this.watches.get(to);
    if (watch === undefined) return;
    this.watches.delete(to);
    stop(watch);
  }

  onPeerGone(handler: PeerGoneHandler): void {
    this.handler = handler;
  }

  /** Ends every watch, silently (the transport is closing). */
  stopAll(): void {
    for (const watch of this.watches.values()) stop(watch);
    this.watches.clear();
  }

  /**
   * `reconnects`: how many reconnects in a row this is, each after a
   * connection that dropped right after it was made (0 for a first
   * connection, a retry, or a reconnect after a connection that lasted).
   */
  private connect(watch: Watch, reconnects: number): void {
    const socket = connect({ host: watch.target.host, port: watch.target.port, noDelay: true });
    this.shared.track(socket);
    watch.socket = socket;
    let connectedAt = -1;
    let failure: string | undefined;
    watch.timer = setTimeout(() => {
      failure = 'ETIMEDOUT';
      socket.destroy();
    }, this.shared.config.streamTimeoutMs);

    socket.once('connect', () => {
      connectedAt = Date.now();
      clearTimeout(watch.timer);
      watch.timer = undefined;
      watch.reported = false;
      socket.setKeepAlive(true, WATCH_KEEPALIVE_MS);
      socket.write(watchHello(formatAddress(this.shared.address.host, this.shared.address.port)));
    });
    // The other side never writes; whatever comes is drained.
    socket.on('data', noop);
    socket.on('error', (error: NodeJS.ErrnoException) => {
      failure ??= error.code ?? 'EUNKNOWN';
    });
    socket.on('close', () => {
      // Unwatched, replaced or closed: nothing to say.
      if (this.shared.closed() || this.watches.get(watch.to) !== watch || watch.socket !== socket) return;
      this.ended(watch, { connectedAt, failure, reconnects });
    });
  }

  private ended(watch: Watch, { connectedAt, failure, reconnects }: Ending): void {
    clearTimeout(watch.timer);
    watch.timer = undefined;
    watch.socket = undefined;
    this.shared.stats.watchEvents++;
    if (connectedAt >= 0) {
      // Dropped: an immediate reconnect tells a dead process (refused) from a blip.
      const lasted = reconnects === 0 || Date.now() - connectedAt >= this.shared.config.streamTimeoutMs;
      if (lasted || reconnects < WATCH_QUICK_RECONNECTS) {
        this.shared.log.debug({ to: watch.to, failure }, 'Watch connection dropped; reconnecting');
        this.connect(watch, lasted ? 1 : reconnects + 1);
        return;
      }
    }
    const why = connectedAt >= 0 ? 'reset' : peerGoneReason(failure);
    if (!watch.reported) {
      watch.reported = true;
      this.peerGone(watch.to, why);
    }
    if (this.shared.closed() || this.watches.get(watch.to) !== watch) return; // the handler unwatched or closed
    watch.timer = setTimeout(() => {
      watch.timer = undefined;
      this.connect(watch, 0);
    }, this.shared.config.watchRetryMs);
  }

  private peerGone(to: string, why: PeerGoneReason): void {
    this.shared.log.debug({ to, why }, 'Watched peer seems gone');
    const handler = this.handler;
    if (handler === undefined) return;
    try {
      handler(to, why);
    } catch (error) {
      this.shared.handlerFailed('peer-gone', error);
    }
  }
}

function stop(watch: Watch): void {
  clearTimeout(watch.timer);
  watch.timer = undefined;
  watch.socket?.destroy();
  watch.socket = undefined;
}
