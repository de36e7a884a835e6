/** The protocol core's pure functions: incarnations, suspicion, refutation, leave, metadata. */
import { describe, expect, it } from 'vitest';
import { localProfile, retransmitLimit, suspicionMinMs } from '../../src/discovery/gossip/config.js';
import { bootstrap, createCore, handle, members, nextDeadline, suspicionTimeoutMs, type Core, type Input } from '../../src/discovery/gossip/core.js';
import type { PacketMessage } from '../../src/discovery/gossip/messages.js';
import { BroadcastQueue } from '../../src/discovery/gossip/broadcasts.js';
import { decodePacket, encodePackets } from '../../src/discovery/gossip/codec.js';

const config = localProfile();

function node(name: string, others: string[] = [], now = 0): Core {
  const core = createCore({ config, self: { name, addr: `${name}:1`, meta: {} }, seed: 42, now });
  bootstrap(core, others.map((o) => ({ name: o, addr: `${o}:1`, incarnation: 5, status: 'alive' as const, meta: {} })), now);
  return core;
}

const packet = (...msgs: PacketMessage[]): Input => ({ type: 'packet', from: 'x:1', msgs });
const status = (core: Core, name: string) => core.members.get(name)?.status;
/** Every message a set of effects sends, decoded as the wire would carry it. */
function sent(fx: ReturnType<typeof handle>): PacketMessage[] {
  return fx.packets.flatMap((p) => encodePackets(p.msgs, 1400)).flatMap((bytes) => {
    const decoded = decodePacket(bytes);
    return decoded.ok ? decoded.value : [];
  });
}

/** Runs timers until `now` passes `until`, collecting events. */
function runTimers(core: Core, from: number, until: number) {
  const events = [];
  let now = from;
  while (now <= until) {
    const next = Math.max(now, nextDeadline(core));
    if (next > until) break;
    now = next;
    events.push(...handle(core, { type: 'tick' }, now).events);
    now += 0.001;
  }
  return events;
}

describe('suspicion and refutation', () => {
  it('a suspected member refutes with a higher incarnation, and the others take it back as alive', () => {
    const a = node('a', ['b', 'c']);
    const b = node('b', ['a', 'c']);
    handle(a, packet({ type: 'suspect', name: 'b', incarnation: 5, from: 'c' }), 10);
    expect(status(a, 'b')).toBe('suspect');
    // b hears it is suspected at incarnation 5 and refutes with 6.
    const refute = handle(b, packet({ type: 'suspect', name: 'b', incarnation: 5, from: 'c' }), 10);
    const alive = sent(refute).find((m) => m.type === 'alive' && m.name === 'b');
    expect(alive).toMatchObject({ type: 'alive', name: 'b', incarnation: 6 });
    const back = handle(a, packet(alive!), 20);
    expect(status(a, 'b')).toBe('alive');
    expect(back.events).toEqual([]); // suspect → alive is no membership change
  });

  it('an unrefuted suspicion ends in dead after the timeout, with a fail event', () => {
    const a = node('a', ['b', 'c', 'd']);
    handle(a, packet({ type: 'suspect', name: 'b', incarnation: 5, from: 'c' }), 0);
    const min = suspicionMinMs(config, 4);
    expect(runTimers(a, 0, min * 0.9).filter((e) => e.type === 'fail')).toEqual([]);
    const events = runTimers(a, min * 0.9, min * config.suspicionMaxTimeoutMult + 1);
    expect(events.filter((e) => e.type === 'fail').map((e) => e.type === 'fail' && e.member.name)).toEqual(['b']);
    expect(status(a, 'b')).toBe('dead');
  });

  it('confirmations from independent members shorten the suspicion timeout (Lifeguard)', () => {
    expect(suspicionTimeoutMs(1000, 6000, 0, 3)).toBe(6000);
    expect(suspicionTimeoutMs(1000, 6000, 1, 3)).toBeLessThan(6000);
    expect(suspicionTimeoutMs(1000, 6000, 3, 3)).toBe(1000);
    expect(suspicionTimeoutMs(1000, 6000, 9, 3)).toBe(1000);
    expect(suspicionTimeoutMs(1000, 6000, 0, 0)).toBe(1000);
  });

  it('ignores suspicion about an older incarnation', () => {
    const a = node('a', ['b', 'c']);
    handle(a, packet({ type: 'suspect', name: 'b', incarnation: 4, from: 'c' }), 0);
    expect(status(a, 'b')).toBe('alive');
  });
});

describe('incarnation ordering', () => {
  it('alive overrides only with a newer incarnation; dead overrides alive at the same one', () => {
    const a = node('a', ['b']);
    handle(a, packet({ type: 'alive', name: 'b', addr: 'b:1', incarnation: 5, meta: { v: 'stale' } }), 0);
    expect(a.members.get('b')!.meta).toEqual({});
    handle(a, packet({ type: 'dead', name: 'b', incarnation: 5, from: 'c' }), 0);
    expect(status(a, 'b')).toBe('dead');
    // An alive at the same incarnation cannot bring it back; a newer one can (a restart).
    handle(a, packet({ type: 'alive', name: 'b', addr: 'b:1', incarnation: 5, meta: {} }), 0);
    expect(status(a, 'b')).toBe('dead');
    const back = handle(a, packet({ type: 'alive', name: 'b', addr: 'b:1', incarnation: 6, meta: {} }), 0);
    expect(status(a, 'b')).toBe('alive');
    expect(back.events.map((e) => e.type)).toEqual(['join']);
  });

  it('a new member starts at an incarnation taken from the clock, so a restart outranks its past self', () => {
    expect(createCore({ config, self: { name: 'x', addr: 'x:1', meta: {} }, seed: 1, now: 5_000_000 }).self.incarnation).toBe(5000);
  });
});

describe('metadata updates', () => {
  it('are ordered by incarnation: an update event for the newer one, the older one ignored', () => {
    const a = node('a', ['b']);
    const first = handle(a, packet({ type: 'alive', name: 'b', addr: 'b:1', incarnation: 7, meta: { v: '2' } }), 0);
    expect(first.events).toEqual([{ type: 'update', member: expect.objectContaining({ name: 'b', meta: { v: '2' } }) }]);
    const late = handle(a, packet({ type: 'alive', name: 'b', addr: 'b:1', incarnation: 6, meta: { v: '1' } }), 0);
    expect(late.events).toEqual([]);
    expect(a.members.get('b')!.meta).toEqual({ v: '2' });
  });

  it('setMeta bumps our incarnation and sends the news at once', () => {
    const a = node('a', ['b', 'c']);
    const before = a.self.incarnation;
    const fx = handle(a, { type: 'setMeta', meta: { role: 'db' } }, 0);
    expect(a.self.incarnation).toBe(before + 1);
    expect(sent(fx).filter((m) => m.type === 'alive')).toContainEqual({ type: 'alive', name: 'a', addr: 'a:1', incarnation: before + 1, meta: { role: 'db' } });
  });
});

describe('leave', () => {
  it('a leave is a dead message from the member itself, seen as leave, not fail', () => {
    const a = node('a', ['b', 'c']);
    const b = node('b', ['a', 'c']);
    const fx = handle(b, { type: 'leave' }, 0);
    const goodbye = sent(fx).find((m) => m.type === 'dead');
    expect(goodbye).toEqual({ type: 'dead', name: 'b', incarnation: b.self.incarnation, from: 'b' });
    b.members.get('a'); // b no longer answers pings
    expect(sent(handle(b, packet({ type: 'ping', seq: 1, target: 'b', from: 'a' }), 1))).toEqual([]);
    const seen = handle(a, packet({ ...goodbye!, incarnation: 5 } as PacketMessage), 1);
    expect(seen.events.map((e) => e.type)).toEqual(['leave']);
    expect(status(a, 'b')).toBe('left');
  });

  it('a member hearing itself declared dead while not leaving refutes', () => {
    const a = node('a', ['b']);
    const inc = a.self.incarnation;
    const fx = handle(a, packet({ type: 'dead', name: 'a', incarnation: inc, from: 'b' }), 0);
    expect(a.self.incarnation).toBe(inc + 1);
    expect(sent(fx).some((m) => m.type === 'alive' && m.name === 'a')).toBe(true);
  });
});

describe('conflicts and hints', () => {
  it('reports two live members claiming one name, keeping the one it knows', () => {
    const a = node('a', ['b']);
    const fx = handle(a, packet({ type: 'alive', name: 'b', addr: 'elsewhere:9', incarnation: 9, meta: {} }), 0);
    expect(fx.events).toEqual([{ type: 'conflict', existing: expect.objectContaining({ addr: 'b:1' }), incoming: expect.objectContaining({ addr: 'elsewhere:9' }) }]);
    expect(a.members.get('b')!.addr).toBe('b:1');
  });

  it('a peerGone hint marks the member dead at once and tells many', () => {
    const a = node('a', ['b', 'c', 'd']);
    const fx = handle(a, { type: 'peerGone', name: 'b' }, 0);
    expect(fx.events.map((e) => e.type)).toEqual(['fail']);
    // The others hear it at once (and b too: were it alive after all, it would refute).
    expect(new Set(fx.packets.map((p) => p.to))).toEqual(new Set(['b:1', 'c:1', 'd:1']));
  });

  it('answers a ping for its own name only', () => {
    const a = node('a', ['b']);
    expect(sent(handle(a, packet({ type: 'ping', seq: 3, target: 'a', from: 'b' }), 0))[0]).toEqual({ type: 'ack', seq: 3 });
    expect(sent(handle(a, packet({ type: 'ping', seq: 4, target: 'zz', from: 'b' }), 0))).toEqual([]);
  });
});

describe('probing', () => {
  it('probes, then asks others after the probe timeout, then suspects', () => {
    const a = node('a', ['b', 'c', 'd']);
    let now = a.nextProbeAt;
    const first = handle(a, { type: 'tick' }, now);
    const ping = sent(first).find((m) => m.type === 'ping')!;
    expect(ping).toBeDefined();
    const target = first.packets.find((p) => p.msgs.some((m) => !(m instanceof Uint8Array) && m.type === 'ping'))!.to.split(':')[0]!;
    now += config.probeTimeoutMs;
    const indirect = sent(handle(a, { type: 'tick' }, now)).filter((m) => m.type === 'indirect');
    expect(indirect.length).toBe(config.indirectChecks);
    now = first.packets.length ? a.nextProbeAt : now;
    handle(a, { type: 'tick' }, now);
    expect(status(a, target)).toBe('suspect');
    expect(a.awareness).toBeGreaterThan(0); // no nacks came back: maybe our own trouble
  });
});

describe('broadcast queue', () => {
  it('sends each broadcast a limited number of times, newest news replacing old', () => {
    const q = new BroadcastQueue();
    q.push('b', { type: 'suspect', name: 'b', incarnation: 1, from: 'c' });
    q.push('b', { type: 'alive', name: 'b', addr: 'b:1', incarnation: 2, meta: {} });
    expect(q.size).toBe(1);
    const limit = retransmitLimit(config, 10);
    for (let i = 0; i < limit; i++) expect(q.take(1400, limit)).toHaveLength(1);
    expect(q.take(1400, limit)).toHaveLength(0);
  });

  it('keeps within the byte budget', () => {
    const q = new BroadcastQueue();
    for (let i = 0; i < 100; i++) q.push(`m${i}`, { type: 'alive', name: `m${i}`, addr: 'h:1', incarnation: i, meta: { k: 'v'.repeat(20) } });
    const taken = q.take(500, 4);
    expect(taken.reduce((n, b) => n + b.length, 0)).toBeLessThanOrEqual(500);
    expect(taken.length).toBeGreaterThan(5);
  });
});

describe('push-pull', () => {
  it('answers a stream with its full state and merges the sender', () => {
    const a = node('a', ['b']);
    const fx = handle(a, { type: 'stream', from: 'z:1', msg: { type: 'pushPull', join: true, from: 'z', members: [{ name: 'z', addr: 'z:1', incarnation: 1, status: 'alive', meta: {} }] } }, 0);
    expect(fx.reply?.members.map((m) => m.name).sort()).toEqual(['a', 'b', 'z']);
    expect(fx.events.map((e) => e.type)).toEqual(['join']);
    expect(members(a).find((m) => m.name === 'z')?.status).toBe('alive');
  });
});
