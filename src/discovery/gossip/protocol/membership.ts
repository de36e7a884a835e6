/** What each message means for the member table: alive, suspect and dead news, refutation, conflicts. */
import { adjustAwareness } from './awareness.js';
import { pushPullMessage, withPiggyback, sendJoinNews, sendUrgent } from './dissemination.js';
import { isNewer, newest, nextIncarnation, withinWindow } from './incarnations.js';
import type { Alive, Dead, MemberState, PacketMessage, Suspect } from '../wire/messages.js';
import { clearTcpOnly, isLive, nextSeq, recordProbe, snapshotOf, put, withStatus, type Effects, type MemberRecord, type Core } from './state.js';
import { confirmSuspicion, startSuspicion } from './suspicion.js';
import { sameMetadata } from '../../peers.js';

export function onMessage(core: Core, msg: PacketMessage, from: string, now: number, fx: Effects): void {
  switch (msg.type) {
    case 'ping': {
      // A ping for another id reached a reused address: stay silent, the prober will suspect that id.
      if (msg.target !== core.self.id || core.leaving) return;
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
      fx.packets.push({ to: msg.targetAddress, msgs: [{ type: 'ping', seq, target: msg.target, from: core.self.id }] });
      return;
    }
    case 'ack': {
      if (moveAnswered(core, msg.seq, fx)) return;
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
        if (!probe.indirectSent) {
          core.probeRttMs.set(probe.target, now - probe.sentAt);
          core.probeRtt.observe(now - probe.sentAt);
        }
        // UDP from the member itself gets through again.
        if (from === core.members.get(probe.target)?.address) clearTcpOnly(core, probe.target);
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
      onAlive(core, msg, now, fx, true, from);
      return;
    case 'suspect':
    case 'dead':
      if (!plausible(core, msg)) return;
      if (isStale(core, msg)) correct(core, msg.id, from, fx);
      else if (msg.type === 'suspect') onSuspect(core, msg, now, fx);
      else onDead(core, msg, now, fx);
      return;
  }
}

/** Whether a verdict is about an incarnation older than one we know alive. */
function isStale(core: Core, msg: Suspect | Dead): boolean {
  const m = core.members.get(msg.id);
  return m !== undefined && m.status === 'alive' && isNewer(m.incarnation, msg.incarnation);
}

/**
 * Whether a claim about a known member (or this node) moves its incarnation
 * no further than the window from what we know; one that does is counted and
 * dropped. Members we do not know yet have nothing to compare with.
 */
export function plausible(core: Core, msg: Alive | Suspect | Dead): boolean {
  const m = core.members.get(msg.id);
  if (!m || withinWindow(msg.incarnation, m.incarnation)) return true;
  core.stats.claimsOutOfWindow++;
  return false;
}

/**
 * Answers stale news with the newer alive, straight to its sender. A member
 * that missed a refutation while the wave passed would otherwise keep its
 * suspicion until the timeout and declare a live member dead; the news it
 * passes on reaches members who know better, and they set it right.
 */
function correct(core: Core, id: string, to: string, fx: Effects): void {
  const m = core.members.get(id)!;
  fx.packets.push({ to, msgs: [{ type: 'alive', id: m.id, address: m.address, incarnation: m.incarnation, metadata: m.metadata }] });
}

/** Reports a claim on `existing`'s id from another address, once per claiming address. */
function conflict(core: Core, existing: MemberState, msg: Alive, fx: Effects): void {
  if (core.conflicts.get(msg.id) === msg.address) return;
  core.conflicts.set(msg.id, msg.address);
  fx.events.push({ type: 'conflict', existing: snapshotOf(existing), incoming: { id: msg.id, address: msg.address, incarnation: msg.incarnation, status: 'alive', metadata: msg.metadata } });
}

/**
 * Raises our incarnation above `seen` and tells everyone we are alive. Past
 * the top of the incarnation space it wraps, and is still newer (see
 * incarnations.ts): there is always a way to refute.
 */
function refute(core: Core, seen: number, now: number, fx: Effects): void {
  const next = nextIncarnation(newest(core.self.incarnation, seen));
  core.stats.refutations++;
  core.self = { ...core.self, incarnation: next };
  core.members.set(core.self.id, core.self);
  announceSelf(core, now, fx);
}

/**
 * News that a member is alive. `from`, for a packet, is where it came from:
 * a member's own announcement from the address we know for it may move its
 * incarnation beyond the window (nobody else can send from there).
 */
export function onAlive(core: Core, msg: Alive, now: number, fx: Effects, rebroadcast: boolean, from?: string): void {
  const m = core.members.get(msg.id);
  const own = m !== undefined && from === m.address && msg.address === m.address;
  if (!own && !plausible(core, msg)) return;
  if (msg.id === core.self.id) {
    if (core.leaving) return;
    if (msg.address !== core.self.address) {
      // Someone else claims our id: report it, and outrank the claim so the cluster keeps us.
      conflict(core, core.self, msg, fx);
      if (!isNewer(core.self.incarnation, msg.incarnation)) refute(core, msg.incarnation, now, fx);
    } else if (isNewer(msg.incarnation, core.self.incarnation)) {
      // The cluster holds a newer incarnation of us than we do (we restarted with a slow clock).
      refute(core, msg.incarnation, now, fx);
    }
    return;
  }
  if (!m) {
    if (!admit(core, now, from !== undefined)) return;
    const record: MemberRecord = { id: msg.id, address: msg.address, incarnation: msg.incarnation, status: 'alive', metadata: msg.metadata, changedAt: now };
    put(core, record, undefined);
    // New members go at a random place in the rest of this probe round, so each is probed soon.
    core.probeOrder.splice(core.probeIndex + core.rng.int(core.probeOrder.length - core.probeIndex + 1), 0, msg.id);
    fx.events.push({ type: 'join', member: snapshotOf(record) });
    if (!rebroadcast) return;
    core.broadcasts.push(msg.id, msg);
    sendJoinNews(core, msg, now, fx, from !== undefined);
    return;
  }
  if (msg.address !== m.address) return claimMove(core, m, msg, now, fx);
  if (isNewer(msg.incarnation, m.incarnation)) applyAlive(core, m, msg, now, fx);
}

/**
 * Whether a member new to us may enter the table: under `maxMembers`, and,
 * for news by UDP gossip, within `newMembersPerSecond`. Push-pull is
 * bounded by the table alone: it is how a joiner learns everyone at once.
 */
function admit(core: Core, now: number, gossiped: boolean): boolean {
  const { maxMembers, newMembersPerSecond: rate } = core.config;
  if (core.members.size >= maxMembers) {
    core.stats.newMembersDropped++;
    return false;
  }
  if (!gossiped || rate === 0) return true;
  core.newMemberTokens = Math.min(rate, core.newMemberTokens + ((now - core.newMemberTokensAt) * rate) / 1000);
  core.newMemberTokensAt = now;
  if (core.newMemberTokens < 1) {
    core.stats.newMembersDropped++;
    return false;
  }
  core.newMemberTokens--;
  return true;
}

/**
 * A claim that a known member now lives at another address. Whoever can
 * send a packet can claim it, so it is believed only once the old address
 * has failed a direct probe: a member restarted elsewhere (a rescheduled
 * pod) is accepted within a probe interval, while a live member cannot be
 * moved away from under itself.
 */
function claimMove(core: Core, m: MemberRecord, msg: Alive, now: number, fx: Effects): void {
  if (!isNewer(msg.incarnation, m.incarnation)) {
    // Two live members with one id and nothing to tell them apart: keep the one we know.
    if (isLive(m.status)) conflict(core, m, msg, fx);
    return;
  }
  const pending = core.moves.get(m.id);
  if (pending) {
    if (isNewer(msg.incarnation, pending.alive.incarnation)) core.moves.set(m.id, { ...pending, alive: msg });
    return;
  }
  // A probe as a round gives it: the direct timeout, a second ping, and the rest of the interval.
  const seq = nextSeq(core);
  const { probeTimeoutMs, probeIntervalMs } = core.config;
  core.moves.set(m.id, { alive: msg, seq, retryAt: now + probeTimeoutMs, deadline: now + probeIntervalMs, retried: false });
  fx.packets.push({ to: m.address, msgs: [{ type: 'ping', seq, target: m.id, from: core.self.id }] });
  // Passed on while we check: each member checks for itself, so news of a real restart is not
  // held back a probe interval at every hop, and a forged one reaches the member it names, who refutes it.
  core.broadcasts.push(m.id, msg);
}

/** An ack to the probe of a pending move's old address: the member is still there, so the move was a conflict. */
function moveAnswered(core: Core, seq: number, fx: Effects): boolean {
  for (const [id, move] of core.moves) {
    if (move.seq !== seq) continue;
    core.moves.delete(id);
    const m = core.members.get(id);
    if (m) conflict(core, m, move.alive, fx);
    // We may hold it left or dead on someone's word: tell it, so that it refutes.
    if (m && !isLive(m.status)) fx.packets.push({ to: m.address, msgs: [{ type: 'dead', id: m.id, incarnation: m.incarnation, from: m.id }] });
    return true;
  }
  return false;
}

/** Pending moves whose old address stayed silent through a probe interval and a second ping: the member moved. */
export function settleMoves(core: Core, now: number, fx: Effects): void {
  for (const [id, move] of core.moves) {
    const m = core.members.get(id);
    if (!move.retried && now >= move.retryAt) {
      move.retried = true;
      if (m) fx.packets.push({ to: m.address, msgs: [{ type: 'ping', seq: move.seq, target: id, from: core.self.id }] });
    }
    if (now < move.deadline) continue;
    core.moves.delete(id);
    if (m && isNewer(move.alive.incarnation, m.incarnation)) applyAlive(core, m, move.alive, now, fx);
  }
}

/** A newer alive for a known member: its new record, events, and the news passed on. */
function applyAlive(core: Core, m: MemberRecord, msg: Alive, now: number, fx: Effects): void {
  const wasLive = isLive(m.status);
  const changed = !sameMetadata(m.metadata, msg.metadata) || m.address !== msg.address;
  const record: MemberRecord = {
    id: m.id,
    address: msg.address,
    incarnation: msg.incarnation,
    status: 'alive',
    metadata: changed ? msg.metadata : m.metadata,
    changedAt: m.status === 'alive' ? m.changedAt : now,
  };
  put(core, record, m);
  core.suspicions.delete(m.id);
  // A claim of another address still being checked loses to the member's own newer word.
  const pending = core.moves.get(m.id);
  core.moves.delete(m.id);
  if (pending && pending.alive.address !== record.address) conflict(core, record, pending.alive, fx);
  if (m.status === 'suspect') fx.suspicion.push({ id: m.id, suspect: false });
  if (!wasLive) fx.events.push({ type: 'join', member: snapshotOf(record) });
  else if (changed) fx.events.push({ type: 'update', member: snapshotOf(record) });
  core.broadcasts.push(m.id, msg);
  // Back from dead or left: news as a join is.
  if (!wasLive) sendJoinNews(core, msg, now, fx);
}

export function onSuspect(core: Core, msg: Suspect, now: number, fx: Effects): void {
  if (msg.id === core.self.id) {
    if (core.leaving || isNewer(core.self.incarnation, msg.incarnation)) return;
    // Being suspected hints that we are the slow one: raise awareness, then refute.
    core.awareness = adjustAwareness(core.awareness, 1, core.config.awarenessMaxMultiplier);
    refute(core, msg.incarnation, now, fx);
    return;
  }
  const m = core.members.get(msg.id);
  if (!m || isNewer(m.incarnation, msg.incarnation) || !isLive(m.status)) return;
  if (m.status === 'suspect') {
    const suspicion = core.suspicions.get(m.id);
    if (isNewer(msg.incarnation, m.incarnation)) put(core, withStatus(m, 'suspect', msg.incarnation, now), m);
    if (!suspicion) {
      core.suspicions.set(m.id, startSuspicion(core.config, core.live, msg.from, now));
      return;
    }
    // A new independent confirmation shortens our timer; passing it on shortens the others'.
    if (confirmSuspicion(suspicion, msg.from)) core.broadcasts.push(m.id, msg);
    return;
  }
  put(core, withStatus(m, 'suspect', msg.incarnation, now), m);
  core.suspicions.set(m.id, startSuspicion(core.config, core.live, msg.from, now));
  core.broadcasts.push(m.id, msg);
  core.stats.suspicions++;
  fx.suspicion.push({ id: m.id, suspect: true });
}

export function onDead(core: Core, msg: Dead, now: number, fx: Effects): void {
  if (msg.id === core.self.id) {
    // Our own goodbye coming back is expected; anyone else's verdict on us is refuted.
    if (!core.leaving && !isNewer(core.self.incarnation, msg.incarnation)) refute(core, msg.incarnation, now, fx);
    return;
  }
  const m = core.members.get(msg.id);
  if (!m || isNewer(m.incarnation, msg.incarnation) || !isLive(m.status)) return;
  const left = msg.from === msg.id;
  const record = withStatus(m, left ? 'left' : 'dead', msg.incarnation, now);
  put(core, record, m);
  // A member that left is not coming back at that address; a failed one may be just cut off.
  if (left) core.reconnect.delete(m.id);
  else core.reconnect.set(m.id, { address: m.address, failedAt: now });
  core.suspicions.delete(m.id);
  fx.events.push({ type: left ? 'leave' : 'fail', member: snapshotOf(record) });
  core.broadcasts.push(m.id, msg);
}

export function announceSelf(core: Core, now: number, fx: Effects): void {
  const self = core.self;
  core.broadcasts.push(self.id, { type: 'alive', id: self.id, address: self.address, incarnation: self.incarnation, metadata: self.metadata });
  sendUrgent(core, now, fx);
}
