/** Probing (SWIM): one member at a time in a shuffled round, directly, then through relays. */
import { adjustAwareness, failedProbePenalty, scaleByAwareness } from './awareness.js';
import { withPiggyback, randomMembers } from './dissemination.js';
import { onSuspect } from './membership.js';
import { RECENT_PROBES, isLive, type Effects, type MemberRecord, type Probe, type Core } from './state.js';

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
    expectedNacks: 0,
    nacks: 0,
  });
  fx.packets.push({ to: target.address, msgs: withPiggyback(core, { type: 'ping', seq, target: target.id, from: core.self.id }) });
}

export function nextSeq(core: Core): number {
  core.seq = (core.seq + 1) % Number.MAX_SAFE_INTEGER;
  return core.seq;
}

export function indirectProbe(core: Core, seq: number, probe: Probe, fx: Effects): void {
  probe.indirectSent = true;
  const target = core.members.get(probe.target);
  if (!target) return;
  const relays = randomMembers(core, core.config.indirectChecks, (m) => m.status === 'alive' && m.id !== target.id);
  probe.expectedNacks = relays.length;
  for (const relay of relays) {
    fx.packets.push({ to: relay.address, msgs: [{ type: 'indirect', seq, target: target.id, targetAddress: target.address, nack: true }] });
  }
  // Also retry directly: a lost packet, not a lost member, is the common case.
  fx.packets.push({ to: target.address, msgs: [{ type: 'ping', seq, target: target.id, from: core.self.id }] });
}

export function recordProbe(core: Core, ok: boolean): void {
  core.recentProbes.push(ok);
  if (core.recentProbes.length > RECENT_PROBES) core.recentProbes.shift();
}

export function probeFailed(core: Core, seq: number, probe: Probe, now: number, fx: Effects): void {
  core.probes.delete(seq);
  recordProbe(core, false);
  // Lifeguard: relays that did not even nack suggest the trouble is ours, not the target's.
  core.awareness = adjustAwareness(core.awareness, failedProbePenalty(probe.expectedNacks, probe.nacks), core.config.awarenessMaxMultiplier);
  const m = core.members.get(probe.target);
  // Also for a member already suspected: our failure is an independent confirmation worth telling.
  if (m && isLive(m.status)) onSuspect(core, { type: 'suspect', id: m.id, incarnation: m.incarnation, from: core.self.id }, now, fx);
}
