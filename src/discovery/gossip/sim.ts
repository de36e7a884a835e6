/**
 * A simulated network and clock for the protocol core: many members in one
 * process, messages delayed and lost per link, partitions, crashes and
 * stalls, all from one seed, so a run can be repeated exactly. Packets go
 * through the real codec, so byte counts are real.
 *
 * A crash here is a host that stops answering (no connection is refused), so
 * detection rests on probing and suspicion alone: the slow, general case.
 */
import { encodePackets, encodeStream, decodePacket } from './codec.js';
import { lanProfile, type GossipConfig } from './config.js';
import { bootstrap, createCore, handle, nextDeadline, type Core, type Effects, type MemberEvent } from './core.js';
import type { PacketMessage, PushPull } from './messages.js';
import { Rng } from './rng.js';

export interface SimOptions {
  readonly seed?: number;
  /** Probability that a packet is lost on any link. Default 0. */
  readonly loss?: number;
  /** Base one-way delay in ms. Default 1. */
  readonly delayMs?: number;
  /** Random extra delay, up to this, in ms. Default 1. */
  readonly jitterMs?: number;
  readonly config?: GossipConfig;
  /** Keep every event observed (memory grows with the run); default true. */
  readonly recordEvents?: boolean;
}

export interface ObservedEvent {
  readonly at: number;
  readonly observer: string;
  readonly event: MemberEvent;
}

export interface SimMember {
  readonly name: string;
  readonly core: Core;
  crashed: boolean;
  stalledUntil: number;
  tickAt: number;
  packetsSent: number;
  bytesSent: number;
  streamBytesSent: number;
}

type Job =
  | { kind: 'tick'; to: string; at: number }
  | { kind: 'packet'; to: string; from: string; bytes: Uint8Array }
  | { kind: 'stream'; to: string; from: string; msg: PushPull }
  | { kind: 'reply'; to: string; from: string; msg: PushPull }
  | { kind: 'streamFailed'; to: string; target: string };

interface Scheduled {
  readonly at: number;
  readonly order: number;
  readonly job: Job;
}

/** A binary min-heap on (at, order). */
class Queue {
  private readonly items: Scheduled[] = [];
  get size(): number {
    return this.items.length;
  }
  peek(): Scheduled | undefined {
    return this.items[0];
  }
  push(item: Scheduled): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(items[parent]!, item)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }
  pop(): Scheduled | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let smallest = last;
        let at = -1;
        if (l < items.length && before(items[l]!, smallest)) {
          smallest = items[l]!;
          at = l;
        }
        if (r < items.length && before(items[r]!, smallest)) {
          smallest = items[r]!;
          at = r;
        }
        if (at < 0) break;
        items[i] = smallest;
        i = at;
      }
      items[i] = last;
    }
    return top;
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.order < b.order);

export class SimNetwork {
  readonly config: GossipConfig;
  readonly members = new Map<string, SimMember>();
  readonly events: ObservedEvent[] = [];
  private readonly rng: Rng;
  private readonly queue = new Queue();
  private order = 0;
  private loss: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly recordEvents: boolean;
  private readonly sides = new Map<string, number>();
  private listeners: ((e: ObservedEvent) => void)[] = [];
  now = 0;

  constructor(options: SimOptions = {}) {
    this.rng = new Rng(options.seed ?? 1);
    this.loss = options.loss ?? 0;
    this.delayMs = options.delayMs ?? 1;
    this.jitterMs = options.jitterMs ?? 1;
    this.config = options.config ?? lanProfile();
    this.recordEvents = options.recordEvents ?? true;
  }

  /** Adds a member; with `seeds` (member names) it joins through them. */
  addMember(name: string, options: { seeds?: readonly string[]; meta?: Record<string, string> } = {}): SimMember {
    const core = createCore({ config: this.config, self: { name, addr: name, meta: options.meta ?? {} }, seed: this.rng.int(2 ** 31), now: this.now });
    const member: SimMember = { name, core, crashed: false, stalledUntil: 0, tickAt: Number.POSITIVE_INFINITY, packetsSent: 0, bytesSent: 0, streamBytesSent: 0 };
    this.members.set(name, member);
    if (options.seeds && options.seeds.length > 0) this.apply(member, handle(core, { type: 'join', seeds: options.seeds }, this.now));
    this.reschedule(member);
    return member;
  }

  /**
   * Adds `n` members named `prefix0…` that already know each other, as a
   * cluster that has converged (no join traffic). Returns their names.
   */
  addConverged(n: number, prefix = 'm'): string[] {
    const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
    const added = names.map((name) => this.addMember(name));
    const states = added.map((m) => ({ name: m.name, addr: m.name, incarnation: m.core.self.incarnation, status: 'alive' as const, meta: {} }));
    for (const m of added) {
      bootstrap(m.core, states, this.now);
      this.reschedule(m);
    }
    return names;
  }

  /** Calls `fn` for every event any member observes. */
  onEvent(fn: (e: ObservedEvent) => void): void {
    this.listeners.push(fn);
  }

  /** The host stops: nothing to or from it, no timers. */
  crash(name: string): void {
    this.member(name).crashed = true;
  }

  /** The member stops processing for `ms` (a long pause), then catches up. */
  stall(name: string, ms: number): void {
    this.member(name).stalledUntil = this.now + ms;
  }

  /** A graceful leave. */
  leave(name: string): void {
    const m = this.member(name);
    this.apply(m, handle(m.core, { type: 'leave' }, this.now));
  }

  setMetadata(name: string, meta: Record<string, string>): void {
    const m = this.member(name);
    this.apply(m, handle(m.core, { type: 'setMeta', meta }, this.now));
  }

  setLoss(loss: number): void {
    this.loss = loss;
  }

  /** No traffic between members of `a` and of `b` until `heal()`. */
  partition(a: readonly string[], b: readonly string[]): void {
    this.sides.clear();
    for (const name of a) this.sides.set(name, 1);
    for (const name of b) this.sides.set(name, 2);
  }

  heal(): void {
    this.sides.clear();
  }

  runFor(ms: number): void {
    this.runUntil(() => false, ms);
  }

  /**
   * Runs until `done()` holds or `maxMs` pass; returns whether it held. `done`
   * is checked every `checkEveryMs` of simulated time (it may be costly).
   */
  runUntil(done: () => boolean, maxMs: number, checkEveryMs = 10): boolean {
    const end = this.now + maxMs;
    if (done()) return true;
    let nextCheck = this.now + checkEveryMs;
    for (;;) {
      const next = this.queue.peek();
      if (!next || next.at > end) {
        this.now = end;
        return done();
      }
      if (next.at > nextCheck) {
        this.now = nextCheck;
        if (done()) return true;
        nextCheck += checkEveryMs;
        continue;
      }
      this.queue.pop();
      this.now = Math.max(this.now, next.at);
      this.run(next.job);
    }
  }

  private member(name: string): SimMember {
    const m = this.members.get(name);
    if (!m) throw new Error(`No member ${name}`);
    return m;
  }

  private schedule(at: number, job: Job): void {
    this.queue.push({ at, order: this.order++, job });
  }

  /** Keeps one live tick job per member, at its core's next deadline; older ones go stale. */
  private reschedule(m: SimMember): void {
    const at = Math.max(this.now, nextDeadline(m.core));
    if (at === m.tickAt || !Number.isFinite(at)) return;
    m.tickAt = at;
    this.schedule(at, { kind: 'tick', to: m.name, at });
  }

  private blocked(from: string, to: string): boolean {
    const a = this.sides.get(from);
    const b = this.sides.get(to);
    return a !== undefined && b !== undefined && a !== b;
  }

  private delay(): number {
    return this.delayMs + this.rng.next() * this.jitterMs;
  }

  private run(job: Job): void {
    const m = this.members.get(job.to);
    if (!m || m.crashed) return;
    if (m.stalledUntil > this.now) {
      // Paused: handle it when the pause ends, as a process would after a GC or a stop.
      this.schedule(m.stalledUntil, job);
      return;
    }
    let fx: Effects;
    switch (job.kind) {
      case 'tick':
        if (job.at !== m.tickAt) return;
        m.tickAt = Number.POSITIVE_INFINITY;
        fx = handle(m.core, { type: 'tick' }, this.now);
        break;
      case 'packet': {
        const decoded = decodePacket(job.bytes);
        if (!decoded.ok) return;
        fx = handle(m.core, { type: 'packet', from: job.from, msgs: decoded.value }, this.now);
        break;
      }
      case 'stream': {
        fx = handle(m.core, { type: 'stream', from: job.from, msg: job.msg }, this.now);
        if (fx.reply) {
          const bytes = encodeStream(fx.reply).length;
          m.streamBytesSent += bytes;
          m.bytesSent += bytes;
          this.schedule(this.now + this.delay(), { kind: 'reply', to: job.from, from: m.name, msg: fx.reply });
        }
        break;
      }
      case 'reply':
        fx = handle(m.core, { type: 'streamReply', from: job.from, msg: job.msg }, this.now);
        break;
      case 'streamFailed':
        fx = handle(m.core, { type: 'streamFailed', to: job.target, error: 'unreachable' }, this.now);
        break;
    }
    this.apply(m, fx);
  }

  private apply(m: SimMember, fx: Effects): void {
    for (const packet of fx.packets) {
      for (const bytes of encodePackets(packet.msgs as (PacketMessage | Uint8Array)[], this.config.udpBufferSize)) {
        m.packetsSent++;
        m.bytesSent += bytes.length;
        if (this.blocked(m.name, packet.to) || this.rng.next() < this.loss) continue;
        this.schedule(this.now + this.delay(), { kind: 'packet', to: packet.to, from: m.name, bytes });
      }
    }
    for (const stream of fx.streams) {
      const bytes = encodeStream(stream.msg).length;
      m.streamBytesSent += bytes;
      m.bytesSent += bytes;
      const target = this.members.get(stream.to);
      if (!target || target.crashed || this.blocked(m.name, stream.to)) {
        this.schedule(this.now + Math.min(this.config.streamTimeoutMs, 1000), { kind: 'streamFailed', to: m.name, target: stream.to });
      } else {
        this.schedule(this.now + this.delay(), { kind: 'stream', to: stream.to, from: m.name, msg: stream.msg });
      }
    }
    for (const event of fx.events) {
      const observed = { at: this.now, observer: m.name, event };
      if (this.recordEvents) this.events.push(observed);
      for (const listener of this.listeners) listener(observed);
    }
    this.reschedule(m);
  }

  /** Whether `observer` holds `name` in `status`. */
  sees(observer: string, name: string, status: 'alive' | 'suspect' | 'dead' | 'left'): boolean {
    return this.member(observer).core.members.get(name)?.status === status;
  }

  /** Live members that do not see every other live member alive. */
  unconverged(): string[] {
    const live = [...this.members.values()].filter((m) => !m.crashed && !m.core.leaving);
    return live
      .filter((m) => live.some((o) => o !== m && m.core.members.get(o.name)?.status !== 'alive'))
      .map((m) => m.name);
  }
}
