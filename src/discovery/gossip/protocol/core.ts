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
 *
 * The parts, each in its file: `state.ts` (the state and effects),
 * `timers.ts` (what a tick does), `probing.ts`, `membership.ts` (what each
 * message means for the table), `dissemination.ts` (gossip and the leave),
 * `push-pull.ts`, `ring.ts` (whom to watch) and `tally.ts` (counts for
 * metrics). This file creates cores, answers queries about them, and routes
 * each input.
 */
import { Histogram } from '../../histogram.js';
import { BroadcastQueue } from './broadcasts.js';
import { MAX_ADDR_BYTES, MAX_NAME_BYTES } from '../wire/codec.js';
import { nextIncarnation } from './incarnations.js';
import { describeMetadataProblem, metadataProblem } from '../../metadata.js';
import { pushPullIntervalFor, type GossipConfig } from './config.js';
import { joinReplyMessage, pushPullMessage, sendUrgent, leave, randomMembers } from './dissemination.js';
import { newsFor, noteNews, spreadAnswered } from './spread.js';
import { onMessage, onDead, announceSelf } from './membership.js';
import { onStreamAck } from './probing.js';
import type { MemberState, PushPull } from '../wire/messages.js';
import { merge } from './push-pull.js';
import { rewatch, watchTargets } from './ring.js';
import { Rng } from '../../rng.js';
import { isLive, newEffects, snapshotOf, type Input, type Effects, type MemberRecord, type Core } from './state.js';
import { tick } from './timers.js';

export type { MemberState, ProtocolStatus } from '../wire/messages.js';
export type { Core, Effects, Input, MemberEvent, MemberRecord } from './state.js';
export { probeRttHistogram, probeRtts, tally, type CoreTally } from './tally.js';

function byteLength(s: string): number {
  return Buffer.byteLength(s);
}

function checkSelf(self: { id: string; address: string; metadata: Readonly<Record<string, string>> }): void {
  if (self.id.length === 0 || byteLength(self.id) > MAX_NAME_BYTES) {
    throw new RangeError(`Invalid member id ${JSON.stringify(self.id)}; expected 1 to ${MAX_NAME_BYTES} UTF-8 bytes`);
  }
  if (self.address.length === 0 || byteLength(self.address) > MAX_ADDR_BYTES) {
    throw new RangeError(`Invalid member address ${JSON.stringify(self.address)}; expected host:port of at most ${MAX_ADDR_BYTES} bytes`);
  }
  const problem = metadataProblem(self.metadata);
  if (problem) throw new RangeError(`Invalid ${describeMetadataProblem(problem)}`);
}

/**
 * A new core for `self`. Its incarnation starts at `now` in seconds, so a
 * restarted member outranks what the cluster remembers of its past self.
 * Throws a `RangeError` when the id, address or metadata are beyond the
 * codec's bounds.
 *
 * @example
 * const core = createCore({ config: lanProfile(), self: { id: 'a', address: '10.0.0.1:7946', metadata: {} }, seed: 1, now: Date.now() });
 * handle(core, { type: 'join', seeds: ['10.0.0.2:7946'] }, Date.now()); // Effects with a push-pull to the seed
 */
export function createCore(options: {
  config: GossipConfig;
  self: { id: string; address: string; metadata: Readonly<Record<string, string>> };
  seed: number;
  now: number;
}): Core {
  const { config, now } = options;
  checkSelf(options.self);
  const self: MemberRecord = {
    id: options.self.id,
    address: options.self.address,
    incarnation: Math.floor(now / 1000),
    status: 'alive',
    metadata: options.self.metadata,
    changedAt: now,
  };
  const rng = new Rng(options.seed);
  return {
    config,
    rng,
    self,
    members: new Map([[self.id, self]]),
    gone: new Set(),
    reconnect: new Map(),
    live: 1,
    broadcasts: new BroadcastQueue(),
    suspicions: new Map(),
    probes: new Map(),
    relays: new Map(),
    exchanging: new Set(),
    moves: new Map(),
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
    nextSeedRefreshAt: Number.POSITIVE_INFINITY,
    nextSpreadAt: Number.POSITIVE_INFINITY,
    spreadingTo: undefined,
    joinFollowUp: undefined,
    lastSpreadAt: Number.NEGATIVE_INFINITY,
    spreadMisses: 0,
    news: 0,
    newsSince: now,
    seeds: [],
    seedAddresses: new Set(),
    joined: true,
    joinAttempts: 0,
    nextJoinAt: Number.POSITIVE_INFINITY,
    leaving: false,
    leaveDeadline: Number.POSITIVE_INFINITY,
    leaveReported: false,
    recentProbes: [],
    probeRttMs: new Map(),
    probeRtt: new Histogram(),
    stats: { suspicions: 0, refutations: 0, claimsOutOfWindow: 0, newMembersDropped: 0, tcpFallbacks: 0, joinNewsSent: 0, joinNewsDeferred: 0 },
    newMemberTokens: config.newMembersPerSecond,
    newMemberTokensAt: now,
    joinNewsTokens: config.joinNewsPerSecond,
    joinNewsTokensAt: now,
    watching: [],
    udpUnreachable: new Set(),
    tcpOnlyProbes: new Map(),
  };
}

/**
 * A member record for {@link bootstrap}: `state` as known since `now`.
 *
 * @example
 * toRecord({ id: 'b', address: 'h:2', incarnation: 1, status: 'alive', metadata: {} }, 0);
 */
export function toRecord(state: MemberState, now: number): MemberRecord {
  return { id: state.id, address: state.address, incarnation: state.incarnation, status: state.status, metadata: state.metadata, changedAt: now };
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
    if (record.id === core.self.id || core.members.has(record.id)) continue;
    core.members.set(record.id, record);
    if (isLive(record.status)) core.live++;
    else core.gone.add(record.id);
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
 * members(core).filter((m) => m.status === 'alive').map((m) => m.id);
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
 * if (m) handle(core, { type: 'probeNow', id: m.id }, Date.now());
 */
export function liveMemberAt(core: Core, address: string): MemberState | undefined {
  let found: MemberState | undefined;
  for (const m of core.members.values()) if (m.address === address && m.status === 'alive' && m !== core.self) found = m;
  return found;
}

/**
 * The live members whose probes get through only over TCP (their UDP port is
 * blocked somewhere on the way), by id.
 *
 * @example
 * udpUnreachable(core); // ['c']
 */
export function udpUnreachable(core: Core): string[] {
  return [...core.udpUnreachable];
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
  let next = Math.min(core.nextProbeAt, core.nextPushPullAt, core.nextJoinAt, core.leaveDeadline, core.nextReclaimAt, core.nextSeedRefreshAt, core.nextSpreadAt);
  if (core.broadcasts.size > 0) next = Math.min(next, core.nextGossipAt);
  for (const probe of core.probes.values()) next = Math.min(next, probe.indirectSent ? probe.endDeadline : probe.directDeadline);
  for (const relay of core.relays.values()) next = Math.min(next, relay.deadline);
  for (const suspicion of core.suspicions.values()) next = Math.min(next, suspicion.deadline);
  for (const move of core.moves.values()) next = Math.min(next, move.retried ? move.deadline : move.retryAt);
  return next;
}

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
  // The rest of the table after a sampled join answer is still joining: no news to spread.
  const joined = core.joined && !(input.type === 'streamReply' && input.from === core.joinFollowUp);
  dispatch(core, input, now, fx);
  if (fx.events.length > 0) {
    rewatch(core, fx);
    // A joining node's first table is all news, and its join is announced anyway: it does not spread.
    if (joined) noteNews(core, fx.events, now);
  }
  return fx;
}

function dispatch(core: Core, input: Input, now: number, fx: Effects): void {
  switch (input.type) {
    case 'tick':
      return tick(core, now, fx);
    case 'packet':
      for (const msg of input.msgs) onMessage(core, msg, input.from, now, fx);
      return;
    case 'streamPing':
      // Answered as a UDP ping would be, on the stream it came on; nothing piggybacked, as it may not get through UDP.
      if (input.msg.target === core.self.id && !core.leaving) fx.ack = { type: 'ack', seq: input.msg.seq };
      return;
    case 'streamAck':
      return onStreamAck(core, input.seq);
    case 'stream':
      mergeAndSpread(core, input.from, input.msg, now, fx);
      fx.reply = input.msg.join ? joinReplyMessage(core) : pushPullMessage(core, false);
      return;
    case 'streamReply':
      return onStreamReply(core, input.from, input.msg, now, fx);
    case 'streamFailed':
      // A failed join attempt is retried on the join schedule; a failed periodic exchange waits for the next one.
      core.exchanging.delete(input.to);
      if (core.joinFollowUp === input.to) core.joinFollowUp = undefined;
      if (core.spreadingTo === input.to) spreadAnswered(core, 0, now);
      return;
    case 'seedAddresses':
      return onSeedAddresses(core, input.addresses, fx);
    case 'join':
      return onJoin(core, input.seeds, now, fx);
    case 'leave':
      return leave(core, now, fx);
    case 'setMetadata':
      return onSetMetadata(core, input.metadata, now, fx);
    case 'peerGone':
    case 'probeNow':
      return onHint(core, input, now, fx);
  }
}

function onStreamReply(core: Core, from: string, msg: PushPull, now: number, fx: Effects): void {
  core.exchanging.delete(from);
  mergeAndSpread(core, from, msg, now, fx);
  if (core.joinFollowUp === from) core.joinFollowUp = undefined;
  if (!core.joined) {
    core.joined = true;
    core.nextJoinAt = Number.POSITIVE_INFINITY;
    // Announce ourselves straight to many members: the seed's gossip alone is slower.
    announceSelf(core, now, fx);
    // A sample, not the whole table (see joinReplyMembers): the rest from a random member of it, not the seed.
    if (msg.members.length >= core.config.joinReplyMembers) joinFollowUp(core, from, fx);
  }
}

function joinFollowUp(core: Core, seed: string, fx: Effects): void {
  const target = randomMembers(core, 1, (m) => m.status === 'alive' && m.address !== seed && !core.exchanging.has(m.address))[0];
  if (!target) return;
  core.joinFollowUp = target.address;
  core.exchanging.add(target.address);
  fx.streams.push({ to: target.address, msg: pushPullMessage(core, false) });
}

/**
 * The seeds' addresses as just looked up. While joining, each gets a join
 * push-pull. Once joined, only those at which no live member is known: a
 * cluster formed apart from ours (the source listed only part of the members
 * when it started), or a member we lost, which the exchange brings back.
 */
function onSeedAddresses(core: Core, addresses: readonly string[], fx: Effects): void {
  core.seedAddresses = new Set(addresses.filter((address) => address !== core.self.address));
  if (core.leaving) return;
  if (!core.joined) {
    for (const address of core.seedAddresses) fx.streams.push({ to: address, msg: pushPullMessage(core, true) });
    return;
  }
  const live = new Set<string>();
  for (const m of core.members.values()) if (isLive(m.status)) live.add(m.address);
  for (const address of core.seedAddresses) {
    if (live.has(address) || core.exchanging.has(address)) continue;
    core.exchanging.add(address);
    fx.streams.push({ to: address, msg: pushPullMessage(core, false) });
  }
}

/** Merges a table received; for the reply to a spreading exchange, counts the news it carried either way. */
function mergeAndSpread(core: Core, from: string, msg: PushPull, now: number, fx: Effects): void {
  const before = fx.events.length;
  const joined = core.joined;
  const theirs = core.spreadingTo === from ? newsFor(core, msg) : 0;
  merge(core, msg, now, fx, !joined || core.joinFollowUp === from);
  if (!joined || core.leaving) return;
  if (core.spreadingTo === from) spreadAnswered(core, fx.events.length - before + theirs, now);
}

function onJoin(core: Core, seeds: readonly string[], now: number, fx: Effects): void {
  // Added to the seeds already known: a later join (the facade's) does not make the configured ones forgotten.
  core.seeds = [...new Set([...core.seeds, ...seeds])].filter((s) => s !== core.self.address);
  if (core.seeds.length > 0 && !core.leaving) {
    core.nextSeedRefreshAt = now + core.config.seedRefreshMs;
    core.joined = false;
    core.joinAttempts = 0;
    core.nextJoinAt = now;
    tick(core, now, fx);
  }
}

function onSetMetadata(core: Core, metadata: Readonly<Record<string, string>>, now: number, fx: Effects): void {
  if (core.leaving) return;
  core.self = { ...core.self, metadata, incarnation: nextIncarnation(core.self.incarnation) };
  core.members.set(core.self.id, core.self);
  announceSelf(core, now, fx);
}

/** What the transport learnt about a member's process. */
function onHint(core: Core, input: Extract<Input, { type: 'peerGone' | 'probeNow' }>, now: number, fx: Effects): void {
  const m = core.members.get(input.id);
  if (!m || m === core.self || !isLive(m.status) || core.leaving) return;
  if (input.type === 'peerGone') {
    // Its host refused a connection to its port: the process is gone, no need to suspect first.
    onDead(core, { type: 'dead', id: m.id, incarnation: m.incarnation, from: core.self.id }, now, fx);
    sendUrgent(core, now, fx);
    return;
  }
  core.probeNext = input.id;
  core.nextProbeAt = now;
  tick(core, now, fx);
}
