/**
 * Spreading: after a push-pull that brought many changes (two halves of a
 * healed partition meeting, clusters formed apart merging), a node
 * push-pulls again with random live members, one every `spreadIntervalMs`,
 * for as long as its exchanges keep carrying news either way. Each member
 * it reaches learns the news and spreads too, so the merged state reaches
 * everyone in about log2(n) intervals, over TCP, rather than after several
 * periodic push-pull intervals while gossip carries hundreds of records a
 * packet at a time.
 */
import { pushPullMessage, randomMembers } from './dissemination.js';
import type { PushPull } from '../wire/messages.js';
import { SPREAD_PATIENCE, isLive, type Core, type Effects, type MemberEvent } from './state.js';

/**
 * Counts members that joined or changed, from push-pulls and gossip alike,
 * over a short window; at `spreadAfterChanges` the node starts spreading.
 * Gossip counts too: a member that learnt most of the other side by gossip
 * and missed a few records would otherwise keep missing them.
 */
export function noteNews(core: Core, events: readonly MemberEvent[], now: number): void {
  let news = 0;
  for (const event of events) if (event.type === 'join' || event.type === 'update') news++;
  if (news === 0) return;
  if (now - core.newsSince > core.config.spreadIntervalMs * SPREAD_PATIENCE) {
    core.newsSince = now;
    core.news = 0;
  }
  core.news += news;
  if (core.news >= core.config.spreadAfterChanges && !core.leaving) startSpreading(core, now);
}

/** Starts (or keeps) spreading: the next exchange as soon as `spreadIntervalMs` after the last one allows. */
function startSpreading(core: Core, now: number): void {
  core.spreadMisses = 0;
  if (core.spreadingTo !== undefined || Number.isFinite(core.nextSpreadAt)) return;
  core.nextSpreadAt = Math.max(now, core.lastSpreadAt + core.config.spreadIntervalMs);
}

/** One spreading exchange is due: push-pull with a random live member. */
export function spread(core: Core, now: number, fx: Effects): void {
  core.nextSpreadAt = Number.POSITIVE_INFINITY;
  core.lastSpreadAt = now;
  const target = randomMembers(core, 1, (m) => m.status === 'alive' && !core.exchanging.has(m.address))[0];
  if (!target) return;
  core.spreadingTo = target.address;
  core.exchanging.add(target.address);
  fx.streams.push({ to: target.address, msg: pushPullMessage(core, false) });
}

/** The spreading exchange ended, carrying `news` changes either way (0 when it failed): go on, or stop after enough misses. */
export function spreadAnswered(core: Core, news: number, now: number): void {
  core.spreadingTo = undefined;
  core.spreadMisses = news >= core.config.spreadAfterChanges ? 0 : core.spreadMisses + 1;
  const goOn = core.spreadMisses < SPREAD_PATIENCE && !core.leaving;
  core.nextSpreadAt = goOn ? Math.max(now, core.lastSpreadAt + core.config.spreadIntervalMs) : Number.POSITIVE_INFINITY;
}

/** How many of our live members the table `msg` lacks or holds at an older incarnation: what our exchange taught its sender. */
export function newsFor(core: Core, msg: PushPull): number {
  const theirs = new Map<string, number>();
  for (const m of msg.members) theirs.set(m.id, m.incarnation);
  let news = 0;
  for (const m of core.members.values()) {
    if (!isLive(m.status)) continue;
    const known = theirs.get(m.id);
    if (known === undefined || known < m.incarnation) news++;
  }
  return news;
}
