/** What a tick does: probes, gossip, push-pull and join rounds on their timers, and forgetting the dead. */
import { scaleByAwareness } from './awareness.js';
import { pushPullIntervalFor } from './config.js';
import { gossip, pushPullMessage, reportLeft, randomMembers } from './dissemination.js';
import { onDead, settleMoves } from './membership.js';
import { probe, indirectProbe, probeFailed } from './probing.js';
import { spread } from './spread.js';
import { isLive, type Effects, type Core } from './state.js';

export function tick(core: Core, now: number, fx: Effects): void {
  const { config } = core;
  if (core.leaving) {
    if (!core.leaveReported && (now >= core.leaveDeadline || !core.broadcasts.has(core.self.id))) reportLeft(core, fx);
    // A leaving member only passes its goodbye on.
    if (now >= core.nextGossipAt) gossip(core, now, fx);
    if (now >= core.nextPushPullAt) core.nextPushPullAt = Number.POSITIVE_INFINITY;
    if (now >= core.nextProbeAt) core.nextProbeAt = Number.POSITIVE_INFINITY;
    if (now >= core.nextReclaimAt) core.nextReclaimAt = Number.POSITIVE_INFINITY;
    core.nextSeedRefreshAt = Number.POSITIVE_INFINITY;
    core.nextSpreadAt = Number.POSITIVE_INFINITY;
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
  settleMoves(core, now, fx);
  for (const [id, suspicion] of core.suspicions) {
    if (now < suspicion.deadline) continue;
    core.suspicions.delete(id);
    const m = core.members.get(id);
    if (m?.status === 'suspect') onDead(core, { type: 'dead', id, incarnation: m.incarnation, from: core.self.id }, now, fx);
  }
  if (now >= core.nextProbeAt) {
    probe(core, now, fx);
    core.nextProbeAt = now + scaleByAwareness(config.probeIntervalMs, core.awareness);
  }
  if (now >= core.nextGossipAt) gossip(core, now, fx);
  if (now >= core.nextPushPullAt) periodicPushPull(core, now, fx);
  if (now >= core.nextSpreadAt) spread(core, now, fx);
  if (now >= core.nextSeedRefreshAt) {
    core.nextSeedRefreshAt = now + config.seedRefreshMs;
    // While joining, each join attempt looks them up already.
    if (core.joined) fx.resolveSeeds = core.seeds;
  }
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
  if (target) fx.streams.push({ to: target.address, msg: pushPullMessage(core, false) });
  // Also try one member that failed (not one that left), even one already forgotten: after a
  // partition each side holds the other dead and nobody probes the dead, so this is how the
  // halves meet again, however long they were apart.
  const lost = randomReconnect(core, now);
  if (lost && lost !== target?.address) fx.streams.push({ to: lost, msg: pushPullMessage(core, false) });
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
    if (skip-- <= 0) return entry.address;
  }
  return undefined;
}

function anySeedAlive(core: Core): boolean {
  if (core.seedAddresses.size === 0) return false;
  for (const m of core.members.values()) if (m !== core.self && m.status === 'alive' && core.seedAddresses.has(m.address)) return true;
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
