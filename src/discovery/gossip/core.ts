/**
 * The SWIM protocol core with the Lifeguard refinements, sans I/O: it takes
 * an input (a timer tick, a packet, a stream, a command) and the time, updates
 * its state, and returns what to send and which membership changes happened.
 * No sockets, no clock, no `Math.random`: the same core runs over UDP and TCP
 * and in the simulated network, deterministically for a given seed.
 *
 * The state is mutated in place (a 1,000-member simulation holds a million
 * member records); callers treat it as opaque and use the functions here.
 */
import { BroadcastQueue } from './broadcasts.js';
import { pushPullIntervalFor, retransmitLimit, suspicionMinMs, type GossipConfig } from './config.js';
import type { Alive, Dead, MemberState, MemberStatus, PacketMessage, PushPull, Suspect } from './messages.js';
import { Rng } from './rng.js';

export type { MemberState, MemberStatus } from './messages.js';

/** A membership change this node observed. */
export type MemberEvent =
  | { readonly type: 'join' | 'update'; readonly member: MemberState }
  | { readonly type: 'leave'; readonly member: MemberState }
  | { readonly type: 'fail'; readonly member: MemberState }
  | { readonly type: 'conflict'; readonly existing: MemberState; readonly incoming: MemberState };

export type Input =
  | { readonly type: 'tick' }
  | { readonly type: 'packet'; readonly from: string; readonly msgs: readonly PacketMessage[] }
  | { readonly type: 'stream'; readonly from: string; readonly msg: PushPull }
  | { readonly type: 'streamReply'; readonly from: string; readonly msg: PushPull }
  | { readonly type: 'streamFailed'; readonly to: string; readonly error: string }
  | { readonly type: 'join'; readonly seeds: readonly string[] }
  | { readonly type: 'leave' }
  | { readonly type: 'setMeta'; readonly meta: Readonly<Record<string, string>> }
  | { readonly type: 'peerGone'; readonly name: string }
  | { readonly type: 'probeNow'; readonly name: string };

export interface Effects {
  /** UDP: messages for one packet each (the transport splits by size). Broadcasts are piggybacked as encoded bytes. */
  readonly packets: { readonly to: string; readonly msgs: (PacketMessage | Uint8Array)[] }[];
  /** TCP push-pull requests to make; answer with `streamReply` or `streamFailed`. */
  readonly streams: { readonly to: string; readonly msg: PushPull }[];
  /** The answer to an incoming `stream`. */
  reply: PushPull | undefined;
  readonly events: MemberEvent[];
  /** Set once a graceful leave has been sent on. */
  leaveDone: boolean;
}

interface Member {
  name: string;
  addr: string;
  incarnation: number;
  status: MemberStatus;
  meta: Readonly<Record<string, string>>;
  /** When the status last changed, for reclaiming dead members and gossip to the dead. */
  changedAt: number;
}

interface Suspicion {
  readonly startedAt: number;
  readonly confirmations: Set<string>;
  readonly minMs: number;
  readonly maxMs: number;
  deadline: number;
}

interface Probe {
  readonly target: string;
  readonly startedAt: number;
  readonly directDeadline: number;
  readonly endDeadline: number;
  indirectSent: boolean;
  expectedNacks: number;
  nacks: number;
}

interface Relay {
  readonly origin: string;
  readonly originSeq: number;
  readonly deadline: number;
  readonly nack: boolean;
}

export interface Core {
  readonly config: GossipConfig;
  readonly self: Member;
  readonly members: Map<string, Member>;
  readonly rng: Rng;
  readonly broadcasts: BroadcastQueue;
  readonly suspicions: Map<string, Suspicion>;
  readonly probes: Map<number, Probe>;
  readonly relays: Map<number, Relay>;
  /** Addresses with a push-pull under way that we started because our views differed. */
  readonly exchanging: Set<string>;
  probeOrder: string[];
  probeIndex: number;
  gossipOrder: string[];
  gossipIndex: number;
  probeNext: string | undefined;
  seq: number;
  awareness: number;
  nextProbeAt: number;
  nextGossipAt: number;
  nextPushPullAt: number;
  seeds: readonly string[];
  joined: boolean;
  joinAttempts: number;
  nextJoinAt: number;
  leaving: boolean;
  leaveDeadline: number;
  leaveReported: boolean;
  /** Outcomes of recent probes (true = answered), newest last. */
  readonly recentProbes: boolean[];
  /** Set once any push-pull with anyone has completed. */
  exchanged: boolean;
  /** Members alive or suspect, self included; kept as statuses change. */
  live: number;
  nextReclaimAt: number;
}

const RECENT_PROBES = 16;

/** A new core for `self`. Its incarnation starts at the time in seconds, so a restarted member outranks its past self. */
export function createCore(options: {
  config: GossipConfig;
  self: { name: string; addr: string; meta: Readonly<Record<string, string>> };
  seed: number;
  now: number;
}): Core {
  const { config, now } = options;
  const self: Member = {
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
    self,
    members: new Map([[self.name, self]]),
    rng,
    broadcasts: new BroadcastQueue(),
    suspicions: new Map(),
    probes: new Map(),
    relays: new Map(),
    exchanging: new Set(),
    probeOrder: [],
    probeIndex: 0,
    gossipOrder: [],
    gossipIndex: 0,
    probeNext: undefined,
    seq: rng.int(1 << 30),
    awareness: 0,
    nextProbeAt: now + rng.int(config.probeIntervalMs),
    nextGossipAt: now + config.gossipIntervalMs,
    nextPushPullAt: now + config.pushPullIntervalMs,
    seeds: [],
    joined: true,
    joinAttempts: 0,
    nextJoinAt: Number.POSITIVE_INFINITY,
    leaving: false,
    leaveDeadline: Number.POSITIVE_INFINITY,
    leaveReported: false,
    recentProbes: [],
    exchanged: false,
    live: 1,
    nextReclaimAt: now + config.deadReclaimMs,
  };
}

const newEffects = (): Effects => ({ packets: [], streams: [], reply: undefined, events: [], leaveDone: false });

/**
 * Seeds the table with members known to be alive, as a completed join would.
 * For simulations that start from a converged cluster; no events, no gossip.
 */
export function bootstrap(core: Core, known: readonly MemberState[], now: number): void {
  for (const state of known) {
    if (state.name === core.self.name || core.members.has(state.name)) continue;
    core.members.set(state.name, { ...state, changedAt: now });
    if (isLive(state.status)) core.live++;
  }
  core.probeOrder = core.rng.shuffle([...core.members.keys()]);
  core.probeIndex = 0;
}

/** Every member this node knows, itself included, as plain values. */
export function members(core: Core): MemberState[] {
  return [...core.members.values()].map(snapshotOf);
}

function snapshotOf(m: Member): MemberState {
  return { name: m.name, addr: m.addr, incarnation: m.incarnation, status: m.status, meta: m.meta };
}

/** Members counted for timeouts and limits: those not dead or gone. */
function liveCount(core: Core): number {
  return core.live;
}

const isLive = (status: MemberStatus) => status === 'alive' || status === 'suspect';

/** Changes a member's status, keeping the live count. */
function setStatus(core: Core, m: Member, status: MemberStatus, now: number): void {
  if (m.status === status) return;
  core.live += (isLive(status) ? 1 : 0) - (isLive(m.status) ? 1 : 0);
  m.status = status;
  m.changedAt = now;
}

/** How this node is doing, for the adapter's health. */
export function health(core: Core): { joined: boolean; awareness: number; recentProbeFailureRatio: number; members: number } {
  const probes = core.recentProbes;
  const failed = probes.filter((ok) => !ok).length;
  return {
    joined: core.joined,
    awareness: core.awareness,
    recentProbeFailureRatio: probes.length === 0 ? 0 : failed / probes.length,
    members: liveCount(core),
  };
}

/** The earliest time at which `handle(core, { type: 'tick' })` has work to do. */
export function nextDeadline(core: Core): number {
  let next = Math.min(core.nextProbeAt, core.nextPushPullAt, core.nextJoinAt, core.leaveDeadline);
  if (core.broadcasts.size > 0) next = Math.min(next, core.nextGossipAt);
  for (const probe of core.probes.values()) next = Math.min(next, probe.indirectSent ? probe.endDeadline : probe.directDeadline);
  for (const relay of core.relays.values()) next = Math.min(next, relay.deadline);
  for (const suspicion of core.suspicions.values()) next = Math.min(next, suspicion.deadline);
  return next;
}

/** Feeds one input to the core at time `now`; returns what to do. */
export function handle(core: Core, input: Input, now: number): Effects {
  const fx = newEffects();
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
        // Announce ourselves straight to many members: the seed's gossip alone may miss some.
        announceSelf(core, now, fx);
      }
      break;
    case 'streamFailed':
      core.exchanging.delete(input.to);
      // A failed join attempt is retried on the join schedule; a failed periodic exchange waits for the next one.
      break;
    case 'join':
      core.seeds = input.seeds.filter((s) => s !== core.self.addr);
      if (core.seeds.length > 0) {
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
      if (!core.leaving) {
        core.self.meta = input.meta;
        core.self.incarnation++;
        announceSelf(core, now, fx);
      }
      break;
    case 'peerGone': {
      // The member's host refused a connection to its port: the process is gone.
      const m = core.members.get(input.name);
      if (m && m !== core.self && (m.status === 'alive' || m.status === 'suspect')) {
        onDead(core, { type: 'dead', name: m.name, incarnation: m.incarnation, from: core.self.name }, now, fx);
        sendToMany(core, fx, now);
      }
      break;
    }
    case 'probeNow':
      if (core.members.get(input.name)?.status === 'alive' || core.members.get(input.name)?.status === 'suspect') {
        core.probeNext = input.name;
        core.nextProbeAt = now;
        tick(core, now, fx);
      }
      break;
  }
  return fx;
}

// ---------------------------------------------------------------- timers

function tick(core: Core, now: number, fx: Effects): void {
  const { config } = core;
  if (core.leaving && !core.leaveReported && (now >= core.leaveDeadline || !core.broadcasts.has(core.self.name))) {
    core.leaveReported = true;
    core.leaveDeadline = Number.POSITIVE_INFINITY;
    fx.leaveDone = true;
  }
  if (core.leaving) {
    // A leaving member only passes its goodbye on.
    if (now >= core.nextGossipAt) gossip(core, now, fx);
    return;
  }
  if (now >= core.nextJoinAt) joinAttempt(core, now, fx);
  for (const [seq, probe] of core.probes) {
    if (!probe.indirectSent && now >= probe.directDeadline) indirectProbe(core, seq, probe, now, fx);
    else if (probe.indirectSent && now >= probe.endDeadline) probeFailed(core, seq, probe, now, fx);
  }
  for (const [seq, relay] of core.relays) {
    if (now >= relay.deadline) {
      core.relays.delete(seq);
      if (relay.nack) fx.packets.push({ to: relay.origin, msgs: [{ type: 'nack', seq: relay.originSeq }] });
    }
  }
  for (const [name, suspicion] of core.suspicions) {
    if (now >= suspicion.deadline) {
      core.suspicions.delete(name);
      const m = core.members.get(name);
      if (m?.status === 'suspect') onDead(core, { type: 'dead', name, incarnation: m.incarnation, from: core.self.name }, now, fx);
    }
  }
  if (now >= core.nextProbeAt) {
    probe(core, now, fx);
    core.nextProbeAt = now + config.probeIntervalMs * (core.awareness + 1);
  }
  if (now >= core.nextGossipAt) gossip(core, now, fx);
  if (now >= core.nextPushPullAt) {
    core.nextPushPullAt = now + pushPullIntervalFor(config, liveCount(core));
    const target = randomMembers(core, 1, (m) => m.status === 'alive')[0];
    if (target) fx.streams.push({ to: target.addr, msg: pushPullMessage(core, false) });
  }
  if (now >= core.nextReclaimAt) {
    core.nextReclaimAt = now + Math.max(1000, config.deadReclaimMs / 4);
    reclaim(core, now);
  }
}

function joinAttempt(core: Core, now: number, fx: Effects): void {
  for (const seed of core.seeds) fx.streams.push({ to: seed, msg: pushPullMessage(core, true) });
  core.joinAttempts++;
  const delay = Math.min(core.config.joinRetryMs * 2 ** (core.joinAttempts - 1), core.config.joinRetryMaxMs);
  core.nextJoinAt = now + delay;
}

/** Forgets dead and left members after `deadReclaimMs`, so the table does not grow forever. */
function reclaim(core: Core, now: number): void {
  for (const [name, m] of core.members) {
    if ((m.status === 'dead' || m.status === 'left') && now - m.changedAt > core.config.deadReclaimMs) core.members.delete(name);
  }
}

// ---------------------------------------------------------------- probing

function nextProbeTarget(core: Core): Member | undefined {
  if (core.probeNext !== undefined) {
    const wanted = core.members.get(core.probeNext);
    core.probeNext = undefined;
    if (wanted && (wanted.status === 'alive' || wanted.status === 'suspect')) return wanted;
  }
  for (let attempts = 0; attempts < 2; attempts++) {
    while (core.probeIndex < core.probeOrder.length) {
      const m = core.members.get(core.probeOrder[core.probeIndex++]!);
      if (m && m !== core.self && (m.status === 'alive' || m.status === 'suspect')) return m;
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
  const seq = ++core.seq;
  const scale = core.awareness + 1;
  core.probes.set(seq, {
    target: target.name,
    startedAt: now,
    directDeadline: now + config.probeTimeoutMs * scale,
    endDeadline: now + config.probeIntervalMs * scale,
    indirectSent: false,
    expectedNacks: 0,
    nacks: 0,
  });
  fx.packets.push({ to: target.addr, msgs: withPiggyback(core, [{ type: 'ping', seq, target: target.name, from: core.self.name }]) });
}

function indirectProbe(core: Core, seq: number, probe: Probe, now: number, fx: Effects): void {
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
  // Lifeguard: if the relays did not even answer with nacks, the trouble may be ours.
  const missing = probe.expectedNacks - probe.nacks;
  if (missing > 0 || probe.expectedNacks === 0) adjustAwareness(core, missing > 0 ? 1 : 0);
  const m = core.members.get(probe.target);
  // Failing to reach a member already suspected is an independent confirmation worth telling others.
  if (m && (m.status === 'alive' || m.status === 'suspect')) {
    onSuspect(core, { type: 'suspect', name: m.name, incarnation: m.incarnation, from: core.self.name }, now, fx);
  }
}

function adjustAwareness(core: Core, delta: number): void {
  core.awareness = Math.max(0, Math.min(core.config.awarenessMaxMultiplier - 1, core.awareness + delta));
}

// ---------------------------------------------------------------- messages

function onMessage(core: Core, msg: PacketMessage, from: string, now: number, fx: Effects): void {
  switch (msg.type) {
    case 'ping':
      // A ping for another name reached us at a reused address: ignore it.
      if (msg.target !== core.self.name || core.leaving) return;
      fx.packets.push({ to: from, msgs: withPiggyback(core, [{ type: 'ack', seq: msg.seq }]) });
      // A member we have never heard of knows us: our views differ, so exchange them now
      // rather than at the next periodic push-pull.
      if (!core.members.has(msg.from) && !core.exchanging.has(from)) {
        core.exchanging.add(from);
        fx.streams.push({ to: from, msg: pushPullMessage(core, false) });
      }
      return;
    case 'indirect': {
      const seq = ++core.seq;
      core.relays.set(seq, { origin: from, originSeq: msg.seq, deadline: now + core.config.probeTimeoutMs, nack: msg.nack });
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
        recordProbe(core, true);
        adjustAwareness(core, -1);
      }
      return;
    }
    case 'nack': {
      const probe = core.probes.get(msg.seq);
      if (probe) probe.nacks++;
      return;
    }
    case 'alive':
      onAlive(core, msg, now, fx);
      return;
    case 'suspect':
      onSuspect(core, msg, now, fx);
      return;
    case 'dead':
      onDead(core, msg, now, fx);
      return;
  }
}

function sameMeta(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ak = Object.keys(a);
  if (ak.length !== Object.keys(b).length) return false;
  return ak.every((k) => a[k] === b[k]);
}

function onAlive(core: Core, msg: Alive, now: number, fx: Effects, rebroadcast = true): void {
  if (msg.name === core.self.name) {
    // Someone claims to be us at another address, or holds a newer view of us: outrank it.
    if (!core.leaving && (msg.addr !== core.self.addr || msg.incarnation > core.self.incarnation)) {
      if (msg.addr !== core.self.addr) {
        fx.events.push({ type: 'conflict', existing: snapshotOf(core.self), incoming: { ...msg, status: 'alive' } });
      }
      core.self.incarnation = Math.max(core.self.incarnation, msg.incarnation) + 1;
      announceSelf(core, now, fx);
    }
    return;
  }
  const m = core.members.get(msg.name);
  if (!m) {
    const member: Member = { name: msg.name, addr: msg.addr, incarnation: msg.incarnation, status: 'alive', meta: msg.meta, changedAt: now };
    core.members.set(msg.name, member);
    core.live++;
    // New members go at a random place in the probe order, so each is probed soon.
    core.probeOrder.splice(core.probeIndex + core.rng.int(core.probeOrder.length - core.probeIndex + 1), 0, msg.name);
    fx.events.push({ type: 'join', member: snapshotOf(member) });
    if (rebroadcast) core.broadcasts.push(msg.name, msg);
    return;
  }
  const live = m.status === 'alive' || m.status === 'suspect';
  if (live && msg.addr !== m.addr) {
    // Two live members with one name: report it, keep the one we know.
    fx.events.push({ type: 'conflict', existing: snapshotOf(m), incoming: { ...msg, status: 'alive' } });
    return;
  }
  if (msg.incarnation <= m.incarnation) return;
  const wasLive = live;
  const metaChanged = !sameMeta(m.meta, msg.meta) || m.addr !== msg.addr;
  m.incarnation = msg.incarnation;
  m.addr = msg.addr;
  m.meta = msg.meta;
  setStatus(core, m, 'alive', now);
  core.suspicions.delete(m.name);
  if (!wasLive) fx.events.push({ type: 'join', member: snapshotOf(m) });
  else if (metaChanged) fx.events.push({ type: 'update', member: snapshotOf(m) });
  core.broadcasts.push(m.name, msg);
}

function onSuspect(core: Core, msg: Suspect, now: number, fx: Effects): void {
  if (msg.name === core.self.name) {
    if (core.leaving) return;
    // Refute: a newer incarnation of ourselves alive. Being suspected hints we are slow ourselves.
    if (msg.incarnation >= core.self.incarnation) {
      core.self.incarnation = msg.incarnation + 1;
      adjustAwareness(core, 1);
      announceSelf(core, now, fx);
    }
    return;
  }
  const m = core.members.get(msg.name);
  if (!m || msg.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return;
  if (m.status === 'suspect') {
    const suspicion = core.suspicions.get(m.name);
    if (msg.from === core.self.name) {
      // Our own failed probe: tell the others, whose timers it shortens.
      core.broadcasts.push(m.name, msg);
    } else if (suspicion && !suspicion.confirmations.has(msg.from)) {
      suspicion.confirmations.add(msg.from);
      suspicion.deadline = suspicion.startedAt + suspicionTimeout(core, suspicion);
      core.broadcasts.push(m.name, msg);
    }
    return;
  }
  setStatus(core, m, 'suspect', now);
  m.incarnation = msg.incarnation;
  const minMs = suspicionMinMs(core.config, liveCount(core));
  const suspicion: Suspicion = {
    startedAt: now,
    confirmations: new Set(msg.from === core.self.name ? [] : [msg.from]),
    minMs,
    maxMs: minMs * core.config.suspicionMaxTimeoutMult,
    deadline: 0,
  };
  suspicion.deadline = now + suspicionTimeout(core, suspicion);
  core.suspicions.set(m.name, suspicion);
  core.broadcasts.push(m.name, msg);
}

/**
 * Lifeguard's timeout: the longest at first, shrinking logarithmically with
 * each independent confirmation to the shortest after `k` of them.
 */
export function suspicionTimeoutMs(minMs: number, maxMs: number, confirmations: number, k: number): number {
  if (k < 1) return minMs;
  const fraction = Math.log(confirmations + 1) / Math.log(k + 1);
  return Math.max(minMs, Math.floor(maxMs - (maxMs - minMs) * Math.min(1, fraction)));
}

function suspicionTimeout(core: Core, s: Suspicion): number {
  // In a small cluster there are not enough others to confirm: expect fewer.
  const k = Math.min(core.config.suspicionConfirmations, Math.max(0, liveCount(core) - 2));
  return suspicionTimeoutMs(s.minMs, s.maxMs, s.confirmations.size, k);
}

function onDead(core: Core, msg: Dead, now: number, fx: Effects): void {
  if (msg.name === core.self.name) {
    if (!core.leaving && msg.incarnation >= core.self.incarnation) {
      core.self.incarnation = msg.incarnation + 1;
      announceSelf(core, now, fx);
    }
    return;
  }
  const m = core.members.get(msg.name);
  if (!m || msg.incarnation < m.incarnation || m.status === 'dead' || m.status === 'left') return;
  const left = msg.from === msg.name;
  setStatus(core, m, left ? 'left' : 'dead', now);
  m.incarnation = msg.incarnation;
  core.suspicions.delete(m.name);
  fx.events.push({ type: left ? 'leave' : 'fail', member: snapshotOf(m) });
  core.broadcasts.push(m.name, msg);
}

function announceSelf(core: Core, now: number, fx: Effects): void {
  const self = core.self;
  core.broadcasts.push(self.name, { type: 'alive', name: self.name, addr: self.addr, incarnation: self.incarnation, meta: self.meta });
  sendToMany(core, fx, now);
}

// ---------------------------------------------------------------- dissemination

function retransmits(core: Core): number {
  return retransmitLimit(core.config, liveCount(core));
}

/** `msgs` plus as many queued broadcasts as fit in the packet. */
function withPiggyback(core: Core, msgs: PacketMessage[]): (PacketMessage | Uint8Array)[] {
  // Headroom for the primary message and the packet header.
  const budget = core.config.udpBufferSize - 160;
  return [...msgs, ...core.broadcasts.take(budget, retransmits(core))];
}

function gossip(core: Core, now: number, fx: Effects): void {
  core.nextGossipAt = now + core.config.gossipIntervalMs;
  if (core.broadcasts.size === 0) return;
  const { gossipToTheDeadMs } = core.config;
  const targets = rotatingMembers(
    core,
    core.config.gossipNodes,
    (m) => m.status === 'alive' || m.status === 'suspect' || now - m.changedAt < gossipToTheDeadMs,
  );
  for (const target of targets) {
    const msgs = core.broadcasts.take(core.config.udpBufferSize - 8, retransmits(core));
    if (msgs.length === 0) break;
    fx.packets.push({ to: target.addr, msgs });
  }
}

/**
 * Sends what is queued to many members at once instead of waiting for gossip
 * rounds: for news that must travel fast (a leave, a refutation, a process
 * known to be gone). At most 32 members; gossip carries it further.
 */
function sendToMany(core: Core, fx: Effects, now: number): void {
  const targets = randomMembers(core, 32, (m) => m.status === 'alive' || m.status === 'suspect' || now - m.changedAt < 1000);
  const queued = core.broadcasts.take(core.config.udpBufferSize - 8, Number.POSITIVE_INFINITY);
  if (queued.length === 0) return;
  for (const target of targets) fx.packets.push({ to: target.addr, msgs: queued });
}

function leave(core: Core, now: number, fx: Effects): void {
  if (core.leaving) return;
  core.leaving = true;
  const self = core.self;
  core.broadcasts.push(self.name, { type: 'dead', name: self.name, incarnation: self.incarnation, from: self.name });
  sendToMany(core, fx, now);
  core.leaveDeadline = now + core.config.leaveTimeoutMs;
  if (liveCount(core) <= 1) {
    core.leaveReported = true;
    core.leaveDeadline = Number.POSITIVE_INFINITY;
    fx.leaveDone = true;
    return;
  }
  // Keep passing the goodbye on through gossip until it has been sent enough or the deadline passes.
  core.nextGossipAt = now;
  gossip(core, now, fx);
  if (!core.broadcasts.has(self.name)) {
    core.leaveReported = true;
    core.leaveDeadline = Number.POSITIVE_INFINITY;
    fx.leaveDone = true;
  }
}

// ---------------------------------------------------------------- push-pull

function pushPullMessage(core: Core, join: boolean): PushPull {
  return { type: 'pushPull', join, from: core.self.name, members: members(core) };
}

function merge(core: Core, msg: PushPull, now: number, fx: Effects): void {
  core.exchanged = true;
  for (const remote of msg.members) {
    switch (remote.status) {
      case 'alive':
        // Members new to us that the sender merely knows of are known to the others too: no
        // need to gossip them again. The sender itself, and any change, are news worth passing on.
        onAlive(
          core,
          { type: 'alive', name: remote.name, addr: remote.addr, incarnation: remote.incarnation, meta: remote.meta },
          now,
          fx,
          remote.name === msg.from || core.members.has(remote.name),
        );
        break;
      case 'left':
        onDead(core, { type: 'dead', name: remote.name, incarnation: remote.incarnation, from: remote.name }, now, fx);
        break;
      // Another node's suspicion or verdict is only a suspicion here, so a live member can still refute it.
      case 'suspect':
      case 'dead':
        if (core.members.has(remote.name) || remote.name === core.self.name) {
          onSuspect(core, { type: 'suspect', name: remote.name, incarnation: remote.incarnation, from: msg.from }, now, fx);
        }
        break;
    }
  }
}

// ---------------------------------------------------------------- helpers

/**
 * The next `count` members passing `keep` from a shuffled rotation, so
 * successive gossip rounds reach different members rather than random repeats.
 */
function rotatingMembers(core: Core, count: number, keep: (m: Member) => boolean): Member[] {
  const out: Member[] = [];
  for (let scanned = 0; out.length < count && scanned <= core.members.size; scanned++) {
    if (core.gossipIndex >= core.gossipOrder.length) {
      core.gossipOrder = core.rng.shuffle([...core.members.keys()]);
      core.gossipIndex = 0;
      if (core.gossipOrder.length === 0) break;
    }
    const m = core.members.get(core.gossipOrder[core.gossipIndex++]!);
    if (m && m !== core.self && keep(m) && !out.includes(m)) out.push(m);
  }
  return out;
}

/** Up to `count` distinct random members other than self that pass `keep`. */
function randomMembers(core: Core, count: number, keep: (m: Member) => boolean): Member[] {
  const out: Member[] = [];
  const all = core.members;
  if (all.size <= 64) {
    for (const m of all.values()) if (m !== core.self && keep(m)) out.push(m);
    return core.rng.shuffle(out).slice(0, count);
  }
  // Large tables: sample the probe order instead of copying the table.
  const names = core.probeOrder.length > 0 ? core.probeOrder : [...all.keys()];
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
