/** Probing (SWIM): one member at a time in a shuffled round, directly, then through relays. */
import { adjustAwareness, failedProbePenalty, scaleByAwareness } from './awareness.js';
import { withPiggyback, randomMembers } from './dissemination.js';
import { onSuspect } from './membership.js';
import { UDP_UNREACHABLE_AFTER, clearTcpOnly, isLive, nextSeq, recordProbe, type Effects, type MemberRecord, type Probe, type Core } from './state.js';

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

export function probe(core: Core, now: number, fx: Effects): void {
  const target = nextProbeTarget(core);
  if (!target) return;
  const { config } = core;
  const seq = nextSeq(core);
  core.probes.set(seq, {
    target: target.id,
    sentAt: now,
    directDeadline: now + scaleByAwareness(config.probeTimeoutMs, core.awareness),
    endDeadline: now + scaleByAwareness(config.probeIntervalMs, core.awareness),
    indirectSent: false,
    tcpAcked: false,
    expectedNacks: 0,
    nacks: 0,
  });
  fx.packets.push({ to: target.address, msgs: withPiggyback(core, { type: 'ping', seq, target: target.id, from: core.self.id }) });
}

export function indirectProbe(core: Core, seq: number, probe: Probe, fx: Effects): void {
  probe.indirectSent = true;
  const target = core.members.get(probe.target);
  if (!target) return;
  // A member we reach only over TCP would not get the request, and its missing nack would count against us.
  const relays = randomMembers(core, core.config.indirectChecks, (m) => m.status === 'alive' && m.id !== target.id && !core.udpUnreachable.has(m.id));
  probe.expectedNacks = relays.length;
  for (const relay of relays) {
    fx.packets.push({ to: relay.address, msgs: [{ type: 'indirect', seq, target: target.id, targetAddress: target.address, nack: true }] });
  }
  // Also retry directly: a lost packet, not a lost member, is the common case.
  const ping = { type: 'ping' as const, seq, target: target.id, from: core.self.id };
  fx.packets.push({ to: target.address, msgs: [ping] });
  // And over TCP at the same time: a member behind a firewall that drops UDP still answers there.
  fx.tcpPings.push({ to: target.address, msg: ping });
}

/** The target answered our TCP ping: it is alive; whether UDP got through is known when the probe ends. */
export function onStreamAck(core: Core, seq: number): void {
  const probe = core.probes.get(seq);
  if (probe) probe.tcpAcked = true;
}

/**
 * A probe that got no UDP answer, direct or indirect, before its end, but
 * an answer over TCP: the member is alive and its UDP port unreachable from
 * here. Not a failure, and no penalty to local health, which UDP loss
 * elsewhere does not say anything about.
 */
function answeredOverTcp(core: Core, seq: number, probe: Probe, fx: Effects): void {
  core.probes.delete(seq);
  recordProbe(core, true);
  core.stats.tcpFallbacks++;
  const m = core.members.get(probe.target);
  if (!m || !isLive(m.status)) return;
  const inARow = (core.tcpOnlyProbes.get(m.id) ?? 0) + 1;
  core.tcpOnlyProbes.set(m.id, inARow);
  if (inARow < UDP_UNREACHABLE_AFTER || core.udpUnreachable.has(m.id)) return;
  core.udpUnreachable.add(m.id);
  fx.udpUnreachable.push(m.id);
}

export function probeFailed(core: Core, seq: number, probe: Probe, now: number, fx: Effects): void {
  if (probe.tcpAcked) return answeredOverTcp(core, seq, probe, fx);
  core.probes.delete(seq);
  recordProbe(core, false);
  // Lifeguard: relays that did not even nack suggest the trouble is ours, not the target's.
  core.awareness = adjustAwareness(core.awareness, failedProbePenalty(probe.expectedNacks, probe.nacks), core.config.awarenessMaxMultiplier);
  const m = core.members.get(probe.target);
  // Also for a member already suspected: our failure is an independent confirmation worth telling.
  if (m && isLive(m.status)) onSuspect(core, { type: 'suspect', id: m.id, incarnation: m.incarnation, from: core.self.id }, now, fx);
}
