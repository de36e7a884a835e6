/** The protocol core's pure functions: incarnations, suspicion, refutation, leave, metadata, probing, joining. */
import { describe, expect, it } from 'vitest';
import { adjustAwareness, failedProbePenalty, scaleByAwareness } from '../../src/discovery/gossip/protocol/awareness.js';
import { BroadcastQueue, retransmitLimit } from '../../src/discovery/gossip/protocol/broadcasts.js';
import { decodePacket, encodePackets, MAX_INCARNATION } from '../../src/discovery/gossip/wire/codec.js';
import { lanProfile, localProfile, pushPullIntervalFor, resolveGossipConfig } from '../../src/discovery/gossip/protocol/config.js';
import { bootstrap, createCore, handle, tally, health, liveMemberAt, memberOf, members, nextDeadline, toRecord, watching, type Core, type Effects, type Input, type MemberEvent } from '../../src/discovery/gossip/protocol/core.js';
import { INCARNATION_WINDOW } from '../../src/discovery/gossip/protocol/incarnations.js';
import type { PacketMessage, PushPull } from '../../src/discovery/gossip/wire/messages.js';
import { confirmSuspicion, expectedConfirmations, startSuspicion, suspicionMaxMs, suspicionMinMs, suspicionTimeoutMs } from '../../src/discovery/gossip/protocol/suspicion.js';

const config = localProfile();

function node(name: string, others: string[] = [], now = 0, seed = 42): Core {
  const core = createCore({ config, self: { id: name, address: `${name}:1`, metadata: {} }, seed, now });
  bootstrap(core, others.map((o) => toRecord({ id: o, address: `${o}:1`, incarnation: 5, status: 'alive', metadata: {} }, now)));
  return core;
}

const packet = (...msgs: PacketMessage[]): Input => ({ type: 'packet', from: 'x:1', msgs });
const status = (core: Core, name: string) => memberOf(core, name)?.status;

/** Every message a set of effects sends, decoded as the wire would carry it. */
function sent(fx: Effects): PacketMessage[] {
  return fx.packets
    .flatMap((p) => encodePackets(p.msgs, 1400))
    .flatMap((bytes) => {
      const decoded = decodePacket(bytes);
      return decoded.ok ? decoded.value : [];
    });
}

/**
 * Runs timers from `from` until `until`, collecting events. Members answer
 * pings at once, except those in `silent`, so only the suspicions under test
 * end in a verdict.
 */
function runTimers(core: Core, from: number, until: number, silent: readonly string[] = []): MemberEvent[] {
  const events: MemberEvent[] = [];
  let now = from;
  for (;;) {
    const next = Math.max(now, nextDeadline(core));
    if (next > until) break;
    now = next;
    const fx = handle(core, { type: 'tick' }, now);
    events.push(...fx.events);
    for (const m of sent(fx)) {
      if (m.type === 'ping' && !silent.includes(m.target)) events.push(...handle(core, packet({ type: 'ack', seq: m.seq }), now).events);
    }
    now += 0.001;
  }
  return events;
}

const failed = (events: MemberEvent[]) => events.flatMap((e) => (e.type === 'fail' ? [e.member.id] : []));

describe('suspicion and refutation', () => {
  it('a suspected member refutes with a higher incarnation, and the others take it back as alive', () => {
    const a = node('a', ['b', 'c']);
    const b = node('b', ['a', 'c']);
    const suspected = handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }), 10);
    expect(status(a, 'b')).toBe('suspect');
    // Suspicion is reported apart from membership events, and counted.
    expect(suspected.events).toEqual([]);
    expect(suspected.suspicion).toEqual([{ id: 'b', suspect: true }]);
    expect(a.stats.suspicions).toBe(1);
    // b hears it is suspected at its own incarnation and refutes with a higher one.
    const refute = handle(b, packet({ type: 'suspect', id: 'b', incarnation: b.self.incarnation, from: 'c' }), 10);
    const alive = sent(refute).find((m) => m.type === 'alive' && m.id === 'b');
    expect(alive).toMatchObject({ type: 'alive', id: 'b', incarnation: 1 });
    expect(b.awareness).toBe(1); // being suspected hints the trouble may be ours
    // a holds b at incarnation 5; the refutation must outrank that.
    const back = handle(a, packet({ ...(alive as PacketMessage & { type: 'alive' }), incarnation: 6 }), 20);
    expect(status(a, 'b')).toBe('alive');
    expect(back.events).toEqual([]); // suspect → alive is no membership change
    expect(back.suspicion).toEqual([{ id: 'b', suspect: false }]);
    expect(a.suspicions.has('b')).toBe(false);
    expect(b.stats.refutations).toBe(1);
  });

  it('an unrefuted suspicion ends in dead after the longest timeout, with one fail event', () => {
    const a = node('a', ['b', 'c', 'd']);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }), 0);
    const max = suspicionMaxMs(config, 4);
    expect(failed(runTimers(a, 0, max - 1))).toEqual([]);
    expect(failed(runTimers(a, max - 1, max + 1))).toEqual(['b']);
    expect(status(a, 'b')).toBe('dead');
  });

  it('independent confirmations bring the deadline in; a repeated reporter does not', () => {
    const a = node('a', ['b', 'c', 'd', 'e', 'f']);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }), 0);
    const first = a.suspicions.get('b')!.deadline;
    expect(first).toBe(suspicionMaxMs(config, 6));
    // The first reporter again: no confirmation, nothing passed on.
    const again = handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }), 1);
    expect(a.suspicions.get('b')!.deadline).toBe(first);
    expect(sent(again)).toEqual([]);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'd' }), 2);
    const second = a.suspicions.get('b')!.deadline;
    expect(second).toBeLessThan(first);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'e' }), 3);
    expect(a.suspicions.get('b')!.deadline).toBe(suspicionMinMs(config, 6));
    expect(failed(runTimers(a, 3, suspicionMinMs(config, 6) + 1))).toEqual(['b']);
  });

  it('answers stale news with the newer alive, straight to its sender', () => {
    const a = node('a', ['b', 'c'], 10_000);
    expect(a.self.incarnation).toBe(10);
    handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: {} }), 10_000);
    // c missed b's refutation and still passes on a suspicion of incarnation 5.
    const fx = handle(a, { type: 'packet', from: 'c:1', msgs: [{ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }] }, 10_001);
    expect(status(a, 'b')).toBe('alive');
    expect(fx.packets).toEqual([{ to: 'c:1', msgs: [{ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: {} }] }]);
    // The same for stale news about itself.
    const self = handle(a, { type: 'packet', from: 'c:1', msgs: [{ type: 'dead', id: 'a', incarnation: 9, from: 'c' }] }, 10_002);
    expect(self.packets).toEqual([{ to: 'c:1', msgs: [expect.objectContaining({ type: 'alive', id: 'a', incarnation: 10 })] }]);
    expect(a.self.incarnation).toBe(10); // no need to refute: the news is already outranked
  });

  it('ignores suspicion about an older incarnation', () => {
    const a = node('a', ['b', 'c']);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 4, from: 'c' }), 0);
    expect(status(a, 'b')).toBe('alive');
  });

  it('a refutation that arrives before the deadline cancels the timer', () => {
    const a = node('a', ['b', 'c', 'd']);
    handle(a, packet({ type: 'suspect', id: 'b', incarnation: 5, from: 'c' }), 0);
    handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: {} }), 100);
    expect(failed(runTimers(a, 100, suspicionMaxMs(config, 4) * 2))).toEqual([]);
    expect(status(a, 'b')).toBe('alive');
  });
});

describe('suspicion math (Lifeguard)', () => {
  it('shrinks logarithmically from max to min with confirmations', () => {
    expect(suspicionTimeoutMs(1000, 6000, 0, 3)).toBe(6000);
    const one = suspicionTimeoutMs(1000, 6000, 1, 3);
    const two = suspicionTimeoutMs(1000, 6000, 2, 3);
    expect(one).toBe(Math.floor(6000 - 5000 * (Math.log(2) / Math.log(4))));
    expect(two).toBeLessThan(one);
    expect(suspicionTimeoutMs(1000, 6000, 3, 3)).toBe(1000);
    expect(suspicionTimeoutMs(1000, 6000, 9, 3)).toBe(1000);
    expect(suspicionTimeoutMs(1000, 6000, 0, 0)).toBe(1000);
  });

  it('scales the floor with log10 of the cluster size, never below one interval × mult', () => {
    const lan = lanProfile();
    expect(suspicionMinMs(lan, 1)).toBe(lan.suspicionMult * lan.probeIntervalMs);
    expect(suspicionMinMs(lan, 5)).toBe(lan.suspicionMult * lan.probeIntervalMs);
    expect(suspicionMinMs(lan, 1000)).toBeCloseTo(lan.suspicionMult * 3 * lan.probeIntervalMs);
    expect(suspicionMaxMs(lan, 1000)).toBeCloseTo(lan.suspicionMaxTimeoutMult * suspicionMinMs(lan, 1000));
  });

  it('expects no confirmations in a cluster too small to give them', () => {
    const lan = lanProfile();
    expect(expectedConfirmations(lan, lan.suspicionConfirmations + 1)).toBe(0);
    expect(expectedConfirmations(lan, lan.suspicionConfirmations + 2)).toBe(lan.suspicionConfirmations);
    const s = startSuspicion(lan, 3, 'b', 100);
    expect(s.deadline).toBe(100 + suspicionMinMs(lan, 3));
  });

  it('gives the figures its documentation examples quote for the lan profile', () => {
    const lan = lanProfile();
    expect(suspicionMinMs(lan, 1000)).toBeCloseTo(3000);
    expect(suspicionMaxMs(lan, 1000)).toBeCloseTo(9000);
    expect(expectedConfirmations(lan, 3)).toBe(0);
    expect(expectedConfirmations(lan, 4)).toBe(2);
    expect(startSuspicion(lan, 100, 'b', 0).deadline).toBeCloseTo(6000);
  });

  it('does not count the first reporter, nor anyone twice', () => {
    const s = startSuspicion(lanProfile(), 100, 'b', 0);
    expect(confirmSuspicion(s, 'b')).toBe(false);
    expect(confirmSuspicion(s, 'c')).toBe(true);
    expect(confirmSuspicion(s, 'c')).toBe(false);
    expect(s.confirmations).toBe(1);
  });
});

describe('local health (awareness)', () => {
  it('stays within its bounds and stretches timeouts', () => {
    expect(adjustAwareness(0, -1, 8)).toBe(0);
    expect(adjustAwareness(6, 5, 8)).toBe(7);
    expect(scaleByAwareness(500, 2)).toBe(1500);
    expect(failedProbePenalty(3, 3)).toBe(0);
    expect(failedProbePenalty(3, 1)).toBe(2);
    expect(failedProbePenalty(0, 0)).toBe(1);
  });

  it('a failed probe whose relays all nack does not count against us; an answered probe lowers the score', () => {
    const a = node('a', ['b', 'c', 'd']);
    a.awareness = 2;
    const start = a.nextProbeAt;
    handle(a, { type: 'tick' }, start);
    // The probe timeout is stretched by awareness + 1.
    expect(nextDeadline(a)).toBe(start + config.probeTimeoutMs * 3);
    const indirect = sent(handle(a, { type: 'tick' }, start + config.probeTimeoutMs * 3)).filter((m) => m.type === 'indirect');
    expect(indirect).toHaveLength(2);
    for (const m of indirect) handle(a, packet({ type: 'nack', seq: m.type === 'indirect' ? m.seq : -1 }), start + 700);
    // The probe ends unanswered, but the relays vouched for our own health; the next probe starts.
    const end = start + config.probeIntervalMs * 3;
    const next = handle(a, { type: 'tick' }, end);
    expect(a.awareness).toBe(2);
    const ping = sent(next).find((m) => m.type === 'ping');
    handle(a, packet({ type: 'ack', seq: ping?.type === 'ping' ? ping.seq : -1 }), end + 1);
    expect(a.awareness).toBe(1);
  });
});

describe('incarnation ordering', () => {
  it('alive overrides only with a newer incarnation; dead overrides alive at the same one', () => {
    const a = node('a', ['b']);
    handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 5, metadata: { v: 'stale' } }), 0);
    expect(a.members.get('b')!.metadata).toEqual({});
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    expect(status(a, 'b')).toBe('dead');
    // An alive at the same incarnation cannot bring it back; a newer one can (a restart).
    handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 5, metadata: {} }), 0);
    expect(status(a, 'b')).toBe('dead');
    const back = handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: {} }), 0);
    expect(status(a, 'b')).toBe('alive');
    expect(back.events.map((e) => e.type)).toEqual(['join']);
  });

  it('a dead message about an older incarnation is ignored', () => {
    const a = node('a', ['b']);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 4, from: 'c' }), 0);
    expect(status(a, 'b')).toBe('alive');
  });

  it('a new member starts at an incarnation taken from the clock, so a restart outranks its past self', () => {
    expect(createCore({ config, self: { id: 'x', address: 'x:1', metadata: {} }, seed: 1, now: 5_000_000 }).self.incarnation).toBe(5000);
  });

  it('refuses a name or metadata the codec could not carry', () => {
    expect(() => createCore({ config, self: { id: 'x'.repeat(256), address: 'x:1', metadata: {} }, seed: 1, now: 0 })).toThrow(RangeError);
    expect(() => createCore({ config, self: { id: 'x', address: 'x:1', metadata: { k: 'v'.repeat(600) } }, seed: 1, now: 0 })).toThrow(/512 bytes/);
  });
});

describe('metadata updates', () => {
  it('are ordered by incarnation: an update event for the newer one, the older one ignored', () => {
    const a = node('a', ['b']);
    const first = handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 7, metadata: { v: '2' } }), 0);
    expect(first.events).toEqual([{ type: 'update', member: expect.objectContaining({ id: 'b', metadata: { v: '2' } }) }]);
    const late = handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: { v: '1' } }), 0);
    expect(late.events).toEqual([]);
    expect(a.members.get('b')!.metadata).toEqual({ v: '2' });
  });

  it('setMetadata bumps our incarnation and sends the news at once', () => {
    const a = node('a', ['b', 'c']);
    const before = a.self.incarnation;
    const fx = handle(a, { type: 'setMetadata', metadata: { role: 'db' } }, 0);
    expect(a.self.incarnation).toBe(before + 1);
    expect(new Set(fx.packets.map((p) => p.to))).toEqual(new Set(['b:1', 'c:1']));
    expect(sent(fx).filter((m) => m.type === 'alive')).toContainEqual({ type: 'alive', id: 'a', address: 'a:1', incarnation: before + 1, metadata: { role: 'db' } });
    expect(members(a).find((m) => m.id === 'a')?.metadata).toEqual({ role: 'db' });
  });
});

describe('leave', () => {
  it('a leave is a dead message from the member itself, seen as leave, not fail', () => {
    const a = node('a', ['b', 'c']);
    const b = node('b', ['a', 'c']);
    const fx = handle(b, { type: 'leave' }, 0);
    const goodbye = sent(fx).find((m) => m.type === 'dead');
    expect(goodbye).toEqual({ type: 'dead', id: 'b', incarnation: b.self.incarnation, from: 'b' });
    // A leaving member no longer answers pings.
    expect(sent(handle(b, packet({ type: 'ping', seq: 1, target: 'b', from: 'a' }), 1))).toEqual([]);
    const seen = handle(a, packet({ ...(goodbye as PacketMessage & { type: 'dead' }), incarnation: 5 }), 1);
    expect(seen.events.map((e) => e.type)).toEqual(['leave']);
    expect(status(a, 'b')).toBe('left');
  });

  it('reports the leave done once the goodbye has been sent on enough, or at the deadline', () => {
    const b = node('b', Array.from({ length: 30 }, (_, i) => `p${i}`));
    const fx = handle(b, { type: 'leave' }, 0);
    expect(fx.leaveDone).toBe(false);
    let done = -1;
    let now = 0;
    while (done < 0 && now <= config.leaveTimeoutMs) {
      now = Math.max(now, nextDeadline(b));
      if (handle(b, { type: 'tick' }, now).leaveDone) done = now;
      now += 0.001;
    }
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThanOrEqual(config.leaveTimeoutMs);
    expect(b.broadcasts.has('b')).toBe(false);
  });

  it('alone, a leave is done at once', () => {
    expect(handle(node('solo'), { type: 'leave' }, 0).leaveDone).toBe(true);
  });

  it('a member hearing itself declared dead while not leaving refutes', () => {
    const a = node('a', ['b']);
    const inc = a.self.incarnation;
    const fx = handle(a, packet({ type: 'dead', id: 'a', incarnation: inc, from: 'b' }), 0);
    expect(a.self.incarnation).toBe(inc + 1);
    expect(sent(fx).some((m) => m.type === 'alive' && m.id === 'a')).toBe(true);
  });
});

describe('the incarnation window', () => {
  /** A member whose incarnation is `incarnation`, known to `others` as such. */
  function at(incarnation: number, others: string[]): Core {
    const a = node('a', others);
    a.self = { ...a.self, incarnation };
    a.members.set('a', a.self);
    return a;
  }

  it('wraps past the top of the space, so a member near it still refutes, and the others take the wrapped one as newer', () => {
    const a = at(MAX_INCARNATION - 2, ['b']);
    const b = node('b', []);
    handle(b, packet({ type: 'alive', id: 'a', address: 'a:1', incarnation: MAX_INCARNATION - 2, metadata: {} }), 0);
    handle(a, packet({ type: 'suspect', id: 'a', incarnation: MAX_INCARNATION - 1, from: 'b' }), 0);
    expect(a.self.incarnation).toBe(0);
    handle(b, packet({ type: 'suspect', id: 'a', incarnation: MAX_INCARNATION - 1, from: 'c' }), 1);
    expect(status(b, 'a')).toBe('suspect');
    handle(b, packet({ type: 'alive', id: 'a', address: 'a:1', incarnation: a.self.incarnation, metadata: {} }), 2);
    expect(status(b, 'a')).toBe('alive');
    handle(a, { type: 'setMetadata', metadata: { k: 'v' } }, 3);
    expect(a.self.incarnation).toBe(1);
  });

  it('drops claims far from what it knows, about others and about itself, and counts them', () => {
    const known = 1_800_000_000;
    const a = at(known, ['b']);
    a.members.set('b', { ...a.members.get('b')!, incarnation: known });
    for (const incarnation of [0, known + INCARNATION_WINDOW + 1, MAX_INCARNATION - 1, MAX_INCARNATION]) {
      for (const id of ['a', 'b']) {
        handle(a, packet({ type: 'dead', id, incarnation, from: id }, { type: 'suspect', id, incarnation, from: 'c' }), 0);
        handle(a, packet({ type: 'alive', id, address: `${id}:1`, incarnation, metadata: {} }), 0);
      }
    }
    expect(status(a, 'b')).toBe('alive');
    expect(memberOf(a, 'b')!.incarnation).toBe(known);
    expect(a.self.incarnation).toBe(known);
    expect(tally(a).claimsOutOfWindow).toBe(4 * 2 * 3);
    // Within the window, a claim is news as before.
    handle(a, packet({ type: 'dead', id: 'b', incarnation: known + INCARNATION_WINDOW, from: 'c' }), 1);
    expect(status(a, 'b')).toBe('dead');
  });

  it("takes a member's own announcement from the address we know beyond the window", () => {
    const a = node('a', ['b']);
    handle(a, { type: 'packet', from: 'b:1', msgs: [{ type: 'alive', id: 'b', address: 'b:1', incarnation: 5 + INCARNATION_WINDOW + 1, metadata: {} }] }, 0);
    expect(memberOf(a, 'b')!.incarnation).toBe(5 + INCARNATION_WINDOW + 1);
  });
});

describe('conflicts and hints', () => {
  it('reports two live members claiming one name once, keeping the one it knows', () => {
    const a = node('a', ['b']);
    const claim = packet({ type: 'alive', id: 'b', address: 'elsewhere:9', incarnation: 9, metadata: {} });
    // A newer claim of another address is checked first: b is pinged at the address we know.
    const ping = sent(handle(a, claim, 0)).find((m) => m.type === 'ping' && m.target === 'b');
    expect(ping).toBeDefined();
    const fx = handle(a, { type: 'packet', from: 'b:1', msgs: [{ type: 'ack', seq: (ping as { seq: number }).seq }] }, 1);
    expect(fx.events).toEqual([{ type: 'conflict', existing: expect.objectContaining({ address: 'b:1' }), incoming: expect.objectContaining({ address: 'elsewhere:9' }) }]);
    expect(a.members.get('b')!.address).toBe('b:1');
    expect(runTimers(a, 2, 2 + config.probeIntervalMs)).toEqual([]);
    expect(a.members.get('b')!.address).toBe('b:1');
    // Not newer: a conflict at once, reported once.
    const same = packet({ type: 'alive', id: 'b', address: 'elsewhere:8', incarnation: 5, metadata: {} });
    expect(handle(a, same, 3).events.map((e) => e.type)).toEqual(['conflict']);
    expect(handle(a, same, 4).events).toEqual([]);
  });

  it('a member whose own name is claimed elsewhere reports it and outranks the claim', () => {
    const a = node('a', ['b']);
    const fx = handle(a, packet({ type: 'alive', id: 'a', address: 'other:2', incarnation: 50, metadata: {} }), 0);
    expect(fx.events.map((e) => e.type)).toEqual(['conflict']);
    expect(a.self.incarnation).toBe(51);
    expect(a.self.address).toBe('a:1');
  });

  it('a dead member may come back at a new address with a newer incarnation', () => {
    const a = node('a', ['b']);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    // Once its old address stays silent through a probe interval and a second ping.
    expect(handle(a, packet({ type: 'alive', id: 'b', address: 'new:2', incarnation: 6, metadata: {} }), 1).events).toEqual([]);
    const events = runTimers(a, 2, 2 + config.probeIntervalMs, ['b']);
    expect(events).toEqual([{ type: 'join', member: expect.objectContaining({ address: 'new:2' }) }]);
  });

  it('a peerGone hint marks the member dead at once and tells many', () => {
    const a = node('a', ['b', 'c', 'd']);
    const fx = handle(a, { type: 'peerGone', id: 'b' }, 0);
    expect(fx.events.map((e) => e.type)).toEqual(['fail']);
    // The others hear it at once (and b too: were it alive after all, it would refute).
    expect(new Set(fx.packets.map((p) => p.to))).toEqual(new Set(['b:1', 'c:1', 'd:1']));
    expect(sent(fx).filter((m) => m.type === 'dead')).toHaveLength(3);
  });

  it('a probeNow hint probes that member at once', () => {
    const a = node('a', ['b', 'c', 'd']);
    const fx = handle(a, { type: 'probeNow', id: 'c' }, 3);
    expect(fx.packets.map((p) => p.to)).toEqual(['c:1']);
    expect(sent(fx)[0]).toMatchObject({ type: 'ping', target: 'c' });
  });

  it('answers a ping for its own name only', () => {
    const a = node('a', ['b']);
    expect(sent(handle(a, packet({ type: 'ping', seq: 3, target: 'a', from: 'b' }), 0))[0]).toEqual({ type: 'ack', seq: 3 });
    expect(sent(handle(a, packet({ type: 'ping', seq: 4, target: 'zz', from: 'b' }), 0))).toEqual([]);
  });

  it('a ping from a member it holds dead starts a push-pull, as views differ', () => {
    const a = node('a', ['b']);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    const fx = handle(a, { type: 'packet', from: 'b:1', msgs: [{ type: 'ping', seq: 1, target: 'a', from: 'b' }] }, 1);
    expect(fx.streams.map((s) => s.to)).toEqual(['b:1']);
  });
});

describe('probing', () => {
  it('probes, then asks others after the probe timeout, then suspects', () => {
    const a = node('a', ['b', 'c', 'd']);
    let now = a.nextProbeAt;
    const start = now;
    const first = handle(a, { type: 'tick' }, now);
    const target = first.packets[0]!.to.split(':')[0]!;
    expect(sent(first)[0]).toMatchObject({ type: 'ping', target });
    now += config.probeTimeoutMs;
    const second = sent(handle(a, { type: 'tick' }, now));
    expect(second.filter((m) => m.type === 'indirect')).toHaveLength(config.indirectChecks);
    expect(second.filter((m) => m.type === 'ping')).toHaveLength(1); // a direct retry as well
    handle(a, { type: 'tick' }, start + config.probeIntervalMs);
    expect(status(a, target)).toBe('suspect');
    expect(a.awareness).toBeGreaterThan(0); // no nacks came back: maybe our own trouble
    expect(health(a).recentProbeFailureRatio).toBe(1);
  });

  it('measures the round trip of a directly answered probe, and forgets it when the member dies', () => {
    const a = node('a', ['b']);
    const start = a.nextProbeAt;
    const ping = sent(handle(a, { type: 'tick' }, start))[0]!;
    handle(a, packet({ type: 'ack', seq: ping.type === 'ping' ? ping.seq : -1 }), start + 3.5);
    expect(a.probeRttMs.get('b')).toBe(3.5);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), start + 10);
    expect(a.probeRttMs.has('b')).toBe(false);
  });

  it('relays an indirect probe: forwards the ack, or nacks after nackTimeoutMs', () => {
    const r = node('r', ['a', 'b']);
    const fx = handle(r, { type: 'packet', from: 'a:1', msgs: [{ type: 'indirect', seq: 77, target: 'b', targetAddress: 'b:1', nack: true }] }, 0);
    const ping = sent(fx)[0]!;
    expect(fx.packets[0]!.to).toBe('b:1');
    expect(ping).toMatchObject({ type: 'ping', target: 'b', from: 'r' });
    const forwarded = handle(r, packet({ type: 'ack', seq: ping.type === 'ping' ? ping.seq : -1 }), 5);
    expect(forwarded.packets).toEqual([{ to: 'a:1', msgs: [{ type: 'ack', seq: 77 }] }]);
    // Again, and the target stays silent.
    handle(r, { type: 'packet', from: 'a:1', msgs: [{ type: 'indirect', seq: 78, target: 'b', targetAddress: 'b:1', nack: true }] }, 10);
    expect(nextDeadline(r)).toBeLessThanOrEqual(10 + config.nackTimeoutMs);
    const nack = handle(r, { type: 'tick' }, 10 + config.nackTimeoutMs);
    expect(nack.packets).toContainEqual({ to: 'a:1', msgs: [{ type: 'nack', seq: 78 }] });
  });

  it('probes every live member once per round, in an order that changes between rounds', () => {
    const others = Array.from({ length: 8 }, (_, i) => `p${i}`);
    const a = node('a', others);
    const rounds: string[][] = [[], []];
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < others.length; i++) {
        const now = a.nextProbeAt;
        const fx = handle(a, { type: 'tick' }, now);
        const ping = sent(fx).find((m) => m.type === 'ping');
        rounds[round]!.push(ping?.type === 'ping' ? ping.target : '?');
        handle(a, packet({ type: 'ack', seq: ping?.type === 'ping' ? ping.seq : -1 }), now + 1);
      }
    }
    expect([...rounds[0]!].sort()).toEqual(others);
    expect([...rounds[1]!].sort()).toEqual(others);
    expect(rounds[0]).not.toEqual(rounds[1]);
  });

  it('is deterministic for a seed', () => {
    const run = () => {
      const a = node('a', ['b', 'c', 'd', 'e'], 0, 9);
      const out: string[] = [];
      for (let i = 0; i < 20; i++) {
        const now = nextDeadline(a);
        out.push(...handle(a, { type: 'tick' }, now).packets.map((p) => `${now}:${p.to}`));
      }
      return out;
    };
    expect(run()).toEqual(run());
  });
});

describe('joining', () => {
  it('retries unreachable seeds with growing delays until a push-pull succeeds', () => {
    const a = createCore({ config, self: { id: 'a', address: 'a:1', metadata: {} }, seed: 3, now: 0 });
    const asked = handle(a, { type: 'join', seeds: ['s1:1', 's2:1', 'a:1'] }, 0);
    expect(asked.resolveSeeds).toEqual(['s1:1', 's2:1']);
    // The driver resolves them (names may stand for several addresses) and answers.
    const fx = handle(a, { type: 'seedAddresses', addresses: ['s1:1', 's2:1', 's3:1', 'a:1'] }, 0);
    expect(fx.streams.map((s) => s.to)).toEqual(['s1:1', 's2:1', 's3:1']);
    expect(fx.streams[0]!.msg.join).toBe(true);
    expect(health(a).joined).toBe(false);
    const attempts: number[] = [0];
    let now = 0;
    while (attempts.length < 5) {
      now = a.nextJoinAt;
      handle(a, { type: 'streamFailed', to: 's1:1', error: 'refused' }, now - 1);
      if (handle(a, { type: 'tick' }, now).resolveSeeds) attempts.push(now);
    }
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
    expect(gaps[0]).toBeGreaterThanOrEqual(config.joinRetryMs);
    expect(gaps[1]).toBeGreaterThan(gaps[0]! * 1.5);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(config.joinRetryMaxMs * 1.25);
    const reply: PushPull = { type: 'pushPull', join: false, from: 's1', members: [{ id: 's1', address: 's1:1', incarnation: 1, status: 'alive', metadata: {} }] };
    const joined = handle(a, { type: 'streamReply', from: 's1:1', msg: reply }, now + 5);
    expect(health(a).joined).toBe(true);
    expect(joined.events.map((e) => e.type)).toEqual(['join']);
    // It announces itself to the members it now knows.
    expect(sent(joined)).toContainEqual(expect.objectContaining({ type: 'alive', id: 'a' }));
    expect(a.nextJoinAt).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('broadcast queue', () => {
  it('sends each broadcast a limited number of times, newest news replacing old', () => {
    const q = new BroadcastQueue();
    q.push('b', { type: 'suspect', id: 'b', incarnation: 1, from: 'c' });
    q.push('b', { type: 'alive', id: 'b', address: 'b:1', incarnation: 2, metadata: {} });
    expect(q.size).toBe(1);
    const limit = retransmitLimit(config, 10);
    expect(limit).toBe(config.retransmitMult * 2);
    for (let i = 0; i < limit; i++) {
      const taken = q.take(1400, limit);
      expect(taken).toHaveLength(1);
      expect(decodePacket(encodePackets(taken, 1400)[0]!)).toMatchObject({ ok: true, value: [{ type: 'alive', incarnation: 2 }] });
    }
    expect(q.take(1400, limit)).toHaveLength(0);
  });

  it('keeps within the byte budget, least-sent first', () => {
    const q = new BroadcastQueue();
    for (let i = 0; i < 100; i++) q.push(`m${i}`, { type: 'alive', id: `m${i}`, address: 'h:1', incarnation: i, metadata: { k: 'v'.repeat(20) } });
    const first = q.take(500, 4);
    expect(first.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(500);
    expect(first.length).toBeGreaterThan(5);
    // The next take prefers what has not been sent yet.
    const second = q.take(500, 4);
    expect(second.some((b) => first.includes(b))).toBe(false);
    expect(q.transmits('m99')).toBe(1);
  });

  it('scales the retransmit limit with log10 of the cluster size', () => {
    const lan = lanProfile();
    expect(retransmitLimit(lan, 9)).toBe(lan.retransmitMult);
    expect(retransmitLimit(lan, 10)).toBe(2 * lan.retransmitMult);
    expect(retransmitLimit(lan, 1000)).toBe(4 * lan.retransmitMult);
  });
});

describe('push-pull', () => {
  it('answers a stream with its full state and merges the sender', () => {
    const a = node('a', ['b']);
    const fx = handle(a, { type: 'stream', from: 'z:1', msg: { type: 'pushPull', join: true, from: 'z', members: [{ id: 'z', address: 'z:1', incarnation: 1, status: 'alive', metadata: {} }] } }, 0);
    expect(fx.reply?.members.map((m) => m.id).sort()).toEqual(['a', 'b', 'z']);
    expect(fx.events.map((e) => e.type)).toEqual(['join']);
    expect(members(a).find((m) => m.id === 'z')?.status).toBe('alive');
  });

  it('answers a join from a table past joinReplyMembers with itself and a sample; the joiner gets the rest from a member of it', () => {
    const many = Array.from({ length: 2 * config.joinReplyMembers }, (_, i) => `m${i}`);
    const seed = node('s', many);
    const join = (id: string): PushPull => ({ type: 'pushPull', join: true, from: id, members: [{ id, address: `${id}:1`, incarnation: 1, status: 'alive', metadata: {} }] });
    const reply = handle(seed, { type: 'stream', from: 'z:1', msg: join('z') }, 0).reply!;
    expect(reply.members).toHaveLength(config.joinReplyMembers);
    expect(reply.members[0]?.id).toBe('s');
    expect(new Set(reply.members.map((m) => m.id)).size).toBe(config.joinReplyMembers);
    // Not a join: the whole table, as before.
    expect(handle(seed, { type: 'stream', from: 'y:1', msg: { ...join('y'), join: false } }, 0).reply!.members.length).toBe(many.length + 3);

    const z = createCore({ config, self: { id: 'z', address: 'z:1', metadata: {} }, seed: 5, now: 0 });
    handle(z, { type: 'join', seeds: ['s:1'] }, 0);
    handle(z, { type: 'seedAddresses', addresses: ['s:1'] }, 0);
    const fx = handle(z, { type: 'streamReply', from: 's:1', msg: reply }, 1);
    const followUps = fx.streams.map((s) => s.to);
    expect(followUps).toHaveLength(1);
    expect(followUps[0]).not.toBe('s:1');
    expect(reply.members.map((m) => m.address)).toContain(followUps[0]);
    // The rest of the table is still the join: no spreading of it.
    const rest: PushPull = { type: 'pushPull', join: false, from: 'x', members: many.map((id) => ({ id, address: `${id}:1`, incarnation: 1, status: 'alive' as const, metadata: {} })) };
    handle(z, { type: 'streamReply', from: followUps[0]!, msg: rest }, 2);
    expect(z.members.size).toBe(many.length + 2);
    expect(Number.isFinite(z.nextSpreadAt)).toBe(false);
  });

  it('takes another node’s dead verdict as a suspicion only, and a left as left', () => {
    const a = node('a', ['b', 'c']);
    const msg: PushPull = {
      type: 'pushPull',
      join: false,
      from: 'x',
      members: [
        { id: 'b', address: 'b:1', incarnation: 5, status: 'dead', metadata: {} },
        { id: 'c', address: 'c:1', incarnation: 5, status: 'left', metadata: {} },
      ],
    };
    const fx = handle(a, { type: 'streamReply', from: 'x:1', msg }, 0);
    expect(status(a, 'b')).toBe('suspect');
    expect(status(a, 'c')).toBe('left');
    expect(fx.events.map((e) => e.type)).toEqual(['leave']);
  });

  it('keeps trying a failed member long after forgetting it, until reconnectTimeoutMs', () => {
    const cfg = resolveGossipConfig({ deadReclaimMs: 1000, pushPullIntervalMs: 2000, reconnectTimeoutMs: 60_000 }, 'local');
    const a = createCore({ config: cfg, self: { id: 'a', address: 'a:1', metadata: {} }, seed: 5, now: 0 });
    bootstrap(a, ['b', 'c'].map((o) => toRecord({ id: o, address: `${o}:1`, incarnation: 5, status: 'alive', metadata: {} }, 0)));
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    handle(a, packet({ type: 'dead', id: 'c', incarnation: 5, from: 'c' }), 0); // c left: never tried
    const tried = (from: number, until: number) => {
      const to: string[] = [];
      for (let now = from; now <= until; now = Math.max(now + 1, nextDeadline(a))) to.push(...handle(a, { type: 'tick' }, now).streams.map((s) => s.to));
      return to;
    };
    expect(tried(0, 20_000).filter((t) => t === 'b:1').length).toBeGreaterThanOrEqual(8);
    expect(a.members.has('b')).toBe(false); // forgotten long ago, still tried
    expect(tried(20_001, 59_000)).not.toContain('c:1');
    tried(59_001, 62_000);
    expect(tried(62_001, 80_000)).toEqual([]);
  });

  it('a member that comes back is no longer tried as failed', () => {
    const a = node('a', ['b', 'c']);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    expect(a.reconnect.has('b')).toBe(true);
    handle(a, packet({ type: 'alive', id: 'b', address: 'b:1', incarnation: 6, metadata: {} }), 1);
    expect(a.reconnect.has('b')).toBe(false);
  });

  it('a later join adds its seeds to those already known, for rejoins too', () => {
    const a = createCore({ config, self: { id: 'a', address: 'a:1', metadata: {} }, seed: 9, now: 0 });
    handle(a, { type: 'join', seeds: ['s1:1'] }, 0);
    expect(handle(a, { type: 'join', seeds: ['s2:1', 's1:1'] }, 1).resolveSeeds).toEqual(['s1:1', 's2:1']);
  });

  /** Node a, joined through the seed `seed.example:1` (at s:1), which answered with s and b. */
  function joinedThroughSeed(settings: typeof config): Core {
    const a = createCore({ config: settings, self: { id: 'a', address: 'a:1', metadata: {} }, seed: 9, now: 0 });
    handle(a, { type: 'join', seeds: ['seed.example:1'] }, 0);
    handle(a, { type: 'seedAddresses', addresses: ['s:1'] }, 0);
    const reply: PushPull = {
      type: 'pushPull',
      join: false,
      from: 's',
      members: ['s', 'b'].map((n) => ({ id: n, address: `${n}:1`, incarnation: 1, status: 'alive' as const, metadata: {} })),
    };
    handle(a, { type: 'streamReply', from: 's:1', msg: reply }, 1);
    return a;
  }

  it('joins through the seeds again, resolved again, whenever no seed is a live member', () => {
    // No refresh within the test, so every lookup counted is a rejoin.
    const rare = { ...config, seedRefreshMs: 100 * config.pushPullIntervalMs };
    const a = joinedThroughSeed(rare);
    const pushPulls = (from: number, until: number) => {
      let asks = 0;
      for (let now = from; now <= until; now = Math.max(now + 1, nextDeadline(a))) {
        const fx = handle(a, { type: 'tick' }, now);
        if (fx.resolveSeeds) asks++;
        for (const m of sent(fx)) if (m.type === 'ping') handle(a, packet({ type: 'ack', seq: m.seq }), now);
      }
      return asks;
    };
    // The seed is alive: the periodic exchange goes to members, not to the seeds.
    expect(pushPulls(2, 3 * config.pushPullIntervalMs)).toBe(0);
    // The seed fails (b is still there, so we are not alone): each interval asks for the seeds again.
    const at = 3 * config.pushPullIntervalMs + 1;
    handle(a, packet({ type: 'dead', id: 's', incarnation: 1, from: 'b' }), at);
    expect(pushPulls(at, at + 3 * config.pushPullIntervalMs)).toBeGreaterThanOrEqual(2);
  });

  it('looks the seeds up again every seedRefreshMs while joined, and push-pulls only addresses with no live member', () => {
    const a = joinedThroughSeed(config);
    const lookups: number[] = [];
    for (let now = 2; now <= 3 * config.seedRefreshMs + 1; now = Math.max(now + 1, nextDeadline(a))) {
      const fx = handle(a, { type: 'tick' }, now);
      if (fx.resolveSeeds) lookups.push(now);
      for (const m of sent(fx)) if (m.type === 'ping') handle(a, packet({ type: 'ack', seq: m.seq }), now);
    }
    expect(lookups).toEqual([1, 2, 3].map((k) => k * config.seedRefreshMs));
    // The name now lists members of another cluster next to the live ones (and this node).
    const fx = handle(a, { type: 'seedAddresses', addresses: ['a:1', 's:1', 'b:1', 'c:1', 'd:1'] }, 3 * config.seedRefreshMs + 2);
    expect(fx.streams.map((s) => [s.to, s.msg.join])).toEqual([['c:1', false], ['d:1', false]]);
    // Asked again while those exchanges are under way: nothing more is sent.
    expect(handle(a, { type: 'seedAddresses', addresses: ['c:1', 'd:1'] }, 3 * config.seedRefreshMs + 3).streams).toEqual([]);
  });

  it('forgets dead members after deadReclaimMs', () => {
    const a = node('a', ['b', 'c']);
    handle(a, packet({ type: 'dead', id: 'b', incarnation: 5, from: 'c' }), 0);
    runTimers(a, 0, config.deadReclaimMs / 2);
    expect(a.members.has('b')).toBe(true);
    runTimers(a, config.deadReclaimMs / 2, config.deadReclaimMs * 1.5);
    expect(a.members.has('b')).toBe(false);
    expect(a.members.has('a')).toBe(true);
  });
});

describe('config', () => {
  it('merges overrides on a profile and checks every field, naming what was wrong', () => {
    expect(resolveGossipConfig({}, 'lan')).toEqual(lanProfile());
    expect(resolveGossipConfig({ gossipNodes: 6 }, 'local')).toEqual({ ...localProfile(), gossipNodes: 6 });
    expect(() => resolveGossipConfig({ probeIntervalMs: -1 })).toThrow(/probeIntervalMs: -1; expected a positive number/);
    expect(() => resolveGossipConfig({ gossipNodes: 2.5 })).toThrow(/gossipNodes: 2.5; expected a whole number/);
    expect(() => resolveGossipConfig({ probeTimeoutMs: 1000 })).toThrow(/expected less than probeIntervalMs/);
    expect(() => resolveGossipConfig({ nackTimeoutMs: 600 })).toThrow(/nackTimeoutMs: 600/);
    expect(() => resolveGossipConfig({ probeIntervalMsec: 5 } as never)).toThrow(/Unknown gossip config field "probeIntervalMsec"/);
    expect(() => resolveGossipConfig({}, 'wan' as never)).toThrow(/Unknown gossip profile "wan"/);
  });

  it('the local profile probes and gossips faster than lan', () => {
    const lan = lanProfile();
    const local = localProfile();
    expect(local.probeIntervalMs).toBeLessThan(lan.probeIntervalMs);
    expect(local.gossipIntervalMs).toBeLessThan(lan.gossipIntervalMs);
    expect(local.nackTimeoutMs).toBeLessThan(local.probeIntervalMs - local.probeTimeoutMs);
    expect(lan.nackTimeoutMs).toBeLessThan(lan.probeIntervalMs - lan.probeTimeoutMs);
  });

  it('stretches the push-pull interval beyond 32 members', () => {
    const lan = lanProfile();
    expect(pushPullIntervalFor(lan, 32)).toBe(lan.pushPullIntervalMs);
    expect(pushPullIntervalFor(lan, 1000)).toBe(lan.pushPullIntervalMs * 6);
    expect(pushPullIntervalFor(lan, 10_000)).toBe(lan.pushPullIntervalMs * 10);
  });
});

describe('whom to watch', () => {
  it('chooses the next watchPeers alive members after itself in id order, wrapping, and says so when the choice moves', () => {
    expect(config.watchPeers).toBe(2);
    const c = node('c', ['a', 'b', 'd', 'e']);
    expect(watching(c)).toEqual(['d:1', 'e:1']);
    // d fails: the ring closes over it and wraps to the start.
    const gone = handle(c, { type: 'peerGone', id: 'd' }, 1);
    expect(gone.watch).toEqual(['e:1', 'a:1']);
    expect(watching(c)).toEqual(['e:1', 'a:1']);
    // A member joining outside the window changes nothing, so no watch effect.
    const joined = handle(c, packet({ type: 'alive', id: 'bb', address: 'bb:1', incarnation: 1, metadata: {} }), 2);
    expect(joined.events).toHaveLength(1);
    expect(joined.watch).toBeUndefined();
    expect(liveMemberAt(c, 'e:1')?.id).toBe('e');
    expect(liveMemberAt(c, 'd:1')).toBeUndefined();
  });
});
