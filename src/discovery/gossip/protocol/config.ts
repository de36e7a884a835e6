/**
 * Tunables of the gossip protocol. Every timing and limit is a named field
 * with its default for each profile and, where it scales with the cluster
 * size `n` (members alive or suspect, this node included), its formula.
 *
 * Two profiles:
 * - `lan` (the default): members on a network of hosts. Tuned so that a host
 *   that stops answering is declared failed by all of 1,000 members within
 *   10 s (median about 5 s), while 10% packet loss for ten minutes at 100
 *   members gives no false failure (see `bench/gossip-sim.ts`). HashiCorp
 *   memberlist's LAN defaults take about 15 s: the difference is a suspicion
 *   floor of 1 × log10(n) probe intervals rather than 4 ×, reached after two
 *   independent confirmations (Lifeguard), and gossip every 100 ms to 4
 *   members rather than every 200 ms to 3. Members correct stale news at
 *   once (see core.ts), which is what keeps the short timeouts safe, and
 *   send each piece of news on 6 × log10 n times rather than 4, so that
 *   hardly any member misses one.
 * - `local`: members on one host (loopback), where a round trip takes
 *   microseconds: faster probes and gossip.
 */

export type GossipProfile = 'lan' | 'local';

export interface GossipConfig {
  /**
   * Time between two probes started by this node (one member per probe,
   * round-robin). Stretched by local health: the next probe starts
   * `probeIntervalMs × (awareness + 1)` after this one.
   * lan 1000, local 500.
   */
  readonly probeIntervalMs: number;
  /**
   * How long to wait for the direct ack before asking `indirectChecks`
   * others to probe the target. Stretched like the interval:
   * `probeTimeoutMs × (awareness + 1)`. Must be under `probeIntervalMs`,
   * which bounds the whole probe (direct and indirect).
   * lan 500, local 200.
   */
  readonly probeTimeoutMs: number;
  /**
   * How long a member asked to probe for another waits for the target's ack
   * before answering with a nack. The nack has to reach the origin before its
   * probe ends, so it must stay under `probeIntervalMs − probeTimeoutMs`;
   * default `0.8 × (probeIntervalMs − probeTimeoutMs)`.
   * lan 400, local 240.
   */
  readonly nackTimeoutMs: number;
  /** Members asked to probe a target indirectly after a direct probe timed out. lan 3, local 2. */
  readonly indirectChecks: number;
  /**
   * Scales the shortest suspicion timeout (Lifeguard's floor, reached with
   * `suspicionConfirmations` independent confirmations):
   * `min = suspicionMult × max(1, log10(n)) × probeIntervalMs`.
   * lan 1 (3 s at n = 1,000, 2 s at n = 100), local 2 (1 s at n = 10).
   */
  readonly suspicionMult: number;
  /**
   * The longest suspicion timeout, where a suspicion no one else confirms
   * stays: `max = suspicionMaxTimeoutMult × min`. Gives a live member that is
   * merely slow time to refute. lan 3 (9 s at n = 1,000), local 4.
   */
  readonly suspicionMaxTimeoutMult: number;
  /**
   * Independent confirmations (other members' failed probes) after which a
   * suspicion's timeout has shrunk from `max` to `min`, logarithmically:
   * `timeout = max − (max − min) × ln(c + 1) / ln(k + 1)` for `c` of `k`.
   * When `n − 2 < k` there are not enough members to confirm and the
   * timeout is `min` from the start. lan 2, local 2.
   */
  readonly suspicionConfirmations: number;
  /**
   * Scales how many times each broadcast is sent on (piggybacked or
   * gossiped) before it is dropped: `retransmitMult × ceil(log10(n + 1))`.
   * A member misses a piece of news with a chance of about `e^−limit` (it
   * then waits for push-pull), so this is kept above memberlist's 4: at
   * n = 99 the limit is 12 rather than 8 (a miss in 160,000 rather than in
   * 3,000). lan 6, local 4.
   */
  readonly retransmitMult: number;
  /** Time between gossip rounds; a round is skipped when nothing is queued. lan 100, local 50. */
  readonly gossipIntervalMs: number;
  /** Members each gossip round sends to. lan 4, local 4. */
  readonly gossipNodes: number;
  /**
   * How long members declared dead (not those that left) still receive
   * gossip, so that a member wrongly declared dead hears it and refutes.
   * lan 30000, local 10000.
   */
  readonly gossipToTheDeadMs: number;
  /**
   * Time between full state exchanges (push-pull over TCP) with one random
   * member, the anti-entropy that heals what gossip missed and partitions.
   * Each interval also tries one failed member (see `reconnectTimeoutMs`)
   * and, when none of the seeds is a live member, the seeds (resolved
   * again).
   * Scaled beyond 32 members so each member's share stays flat:
   * `pushPullIntervalMs × (1 + max(0, ceil(log2(n) − 5)))`.
   * lan 30000, local 10000.
   */
  readonly pushPullIntervalMs: number;
  /**
   * Members that one push-pull must bring (new, back from the dead, or
   * changed) for this node to start spreading: push-pull again with a random
   * live member, and keep doing so every `spreadIntervalMs` while its
   * exchanges still carry that much news either way (three in a row that do
   * not end it). Two halves of a healed partition, or clusters that merge,
   * then exchange their tables epidemically over TCP, the informed doubling
   * every interval, instead of waiting for several push-pull intervals
   * (minutes at n = 1,000). Below it (a join, an update), gossip carries the
   * news well. Never at idle: a push-pull between converged members brings
   * nothing. 8.
   */
  readonly spreadAfterChanges: number;
  /**
   * Time between two spreading push-pulls by one node, which bounds what a
   * storm of merges can make it send. lan 200, local 100.
   */
  readonly spreadIntervalMs: number;
  /**
   * Most members in the answer to a join: a random sample of the live ones
   * (the answering member included) when the table is larger. When a
   * Deployment scales up or a cluster restarts, a seed answers every joiner
   * at once, and whole tables would make that load grow with the square of
   * the cluster. A joiner given a full sample exchanges whole tables with a
   * random member of it next, so the rest of the load is spread over the
   * members already joined. 128.
   */
  readonly joinReplyMembers: number;
  /**
   * Time between two lookups of the seeds while joined (DNS and static lists
   * alike), reconciling with the source: every resolved address at which no
   * live member is known gets a push-pull. Two clusters formed apart from one
   * name (DNS listed only half of the members when each started) thus merge
   * within one refresh once the name lists both. Costs one lookup per
   * interval, and no traffic while every seed address is a live member.
   * lan 30000, local 10000.
   */
  readonly seedRefreshMs: number;
  /**
   * Largest local-health multiplier (Lifeguard). The awareness score runs
   * from 0 to `awarenessMaxMultiplier − 1`; probe interval and timeout are
   * multiplied by `awareness + 1`. lan 8, local 8.
   */
  readonly awarenessMaxMultiplier: number;
  /**
   * Largest UDP payload sent, in bytes, sealing included: under a typical
   * 1500-byte MTU. Piggybacked broadcasts fill a packet up to this less 64
   * bytes kept for the header and a seal. 1400.
   */
  readonly udpBufferSize: number;
  /**
   * Largest push-pull frame, in bytes: about 10,000 members with 300 bytes
   * of metadata each. 4 MiB.
   */
  readonly maxStreamBytes: number;
  /** Bound on one push-pull exchange over TCP (connect, send, answer). lan 10000, local 2000. */
  readonly streamTimeoutMs: number;
  /**
   * First delay between join attempts while no seed answers. Doubles with
   * each failed attempt up to `joinRetryMaxMs`, with up to 25% random jitter
   * so restarted members do not retry in step. lan 500, local 200.
   */
  readonly joinRetryMs: number;
  /** Longest delay between join attempts. lan 10000, local 2000. */
  readonly joinRetryMaxMs: number;
  /**
   * How long dead and left members are remembered before being forgotten
   * (their name is then free, at any address and incarnation). Until then a
   * stale `alive` at an old incarnation cannot bring them back.
   * lan 60000, local 30000.
   */
  readonly deadReclaimMs: number;
  /**
   * How long a member declared dead (not one that left) is still tried:
   * its address is kept this long after the failure, past `deadReclaimMs`,
   * and every push-pull interval one such address, chosen at random, is
   * sent a push-pull. This is what heals a partition longer than the time
   * the dead are remembered: after both sides have forgotten each other,
   * the first attempt that gets through merges them again, so a healed
   * partition converges within about one push-pull interval
   * (`pushPullIntervalFor(config, n)`) of the network's return, however long
   * it lasted. A member that is really gone costs one failed connection per
   * interval until the window ends. lan 21600000 (6 h), local 3600000 (1 h).
   */
  readonly reconnectTimeoutMs: number;
  /** How long a graceful leave waits for its goodbye to be sent on before reporting it done. lan 2000, local 500. */
  readonly leaveTimeoutMs: number;
  /**
   * Members told directly, at once, of urgent news (our leave, a refutation,
   * our join, a member whose process is known to be gone), before gossip
   * carries it further. lan 32, local 32.
   */
  readonly urgentFanout: number;
  /**
   * Members told of a member new to this node (or back from dead or left)
   * at once, by UDP, rather than at its next gossip round: the seed that a
   * join push-pull reached, and every member the news reaches after it, so
   * a join crosses the cluster at network speed. Each counts as one of the
   * news's `retransmitMult × ceil(log10(n + 1))` transmissions (and never
   * more are sent), so the traffic a join makes is the same, only sooner;
   * never at idle. With the gossip round that follows at once, each member
   * passes the news to `gossipNodes + joinNewsFanout` others in its first
   * wave, which misses a member with a chance of about e^−10: at n = 1,000
   * about one join in twenty leaves a member to the next round (with 4, one
   * in three). 0 turns it off. lan 6, local 6.
   */
  readonly joinNewsFanout: number;
  /**
   * Most eager fan-outs (`joinNewsFanout`) a node makes per second (a burst
   * of as many, then that rate); beyond it news waits for the gossip round
   * as before. This bounds what a stream of new members, real (a Deployment
   * scaled up) or forged by an outsider on an unsealed network, makes each
   * member send at once: `joinNewsPerSecond × joinNewsFanout` small packets a
   * second. Positive: `joinNewsFanout` 0 turns eager news off. lan 20, local 20.
   */
  readonly joinNewsPerSecond: number;
  /**
   * Members each node keeps a TCP stream to, so that a process that dies on
   * a live host is noticed the moment the host closes the stream. Used by
   * the adapter's transport; 0 turns it off. Each member is watched by about
   * as many others (those just before it in the ring), so it accepts at most
   * `2 × watchPeers + 2` watch connections and closes any more (an
   * outsider's first, to make room for a member's), leaving room for views in
   * flux without letting idle connections pin descriptors. 2.
   */
  readonly watchPeers: number;
  /**
   * Most members a node holds, itself and the not yet forgotten dead
   * included. News of a member beyond it is counted (`newMembersDropped`) and
   * dropped, so a table cannot grow with what an outsider sends. 20000.
   */
  readonly maxMembers: number;
  /**
   * Most members new to a node it takes from UDP gossip per second (a burst
   * of as many, then that rate); beyond it their news is counted
   * (`newMembersDropped`) and dropped, and push-pull fills them in later.
   * The gossip adapter lifts it (0: no limit) when traffic is sealed: with
   * keys, every sender is an insider. 200.
   */
  readonly newMembersPerSecond: number;
}

const lan: GossipConfig = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  nackTimeoutMs: 400,
  indirectChecks: 3,
  suspicionMult: 1,
  suspicionMaxTimeoutMult: 3,
  suspicionConfirmations: 2,
  retransmitMult: 6,
  gossipIntervalMs: 100,
  gossipNodes: 4,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  seedRefreshMs: 30_000,
  joinReplyMembers: 128,
  spreadAfterChanges: 8,
  spreadIntervalMs: 200,
  awarenessMaxMultiplier: 8,
  udpBufferSize: 1400,
  maxStreamBytes: 4 * 1024 * 1024,
  streamTimeoutMs: 10_000,
  joinRetryMs: 500,
  joinRetryMaxMs: 10_000,
  deadReclaimMs: 60_000,
  reconnectTimeoutMs: 6 * 60 * 60_000,
  leaveTimeoutMs: 2000,
  urgentFanout: 32,
  joinNewsFanout: 6,
  joinNewsPerSecond: 20,
  watchPeers: 2,
  maxMembers: 20_000,
  newMembersPerSecond: 200,
};

const local: GossipConfig = {
  ...lan,
  probeIntervalMs: 500,
  probeTimeoutMs: 200,
  nackTimeoutMs: 240,
  indirectChecks: 2,
  suspicionMult: 2,
  suspicionMaxTimeoutMult: 4,
  suspicionConfirmations: 2,
  retransmitMult: 4,
  gossipIntervalMs: 50,
  gossipToTheDeadMs: 10_000,
  pushPullIntervalMs: 10_000,
  seedRefreshMs: 10_000,
  spreadIntervalMs: 100,
  streamTimeoutMs: 2000,
  joinRetryMs: 200,
  joinRetryMaxMs: 2000,
  deadReclaimMs: 30_000,
  reconnectTimeoutMs: 60 * 60_000,
  leaveTimeoutMs: 500,
};

/**
 * The `lan` profile: the default, for members on a network of hosts.
 *
 * @example
 * const config = lanProfile();
 * config.probeIntervalMs; // 1000
 */
export const lanProfile = (): GossipConfig => ({ ...lan });

/**
 * The `local` profile: members on one host, over loopback.
 *
 * @example
 * const config = localProfile();
 * config.gossipIntervalMs; // 50
 */
export const localProfile = (): GossipConfig => ({ ...local });

/** Fields that may be 0; every other number must be positive. */
const ZERO_OK: ReadonlySet<string> = new Set(['watchPeers', 'indirectChecks', 'newMembersPerSecond', 'joinNewsFanout']);
/** Fields that count things, so must be whole numbers. */
const WHOLE: ReadonlySet<string> = new Set([
  'indirectChecks',
  'suspicionConfirmations',
  'retransmitMult',
  'gossipNodes',
  'awarenessMaxMultiplier',
  'udpBufferSize',
  'maxStreamBytes',
  'urgentFanout',
  'joinNewsFanout',
  'watchPeers',
  'maxMembers',
  'spreadAfterChanges',
  'joinReplyMembers',
]);

/**
 * A profile with `overrides` on top, merged once and checked field by field.
 * Throws a `RangeError` naming the field, the value and what was expected.
 *
 * @example
 * const config = resolveGossipConfig({ probeIntervalMs: 2000, probeTimeoutMs: 800, nackTimeoutMs: 900 }, 'lan');
 * config.gossipNodes; // 4, from the lan profile
 */
export function resolveGossipConfig(overrides: Partial<GossipConfig>, profile: GossipProfile = 'lan'): GossipConfig {
  if (profile !== 'lan' && profile !== 'local') {
    throw new RangeError(`Unknown gossip profile ${JSON.stringify(profile)}; expected "lan" or "local"`);
  }
  const base = profile === 'lan' ? lan : local;
  for (const field of Object.keys(overrides)) {
    if (!Object.hasOwn(base, field)) throw new RangeError(`Unknown gossip config field ${JSON.stringify(field)}; expected one of ${Object.keys(base).join(', ')}`);
  }
  const config: GossipConfig = { ...base, ...overrides };
  for (const [field, value] of Object.entries(config)) {
    const zeroOk = ZERO_OK.has(field);
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
      throw new RangeError(`Invalid gossip config ${field}: ${JSON.stringify(value)}; expected a ${zeroOk ? 'non-negative' : 'positive'} number`);
    }
    if (WHOLE.has(field) && !Number.isInteger(value)) {
      throw new RangeError(`Invalid gossip config ${field}: ${value}; expected a whole number`);
    }
  }
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw new RangeError(`Invalid gossip config probeTimeoutMs: ${config.probeTimeoutMs}; expected less than probeIntervalMs (${config.probeIntervalMs})`);
  }
  const nackRoom = config.probeIntervalMs - config.probeTimeoutMs;
  if (config.nackTimeoutMs >= nackRoom) {
    throw new RangeError(
      `Invalid gossip config nackTimeoutMs: ${config.nackTimeoutMs}; expected less than probeIntervalMs − probeTimeoutMs (${nackRoom}), so nacks arrive before a probe ends`,
    );
  }
  if (config.udpBufferSize < 512 || config.udpBufferSize > 65_507) {
    throw new RangeError(`Invalid gossip config udpBufferSize: ${config.udpBufferSize}; expected 512 to 65507 bytes`);
  }
  if (config.suspicionMaxTimeoutMult < 1) {
    throw new RangeError(`Invalid gossip config suspicionMaxTimeoutMult: ${config.suspicionMaxTimeoutMult}; expected at least 1`);
  }
  if (config.joinRetryMaxMs < config.joinRetryMs) {
    throw new RangeError(`Invalid gossip config joinRetryMaxMs: ${config.joinRetryMaxMs}; expected at least joinRetryMs (${config.joinRetryMs})`);
  }
  return config;
}

/**
 * The push-pull interval for a cluster of `n`: longer beyond 32 members, so
 * that the state-exchange load on each member stays flat as `n` grows.
 *
 * @example
 * pushPullIntervalFor(lanProfile(), 1000); // 30000 × (1 + 5) = 180000
 */
export function pushPullIntervalFor(config: GossipConfig, n: number): number {
  const extra = n <= 32 ? 0 : Math.ceil(Math.log2(n) - 5);
  return config.pushPullIntervalMs * (1 + extra);
}
