/** The protocol core's state and the records it keeps: what `handle` reads and changes, and the effects it returns. */
import type { Histogram } from '../../histogram.js';
import type { BroadcastQueue } from './broadcasts.js';
import type { GossipConfig } from './config.js';
import type { Ack, Alive, MemberState, Ping, ProtocolStatus, PacketMessage, PushPull } from '../wire/messages.js';
import type { Rng } from '../../rng.js';
import type { Suspicion } from './suspicion.js';

/** A membership change this node observed. */
export type MemberEvent =
  /** A member became alive to us: new, or back after being dead or gone. */
  | { readonly type: 'join'; readonly member: MemberState }
  /** A live member's metadata or address changed (a newer incarnation). */
  | { readonly type: 'update'; readonly member: MemberState }
  /** A member left gracefully. */
  | { readonly type: 'leave'; readonly member: MemberState }
  /** A member was declared dead: its suspicion timed out unrefuted, or its process is known to be gone. */
  | { readonly type: 'fail'; readonly member: MemberState }
  /** Another address claims a member's id while the member still answers at its own (or with nothing newer); the one known is kept. */
  | { readonly type: 'conflict'; readonly existing: MemberState; readonly incoming: MemberState };

/** What the core can be told. */
export type Input =
  /** Timers: call at or after `nextDeadline(core)`. */
  | { readonly type: 'tick' }
  /** A decoded UDP packet from `from` (`host:port`). */
  | { readonly type: 'packet'; readonly from: string; readonly msgs: readonly PacketMessage[] }
  /** A ping that came over TCP (a probe's fallback); `Effects.ack` holds the answer to send back on the same stream. */
  | { readonly type: 'streamPing'; readonly from: string; readonly msg: Ping }
  /** The answer to a ping this core sent over TCP (`Effects.tcpPings`). */
  | { readonly type: 'streamAck'; readonly from: string; readonly seq: number }
  /** An incoming push-pull; `Effects.reply` holds the answer to send back on the same stream. */
  | { readonly type: 'stream'; readonly from: string; readonly msg: PushPull }
  /** The answer to a push-pull this core asked for (`Effects.streams`), from the address it was sent to. */
  | { readonly type: 'streamReply'; readonly from: string; readonly msg: PushPull }
  /** A push-pull this core asked for failed (refused, timed out, unreadable answer). */
  | { readonly type: 'streamFailed'; readonly to: string; readonly error: string }
  /**
   * Join through these seeds, retrying with backoff until one push-pull
   * succeeds. Each attempt asks for them through `Effects.resolveSeeds`.
   */
  | { readonly type: 'join'; readonly seeds: readonly string[] }
  /** The answer to `Effects.resolveSeeds`: the seeds' `host:port` addresses now; push-pulls go to each. */
  | { readonly type: 'seedAddresses'; readonly addresses: readonly string[] }
  /** Leave gracefully; `Effects.leaveDone` says when the goodbye has gone out. */
  | { readonly type: 'leave' }
  /** Publish new metadata (bounded as the codec requires; the facade checks it). */
  | { readonly type: 'setMetadata'; readonly metadata: Readonly<Record<string, string>> }
  /** The transport knows this member's process is gone (its host refused a reconnect): declare it dead now. */
  | { readonly type: 'peerGone'; readonly id: string }
  /** The transport saw something odd about this member (a reset, a timeout): probe it now. */
  | { readonly type: 'probeNow'; readonly id: string };

/** What to do after an input. */
export interface Effects {
  /**
   * UDP packets: each entry's messages fit one packet of `udpBufferSize`
   * with 64 bytes to spare for sealing. The first is the primary message;
   * piggybacked broadcasts follow, already encoded.
   */
  readonly packets: { readonly to: string; readonly msgs: (PacketMessage | Uint8Array)[] }[];
  /** TCP push-pull requests to make; answer each with `streamReply` or `streamFailed`. */
  readonly streams: { readonly to: string; readonly msg: PushPull }[];
  /** The answer to an incoming `stream`. */
  reply: PushPull | undefined;
  /**
   * Pings to send over TCP, one request each, as a probe's fallback when the
   * direct UDP ping timed out; answer each ack with `streamAck`. Give up at
   * the probe's end (`probeIntervalMs` after it started): a late answer is
   * ignored.
   */
  readonly tcpPings: { readonly to: string; readonly msg: Ping }[];
  /** The answer to an incoming `streamPing`. */
  ack: Ack | undefined;
  /** Members just found to answer over TCP while their UDP probes fail, by id (see `udpUnreachable`). */
  readonly udpUnreachable: string[];
  /** Membership changes, in order. */
  readonly events: MemberEvent[];
  /** Set once, after a `leave`, when the goodbye has been sent on enough (or `leaveTimeoutMs` passed). */
  leaveDone: boolean;
  /**
   * A join or rejoin attempt: the configured seeds, which may be names. The
   * driver resolves them to `host:port` addresses (again each time, as they
   * may move) and answers with `{ type: 'seedAddresses', addresses }`.
   */
  resolveSeeds: readonly string[] | undefined;
  /**
   * Members that became suspect, or were cleared of a suspicion, in order. Not
   * membership changes (a suspect is still a member), so not in `events`.
   */
  readonly suspicion: { readonly id: string; readonly suspect: boolean }[];
  /**
   * The addresses to watch over TCP from now on, when the choice changed:
   * the next `watchPeers` live members after this one in id order, so that
   * the death of any process is noticed at once by those watching it.
   */
  watch: readonly string[] | undefined;
}

/** What a node holds about one member. Replaced, never changed in place, so many cores may share one. */
export interface MemberRecord extends MemberState {
  /** When the status last changed, for gossip to the dead and forgetting the dead. */
  readonly changedAt: number;
}

/** A probe under way. */
export interface Probe {
  readonly target: string;
  /** When the ping went out, for the round-trip time. */
  readonly sentAt: number;
  readonly directDeadline: number;
  readonly endDeadline: number;
  indirectSent: boolean;
  /** The target answered the TCP fallback ping: alive, though UDP did not get through. */
  tcpAcked: boolean;
  expectedNacks: number;
  nacks: number;
}

/** An indirect probe we are making for someone else. */
interface Relay {
  readonly origin: string;
  readonly originSeq: number;
  readonly deadline: number;
  readonly nack: boolean;
}

/**
 * A claim that a known member moved to another address, held until its old
 * address has been probed: applied if the old address stays silent (a member
 * restarted elsewhere), dropped as a conflict if the member answers there.
 */
export interface PendingMove {
  readonly alive: Alive;
  /** The ping sent to the old address. */
  readonly seq: number;
  /** When the ping is sent again, once, in case the first was lost. */
  readonly retryAt: number;
  /** When the old address has failed the probe, and the move is taken. */
  readonly deadline: number;
  retried: boolean;
}

/** The state of one node's protocol. Opaque: read it through the functions of this module. */
export interface Core {
  readonly config: GossipConfig;
  readonly rng: Rng;
  /** This node's own record (replaced on every change). */
  self: MemberRecord;
  /** Every member known, self included, by id. */
  readonly members: Map<string, MemberRecord>;
  /** Names of dead and left members, to forget them after `deadReclaimMs` without scanning everyone. */
  readonly gone: Set<string>;
  /** Members declared dead (not left), by id: tried now and then until `reconnectTimeoutMs` after the failure. */
  readonly reconnect: Map<string, { readonly address: string; readonly failedAt: number }>;
  /** Members alive or suspect, self included: the `n` of every formula. */
  live: number;
  readonly broadcasts: BroadcastQueue;
  readonly suspicions: Map<string, Suspicion>;
  readonly probes: Map<number, Probe>;
  readonly relays: Map<number, Relay>;
  /** Addresses with a push-pull under way that we started because our views differed. */
  readonly exchanging: Set<string>;
  /** Address moves waiting for their old address to be probed, by member id. */
  readonly moves: Map<string, PendingMove>;
  /** Conflicts already reported, id → incoming address, so a repeated claim is reported once. */
  readonly conflicts: Map<string, string>;
  probeOrder: string[];
  probeIndex: number;
  probeNext: string | undefined;
  seq: number;
  /** Lifeguard local-health score, 0 (healthy) to `awarenessMaxMultiplier − 1`. */
  awareness: number;
  nextProbeAt: number;
  nextGossipAt: number;
  nextPushPullAt: number;
  nextReclaimAt: number;
  /** The next spreading push-pull (`spreadAfterChanges`), or `Infinity` when not spreading. */
  nextSpreadAt: number;
  /** When the last spreading push-pull started. */
  lastSpreadAt: number;
  /** The address of the exchange for the rest of the table after a sampled join answer, while under way. */
  joinFollowUp: string | undefined;
  /** The address of the spreading push-pull under way, if any. */
  spreadingTo: string | undefined;
  /** Spreading exchanges in a row that carried little news; spreading stops at `SPREAD_PATIENCE`. */
  spreadMisses: number;
  /** Members that joined or changed since `newsSince` (see `noteNews` in spread.ts). */
  news: number;
  newsSince: number;
  /** When to look the seeds up again while joined (`seedRefreshMs`). */
  nextSeedRefreshAt: number;
  /** Seeds as configured (they may be names). */
  seeds: readonly string[];
  /** The seeds' addresses when last resolved, this node's own left out. */
  seedAddresses: ReadonlySet<string>;
  joined: boolean;
  joinAttempts: number;
  nextJoinAt: number;
  leaving: boolean;
  leaveDeadline: number;
  leaveReported: boolean;
  /** Outcomes of the last probes (true = answered), oldest first. */
  readonly recentProbes: boolean[];
  /** Round-trip time of the last direct probe each live member answered, in ms. */
  readonly probeRttMs: Map<string, number>;
  /** Every direct probe's round trip, in ms, bucketed. */
  readonly probeRtt: Histogram;
  /**
   * Members this node started to suspect, times it refuted a suspicion of
   * itself, claims dropped for an incarnation outside the window of what it
   * knew (see incarnations.ts), news of new members dropped by `maxMembers`
   * or `newMembersPerSecond`, probes answered over TCP only, and join news
   * sent at once or deferred.
   */
  readonly stats: {
    suspicions: number;
    refutations: number;
    claimsOutOfWindow: number;
    newMembersDropped: number;
    tcpFallbacks: number;
    /** News of a new member sent at once (`joinNewsFanout`), and news left to the gossip round by `joinNewsPerSecond`. */
    joinNewsSent: number;
    joinNewsDeferred: number;
  };
  /** Members new to us that UDP gossip may still bring in now (a token bucket of `newMembersPerSecond`), and when it was last filled. */
  newMemberTokens: number;
  newMemberTokensAt: number;
  /** Eager fan-outs of join news still allowed now (a token bucket of `joinNewsPerSecond`), and when it was last filled. */
  joinNewsTokens: number;
  joinNewsTokensAt: number;
  /** Addresses of the members this node watches over TCP (see `Effects.watch`). */
  watching: readonly string[];
  /**
   * Live members whose last `UDP_UNREACHABLE_AFTER` probes got through only
   * over TCP (a firewall that drops UDP), by id: until a direct UDP ack comes
   * back they are not asked to relay probes, and urgent news goes to them by
   * push-pull.
   */
  readonly udpUnreachable: Set<string>;
  /** Probes in a row that only TCP answered, by member id; cleared by a direct UDP ack. */
  readonly tcpOnlyProbes: Map<string, number>;
}

/**
 * Probes in a row that only TCP answered before a member counts as
 * unreachable over UDP. One is what random loss gives now and then (at 10%
 * loss about one probe in 700 loses the direct ping, every relay and the
 * retry); two in a row, a whole probe round apart, is a blocked port.
 */
export const UDP_UNREACHABLE_AFTER = 2;

/**
 * Spreading exchanges in a row that may carry no news before a node stops
 * spreading. One would stop too early: nearly a fifth of the members would
 * still wait for the periodic push-pull; each more cuts that about fivefold.
 */
export const SPREAD_PATIENCE = 3;

/** Probes remembered for `recentProbeFailureRatio`. */
export const RECENT_PROBES = 16;

/** Bytes of each packet kept free of piggybacked broadcasts: the packet header and a seal (nonce, tag, version). */
export const PACKET_RESERVE_BYTES = 64;

export const isLive = (status: ProtocolStatus) => status === 'alive' || status === 'suspect';

export const newEffects = (): Effects => ({
  packets: [],
  streams: [],
  reply: undefined,
  tcpPings: [],
  ack: undefined,
  udpUnreachable: [],
  events: [],
  leaveDone: false,
  resolveSeeds: undefined,
  watch: undefined,
  suspicion: [],
});

export function snapshotOf(m: MemberState): MemberState {
  return { id: m.id, address: m.address, incarnation: m.incarnation, status: m.status, metadata: m.metadata };
}

/** Puts a new record for a member, keeping the live count and the set of the gone. */
export function put(core: Core, next: MemberRecord, previous: MemberRecord | undefined): void {
  const wasLive = previous !== undefined && isLive(previous.status);
  const nowLive = isLive(next.status);
  core.live += (nowLive ? 1 : 0) - (wasLive ? 1 : 0);
  if (nowLive) {
    core.gone.delete(next.id);
    core.reconnect.delete(next.id);
  } else {
    core.gone.add(next.id);
    core.probeRttMs.delete(next.id);
    core.udpUnreachable.delete(next.id);
    core.tcpOnlyProbes.delete(next.id);
  }
  core.members.set(next.id, next);
}

export function withStatus(m: MemberRecord, status: ProtocolStatus, incarnation: number, now: number): MemberRecord {
  return { id: m.id, address: m.address, incarnation, status, metadata: m.metadata, changedAt: m.status === status ? m.changedAt : now };
}

export function nextSeq(core: Core): number {
  core.seq = (core.seq + 1) % Number.MAX_SAFE_INTEGER;
  return core.seq;
}

/** A direct UDP ack from the member: UDP gets through (again). */
export function clearTcpOnly(core: Core, id: string): void {
  core.udpUnreachable.delete(id);
  core.tcpOnlyProbes.delete(id);
}

export function recordProbe(core: Core, ok: boolean): void {
  core.recentProbes.push(ok);
  if (core.recentProbes.length > RECENT_PROBES) core.recentProbes.shift();
}
