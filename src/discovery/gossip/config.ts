/**
 * Tunables of the gossip protocol. Every timing is a named field with its
 * default and, where it scales with the cluster, its formula. Two profiles:
 * `lan` (the default, for a network of hosts) and `local` (one host, where
 * round trips take microseconds and everything can be faster).
 */

export type GossipProfile = 'lan' | 'local';

export interface GossipConfig {
  /**
   * Time between probes of one member by this node. Stretched by local
   * health: `probeIntervalMs × (awareness + 1)`. lan 1000, local 500.
   */
  readonly probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking others to probe
   * (indirect probes). Stretched like the interval. lan 500, local 150.
   */
  readonly probeTimeoutMs: number;
  /** Members asked to probe indirectly when a direct probe times out. lan 3, local 2. */
  readonly indirectChecks: number;
  /**
   * Scales the shortest suspicion timeout:
   * `min = suspicionMult × log10(max(2, n)) × probeIntervalMs`. lan 1.5, local 2.
   */
  readonly suspicionMult: number;
  /** Longest suspicion timeout as a multiple of the shortest. lan 4, local 4. */
  readonly suspicionMaxTimeoutMult: number;
  /**
   * Independent confirmations of a suspicion after which its timeout has
   * shrunk from the longest to the shortest (Lifeguard). lan 3, local 2.
   */
  readonly suspicionConfirmations: number;
  /**
   * Scales how many times each broadcast is sent on:
   * `retransmitMult × ceil(log10(n + 1))`. lan 4, local 3.
   */
  readonly retransmitMult: number;
  /** Time between gossip rounds (only when there is something to say). lan 100, local 50. */
  readonly gossipIntervalMs: number;
  /** Members each gossip round sends to. lan 4, local 4. */
  readonly gossipNodes: number;
  /** How long dead members still get gossip, so they learn they were declared dead. lan 30000, local 10000. */
  readonly gossipToTheDeadMs: number;
  /**
   * Time between full state exchanges with one random member, for members
   * that missed gossip. Scaled up beyond 32 members:
   * `pushPullIntervalMs × (1 + ceil(log2(n) − 5))`. lan 30000, local 10000.
   */
  readonly pushPullIntervalMs: number;
  /** Largest local-health penalty (probe interval and timeout multiply by up to this). lan 8, local 8. */
  readonly awarenessMaxMultiplier: number;
  /** Largest UDP payload sent, in bytes: under a typical MTU. 1400. */
  readonly udpBufferSize: number;
  /** Largest TCP frame (push-pull state), in bytes. 4 MiB. */
  readonly maxStreamBytes: number;
  /** Bound on one push-pull exchange over TCP. lan 10000, local 2000. */
  readonly streamTimeoutMs: number;
  /** First delay between join attempts while no seed answers; doubles up to `joinRetryMaxMs`. lan 500, local 200. */
  readonly joinRetryMs: number;
  /** Longest delay between join attempts. lan 10000, local 2000. */
  readonly joinRetryMaxMs: number;
  /** How long dead and left members are remembered before being forgotten. lan 60000, local 30000. */
  readonly deadReclaimMs: number;
  /** How long a graceful leave waits for its message to be sent on. lan 2000, local 500. */
  readonly leaveTimeoutMs: number;
  /**
   * Members each node keeps a TCP stream to, so that a process that dies is
   * noticed the moment its host closes the stream. 0 turns this off. 2.
   */
  readonly watchPeers: number;
}

const lan: GossipConfig = {
  probeIntervalMs: 1000,
  probeTimeoutMs: 500,
  indirectChecks: 3,
  suspicionMult: 1.5,
  suspicionMaxTimeoutMult: 4,
  suspicionConfirmations: 3,
  retransmitMult: 4,
  gossipIntervalMs: 100,
  gossipNodes: 4,
  gossipToTheDeadMs: 30_000,
  pushPullIntervalMs: 30_000,
  awarenessMaxMultiplier: 8,
  udpBufferSize: 1400,
  maxStreamBytes: 4 * 1024 * 1024,
  streamTimeoutMs: 10_000,
  joinRetryMs: 500,
  joinRetryMaxMs: 10_000,
  deadReclaimMs: 60_000,
  leaveTimeoutMs: 2000,
  watchPeers: 2,
};

const local: GossipConfig = {
  ...lan,
  probeIntervalMs: 500,
  probeTimeoutMs: 150,
  indirectChecks: 2,
  suspicionMult: 2,
  suspicionConfirmations: 2,
  retransmitMult: 3,
  gossipIntervalMs: 50,
  gossipToTheDeadMs: 10_000,
  pushPullIntervalMs: 10_000,
  streamTimeoutMs: 2000,
  joinRetryMs: 200,
  joinRetryMaxMs: 2000,
  deadReclaimMs: 30_000,
  leaveTimeoutMs: 500,
};

/** The `lan` profile: the default, for members on a network of hosts. */
export const lanProfile = (): GossipConfig => ({ ...lan });
/** The `local` profile: members on one host. */
export const localProfile = (): GossipConfig => ({ ...local });

/** A profile with `overrides` on top; every field is checked. */
export function resolveGossipConfig(overrides: Partial<GossipConfig>, profile: GossipProfile = 'lan'): GossipConfig {
  if (profile !== 'lan' && profile !== 'local') throw new Error(`Unknown gossip profile ${JSON.stringify(profile)}; expected lan or local`);
  const config = { ...(profile === 'lan' ? lan : local), ...overrides };
  for (const [field, value] of Object.entries(config)) {
    const zeroOk = field === 'watchPeers';
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
      throw new Error(`Invalid gossip config ${field}: ${JSON.stringify(value)}; expected a positive number`);
    }
  }
  if (config.probeTimeoutMs >= config.probeIntervalMs) {
    throw new Error(`Invalid gossip config probeTimeoutMs: ${config.probeTimeoutMs}; expected less than probeIntervalMs (${config.probeIntervalMs})`);
  }
  return config;
}

/** Shortest suspicion timeout for a cluster of `n` members. */
export function suspicionMinMs(config: GossipConfig, n: number): number {
  return config.suspicionMult * Math.log10(Math.max(2, n)) * config.probeIntervalMs;
}

/** How many times each broadcast is sent on in a cluster of `n`. */
export function retransmitLimit(config: GossipConfig, n: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(n + 1));
}

/** The push-pull interval for a cluster of `n`: longer beyond 32 members, so the load per member stays flat. */
export function pushPullIntervalFor(config: GossipConfig, n: number): number {
  const extra = n <= 32 ? 0 : Math.ceil(Math.log2(n) - 5);
  return config.pushPullIntervalMs * (1 + extra);
}
