/**
 * A simulated network and clock for the protocol core: many members in one
 * process, packets delayed and lost per link, partitions, crashes, process
 * deaths and stalls, all from one seed, so a run repeats exactly. Packets go
 * through the real codec (encoded by the sender, decoded by the receiver), so
 * byte counts are real; push-pull frames are encoded to be counted and handed
 * over as values.
 *
 * Two kinds of death: `crash` is a host that stops answering (nothing is
 * refused; only probing and suspicion find it, the slow general case);
 * `kill` is a process that dies on a live host, which the members watching
 * it over TCP learn at once (the transport's `peerGone` hint).
 */
import { decodePacket, encodeMessage, encodeStream } from '../gossip/wire/codec.js';
import { lanProfile, type GossipConfig } from '../gossip/protocol/config.js';
import { bootstrap, createCore, isLeaving, memberOf, selfOf, type Core, type Input, type MemberEvent, type ProtocolStatus } from '../gossip/protocol/core.js';
import { GossipDriver, type GossipIO } from '../gossip/driver.js';
import type { Ack, Ping, PushPull } from '../gossip/wire/messages.js';
import { Rng } from '../rng.js';
import { EventQueue } from './event-queue.js';

/** How the simulated network behaves. */
export interface SimOptions {
  /** Seed of every random choice, the network's and the members'. Default 1. */
  readonly seed?: number;
  /** Probability that a UDP packet is lost, on any link without its own (see `setLinkLoss`). Default 0. */
  readonly loss?: number;
  /** Base one-way delay, ms. Default 1. */
  readonly delayMs?: number;
  /** Random extra one-way delay, uniform up to this, ms. Default 1. */
  readonly jitterMs?: number;
  /** Protocol tunables of every member. Default the `lan` profile. */
  readonly config?: GossipConfig;
  /** Keep every event observed in `events` (memory grows with the run). Default true. */
  readonly recordEvents?: boolean;
}

/** How a member joins the simulated network. */
export interface AddMemberOptions {
  /** Members (names) to join through, retried until one answers. */
  readonly seeds?: readonly string[];
  readonly metadata?: Record<string, string>;
  /** Its id, when it is not its name (e.g. an adapter's node id). */
  readonly id?: string;
  /** Hears what the member's core reports, as an adapter's backend would. */
  readonly onReport?: GossipIO['report'];
}

/** A membership event, who observed it, and when (simulated ms). */
export interface ObservedEvent {
  readonly at: number;
  readonly observer: string;
  readonly event: MemberEvent;
}

/** One simulated member: its core and what it has sent. */
export interface SimMember {
  /** Its address on the simulated network, and its key in `members`. */
  readonly name: string;
  /** Its member id: its name, unless given apart (an adapter's node id, or a restart of another member at a new address); the name is always its address. */
  readonly id: string;
  readonly core: Core;
  /** Runs the core's effects over the simulated network, as the adapter's does over sockets. */
  readonly driver: GossipDriver;
  /** The addresses (names) this member keeps a liveness stream to, as its core chose them. */
  readonly watching: Set<string>;
  /** The host is gone: no traffic, no timers. */
  crashed: boolean;
  /** The process died on a live host: connections to it are refused. Implies `crashed`. */
  killed: boolean;
  /** Paused until this time: inputs wait, timers are late. */
  stalledUntil: number;
  /** The time of the one tick job that is current; older ones are stale. */
  tickAt: number;
  /** UDP packets sent. */
  packetsSent: number;
  /** Protocol messages in them, piggybacked ones included. */
  readonly messagesSent: number;
  /** UDP bytes sent. */
  udpBytesSent: number;
  /** Push-pull frames sent (requests and replies). */
  streamsSent: number;
  /** Push-pull bytes sent. */
  streamBytesSent: number;
}

type Job =
  | { readonly kind: 'tick'; readonly to: string; readonly at: number }
  | { readonly kind: 'packet'; readonly to: string; readonly from: string; readonly bytes: Uint8Array }
  | { readonly kind: 'stream'; readonly to: string; readonly from: string; readonly msg: PushPull }
  | { readonly kind: 'reply'; readonly to: string; readonly from: string; readonly msg: PushPull }
  | { readonly kind: 'tcpPing'; readonly to: string; readonly from: string; readonly msg: Ping }
  | { readonly kind: 'streamFailed'; readonly to: string; readonly target: string; readonly error: string }
  | { readonly kind: 'hint'; readonly to: string; readonly input: Input };

/**
 * Many protocol cores on one simulated network and clock. Member addresses
 * are their names.
 *
 * @example
 * const sim = new SimNetwork({ seed: 7, loss: 0.05 });
 * sim.addConverged(50);
 * sim.crash('m3');
 * sim.runUntil(() => sim.seenByAll('m3', 'dead'), 30_000);
 * sim.events.filter((e) => e.event.type === 'fail').length; // 49
 */
export class SimNetwork {
  readonly config: GossipConfig;
  readonly members = new Map<string, SimMember>();
  /** Every event observed, when `recordEvents` (the default). */
  readonly events: ObservedEvent[] = [];
  /** Simulated time, ms. */
  now = 0;
  private readonly rng: Rng;
  private readonly queue = new EventQueue<Job>();
  private order = 0;
  private loss: number;
  private readonly linkLoss = new Map<string, number>();
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly recordEvents: boolean;
  /** Partition group of each member while partitioned; members in no group reach everyone. */
  private readonly groups = new Map<string, number>();
  private readonly listeners: ((e: ObservedEvent) => void)[] = [];

  constructor(options: SimOptions = {}) {
    this.rng = new Rng(options.seed ?? 1);
    this.loss = options.loss ?? 0;
    this.delayMs = options.delayMs ?? 1;
    this.jitterMs = options.jitterMs ?? 1;
    this.config = options.config ?? lanProfile();
    this.recordEvents = options.recordEvents ?? true;
  }

  /**
   * Adds a member now; with `seeds` (member names) it joins through them,
   * retrying until one answers.
   */
  addMember(name: string, options: AddMemberOptions = {}): SimMember {
    if (this.members.has(name)) throw new Error(`Member ${name} exists already`);
    const id = options.id ?? name;
    const core = createCore({ config: this.config, self: { id, address: name, metadata: options.metadata ?? {} }, seed: this.rng.int(2 ** 31), now: this.now });
    let driver: GossipDriver | undefined;
    const member: SimMember = {
      name,
      id,
      core,
      get driver() {
        return driver!;
      },
      watching: new Set(),
      crashed: false,
      killed: false,
      stalledUntil: 0,
      tickAt: Number.POSITIVE_INFINITY,
      packetsSent: 0,
      get messagesSent() {
        return driver!.messagesSent;
      },
      udpBytesSent: 0,
      streamsSent: 0,
      streamBytesSent: 0,
    };
    driver = new GossipDriver(core, this.io(member, options.onReport), { packetBytes: this.config.udpBufferSize });
    this.members.set(name, member);
    if (options.seeds && options.seeds.length > 0) driver.step({ type: 'join', seeds: options.seeds });
    driver.refresh();
    return member;
  }

  /** The simulated network as one member's driver sees it. */
  private io(m: SimMember, onReport: GossipIO['report'] | undefined): GossipIO {
    return {
      now: () => this.now,
      sendPacket: (to, bytes) => this.sendPacket(m, to, bytes),
      openStream: (to, msg) => this.openStream(m, to, msg),
      pingStream: (to, msg) => this.pingStream(m, to, msg),
      // Sim addresses are names: the seeds resolve to themselves, at once.
      resolveSeeds: (seeds) => m.driver.step({ type: 'seedAddresses', addresses: seeds }),
      schedule: (at) => this.reschedule(m, at),
      report: (events, suspicion, udpUnreachable) => {
        this.observe(m, events);
        onReport?.(events, suspicion, udpUnreachable);
      },
      watch: (address) => m.watching.add(address),
      unwatch: (address) => m.watching.delete(address),
      leaveDone: () => {},
    };
  }

  /**
   * Adds `n` members named `prefix0…` that already know each other, as a
   * cluster that has converged, with no join traffic. They share one
   * immutable record per member, so 10,000 of them fit in memory.
   * Returns their names.
   */
  addConverged(n: number, prefix = 'm'): string[] {
    const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const added = names.map((name) => this.addMember(name));
    const records = added.map((m) => selfOf(m.core));
    for (const m of added) {
      bootstrap(m.core, records);
      m.driver.refresh();
    }
    return names;
  }

  /** Calls `fn` for every event any member observes, as it happens. */
  onEvent(fn: (e: ObservedEvent) => void): void {
    this.listeners.push(fn);
  }

  /** The member called `name`; throws if there is none. */
  member(name: string): SimMember {
    const m = this.members.get(name);
    if (!m) throw new Error(`No member ${name}`);
    return m;
  }

  /** The host stops: nothing reaches it or leaves it, its timers stop, connections to it time out. */
  crash(name: string): void {
    this.member(name).crashed = true;
  }

  /**
   * The process dies on a live host: as `crash`, but connections to it are
   * refused, and the members watching it (as their cores chose: the
   * `watchPeers` members before it in name order) get a `peerGone` hint
   * after a connection reset and a refused reconnect, two round trips.
   */
  kill(name: string): void {
    const victim = this.member(name);
    victim.crashed = true;
    victim.killed = true;
    const watchers = [...this.members.values()].filter((w) => !w.crashed && !isLeaving(w.core) && w.watching.has(name)).map((w) => w.name);
    // Nearest first, going back around the ring, so the random delays are drawn in one fixed order.
    watchers.sort((a, b) => (a < name) !== (b < name) ? (a < name ? -1 : 1) : a < b ? 1 : -1);
    for (const watcher of watchers) {
      this.schedule(this.now + 2 * this.delay() + 2 * this.delay(), { kind: 'hint', to: watcher, input: { type: 'peerGone', id: victim.id } });
    }
  }

  /**
   * The member with id `id` comes back at another address (a rescheduled
   * pod: same id, new IP): its host at the old address stops answering, as in
   * `crash`, and a new process with the same id joins from `address` through
   * `seeds`. Returns the new member.
   */
  restartElsewhere(id: string, address: string, seeds: readonly string[]): SimMember {
    const old = this.running().find((m) => m.id === id);
    if (!old) throw new Error(`No running member ${id}`);
    old.crashed = true;
    return this.addMember(address, { id, seeds, metadata: selfOf(old.core).metadata });
  }

  /** The member stops processing for `ms` (a long GC pause, a stopped VM), then catches up on what arrived. */
  stall(name: string, ms: number): void {
    this.member(name).stalledUntil = this.now + ms;
  }

  /** A graceful leave. */
  leave(name: string): void {
    this.member(name).driver.step({ type: 'leave' });
  }

  /** New metadata for a member, published as it would be by the adapter. */
  setMetadata(name: string, metadata: Record<string, string>): void {
    this.member(name).driver.step({ type: 'setMetadata', metadata });
  }

  /** The loss probability of links without their own. */
  setLoss(loss: number): void {
    this.loss = loss;
  }

  /** The loss probability of the link between `a` and `b`, both ways; `undefined` goes back to the default. */
  setLinkLoss(a: string, b: string, loss: number | undefined): void {
    for (const key of [`${a}\n${b}`, `${b}\n${a}`]) {
      if (loss === undefined) this.linkLoss.delete(key);
      else this.linkLoss.set(key, loss);
    }
  }

  /** No traffic between members of different groups until `heal()`; members in no group reach everyone. */
  partition(...groups: readonly (readonly string[])[]): void {
    this.groups.clear();
    groups.forEach((group, i) => {
      for (const name of group) this.groups.set(name, i);
    });
  }

  /** Ends the partition. */
  heal(): void {
    this.groups.clear();
  }

  /** Runs the simulation for `ms` of simulated time. */
  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /**
   * Runs until `done()` holds or `maxMs` pass; returns whether it held.
   * `done` is checked every `checkEveryMs` of simulated time (it may be costly).
   */
  runUntil(done: () => boolean, maxMs: number, checkEveryMs = 10): boolean {
    const end = this.now + maxMs;
    if (done()) return true;
    let nextCheck = Math.min(end, this.now + checkEveryMs);
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.at > nextCheck) {
        this.now = nextCheck;
        if (done()) return true;
        if (nextCheck >= end) return false;
        nextCheck = Math.min(end, nextCheck + checkEveryMs);
        continue;
      }
      this.queue.pop();
      this.now = Math.max(this.now, next.at);
      this.run(next.job);
    }
  }

  /** The status `observer` holds for `name`, or undefined when it knows no such member. */
  statusOf(observer: string, name: string): ProtocolStatus | undefined {
    return memberOf(this.member(observer).core, name)?.status;
  }

  /** Whether `observer` holds `name` in `status`. */
  sees(observer: string, name: string, status: ProtocolStatus): boolean {
    return this.statusOf(observer, name) === status;
  }

  /** Whether every running member other than `name` holds it in `status`. */
  seenByAll(name: string, status: ProtocolStatus): boolean {
    for (const m of this.running()) if (m.name !== name && memberOf(m.core, name)?.status !== status) return false;
    return true;
  }

  /** Members neither crashed nor leaving. */
  running(): SimMember[] {
    return [...this.members.values()].filter((m) => !m.crashed && !isLeaving(m.core));
  }

  /** Running members that do not see every other running member alive, at its address. */
  unconverged(): string[] {
    const live = this.running();
    const wrong = (m: SimMember, o: SimMember) => {
      const seen = memberOf(m.core, o.id);
      return seen?.status !== 'alive' || seen.address !== o.name;
    };
    return live.filter((m) => live.some((o) => o !== m && wrong(m, o))).map((m) => m.name);
  }

  private schedule(at: number, job: Job): void {
    this.queue.push({ at, order: this.order++, job });
  }

  /** Keeps one current tick job per member, at its core's next deadline. */
  private reschedule(m: SimMember, deadline: number): void {
    const at = Math.max(this.now, deadline);
    if (at === m.tickAt || !Number.isFinite(at)) return;
    m.tickAt = at;
    this.schedule(at, { kind: 'tick', to: m.name, at });
  }

  private blocked(from: string, to: string): boolean {
    const a = this.groups.get(from);
    const b = this.groups.get(to);
    return a !== undefined && b !== undefined && a !== b;
  }

  private delay(): number {
    return this.delayMs + this.rng.next() * this.jitterMs;
  }

  private lossOf(from: string, to: string): number {
    return this.linkLoss.size === 0 ? this.loss : (this.linkLoss.get(`${from}\n${to}`) ?? this.loss);
  }

  private run(job: Job): void {
    const m = this.members.get(job.to);
    if (!m || m.crashed) return;
    if (m.stalledUntil > this.now) {
      // Paused: handle it when the pause ends, as a process would after a long GC or a stop.
      this.schedule(m.stalledUntil, job);
      return;
    }
    if (job.kind === 'tick') {
      if (job.at !== m.tickAt) return;
      m.tickAt = Number.POSITIVE_INFINITY;
    }
    const from = job.kind === 'stream' || job.kind === 'tcpPing' ? job.from : undefined;
    m.driver.step(this.inputOf(job), (reply) => this.answer(m, from!, reply));
  }

  /** The reply to an incoming push-pull or TCP ping, sent back to whoever opened the connection. */
  private answer(m: SimMember, to: string, reply: PushPull | Ack): void {
    if (reply.type === 'ack') {
      m.streamsSent++;
      m.streamBytesSent += encodeMessage(reply).length;
      this.schedule(this.now + this.delay(), { kind: 'hint', to, input: { type: 'streamAck', from: m.name, seq: reply.seq } });
      return;
    }
    this.countStream(m, reply);
    this.schedule(this.now + this.delay(), { kind: 'reply', to, from: m.name, msg: reply });
  }

  /** What a job delivers to its member's core. */
  private inputOf(job: Job): Input {
    switch (job.kind) {
      case 'tick':
        return { type: 'tick' };
      case 'packet': {
        const decoded = decodePacket(job.bytes, this.config.udpBufferSize);
        if (!decoded.ok) throw new Error(`The codec rejected its own packet: ${decoded.error.message}`);
        return { type: 'packet', from: job.from, msgs: decoded.value };
      }
      case 'stream':
        return { type: 'stream', from: job.from, msg: job.msg };
      case 'reply':
        return { type: 'streamReply', from: job.from, msg: job.msg };
      case 'tcpPing':
        return { type: 'streamPing', from: job.from, msg: job.msg };
      case 'streamFailed':
        return { type: 'streamFailed', to: job.target, error: job.error };
      case 'hint':
        return job.input;
    }
  }

  private countStream(m: SimMember, msg: PushPull): void {
    m.streamsSent++;
    m.streamBytesSent += encodeStream(msg).length;
  }

  private sendPacket(m: SimMember, to: string, bytes: Uint8Array): void {
    m.packetsSent++;
    m.udpBytesSent += bytes.length;
    if (this.blocked(m.name, to) || this.rng.next() < this.lossOf(m.name, to)) return;
    this.schedule(this.now + this.delay(), { kind: 'packet', to, from: m.name, bytes });
  }

  private openStream(m: SimMember, to: string, msg: PushPull): void {
    this.countStream(m, msg);
    const target = this.members.get(to);
    if (target?.killed) {
      // The host answers with a reset: refused after a round trip.
      this.schedule(this.now + 2 * this.delay(), { kind: 'streamFailed', to: m.name, target: to, error: 'refused' });
    } else if (!target || target.crashed || this.blocked(m.name, to)) {
      // Nothing answers: the connection times out.
      this.schedule(this.now + this.config.streamTimeoutMs, { kind: 'streamFailed', to: m.name, target: to, error: 'timeout' });
    } else {
      this.schedule(this.now + this.delay(), { kind: 'stream', to, from: m.name, msg });
    }
  }

  /** A ping over TCP: delivered unless the host is gone or cut off (UDP loss does not touch it); a failure needs no input. */
  private pingStream(m: SimMember, to: string, msg: Ping): void {
    m.streamsSent++;
    m.streamBytesSent += encodeMessage(msg).length;
    const target = this.members.get(to);
    if (!target || target.crashed || this.blocked(m.name, to)) return;
    // The connection's handshake, then the ping.
    this.schedule(this.now + 2 * this.delay(), { kind: 'tcpPing', to, from: m.name, msg });
  }

  private observe(m: SimMember, events: readonly MemberEvent[]): void {
    for (const event of events) {
      const observed: ObservedEvent = { at: this.now, observer: m.name, event };
      if (this.recordEvents) this.events.push(observed);
      for (const listener of this.listeners) listener(observed);
    }
  }
}
