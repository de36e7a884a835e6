/** Dissemination: piggybacked broadcasts, gossip rounds, urgent fan-out, and the goodbye of a leave. */
import { retransmitLimit } from './broadcasts.js';
import { encodeMessage } from '../wire/codec.js';
import type { Alive, MemberState, PacketMessage, PushPull } from '../wire/messages.js';
import { PACKET_RESERVE_BYTES, isLive, type Effects, type MemberRecord, type Core } from './state.js';

function retransmits(core: Core): number {
  return retransmitLimit(core.config, core.live);
}

/** Room in a packet for piggybacked broadcasts. */
function piggybackBudget(core: Core): number {
  return core.config.udpBufferSize - PACKET_RESERVE_BYTES;
}

/** The primary message plus as many queued broadcasts as fit in the packet. */
export function withPiggyback(core: Core, primary: PacketMessage): (PacketMessage | Uint8Array)[] {
  if (core.broadcasts.size === 0) return [primary];
  const budget = piggybackBudget(core) - encodeMessage(primary).length;
  return [primary, ...core.broadcasts.take(budget, retransmits(core))];
}

/**
 * Dead and left members still worth gossiping to, so a live one wrongly
 * declared dead, or said to have left by a forged goodbye, learns it and refutes.
 */
function recentlyDead(core: Core, m: MemberRecord, now: number): boolean {
  return !isLive(m.status) && now - m.changedAt < core.config.gossipToTheDeadMs;
}

export function gossip(core: Core, now: number, fx: Effects): void {
  core.nextGossipAt = now + core.config.gossipIntervalMs;
  if (core.broadcasts.size === 0) return;
  // Fresh random targets each round, independent of earlier rounds: a member missed by one
  // wave of news is as likely as any to be reached by the next.
  const targets = randomMembers(core, core.config.gossipNodes, (m) => isLive(m.status) || recentlyDead(core, m, now));
  for (const target of targets) {
    const msgs = core.broadcasts.take(piggybackBudget(core), retransmits(core));
    if (msgs.length === 0) break;
    fx.packets.push({ to: target.address, msgs });
  }
}

/**
 * Sends what is queued to `urgentFanout` members at once instead of waiting
 * for gossip rounds: for news that must travel fast (a join, a leave, a
 * refutation, a process known to be gone). Gossip carries it further; this
 * counts as one transmission.
 */
export function sendUrgent(core: Core, now: number, fx: Effects): void {
  const targets = randomMembers(core, core.config.urgentFanout, (m) => isLive(m.status) || recentlyDead(core, m, now));
  if (targets.length === 0) return;
  const queued = core.broadcasts.take(piggybackBudget(core), Number.POSITIVE_INFINITY);
  if (queued.length === 0) return;
  // Members we reach only over TCP get the news in a push-pull instead (a few: it is the whole table), so
  // that news from a node whose UDP is blocked, or for one, still travels; the others gossip it on.
  let streams = 0;
  for (const target of targets) {
    if (!core.udpUnreachable.has(target.id)) fx.packets.push({ to: target.address, msgs: queued });
    else if (streams++ < core.config.gossipNodes) fx.streams.push({ to: target.address, msg: pushPullMessage(core, false) });
  }
}

/**
 * News of a member new to this node (or back from dead or left), sent at
 * once to `joinNewsFanout` random live members rather than at the next
 * gossip round. Each member it reaches does the same, the first time it
 * hears, so a join crosses the cluster at network speed. Each target counts
 * as one of the news's transmissions: the traffic of a join stays what it
 * was. At most `joinNewsPerSecond` fan-outs a second; beyond that (many
 * joins at once, or an outsider's forgeries) the gossip round carries it.
 * `relayed`: the news came in a packet, from a member that fanned it out
 * already; in a cluster one fan-out covers, it is not passed on again.
 */
export function sendJoinNews(core: Core, news: Alive, now: number, fx: Effects, relayed = false): void {
  const { joinNewsFanout: fanout, joinNewsPerSecond: rate } = core.config;
  // A joining node's first table is news to nobody (see merge); a leaving one passes on only its goodbye.
  if (fanout === 0 || !core.joined || core.leaving) return;
  // Never more than the news is sent in all: in a small cluster that is fewer than `joinNewsFanout`.
  const limit = retransmits(core);
  // News that came in a packet was sent at once by whoever learnt it, to as many members as one
  // fan-out reaches. Where that is every member there is to tell (all but us and the newcomer, at
  // most), it has reached them: passing it on would only hand them copies to decode, which is
  // what a small cluster's members then wait behind. The gossip round still carries it.
  if (relayed && core.members.size - 2 <= Math.min(fanout, limit)) return;
  core.joinNewsTokens = Math.min(rate, core.joinNewsTokens + ((now - core.joinNewsTokensAt) * rate) / 1000);
  core.joinNewsTokensAt = now;
  if (core.joinNewsTokens < 1) {
    core.stats.joinNewsDeferred++;
    return;
  }
  const targets = randomMembers(core, Math.min(fanout, limit), (m) => m.status === 'alive' && m.id !== news.id && !core.udpUnreachable.has(m.id));
  if (targets.length === 0) return;
  core.joinNewsTokens--;
  core.stats.joinNewsSent++;
  for (const target of targets) fx.packets.push({ to: target.address, msgs: [news] });
  core.broadcasts.sent(news.id, targets.length, limit);
}

export function leave(core: Core, now: number, fx: Effects): void {
  if (core.leaving) return;
  core.leaving = true;
  core.nextJoinAt = Number.POSITIVE_INFINITY;
  const self = core.self;
  core.broadcasts.push(self.id, { type: 'dead', id: self.id, incarnation: self.incarnation, from: self.id });
  sendUrgent(core, now, fx);
  core.leaveDeadline = now + core.config.leaveTimeoutMs;
  if (core.live <= 1) {
    reportLeft(core, fx);
    return;
  }
  // Keep passing the goodbye on through gossip until it has been sent enough or the deadline passes.
  gossip(core, now, fx);
  if (!core.broadcasts.has(self.id)) reportLeft(core, fx);
}

export function reportLeft(core: Core, fx: Effects): void {
  core.leaveReported = true;
  core.leaveDeadline = Number.POSITIVE_INFINITY;
  fx.leaveDone = true;
}

/** Up to `count` distinct random members other than self that pass `keep`. */
export function randomMembers(core: Core, count: number, keep: (m: MemberRecord) => boolean): MemberRecord[] {
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

/** Push-pull: the full state this member sends over TCP. */
export function pushPullMessage(core: Core, join: boolean): PushPull {
  // Records are immutable and hold the MemberState fields; the codec reads only those.
  return withSelf(core, { type: 'pushPull', join, from: core.self.id, members: [...core.members.values()] });
}

/**
 * The answer to a join: the whole table, or beyond `joinReplyMembers` this
 * node and a random sample of the live members (see the config field).
 */
export function joinReplyMessage(core: Core): PushPull {
  const limit = core.config.joinReplyMembers;
  if (core.members.size <= limit) return pushPullMessage(core, false);
  const sample: MemberState[] = [core.self, ...randomMembers(core, limit - 1, (m) => isLive(m.status))];
  return withSelf(core, { type: 'pushPull', join: false, from: core.self.id, members: sample });
}

function withSelf(core: Core, msg: PushPull): PushPull {
  const members = msg.members as MemberState[];
  // A leaving node's own record says so: over TCP the push-pull is how its goodbye reaches members UDP does not.
  if (core.leaving) members[members.indexOf(core.self)] = { ...core.self, status: 'left' };
  return msg;
}
