/**
 * The SWIM protocol core with the Lifeguard refinements, sans I/O: it takes
 * an input (a timer tick, a packet, a stream, a command) and the time, updates
 * its state, and returns what to send and which membership changes happened.
 * No sockets, no clock, no `Math.random`: the same core runs over UDP and TCP
 * and in the simulated network, deterministically for a given seed.
 *
 * The state is mutated in place; callers treat it as opaque and use the
 * functions here. Member records themselves are never changed, only
 * replaced, so a simulation of thousands of members can share one record
 * between all the cores that hold it.
 */
import { adjustAwareness, failedProbePenalty, scaleByAwareness } from './awareness.js';
import { BroadcastQueue, retransmitLimit } from './broadcasts.js';
import { encodeMessage, MAX_ADDR_BYTES, MAX_INCARNATION, MAX_META_BYTES, MAX_META_ENTRIES, MAX_NAME_BYTES } from './codec.js';
import { pushPullIntervalFor, type GossipConfig } from './config.js';
import type { Alive, Dead, MemberState, MemberStatus, PacketMessage, PushPull, Suspect } from './messages.js';
import { Rng } from './rng.js';
import { confirmSuspicion, startSuspicion, type Suspicion } from './suspicion.js';

export type { MemberState, MemberStatus } from './messages.js';

/** A membership change this node observed. */
export type MemberEvent =
  /** A member became alive to us: new, or back after being dead or gone. */
  | { readonly type: 'join'; readonly member: MemberState }
  /** A live member's metadata or address changed (a newer incarnation). */
  | { readonly type: 'update'; readonly member: MemberState }
  /** A member left gracefully. */
  | { readonly type: 'leave'; readonly member: MemberState }
  /** A member was declared dead: its suspicion timed out unrefuted, or its process is known to be gone. */
  | { readonly type: 'fail'; readonly member: MemberState }
  /** Two live members claim one name at different addresses; the one already known is kept. */
  | { readonly type: 'conflict'; readonly existing: MemberState; readonly incoming: MemberState };

/** What the core can be told. */
export type Input =
  /** Timers: call at or after `nextDeadline(core)`. */
  | { readonly type: 'tick' }
  /** A decoded UDP packet from `from` (`host:port`). */
  | { readonly type: 'packet'; readonly from: string; readonly msgs: readonly PacketMessage[] }
  /** An incoming push-pull; `Effects.reply` holds the answer to send back on the same stream. */
  | { readonly type: 'stream'; readonly from: string; readonly msg: PushPull }
  /** The answer to a push-pull this core asked for (`Effects.streams`), from the address it was sent to. */
  | { readonly type: 'streamReply'; readonly from: string; readonly msg: PushPull }
  /** A push-pull this core asked for failed (refused, timed out, unreadable answer). */
  | { readonly type: 'streamFailed'; readonly to: string; readonly error: string }
  /**
   * Join through these seeds, retrying with backoff until one push-pull
   * succeeds. Each attempt asks for them through `Effects.resolveSeeds`.
   */
  | { readonly type: 'join'; readonly seeds: readonly string[] }
  /** The answer to `Effects.resolveSeeds`: the seeds' `host:port` addresses now; push-pulls go to each. */
  | { readonly type: 'seedAddresses'; readonly addrs: readonly string[] }
  /** Leave gracefully; `Effects.leaveDone` says when the goodbye has gone out. */
  | { readonly type: 'leave' }
  /** Publish new metadata (bounded as the codec requires; the facade checks it). */
  | { readonly type: 'setMeta'; readonly meta: Readonly<Record<string, string>> }
  /** The transport knows this member's process is gone (its host refused a reconnect): declare it dead now. */
  | { readonly type: 'peerGone'; readonly name: string }
  /** The transport saw something odd about this member (a reset, a timeout): probe it now. */
  | { readonly type: 'probeNow'; readonly name: string };

/** What to do after an input. */
export interface Effects {
  /**
   * UDP packets: each entry's messages fit one packet of `udpBufferSize`
   * with 64 bytes to spare for sealing. The first is the primary message;
   * piggybacked broadcasts follow, already encoded.
   */
  readonly packets: { readonly to: string; readonly msgs: (PacketMessage | Uint8Array)[] }[];
  /** TCP push-pull requests to make; answer each with `streamReply` or `streamFailed`. */
  readonly streams: { readonly to: string; readonly msg: PushPull }[];
  /** The answer to an incoming `stream`. */
  reply: PushPull | undefined;
  /** Membership changes, in order. */
  readonly events: MemberEvent[];
  /** Set once, after a `leave`, when the goodbye has been sent on enough (or `leaveTimeoutMs` passed). */
  leaveDone: boolean;
  /**
   * A join or rejoin attempt: the configured seeds, which may be names. The
   * driver resolves them to `host:port` addresses (again each time, as they
   * may move) and answers with `{ type: 'seedAddresses', addrs }`.
   */
  resolveSeeds: readonly string[] | undefined;
  /**
   * The addresses to watch over TCP from now on, when the choice changed:
   * the next `watchPeers` live members after this one in id order, so that
   * the death of any process is noticed at once by those watching it.
   */
  watch: readonly string[] | undefined;
}

/** What a node holds about one member. Replaced, never changed in place, so many cores may share one. */
export interface MemberRecord extends MemberState {
  /** When the status last changed, for gossip to the dead and forgetting the dead. */
  readonly changedAt: number;
}

/** A probe under way. */
interface Probe {
  readonly target: string;
  /** When the ping went out, for the round-trip time. */
  readonly sentAt: number;
  readonly directDeadline: number;
  readonly endDeadline: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

/** An indirect probe we are making for someone else. */
interface Relay {
  readonly origin: string;
  readonly originSeq: number;
  readonly deadline: number;
  readonly nack: boolean;
}

/** The state of one node's protocol. Opaque: read it through the functions of this module. */
export interface Core {
  readonly config: GossipConfig;
  readonly rng: Rng;
  /** This node's own record (replaced on every change). */
  self: MemberRecord;
  /** Every member known, self included, by name. */
  readonly members: Map<string, MemberRecord>;
  /** Names of dead and left members, to forget them after `deadReclaimMs` without scanning everyone. */
  readonly gone: Set<string>;
  /** Members declared dead (not left), by name: tried now and then until `reconnectTimeoutMs` after the failure. */
  readonly reconnect: Map<string, { readonly addr: string; readonly failedAt: number }>;
  /** Members alive or suspect, self included: the `n` of every formula. */
  live: number;
  readonly broadcasts: BroadcastQueue;
  readonly suspicions: Map<string, Suspicion>;
  readonly probes: Map<number, Probe>;
  readonly relays: Map<number, Relay>;
  /** Addresses with a push-pull under way that we started because our views differed. */
  readonly exchanging: Set<string>;
  /** Conflicts already reported, name → incoming address, so a repeated claim is reported once. */
  readonly conflicts: Map<string, string>;
  probeOrder: string[];
  probeIndex: number;
  probeNext: string | undefined;
  seq: number;
  /** Lifeguard local-health score, 0 (healthy) to `awarenessMaxMultiplier − 1`. */
  awareness: number;
  nextProbeAt: number;
  nextGossipAt: number;
  nextPushPullAt: number;
  nextReclaimAt: number;
  /** Seeds as configured (they may be names). */
  seeds: readonly string[];
  /** The seeds' addresses when last resolved, this node's own left out. */
  seedAddrs: ReadonlySet<string>;
  joined: boolean;
  joinAttempts: number;
  nextJoinAt: number;
  leaving: boolean;
  leaveDeadline: number;
  leaveReported: boolean;
  /** Outcomes of the last probes (true = answered), oldest first. */
  readonly recentProbes: boolean[];
  /** Addresses of the members this node watches over TCP (see `Effects.watch`). */
  watching: readonly string[];
}

/** Probes remembered for `recentProbeFailureRatio`. */
const RECENT_PROBES = 16;
/** Bytes of each packet kept free of piggybacked broadcasts: the packet header and a seal (nonce, tag, version). */
const PACKET_RESERVE_BYTES = 64;

const isLive = (status: MemberStatus) => status === 'alive' || status === 'suspect';

function byteLength(s: string): number {
  return Buffer.byteLength(s);
}

function checkSelf(self: { name: string; addr: string; meta: Readonly<Record<string, string>> }): void {
  if (self.name.length === 0 || byteLength(self.name) > MAX_NAME_BYTES) {
    throw new RangeError(`Invalid member name ${JSON.stringify(self.name)}; expected 1 to ${MAX_NAME_BYTES} UTF-8 bytes`);
  }
  if (self.addr.length === 0 || byteLength(self.addr) > MAX_ADDR_BYTES) {
    throw new RangeError(`Invalid member address ${JSON.stringify(self.addr)}; expected host:port of at most ${MAX_ADDR_BYTES} bytes`);
  }
  const entries = Object.entries(self.meta);
  const bytes = entries.reduce((sum, [k, v]) => sum + byteLength(k) + byteLength(v), 0);
  if (entries.length > MAX_META_ENTRIES || bytes > MAX_META_BYTES) {
    throw new RangeError(`Invalid metadata: ${entries.length} entries, ${bytes} bytes; expected at most ${MAX_META_ENTRIES} entries and ${MAX_META_BYTES} bytes`);
  }
}

/**
 * A new core for `self`. Its incarnation starts at `now` in seconds, so a
 * restarted member outranks what the cluster remembers of its past self.
 * Throws a `RangeError` when the name, address or metadata are beyond the
 * codec's bounds.
 *
 * @example
 * const core = createCore({ config: lanProfile(), self: { name: 'a', addr: '10.0.0.1:7946', meta: {} }, seed: 1, now: Date.now() });
 * handle(core, { type: 'join', seeds: ['10.0.0.2:7946'] }, Date.now()); // Effects with a push-pull to the seed
 */
export function createCore(options: {
  config: GossipConfig;
  self: { name: string; addr: string; meta: Readonly<Record<string, string>> };
  seed: number;
  now: number;
}): Core {
  const { config, now } = options;
  checkSelf(options.self);
  const self: MemberRecord = {
    name: options.self.name,
    addr: options.self.addr,
    incarnation: Math.floor(now / 1000),
    status: 'alive',
    meta: options.self.meta,
    changedAt: now,
  };
  const rng = new Rng(options.seed);
  return {
    config,
    rng,
    self,
    members: new Map([[self.name, self]]),
    gone: new Set(),
    reconnect: new Map(),
    live: 1,
    broadcasts: new BroadcastQueue(),
    suspicions: new Map(),
    probes: new Map(),
    relays: new Map(),
    exchanging: new Set(),
    conflicts: new Map(),
    probeOrder: [],
    probeIndex: 0,
    probeNext: undefined,
    seq: rng.int(1 << 30),
    awareness: 0,
    // A random phase, so members started together do not probe in step.
    nextProbeAt: now + rng.int(config.probeIntervalMs),
    nextGossipAt: now + config.gossipIntervalMs,
    // Staggered, as every timer that members started together would otherwise fire in step.
    nextPushPullAt: now + config.pushPullIntervalMs * (0.5 + rng.next()),
    nextReclaimAt: now + config.deadReclaimMs,
    seeds: [],
    seedAddrs: new Set(),
    joined: true,
    joinAttempts: 0,
    nextJoinAt: Number.POSITIVE_INFINITY,
    leaving: false,
    leaveDeadline: Number.POSITIVE_INFINITY,
    leaveReported: false,
    recentProbes: [],
    watching: [],
  };
}

/**
 * A member record for {@link bootstrap}: `state` as known since `now`.
 *
 * @example
 * toRecord({ name: 'b', addr: 'h:2', incarnation: 1, status: 'alive', meta: {} }, 0);
 */
export function toRecord(state: MemberState, now: number): MemberRecord {
  return { name: state.name, addr: state.addr, incarnation: state.incarnation, status: state.status, meta: state.meta, changedAt: now };
}

/**
 * Fills the table with members, as a completed join would, without events
 * or gossip: for simulations that start from a converged cluster. The
 * records are held as given (not copied), so many cores can share them.
 *
 * @example
 * const records = states.map((s) => toRecord(s, 0));
 * for (const core of cores) bootstrap(core, records);
 */
export function bootstrap(core: Core, known: readonly MemberRecord[]): void {
  for (const record of known) {
    if (record.name === core.self.name || core.members.has(record.name)) continue;
    core.members.set(record.name, record);
    if (isLive(record.status)) core.live++;
    else core.gone.add(record.name);
  }
  core.probeOrder = core.rng.shuffle([...core.members.keys()]);
  core.probeIndex = 0;
  // A table of this size exchanges state less often; spread the first exchange over a whole interval.
  core.nextPushPullAt = core.self.changedAt + core.rng.next() * pushPullIntervalFor(core.config, core.live);
  core.watching = watchTargets(core);
}

/**
 * Every member this node knows, itself included, dead and left ones until
 * they are forgotten.
 *
 * @example
 * members(core).filter((m) => m.status === 'alive').map((m) => m.name);
 */
export function members(core: Core): MemberState[] {
  const out: MemberState[] = [];
  for (const m of core.members.values()) out.push(snapshotOf(m));
  return out;
}

/**
 * The member called `id` as this node knows it, or `undefined`.
 *
 * @example
 * memberOf(core, 'b')?.status; // 'alive'
 */
export function memberOf(core: Core, id: string): MemberState | undefined {
  return core.members.get(id);
}

/**
 * This node's own record.
 *
 * @example
 * selfOf(core).incarnation;
 */
export function selfOf(core: Core): MemberRecord {
  return core.self;
}

/**
 * The live (alive) member other than this node at `address`, or `undefined`:
 * how a transport's hint about an address becomes news about a member.
 *
 * @example
 * const m = liveMemberAt(core, '10.0.0.2:7946');
 * if (m) handle(core, { type: 'probeNow', name: m.name }, Date.now());
 */
export function liveMemberAt(core: Core, address: string): MemberState | undefined {
  let found: MemberState | undefined;
  for (const m of core.members.values()) if (m.addr === address && m.status === 'alive' && m !== core.self) found = m;
  return found;
}

/**
 * How many members this node holds, itself and the not yet forgotten dead included.
 *
 * @example
 * memberCount(core); // 1 for a new core
 */
export function memberCount(core: Core): number {
  return core.members.size;
}

/**
 * Whether this node is leaving (a `leave` was handled).
 *
 * @example
 * isLeaving(core); // false
 */
export function isLeaving(core: Core): boolean {
  return core.leaving;
}

/**
 * The addresses this node watches over TCP (last given in `Effects.watch`).
 *
 * @example
 * watching(core); // ['10.0.0.3:7946', '10.0.0.4:7946']
 */
export function watching(core: Core): readonly string[] {
  return core.watching;
}

function snapshotOf(m: MemberState): MemberState {
  return { name: m.name, addr: m.addr, incarnation: m.incarnation, status: m.status, meta: m.meta };
}

/** How this node is doing, for the adapter's health. */
export interface CoreHealth {
  /** False from a `join` until one push-pull with anyone has succeeded. */
  readonly joined: boolean;
  /** Lifeguard local-health score: 0 is healthy; probes are slowed by `awareness + 1`. */
  readonly awareness: number;
  /** Share of the last 16 probes that failed (0 when none made yet). */
  readonly recentProbeFailureRatio: number;
  /** Members alive or suspect, this node included. */
  readonly members: number;
}

/**
 * How this node is doing: whether it has joined, its local health, and how
 * many of its recent probes failed. The adapter reports Degraded while no
 * seed could be reached or most probes fail.
 *
 * @example
 * const { joined, recentProbeFailureRatio } = health(core);
 * const degraded = !joined || recentProbeFailureRatio > 0.5;
 */
export function health(core: Core): CoreHealth {
  const probes = core.recentProbes;
  let failed = 0;
  for (const ok of probes) if (!ok) failed++;
  return {
    joined: core.joined,
    awareness: core.awareness,
    recentProbeFailureRatio: probes.length === 0 ? 0 : failed / probes.length,
    members: core.live,
  };
}

/**
 * The earliest time at which `handle(core, { type: 'tick' }, now)` has work
 * to do; `Infinity` when nothing ever will (after a leave has gone out).
 * Ask again after every `handle`: inputs move it.
 *
 * @example
 * const at = nextDeadline(core);
 * if (Number.isFinite(at)) setTimeout(() => apply(handle(core, { type: 'tick' }, Date.now())), Math.max(0, at - Date.now()));
 */
export function nextDeadline(core: Core): number {
  let next = Math.min(core.nextProbeAt, core.nextPushPullAt, core.nextJoinAt, core.leaveDeadline, core.nextReclaimAt);
  if (core.broadcasts.size > 0) next = Math.min(next, core.nextGossipAt);
  for (const probe of core.probes.values()) next = Math.min(next, probe.indirectSent ? probe.endDeadline : probe.directDeadline);
  for (const relay of core.relays.values()) next = Math.min(next, relay.deadline);
  for (const suspicion of core.suspicions.values()) next = Math.min(next, suspicion.deadline);
  return next;
}

const newEffects = (): Effects => ({ packets: [], streams: [], reply: undefined, events: [], leaveDone: false, resolveSeeds: undefined, watch: undefined });

/**
 * Feeds one input to the core at time `now` (milliseconds, never going
 * back) and returns what to do: packets and push-pulls to send, the reply
 * to an incoming push-pull, membership events. Never throws.
 *
 * @example
 * const fx = handle(core, { type: 'packet', from: '10.0.0.2:7946', msgs: decoded.value }, Date.now());
 * for (const p of fx.packets) for (const bytes of encodePackets(p.msgs, 1400)) udp.send(bytes, p.to);
 */
export function handle(core: Core, input: Input, now: number): Effects {
  const fx = newEffects();
  dispatch(core, input, now, fx);
  if (fx.events.length > 0) rewatch(core, fx);
  return fx;
}

function dispatch(core: Core, input: Input, now: number, fx: Effects): void {
  switch (input.type) {
    case 'tick':
      tick(core, now, fx);
      break;
    case 'packet':
      for (const msg of input.msgs) onMessage(core, msg, input.from, now, fx);
      break;
    case 'stream':
      merge(core, input.msg, now, fx);
      fx.reply = pushPullMessage(core, false);
      break;
    case 'streamReply':
      core.exchanging.delete(input.from);
      merge(core, input.msg, now, fx);
      if (!core.joined) {
        core.joined = true;
        core.nextJoinAt = Number.POSITIVE_INFINITY;
        // Announce ourselves straight to many members: the seed's gossip alone is slower.
        announceSelf(core, now, fx);
      }
      break;
    case 'streamFailed':
      // A failed join attempt is retried on the join schedule; a failed periodic exchange waits for the next one.
      core.exchanging.delete(input.to);
      break;
    case 'seedAddresses':
      core.seedAddrs = new Set(input.addrs.filter((addr) => addr !== core.self.addr));
      if (core.leaving) break;
      for (const addr of core.seedAddrs) fx.streams.push({ to: addr, msg: pushPullMessage(core, true) });
      break;
    case 'join':
      // Added to the seeds already known: a later join (the facade's) does not make the configured ones forgotten.
      core.seeds = [...new Set([...core.seeds, ...input.seeds])].filter((s) => s !== core.self.addr);
      if (core.seeds.length > 0 && !core.leaving) {
        core.joined = false;
        core.joinAttempts = 0;
        core.nextJoinAt = now;
        tick(core, now, fx);
      }
      break;
    case 'leave':
      leave(core, now, fx);
      break;
    case 'setMeta':
      if (!core.leaving && core.self.incarnation < MAX_INCARNATION) {
        core.self = { ...core.self, meta: input.meta, incarnation: core.self.incarnation + 1 };
        core.members.set(core.self.name, core.self);
        announceSelf(core, now, fx);
      }
      break;
    case 'peerGone': {
      // Its host refused a connection to its port: the process is gone, no need to suspect first.
      const m = core.members.get(input.name);
      if (m && m !== core.self && isLive(m.status) && !core.leaving) {
        onDead(core, { type: 'dead', name: m.name, incarnation: m.incarnation, from: core.self.name }, now, fx);
        sendUrgent(core, now, fx);
      }
      break;
    }
    case 'probeNow': {
      const m = core.members.get(input.name);
      if (m && m !== core.self && isLive(m.status) && !core.leaving) {
        core.probeNext = input.name;
        core.nextProbeAt = now;
        tick(core, now, fx);
      }
      break;
    }
  }
}

// ---------------------------------------------------------------- watches

/** Chooses again whom to watch after membership changed; says so only when the choice moved. */
function rewatch(core: Core, fx: Effects): void {
  const next = watchTargets(core);
  const same = next.length === core.watching.length && next.every((address, i) => address === core.watching[i]);
  if (same) return;
  core.watching = next;
  fx.watch = next;
}

/**
 * The addresses of the next `watchPeers` alive members after this one in id
 * order, wrapping around: every process is then watched by the few before
 * it. One pass over the table, keeping the few smallest ids on each side.
 */
function watchTargets(core: Core): string[] {
  const k = core.config.watchPeers;
  if (k === 0) return [];
  const selfId = core.self.name;
  const after: MemberRecord[] = [];
  const upTo: MemberRecord[] = [];
  for (const m of core.members.values()) {
    if (m === core.self || m.status !== 'alive') continue;
    keepSmallest(m.name > selfId ? after : upTo, m, k);
  }
  return [...after, ...upTo].slice(0, k).map((m) => m.addr);
}

/** Inserts `m` into `list` (sorted by id) and keeps only its `k` smallest. */
function keepSmallest(list: MemberRecord[], m: MemberRecord, k: number): void {
  if (list.length === k && list[k - 1]!.name < m.name) return;
  let i = list.length;
  list.push(m);
  while (i > 0 && list[i - 1]!.name > m.name) {
    list[i] = list[i - 1]!;
    i--;
  }
  list[i] = m;
  if (list.length > k) list.length = k;
}

// ---------------------------------------------------------------- member table

/** Puts a new record for a member, keeping the live count and the set of the gone. */
function put(core: Core, next: MemberRecord, previous: MemberRecord | undefined): void {
  const wasLive = previous !== undefined && isLive(previous.status);
  const nowLive = isLive(next.status);
  core.live += (nowLive ? 1 : 0) - (wasLive ? 1 : 0);
  if (nowLive) {
    core.gone.delete(next.name);
    core.reconnect.delete(next.name);
  } else {
    core.gone.add(next.name);
    core.probeRttMs.delete(next.name);
  }
  core.members.set(next.name, next);
}

function withStatus(m: MemberRecord, status: MemberStatus, incarnation: number, now: number): MemberRecord {
  return { name: m.name, addr: m.addr, incarnation, status, meta: m.meta, changedAt: m.status === status ? m.changedAt : now };
}

// ---------------------------------------------------------------- timers

function tick(core: Core, now: number, fx: Effects): void {
  const { config } = core;
  if (core.leaving) {
    if (!core.leaveReported && (now >= core.leaveDeadline || !core.broadcasts.has(core.self.name))) reportLeft(core, fx);
    // A leaving member only passes its goodbye on.
    if (now >= core.nextGossipAt) gossip(core, now, fx);
    if (now >= core.nextPushPullAt) core.nextPushPullAt = Number.POSITIVE_INFINITY;
    if (now >= core.nextProbeAt) core.nextProbeAt = Number.POSITIVE_INFINITY;
    if (now >= core.nextReclaimAt) core.nextReclaimAt = Number.POSITIVE_INFINITY;
    core.probes.clear();
    core.relays.clear();
    core.suspicions.clear();
    return;
  }
  if (now >= core.nextJoinAt) joinAttempt(core, now, fx);
  for (const [seq, probe] of core.probes) {
    if (!probe.indirectSent && now >= probe.directDeadline) indirectProbe(core, seq, probe, fx);
    else if (probe.indirectSent && now >= probe.endDeadline) probeFailed(core, seq, probe, now, fx);
  }
  for (const [seq, relay] of core.relays) {
    if (now < relay.deadline) continue;
    core.relays.delete(seq);
    if (relay.nack) fx.packets.push({ to: relay.origin, msgs: [{ type: 'nack', seq: relay.originSeq }] });
  }
  for (const [name, suspicion] of core.suspicions) {
    if (now < suspicion.deadline) continue;
    core.suspicions.delete(name);
    const m = core.members.get(name);
    if (m?.status === 'suspect') onDead(core, { type: 'dead', name, incarnation: m.incarnation, from: core.self.name }, now, fx);
  }
  if (now >= core.nextProbeAt) {
    probe(core, now, fx);
    core.nextProbeAt = now + scaleByAwareness(config.probeIntervalMs, core.awareness);
  }
  if (now >= core.nextGossipAt) gossip(core, now, fx);
  if (now >= core.nextPushPullAt) periodicPushPull(core, now, fx);
  if (now >= core.nextReclaimAt) {
    core.nextReclaimAt = now + Math.max(config.probeIntervalMs, config.deadReclaimMs / 4);
    reclaim(core, now);
  }
}

function joinAttempt(core: Core, now: number, fx: Effects): void {
  fx.resolveSeeds = core.seeds;
  core.joinAttempts++;
  const { joinRetryMs, joinRetryMaxMs } = core.config;
  const backoff = Math.min(joinRetryMs * 2 ** (core.joinAttempts - 1), joinRetryMaxMs);
  // Up to 25% jitter, so members restarted together do not hammer the seeds in step.
  core.nextJoinAt = now + backoff * (1 + 0.25 * core.rng.next());
}

function periodicPushPull(core: Core, now: number, fx: Effects): void {
  core.nextPushPullAt = now + pushPullIntervalFor(core.config, core.live);
  const target = randomMembers(core, 1, (m) => m.status === 'alive')[0];
  if (target) fx.streams.push({ to: target.addr, msg: pushPullMessage(core, false) });
  // Also try one member that failed (not one that left), even one already forgotten: after a
  // partition each side holds the other dead and nobody probes the dead, so this is how the
  // halves meet again, however long they were apart.
  const lost = randomReconnect(core, now);
  if (lost && lost !== target?.addr) fx.streams.push({ to: lost, msg: pushPullMessage(core, false) });
  // No seed among the live members (they restarted, moved, or we were cut off): join through them again.
  if (core.seeds.length > 0 && !anySeedAlive(core)) fx.resolveSeeds = core.seeds;
}

/** The address of one failed member still within `reconnectTimeoutMs`, at random. */
function randomReconnect(core: Core, now: number): string | undefined {
  const { reconnect } = core;
  if (reconnect.size === 0) return undefined;
  let skip = core.rng.int(reconnect.size);
  for (const [name, entry] of reconnect) {
    if (now - entry.failedAt > core.config.reconnectTimeoutMs) {
      reconnect.delete(name);
      continue;
    }
    if (skip-- <= 0) return entry.addr;
  }
  return undefined;
}

function anySeedAlive(core: Core): boolean {
  if (core.seedAddrs.size === 0) return false;
  for (const m of core.members.values()) if (m !== core.self && m.status === 'alive' && core.seedAddrs.has(m.addr)) return true;
  return false;
}

/**
 * Forgets dead and left members after `deadReclaimMs`, so the table does not
 * grow forever, and failed members' addresses after `reconnectTimeoutMs`.
 */
function reclaim(core: Core, now: number): void {
  for (const [name, entry] of core.reconnect) if (now - entry.failedAt > core.config.reconnectTimeoutMs) core.reconnect.delete(name);
  for (const name of core.gone) {
    const m = core.members.get(name);
    if (!m || isLive(m.status)) {
      core.gone.delete(name);
    } else if (now - m.changedAt > core.config.deadReclaimMs) {
      core.members.delete(name);
      core.gone.delete(name);
      core.conflicts.delete(name);
    }
  }
}

// ---------------------------------------------------------------- probing

function nextProbeTarget(core: Core): MemberRecord | undefined {
  if (core.probeNext !== undefined) {
    const wanted = core.members.get(core.probeNext);
    core.probeNext = undefined;
    if (wanted && wanted !== core.self && isLive(wanted.status)) return wanted;
  }
  for (let pass = 0; pass < 2; pass++) {
    while (core.probeIndex < core.probeOrder.length) {
      const m = core.members.get(core.probeOrder[core.probeIndex++]!);
      if (m && m !== core.self && isLive(m.status)) return m;
    }
    // A full round done: start another in a fresh random order.
    core.probeOrder = core.rng.shuffle([...core.members.keys()]);
    core.probeIndex = 0;
  }
  return undefined;
}

function probe(core: Core, now: number, fx: Effects): void {
  const target = nextProbeTarget(core);
  if (!target) return;
  const { config } = core;
  const seq = nextSeq(core);
  core.probes.set(seq, {
    target: target.name,
    sentAt: now,
    directDeadline: now + scaleByAwareness(config.probeTimeoutMs, core.awareness),
    endDeadline: now + scaleByAwareness(config.probeIntervalMs, core.awareness),
    indirectSent: false,
    expectedNacks: 0,
    nacks: 0,
  });
  fx.packets.push({ to: target.addr, msgs: withPiggyback(core, { type: 'ping', seq, target: target.name, from: core.self.name }) });
}

function nextSeq(core: Core): number {
  core.seq = (core.seq + 1) % Number.MAX_SAFE_INTEGER;
  return core.seq;
}

function indirectProbe(core: Core, seq: number, probe: Probe, fx: Effects): void {
  probe.indirectSent = true;
  const target = core.members.get(probe.target);
  if (!target) return;
  const relays = randomMembers(core, core.config.indirectChecks, (m) => m.status === 'alive' && m.name !== target.name);
  probe.expectedNacks = relays.length;
  for (const relay of relays) {
    fx.packets.push({ to: relay.addr, msgs: [{ type: 'indirect', seq, target: target.name, targetAddr: target.addr, nack: true }] });
  }
  // Also retry directly: a lost packet, not a lost member, is the common case.
  fx.packets.push({ to: target.addr, msgs: [{ type: 'ping', seq, target: target.name, from: core.self.name }] });
}

function recordProbe(core: Core, ok: boolean): void {
  core.recentProbes.push(ok);
  if (core.recentProbes.length > RECENT_PROBES) core.recentProbes.shift();
}

function probeFailed(core: Core, seq: number, probe: Probe, now: number, fx: Effects): void {
  core.probes.delete(seq);
  recordProbe(core, false);
  // Lifeguard: relays that did not even nack suggest the trouble is ours, not the target's.
  core.awareness = adjustAwareness(core.awareness, failedProbePenalty(probe.expectedNacks, probe.nacks), core.config.awarenessMaxMultiplier);
  const m = core.members.get(probe.target);
  // Also for a member already suspected: our failure is an independent confirmation worth telling.
  if (m && isLive(m.status)) onSuspect(core, { type: 'suspect', name: m.name, incarnation: m.incarnation, from: core.self.name }, now, fx);
}

// ---------------------------------------------------------------- messages

function onMessage(core: Core, msg: PacketMessage, from: string, now: number, fx: Effects): void {
  switch (msg.type) {
    case 'ping': {
      // A ping for another name reached a reused address: stay silent, the prober will suspect that name.
      if (msg.target !== core.self.name || core.leaving) return;
      fx.packets.push({ to: from, msgs: withPiggyback(core, { type: 'ack', seq: msg.seq }) });
      // A member unknown to us, or one we hold dead, knows us: our views differ, so
      // exchange them now rather than at the next periodic push-pull.
      const sender = core.members.get(msg.from);
      if ((!sender || !isLive(sender.status)) && !core.exchanging.has(from)) {
        core.exchanging.add(from);
        fx.streams.push({ to: from, msg: pushPullMessage(core, false) });
      }
      return;
    }
    case 'indirect': {
      if (core.leaving) return;
      const seq = nextSeq(core);
      core.relays.set(seq, { origin: from, originSeq: msg.seq, deadline: now + core.config.nackTimeoutMs, nack: msg.nack });
      fx.packets.push({ to: msg.targetAddr, msgs: [{ type: 'ping', seq, target: msg.target, from: core.self.name }] });
      return;
    }
    case 'ack': {
      const relay = core.relays.get(msg.seq);
      if (relay) {
        core.relays.delete(msg.seq);
        fx.packets.push({ to: relay.origin, msgs: [{ type: 'ack', seq: relay.originSeq }] });
        return;
      }
      const probe = core.probes.get(msg.seq);
      if (probe) {
        core.probes.delete(msg.seq);
        // Only a direct answer measures the path to the member itself.
        if (!probe.indirectSent) core.probeRttMs.set(probe.target, now - probe.sentAt);
        recordProbe(core, true);
        core.awareness = adjustAwareness(core.awareness, -1, core.config.awarenessMaxMultiplier);
      }
      return;
    }
    case 'nack': {
      const probe = core.probes.get(msg.seq);
      if (probe) probe.nacks++;
      return;
    }
    case 'alive':
      onAlive(core, msg, now, fx, true);
      return;
    case 'suspect':
    case 'dead':
      if (isStale(core, msg)) correct(core, msg.name, from, fx);
      else if (msg.type === 'suspect') onSuspect(core, msg, now, fx);
      else onDead(core, msg, now, fx);
      return;
  }
}

/** Whether a verdict is about an incarnation older than one we know alive. */
function isStale(core: Core, msg: Suspect | Dead): boolean {
  const m = core.members.get(msg.name);
  return m !== undefined && m.status === 'alive' && msg.incarnation < m.incarnation;
}

/**
 * Answers stale news with the newer alive, straight to its sender. A member
 * that missed a refutation while the wave passed would otherwise keep its
 * suspicion until the timeout and declare a live member dead; the news it
 * passes on reaches members who know better, and they set it right.
 */
function correct(core: Core, name: string, to: string, fx: Effects): void {
  const m = core.members.get(name)!;
  fx.packets.push({ to, msgs: [{ type: 'alive', name: m.name, addr: m.addr, incarnation: m.incarnation, meta: m.meta }] });
}

function sameMeta(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** Reports a claim on `existing`'s name from another address, once per claiming address. */
function conflict(core: Core, existing: MemberState, msg: Alive, fx: Effects): void {
  if (core.conflicts.get(msg.name) === msg.addr) return;
  core.conflicts.set(msg.name, msg.addr);
  fx.events.push({ type: 'conflict', existing: snapshotOf(existing), incoming: { name: msg.name, addr: msg.addr, incarnation: msg.incarnation, status: 'alive', meta: msg.meta } });
}

/**
 * Raises our incarnation above `seen` and tells everyone we are alive. Never
 * past the codec's bound: an incarnation beyond it would make every message
 * about us malformed to the others, silencing us for good.
 */
function refute(core: Core, seen: number, now: number, fx: Effects): void {
  const next = Math.max(core.self.incarnation, seen) + 1;
  if (next > MAX_INCARNATION) return;
  core.stats.refutations++;
  core.self = { ...core.self, incarnation: next };
  core.members.set(core.self.name, core.self);
  announceSelf(core, now, fx);
}

function onAlive(core: Core, msg: Alive, now: number, fx: Effects, rebroadcast: boolean): void {
  if (msg.name === core.self.name) {
    if (core.leaving) return;
    if (msg.addr !== core.self.addr) {
      // Someone else claims our name: report it, and outrank the claim so the cluster keeps us.
      conflict(core, core.self, msg, fx);
      if (msg.incarnation >= core.self.incarnation) refute(core, msg.incarnation, now, fx);
    } else if (msg.incarnation > core.self.incarnation) {
      // The cluster holds a newer incarnation of us than we do (we restarted with a slow clock).
      refute(core, msg.incarnation, now, fx);
    }
    return;
  }
  const m = core.members.get(msg.name);
  if (!m) {
    const record: MemberRecord = { name: msg.name, addr: msg.addr, incarnation: msg.incarnation, status: 'alive', meta: msg.meta, changedAt: now };
    put(core, record, undefined);
    // New members go at a random place in the rest of this probe round, so each is probed soon.
    core.probeOrder.splice(core.probeIndex + core.rng.int(core.probeOrder.length - core.probeIndex + 1), 0, msg.name);
    fx.events.push({ type: 'join', member: snapshotOf(record) });
    if (rebroadcast) core.broadcasts.push(msg.name, msg);
    return;
  }
  const wasLive = isLive(m.status);
  if (wasLive && msg.addr !== m.addr) {
    // Two live members with one name: report it and keep the one we know, until it is declared dead.
    conflict(core, m, msg, fx);
    return;
  }
  if (msg.incarnation <= m.incarnation) return;
  const changed = !sameMeta(m.meta, msg.meta) || m.addr !== msg.addr;
  const record: MemberRecord = {
    name: m.name,
    addr: msg.addr,
    incarnation: msg.incarnation,
    status: 'alive',
    meta: changed ? msg.meta : m.meta,
    changedAt: m.status === 'alive' ? m.changedAt : now,
  };
  put(core, record, m);
  core.suspicions.delete(m.name);
  if (m.status === 'suspect') fx.suspicion.push({ name: m.name, suspect: false });
  if (!wasLive) fx.events.push({ type: 'join', member: snapshotOf(record) });
  else if (changed) fx.events.push({ type: 'update', member: snapshotOf(record) });
  core.broadcasts.push(m.name, msg);
}

function onSuspect(core: Core, msg: Suspect, now: number, fx: Effects): void {
  if (msg.name === core.self.name) {
    if (core.leaving || msg.incarnation < core.self.incarnation) return;
    // Being suspected hints that we are the slow one: raise awareness, then refute.
    core.awareness = adjustAwareness(core.awareness, 1, core.config.awarenessMaxMultiplier);
    refute(core, msg.incarnation, now, fx);
    return;
  }
  const m = core.members.get(msg.name);
  if (!m || msg.incarnation < m.incarnation || !isLive(m.status)) return;
  if (m.status === 'suspect') {
    const suspicion = core.suspicions.get(m.name);
    if (msg.incarnation > m.incarnation) put(core, withStatus(m, 'suspect', msg.incarnation, now), m);
    if (!suspicion) {
      core.suspicions.set(m.name, startSuspicion(core.config, core.live, msg.from, now));
      return;
    }
    // A new independent confirmation shortens our timer; passing it on shortens the others'.
    if (confirmSuspicion(suspicion, msg.from)) core.broadcasts.push(m.name, msg);
    return;
  }
  put(core, withStatus(m, 'suspect', msg.incarnation, now), m);
  core.suspicions.set(m.name, startSuspicion(core.config, core.live, msg.from, now));
  core.broadcasts.push(m.name, msg);
  core.stats.suspicions++;
  fx.suspicion.push({ name: m.name, suspect: true });
}

function onDead(core: Core, msg: Dead, now: number, fx: Effects): void {
  if (msg.name === core.self.name) {
    // Our own goodbye coming back is expected; anyone else's verdict on us is refuted.
    if (!core.leaving && msg.incarnation >= core.self.incarnation) refute(core, msg.incarnation, now, fx);
    return;
  }
  const m = core.members.get(msg.name);
  if (!m || msg.incarnation < m.incarnation || !isLive(m.status)) return;
  const left = msg.from === msg.name;
  const record = withStatus(m, left ? 'left' : 'dead', msg.incarnation, now);
  put(core, record, m);
  // A member that left is not coming back at that address; a failed one may be just cut off.
  if (left) core.reconnect.delete(m.name);
  else core.reconnect.set(m.name, { addr: m.addr, failedAt: now });
  core.suspicions.delete(m.name);
  fx.events.push({ type: left ? 'leave' : 'fail', member: snapshotOf(record) });
  core.broadcasts.push(m.name, msg);
}

function announceSelf(core: Core, now: number, fx: Effects): void {
  const self = core.self;
  core.broadcasts.push(self.name, { type: 'alive', name: self.name, addr: self.addr, incarnation: self.incarnation, meta: self.meta });
  sendUrgent(core, now, fx);
}

// ---------------------------------------------------------------- dissemination

function retransmits(core: Core): number {
  return retransmitLimit(core.config, core.live);
}

/** Room in a packet for piggybacked broadcasts. */
function piggybackBudget(core: Core): number {
  return core.config.udpBufferSize - PACKET_RESERVE_BYTES;
}

/** The primary message plus as many queued broadcasts as fit in the packet. */
function withPiggyback(core: Core, primary: PacketMessage): (PacketMessage | Uint8Array)[] {
  if (core.broadcasts.size === 0) return [primary];
  const budget = piggybackBudget(core) - encodeMessage(primary).length;
  return [primary, ...core.broadcasts.take(budget, retransmits(core))];
}

/** Dead members still worth gossiping to, so a live one wrongly declared dead learns it and refutes. */
function recentlyDead(core: Core, m: MemberRecord, now: number): boolean {
  return m.status === 'dead' && now - m.changedAt < core.config.gossipToTheDeadMs;
}

function gossip(core: Core, now: number, fx: Effects): void {
  core.nextGossipAt = now + core.config.gossipIntervalMs;
  if (core.broadcasts.size === 0) return;
  // Fresh random targets each round, independent of earlier rounds: a member missed by one
  // wave of news is as likely as any to be reached by the next.
  const targets = randomMembers(core, core.config.gossipNodes, (m) => isLive(m.status) || recentlyDead(core, m, now));
  for (const target of targets) {
    const msgs = core.broadcasts.take(piggybackBudget(core), retransmits(core));
    if (msgs.length === 0) break;
    fx.packets.push({ to: target.addr, msgs });
  }
}

/**
 * Sends what is queued to `urgentFanout` members at once instead of waiting
 * for gossip rounds: for news that must travel fast (a join, a leave, a
 * refutation, a process known to be gone). Gossip carries it further; this
 * counts as one transmission.
 */
function sendUrgent(core: Core, now: number, fx: Effects): void {
  const targets = randomMembers(core, core.config.urgentFanout, (m) => isLive(m.status) || recentlyDead(core, m, now));
  if (targets.length === 0) return;
  const queued = core.broadcasts.take(piggybackBudget(core), Number.POSITIVE_INFINITY);
  if (queued.length === 0) return;
  for (const target of targets) fx.packets.push({ to: target.addr, msgs: queued });
}

function leave(core: Core, now: number, fx: Effects): void {
  if (core.leaving) return;
  core.leaving = true;
  core.nextJoinAt = Number.POSITIVE_INFINITY;
  const self = core.self;
  core.broadcasts.push(self.name, { type: 'dead', name: self.name, incarnation: self.incarnation, from: self.name });
  sendUrgent(core, now, fx);
  core.leaveDeadline = now + core.config.leaveTimeoutMs;
  if (core.live <= 1) {
    reportLeft(core, fx);
    return;
  }
  // Keep passing the goodbye on through gossip until it has been sent enough or the deadline passes.
  gossip(core, now, fx);
  if (!core.broadcasts.has(self.name)) reportLeft(core, fx);
}

function reportLeft(core: Core, fx: Effects): void {
  core.leaveReported = true;
  core.leaveDeadline = Number.POSITIVE_INFINITY;
  fx.leaveDone = true;
}

// ---------------------------------------------------------------- push-pull

function pushPullMessage(core: Core, join: boolean): PushPull {
  // Records are immutable and hold the MemberState fields; the codec reads only those.
  return { type: 'pushPull', join, from: core.self.name, members: [...core.members.values()] };
}

function merge(core: Core, msg: PushPull, now: number, fx: Effects): void {
  for (const remote of msg.members) {
    switch (remote.status) {
      case 'alive': {
        // While joining, the members the sender knows of are known to the others too: no need to
        // gossip them again. Once joined, a member new to us is news to our side as well (two
        // halves of a healed partition meeting), as are the sender and any change to one we know.
        const news = core.joined || remote.name === msg.from || core.members.has(remote.name);
        const alive: Alive = { type: 'alive', name: remote.name, addr: remote.addr, incarnation: remote.incarnation, meta: remote.meta };
        onAlive(core, alive, now, fx, news);
        break;
      }
      case 'left':
        onDead(core, { type: 'dead', name: remote.name, incarnation: remote.incarnation, from: remote.name }, now, fx);
        break;
      // Another node's suspicion or verdict is only a suspicion here, so a live member can still refute it.
      case 'suspect':
      case 'dead':
        onSuspect(core, { type: 'suspect', name: remote.name, incarnation: remote.incarnation, from: msg.from }, now, fx);
        break;
    }
  }
}

// ---------------------------------------------------------------- helpers

/** Up to `count` distinct random members other than self that pass `keep`. */
function randomMembers(core: Core, count: number, keep: (m: MemberRecord) => boolean): MemberRecord[] {
  const out: MemberRecord[] = [];
  const all = core.members;
  if (all.size <= 4 * count + 16) {
    for (const m of all.values()) if (m !== core.self && keep(m)) out.push(m);
    core.rng.shuffle(out);
    if (out.length > count) out.length = count;
    return out;
  }
  // Large tables: sample the probe order (the names, in random order) instead of copying the table.
  const names = core.probeOrder.length >= all.size / 2 ? core.probeOrder : [...all.keys()];
  const seen = new Set<string>();
  for (let tries = 0; tries < count * 8 && out.length < count; tries++) {
    const name = names[core.rng.int(names.length)]!;
    if (seen.has(name)) continue;
    seen.add(name);
    const m = all.get(name);
    if (m && m !== core.self && keep(m)) out.push(m);
  }
  return out;
}
