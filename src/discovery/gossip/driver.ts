/**
 * The one interpreter of the protocol core's effects. The core says what to
 * do (send these packets, open these push-pulls, time the next deadline,
 * these members changed, resolve these seeds, watch these addresses); the
 * driver does it through a small I/O interface. The real adapter gives it
 * sockets and a clock; the simulated network gives it a queue of simulated
 * deliveries. Either way the same code turns effects into I/O.
 */
import { encodePackets } from './wire/codec.js';
import { handle, nextDeadline, watching, type Core, type Effects, type Input, type MemberEvent } from './protocol/core.js';
import type { Ack, Ping, PushPull } from './wire/messages.js';

/** What the driver needs from the world around it. */
export interface GossipIO {
  /** The time now, in ms; never going back. */
  now(): number;
  /** Sends one encoded UDP packet (sealing, when there is any, is the I/O's business). */
  sendPacket(to: string, bytes: Uint8Array): void;
  /** Opens a push-pull to `to`; its answer comes back as a `streamReply` or `streamFailed` input. */
  openStream(to: string, msg: PushPull): void;
  /** Sends a ping over TCP to `to`; an ack comes back as a `streamAck` input, and a failure needs no input. */
  pingStream(to: string, msg: Ping): void;
  /** Looks the seeds up; the answer comes back as a `seedAddresses` input (at once or later). */
  resolveSeeds(seeds: readonly string[]): void;
  /** The one timer: feed a `tick` at or after `at` (`Infinity`: nothing is ever due). Replaces the previous one. */
  schedule(at: number): void;
  /**
   * Membership changes, in order, as the core observed them, then suspicions
   * started or cleared, then members just found reachable over TCP only.
   */
  report(events: readonly MemberEvent[], suspicion: Effects['suspicion'], udpUnreachable: readonly string[]): void;
  /** Starts keeping a liveness stream to `address`. */
  watch(address: string): void;
  /** Stops the liveness stream to `address`. */
  unwatch(address: string): void;
  /** The goodbye of a `leave` has gone out. */
  leaveDone(): void;
}

/**
 * Runs one core over a {@link GossipIO}: every input goes through
 * {@link GossipDriver.step}, and every effect comes out through the I/O.
 *
 * @example
 * const driver = new GossipDriver(core, io, { packetBytes: 1400 });
 * driver.step({ type: 'join', seeds: ['10.0.0.2:7946'] });
 * // later, from the I/O's timer: driver.step({ type: 'tick' })
 */
export class GossipDriver {
  /** Protocol messages sent over UDP, piggybacked ones included. */
  messagesSent = 0;
  private readonly watched = new Set<string>();
  /** Whom to watch, chosen by a step and not yet carried out. */
  private watchDue: readonly string[] | undefined;
  private stopped = false;

  constructor(
    readonly core: Core,
    private readonly io: GossipIO,
    private readonly options: { readonly packetBytes: number },
  ) {}

  /**
   * Feeds one input to the core and carries out what it asks. `answer`
   * receives the reply to an incoming push-pull or TCP ping before the rest
   * is done. Ignored once stopped.
   */
  step(input: Input, answer?: (reply: PushPull | Ack) => void): void {
    if (this.stopped) return;
    const fx = handle(this.core, input, this.io.now());
    const reply = fx.reply ?? fx.ack;
    if (reply && answer) answer(reply);
    this.apply(fx);
  }

  /** Carries out the core's standing choices (whom to watch, the next deadline) after its table was filled directly. */
  refresh(): void {
    this.watchDue = undefined;
    this.rewatch(watching(this.core));
    this.io.schedule(nextDeadline(this.core));
  }

  /** No more inputs, no more timers. */
  stop(): void {
    this.stopped = true;
  }

  private apply(fx: Effects): void {
    for (const packet of fx.packets) {
      this.messagesSent += packet.msgs.length;
      for (const bytes of encodePackets(packet.msgs, this.options.packetBytes)) this.io.sendPacket(packet.to, bytes);
    }
    for (const stream of fx.streams) this.io.openStream(stream.to, stream.msg);
    for (const ping of fx.tcpPings) this.io.pingStream(ping.to, ping.msg);
    if (fx.resolveSeeds) this.io.resolveSeeds(fx.resolveSeeds);
    if (fx.events.length > 0 || fx.suspicion.length > 0 || fx.udpUnreachable.length > 0) this.io.report(fx.events, fx.suspicion, fx.udpUnreachable);
    // After the news: a new member's watch connections open once what the report told subscribers
    // (queued as a microtask) is delivered, not ahead of it; of several steps in a row, the last
    // choice is the one carried out.
    if (fx.watch) {
      if (this.watchDue === undefined) queueMicrotask(() => this.rewatchDue());
      this.watchDue = fx.watch;
    }
    if (fx.leaveDone) this.io.leaveDone();
    if (!this.stopped) this.io.schedule(nextDeadline(this.core));
  }

  private rewatchDue(): void {
    const want = this.watchDue;
    this.watchDue = undefined;
    if (want && !this.stopped) this.rewatch(want);
  }

  private rewatch(addresses: readonly string[]): void {
    const want = new Set(addresses);
    for (const address of this.watched) if (!want.has(address)) this.io.unwatch(address);
    for (const address of want) if (!this.watched.has(address)) this.io.watch(address);
    this.watched.clear();
    for (const address of want) this.watched.add(address);
  }
}
