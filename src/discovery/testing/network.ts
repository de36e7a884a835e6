/**
 * A simulated network for users' own tests: discovery adapters that speak
 * the real gossip protocol (the same core, driver and codec as the `gossip`
 * adapter) over an in-process network with simulated time, partitions,
 * loss, crashes and process deaths. The adapters' statecharts, and the
 * user's, run on the network's clock, so `advance(ms)` runs minutes of
 * cluster life in milliseconds, and one seed gives one run.
 *
 * @module
 */
import { defineAdapter, invalidAdapter } from '../kit/adapter.js';
import type { Adapter, BackendContext, SyncResult } from '../kit/backend.js';
import { memberChanges, memberHealth } from '../adapters/gossip-boundary.js';
import { resolveGossipConfig, type GossipConfig, type GossipProfile } from '../gossip/protocol/config.js';
import { health as coreHealth, probeRtts } from '../gossip/protocol/core.js';
import type { Effects, Input, MemberEvent } from '../gossip/protocol/core.js';
import { SimNetwork, type SimMember } from './sim.js';
import { DiscoveryErrors, DiscoveryFailure, type DiscoveryError, type PeerMetadata } from '../types.js';
import { NetworkClock } from './clock.js';

/** Options of {@link simulatedNetwork}. */
export interface SimulatedNetworkOptions {
  /** Seed of every random choice (delays, loss, the members' protocol). Default 1. */
  readonly seed?: number;
  /** Probability that a UDP packet is lost, from 0 to 1. Default 0. */
  readonly loss?: number;
  /** One-way delay of a packet, ms, plus up to `jitterMs` at random. Default 1. */
  readonly delayMs?: number;
  /** Random extra one-way delay, ms. Default 1. */
  readonly jitterMs?: number;
  /** Gossip timings of every member: `lan` (default) or `local`. */
  readonly profile?: GossipProfile;
  /** Individual gossip timings over the profile's. */
  readonly config?: Partial<GossipConfig>;
}

/** Options of one simulated adapter. */
export interface SimulatedAdapterOptions {
  /**
   * Without `seedPeers`, join through the members already running on the
   * network (false: start alone, as an island). Default true.
   */
  readonly autoJoin?: boolean;
}

/** A simulated network; see {@link simulatedNetwork}. */
export interface SimulatedNetwork {
  /**
   * The clock the adapters' actors run on. An adapter started with
   * `startLink` uses it by itself; a machine that invokes one (`childSpec`,
   * `discoveryLogic`) is created with it: `createActor(app, { clock: network.clock })`.
   */
  readonly clock: NetworkClock;
  /** Simulated time, ms since the network was made. */
  readonly now: number;
  /** A discovery adapter on this network, for `startLink`, `childSpec` or `invoke`. Its address is `10.0.X.Y:7946`. */
  adapter(options?: SimulatedAdapterOptions): Adapter;
  /**
   * Runs simulated time `ms` forward: packets, the members' protocol timers,
   * and every delayed event of the actors on `clock`, in time order; resolves
   * once the subscriber callbacks for that time have run. Calls wait for the
   * ones before them.
   */
  advance(ms: number): Promise<void>;
  /**
   * No traffic between members (by id) of different groups until `heal()`;
   * the members named in no group, and those started later, are one more
   * group: `partition(['a'])` cuts `a` off from all the others.
   */
  partition(...groups: readonly (readonly string[])[]): void;
  /** Ends the partition. */
  heal(): void;
  /**
   * The probability, from 0 to 1, that a UDP packet is lost. TCP exchanges (push-pull, a probe's TCP
   * fallback) are not: TCP retransmits, so only `partition` or `crash` cuts them.
   */
  setLoss(loss: number): void;
  /**
   * The member's host stops: nothing reaches it or leaves it, and only
   * probing finds out. Its own adapter goes Down ("crashed").
   */
  crash(id: string): void;
  /**
   * The member's process dies on a live host: as `crash`, but connections to
   * it are refused, so the members watching it learn at once.
   */
  kill(id: string): void;
  /** The ids of the members running on the network (not stopped, crashed or killed). */
  running(): string[];
}

const ADDRESS_PORT = 7946;

function invalid(field: string, value: unknown, expected: string): DiscoveryFailure {
  return new DiscoveryFailure(DiscoveryErrors.invalidConfiguration(field, value, expected));
}

const isProbability = (value: unknown): value is number => typeof value === 'number' && value >= 0 && value <= 1;
const isDuration = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** The options checked once; throws a `DiscoveryFailure` (`InvalidConfiguration`) naming the first wrong one. */
function checkNetworkOptions(options: SimulatedNetworkOptions): { seed: number; loss: number; delayMs: number; jitterMs: number; config: GossipConfig } {
  if (typeof options !== 'object' || options === null) throw invalid('options', options, 'an object');
  const { seed = 1, loss = 0, delayMs = 1, jitterMs = 1, profile = 'lan', config = {} } = options;
  if (!Number.isSafeInteger(seed)) throw invalid('seed', seed, 'a whole number');
  if (!isProbability(loss)) throw invalid('loss', loss, 'a probability from 0 to 1');
  if (!isDuration(delayMs)) throw invalid('delayMs', delayMs, 'a number of milliseconds, 0 or more');
  if (!isDuration(jitterMs)) throw invalid('jitterMs', jitterMs, 'a number of milliseconds, 0 or more');
  try {
    return { seed, loss, delayMs, jitterMs, config: resolveGossipConfig(config, profile) };
  } catch (error) {
    throw invalid('config', config, error instanceof Error ? error.message : 'gossip timings');
  }
}

/** Lets promise chains and subscriber callbacks due at the current simulated time run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** One adapter's member on the network: the backend session the adapter machine drives. */
class NetworkMember {
  /** Set once the network crashed or killed it: why it is gone, for every later sync. */
  private gone: string | undefined;
  private closed = false;
  private conflicts = 0;

  constructor(
    private readonly network: Network,
    private readonly context: BackendContext,
    private readonly sim: SimMember,
    private readonly seeds: readonly string[],
  ) {}

  get id(): string {
    return this.sim.id;
  }

  /** Its address on the network, which is its name in the simulator. */
  get address(): string {
    return this.sim.name;
  }

  /** What the member's core reports goes to the machine at once, at the simulated time it happened. */
  report(events: readonly MemberEvent[], suspicion: Effects['suspicion']): void {
    if (this.closed || this.crashed) return;
    const changes = memberChanges(events, suspicion, () => this.conflicts++);
    if (changes.length === 0) return;
    this.network.reported();
    this.context.report(changes);
  }

  /** The host or process is gone (`crash`, `kill`): the adapter goes Down and stays there. */
  lose(how: 'crashed' | 'killed'): void {
    this.gone = `This member was ${how} by the simulated network`;
    this.network.reported();
    this.context.lost(this.gone);
  }

  get crashed(): boolean {
    return this.gone !== undefined;
  }

  sync(): SyncResult {
    if (this.gone) throw new Error(this.gone);
    return memberHealth(coreHealth(this.sim.core), this.seeds);
  }

  /** Feeds the member's core a command, unless the member is gone: a crashed host sends nothing. */
  private step(input: Input): void {
    if (!this.crashed && !this.closed) this.sim.driver.step(input);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sim.driver.stop();
    this.network.closed(this);
  }

  session() {
    const { self } = this.context.input;
    return {
      self: { id: self.id, address: this.address, metadata: self.metadata },
      sync: async () => this.sync(),
      setMetadata: (metadata: PeerMetadata) => this.step({ type: 'setMetadata', metadata: { ...metadata } }),
      join: (seeds: readonly string[]) => this.step({ type: 'join', seeds: [...seeds] }),
      // Sends the goodbye; the network carries it on as time advances (stop() does not wait for simulated time).
      leave: async () => this.step({ type: 'leave' }),
      close: () => this.close(),
      counters: () => ({
        packetsSent: this.sim.packetsSent,
        udpBytesSent: this.sim.udpBytesSent,
        streamsSent: this.sim.streamsSent,
        streamBytesSent: this.sim.streamBytesSent,
        conflicts: this.conflicts,
      }),
      probeRttMs: () => probeRtts(this.sim.core),
    };
  }
}

class Network implements SimulatedNetwork {
  readonly clock = new NetworkClock();
  private readonly sim: SimNetwork;
  /** The running member of each id. */
  private readonly live = new Map<string, NetworkMember>();
  private groups: readonly (readonly string[])[] | undefined;
  private hosts = 0;
  private dirty = false;
  /** The advance in progress; the next waits for it. */
  private queue: Promise<void> = Promise.resolve();

  constructor(options: SimulatedNetworkOptions) {
    const { seed, loss, delayMs, jitterMs, config } = checkNetworkOptions(options);
    this.sim = new SimNetwork({ seed, loss, delayMs, jitterMs, config, recordEvents: false });
  }

  get now(): number {
    return this.sim.now;
  }

  adapter(options: SimulatedAdapterOptions = {}): Adapter {
    const problem = checkAdapterOptions(options);
    if (problem) return invalidAdapter('simulated', problem);
    return { ...defineAdapter('simulated', async (context) => this.join(context, options.autoJoin ?? true)), clock: this.clock };
  }

  /** Puts a new member for the adapter on the network, at the next free address. */
  private join(context: BackendContext, autoJoin: boolean) {
    const { self, seedPeers } = context.input;
    if (this.live.has(self.id)) throw new Error(`A member with id ${JSON.stringify(self.id)} already runs on this simulated network`);
    this.hosts++;
    const address = `10.0.${this.hosts >> 8}.${this.hosts & 255}:${ADDRESS_PORT}`;
    const seeds = seedPeers.length > 0 ? [...seedPeers] : autoJoin ? [...this.live.values()].map((m) => m.address) : [];
    // The core may report while it is being added (nothing yet, in practice): the member hears from then on.
    let member: NetworkMember | undefined;
    const sim = this.sim.addMember(address, {
      id: self.id,
      metadata: { ...self.metadata },
      seeds,
      onReport: (events, suspicion) => member?.report(events, suspicion),
    });
    member = new NetworkMember(this, context, sim, seeds);
    this.live.set(self.id, member);
    this.applyPartition();
    return Promise.resolve(member.session());
  }

  /** A member reported: let the machines and callbacks catch up before time moves on. */
  reported(): void {
    this.dirty = true;
    // Delayed events the reaction schedules count from now.
    this.clock.set(this.sim.now);
  }

  /** The adapter closed: its process ends, so connections to its address are refused from now on. */
  closed(member: NetworkMember): void {
    if (this.live.get(member.id) === member) this.live.delete(member.id);
    if (!member.crashed) this.sim.kill(member.address);
  }

  advance(ms: number): Promise<void> {
    if (!isDuration(ms) || !Number.isFinite(ms)) return Promise.reject(invalid('ms', ms, 'a number of milliseconds, 0 or more'));
    const run = this.queue.then(() => this.run(ms));
    this.queue = run.catch(() => {});
    return run;
  }

  /** Runs the network and the clock to `now + ms`, stopping to let the actors catch up wherever something happened. */
  private async run(ms: number): Promise<void> {
    const end = this.sim.now + ms;
    await flush();
    for (;;) {
      const stopAt = Math.min(end, this.clock.nextAt());
      this.dirty = false;
      // At 1 ms resolution: members' reports stop the network so the machines see them at their time.
      if (stopAt > this.sim.now) this.sim.runUntil(() => this.dirty, stopAt - this.sim.now, 1);
      this.clock.set(this.sim.now);
      await flush();
      if (this.sim.now >= end && this.clock.nextAt() > end) return;
    }
  }

  partition(...groups: readonly (readonly string[])[]): void {
    if (!groups.every((group) => Array.isArray(group) && group.every((id) => typeof id === 'string'))) {
      throw invalid('groups', groups, 'arrays of member ids');
    }
    this.groups = groups.map((group) => [...group]);
    this.applyPartition();
  }

  heal(): void {
    this.groups = undefined;
    this.sim.heal();
  }

  setLoss(loss: number): void {
    if (!isProbability(loss)) throw invalid('loss', loss, 'a probability from 0 to 1');
    this.sim.setLoss(loss);
  }

  crash(id: string): void {
    const member = this.find(id);
    this.sim.crash(member.address);
    member.lose('crashed');
  }

  kill(id: string): void {
    const member = this.find(id);
    this.sim.kill(member.address);
    member.lose('killed');
  }

  running(): string[] {
    return [...this.live.values()].filter((m) => !m.crashed).map((m) => m.id);
  }

  private find(id: string): NetworkMember {
    const member = this.live.get(id);
    if (!member || member.crashed) throw new DiscoveryFailure(DiscoveryErrors.peerNotFound(String(id)));
    return member;
  }

  /** The partition by ids, as the simulator's by addresses, for the members running now; the members named nowhere are one more group. */
  private applyPartition(): void {
    if (!this.groups) return;
    const named = new Set(this.groups.flat());
    const rest = [...this.live.keys()].filter((id) => !named.has(id));
    this.sim.partition(...[...this.groups, rest].map((group) => group.flatMap((id) => this.live.get(id)?.address ?? [])));
  }
}

function checkAdapterOptions(options: SimulatedAdapterOptions): DiscoveryError | undefined {
  if (typeof options !== 'object' || options === null) return DiscoveryErrors.invalidConfiguration('options', options, 'an object');
  if (options.autoJoin !== undefined && typeof options.autoJoin !== 'boolean') {
    return DiscoveryErrors.invalidConfiguration('autoJoin', options.autoJoin, 'true or false');
  }
  return undefined;
}

/**
 * A simulated network for testing code that uses discovery: adapters on it
 * run the real gossip protocol, in simulated time. Throws a
 * `DiscoveryFailure` (`InvalidConfiguration`) for bad options.
 *
 * @example
 * ```ts
 * const network = simulatedNetwork({ seed: 7 });
 * await startLink({ name: 'a', nodeId: 'a', adapter: network.adapter() });
 * await startLink({ name: 'b', nodeId: 'b', adapter: network.adapter() });
 * await network.advance(5_000);
 * network.partition(['a'], ['b']);
 * await network.advance(30_000); // a and b see each other fail
 * ```
 */
export function simulatedNetwork(options: SimulatedNetworkOptions = {}): SimulatedNetwork {
  return new Network(options);
}
