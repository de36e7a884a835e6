/**
 * The `gossip` adapter, the default: SWIM membership with the Lifeguard
 * refinements, over UDP (probes and piggybacked gossip) and TCP (push-pull
 * state exchange and liveness streams). Nothing to install.
 *
 * This file is the runtime around the sans-IO protocol core: it owns the
 * sockets and the one timer, feeds the core what arrives, and carries out
 * what the core asks for.
 */
import { formatAddress, isLoopbackHost } from '../address.js';
import { defineAdapter } from '../kit/adapter.js';
import { errorMessage, type Adapter, type BackendContext, type SyncResult } from '../kit/backend.js';
import { describeDnsFailures, dnsSeedQueries, resolveDns, type DnsQuery } from '../dns.js';
import { Keyring } from '../gossip/wire/crypto.js';
import { resolveGossipConfig, type GossipConfig } from '../gossip/protocol/config.js';
import type { Core, CoreTally, Effects, MemberEvent, MemberState } from '../gossip/protocol/core.js';
import type { KeyOp, KeyReply } from '../gossip/wire/key-op.js';
import type { Ack, Ping, PushPull } from '../gossip/wire/messages.js';
import type { GossipDriver, GossipIO } from '../gossip/driver.js';
import type { SealedCodec } from '../gossip/wire/sealed.js';
import type { Transport, TransportError, TransportOptions } from '../gossip/net/transport.js';
import type { HistogramSnapshot } from '../histogram.js';
import { applyToKeyring, fingerprintOf, keyringControl, type ClusterKeyOp, type KeyringControl, type MemberKeys } from '../kit/keys.js';
import { memberChanges, memberHealth } from './gossip-boundary.js';
import { checkGossipOptions, endpointOrThrow, type GossipAdapterOptions } from './gossip-options.js';
import { warnConflict, warnUdpUnreachable, warnUnsealed } from './gossip-warnings.js';
import type { PeerInfo, Result, SeedLookup } from '../types.js';

export type { GossipAdapterOptions };

export const DEFAULT_GOSSIP_PORT = 7946;

/**
 * The gossip adapter. Seeds are `host:port`, or DNS names looked up on every
 * join attempt: `dns:NAME:PORT` (A and AAAA) and `dns+srv:NAME` (SRV).
 *
 * @example
 * ```ts
 * await startLink({ adapter: gossipAdapter({ bind: '127.0.0.1:0', profile: 'local' }), seedPeers: ['127.0.0.1:7946'] });
 * await startLink({ adapter: gossipAdapter(), seedPeers: ['dns+srv:_gossip._tcp.members.default.svc.cluster.local'] });
 * ```
 */
export function gossipAdapter(options: GossipAdapterOptions = {}): Adapter {
  return {
    ...defineAdapter('gossip', (context) => startGossip(context, options)),
    validate: (adapterOptions) => checkGossipOptions(adapterOptions, options),
  };
}

/** The protocol and codec load when a gossip adapter starts, not when the facade is imported. */
const loadGossip = () => Promise.all([import('../gossip/protocol/core.js'), import('../gossip/driver.js'), import('../gossip/wire/sealed.js')]);

/** Opens the member's transport: sockets by default, a `MemoryNetwork`'s in tests. */
export type TransportOpener = (options: TransportOptions) => Promise<Result<Transport, TransportError>>;

const openSockets: TransportOpener = async (options) => (await import('../gossip/net/socket-transport.js')).openTransport(options);

/** What the member counts besides the transport's and the codec's counters. */
interface MemberCounters {
  conflicts: number;
  peerGoneHints: number;
  dnsSeedLookups: number;
  dnsSeedFailures: number;
  /** Queries (an SRV target, or its A or AAAA family) that failed within seed lookups that still gave addresses. */
  dnsSeedFailedQueries: number;
}

/**
 * Starts one gossip member over the transport `open` gives: what
 * {@link gossipAdapter} runs, with sockets. Tests pass a `MemoryNetwork`'s
 * opener to run members in process.
 *
 * @example
 * const network = new MemoryNetwork();
 * const adapter = defineAdapter('gossip', (context) => startGossip(context, { profile: 'local' }, network.opener()));
 */
export async function startGossip(context: BackendContext, options: GossipAdapterOptions, open: TransportOpener = openSockets) {
  const [core, driver, sealed] = await loadGossip();
  const keyring = options.secretKeys && options.secretKeys.length > 0 ? new Keyring(options.secretKeys) : undefined;
  const resolved = resolveGossipConfig(options.config ?? {}, options.profile ?? 'lan');
  // Sealed, every sender holds a key: the rate of new members is an outsider's bound only.
  const config = keyring ? { ...resolved, newMembersPerSecond: 0 } : resolved;
  const bind = endpointOrThrow('bind', options.bind ?? { host: '0.0.0.0', port: DEFAULT_GOSSIP_PORT }, true);
  const advertise = options.advertise === undefined ? undefined : endpointOrThrow('advertise', options.advertise, false);
  const opened = await open({
    bindHost: bind.host,
    bindPort: bind.port,
    ...(advertise ? { advertiseHost: advertise.host, advertisePort: advertise.port } : {}),
    maxPacketBytes: config.udpBufferSize,
    maxStreamBytes: config.maxStreamBytes,
    maxWatchersIn: 2 * config.watchPeers + 2,
    streamTimeoutMs: config.streamTimeoutMs,
    logger: context.log,
  });
  if (!opened.ok) throw new Error(opened.error.message);
  const net = opened.value;
  const address = formatAddress(net.address.host, net.address.port);
  const codec = new sealed.SealedCodec({ keyring, label: options.label ?? '', maxStreamBytes: config.maxStreamBytes, log: context.log });
  const member = new GossipMember(context, options, config, net, keyring, address, {
    core: core.createCore({ config, self: { id: context.input.self.id, address: address, metadata: context.input.self.metadata }, seed: (Math.random() * 2 ** 32) >>> 0, now: Date.now() }),
    codec,
    newDriver: (c, io) => new driver.GossipDriver(c, io, { packetBytes: config.udpBufferSize - codec.overhead }),
    queries: core,
  });
  member.start();
  // Node opens the join's connection on its next tick, which runs only after every promise
  // continuation of start-up queued behind this one. One turn of the event loop first lets the
  // connection open and the push-pull go out, so the seed hears of this member before the rest
  // of start-up runs (bench/join-hops.ts, bench/side-by-side.ts).
  if (context.input.seedPeers.length > 0) await new Promise((resolve) => setImmediate(resolve));
  // Once the join's first exchange is over: the first line may load a logger, which would hold the join up.
  if (!keyring && !isLoopbackHost(bind.host)) member.afterFirstExchange(() => warnUnsealed(context.log, bind));
  return member.backend();
}

/** The core's read-only queries the member uses. */
interface CoreQueries {
  health(core: Core): { readonly joined: boolean; readonly recentProbeFailureRatio: number };
  liveMemberAt(core: Core, address: string): MemberState | undefined;
  tally(core: Core): CoreTally;
  probeRtts(core: Core): Record<string, number>;
  probeRttHistogram(core: Core): HistogramSnapshot;
  udpUnreachable(core: Core): string[];
  memberOf(core: Core, id: string): MemberState | undefined;
  members(core: Core): MemberState[];
}

/** One running gossip member: the driver's I/O over a transport, and the backend the machine talks to. */
class GossipMember {
  private readonly driver: GossipDriver;
  private readonly core: Core;
  private readonly codec: SealedCodec;
  private readonly queries: CoreQueries;
  private readonly counters: MemberCounters = { conflicts: 0, peerGoneHints: 0, dnsSeedLookups: 0, dnsSeedFailures: 0, dnsSeedFailedQueries: 0 };
  private readonly dnsSeeds: Map<string, DnsQuery>;
  /** Members already warned about as reachable over TCP only. */
  private readonly warnedUdp = new Set<string>();
  /** The last lookup of the seeds, for `metrics().seeds`. */
  private seedLookup: SeedLookup | undefined;
  /** The failed queries of each DNS seed's last lookup ('' when whole). */
  private readonly partialSeeds = new Map<string, string>();
  // Cancels DNS seed lookups still in flight when the member closes.
  private readonly lookups = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private leaveSent: (() => void) | undefined;
  // Once the transport fails, every sync fails too, so health stays Down rather than bouncing back.
  private transportFailure: string | undefined;
  /** What waits for the join's first push-pull to be answered or to fail; undefined once it has. */
  private firstExchangeWaiters: (() => void)[] | undefined = [];

  constructor(
    private readonly context: BackendContext,
    private readonly options: GossipAdapterOptions,
    private readonly config: GossipConfig,
    private readonly transport: Transport,
    private readonly keyring: Keyring | undefined,
    private readonly address: string,
    parts: { core: Core; codec: SealedCodec; newDriver: (core: Core, io: GossipIO) => GossipDriver; queries: CoreQueries },
  ) {
    this.core = parts.core;
    this.codec = parts.codec;
    this.queries = parts.queries;
    this.driver = parts.newDriver(parts.core, this.io());
    this.dnsSeeds = dnsSeedQueries(context.input.seedPeers);
  }

  /** Runs `fn` once the join's first push-pull is answered or failed (or found no seed); at once after that, or without seeds. */
  afterFirstExchange(fn: () => void): void {
    if (this.firstExchangeWaiters) this.firstExchangeWaiters.push(fn);
    else fn();
  }

  private firstExchangeSettled(): void {
    const waiters = this.firstExchangeWaiters ?? [];
    this.firstExchangeWaiters = undefined;
    for (const fn of waiters) fn();
  }

  /** Listens, joins through the configured seeds, and starts the timer. */
  start(): void {
    this.listen();
    const { seedPeers } = this.context.input;
    if (seedPeers.length > 0) this.driver.step({ type: 'join', seeds: [...seedPeers] });
    else this.firstExchangeSettled();
    this.driver.refresh();
    if (this.options.leaveOnSignals) {
      process.once('SIGTERM', this.onSignal);
      process.once('SIGINT', this.onSignal);
    }
  }

  /** Live rotation through the facade's installKey/useKey/removeKey/listKeys, which reach it through the adapter machine. */
  private keyringControl(): KeyringControl | undefined {
    const keyring = this.keyring;
    return keyring ? { ...keyringControl(keyring), cluster: (op, arg, timeoutMs) => this.clusterKeyOp(op, arg, timeoutMs) } : undefined;
  }

  /** The driver's I/O: sockets, the one timer, and the machine's reports. */
  private io(): GossipIO {
    return {
      now: () => Date.now(),
      sendPacket: (to, bytes) => this.transport.sendPacket(to, this.codec.seal(bytes)),
      openStream: (to, msg) => void this.exchange(to, this.codec.sealStream(msg)),
      pingStream: (to, msg) => void this.pingOverTcp(to, msg),
      resolveSeeds: (seeds) =>
        void this.resolveSeeds(seeds).then((addresses) => {
          this.seedLookup = { resolvedAt: Date.now(), addresses };
          this.driver.step({ type: 'seedAddresses', addresses });
          if (addresses.length === 0) this.firstExchangeSettled();
        }),
      schedule: (at) => this.schedule(at),
      report: (events, suspicion, udpUnreachable) => this.report(events, suspicion, udpUnreachable),
      watch: (to) => this.transport.watch(to),
      unwatch: (to) => this.transport.unwatch(to),
      leaveDone: () => this.leaveSent?.(),
    };
  }

  /** What arrives on the transport goes through the sealed codec to the driver. */
  private listen(): void {
    const { transport, codec, driver } = this;
    transport.onPacket((data, from) => {
      const read = codec.read('packet', data, from);
      if (read.ok) driver.step({ type: 'packet', from, msgs: read.value });
    });
    transport.onRequest((data, from) => {
      const read = codec.read('request', data, from);
      if (!read.ok) return undefined;
      let reply: Uint8Array | undefined;
      const answer = (msg: PushPull | Ack) => (reply = msg.type === 'ack' ? this.codec.sealMessage(msg) : codec.sealStream(msg));
      if (!Array.isArray(read.value) && read.value.type === 'keyOp') return codec.sealKeyFrame(this.applyKeyOp(read.value, from));
      if (!Array.isArray(read.value)) driver.step({ type: 'stream', from, msg: read.value }, answer);
      else {
        // A packet over TCP carries one thing: a probe's fallback ping.
        const ping = read.value.find((msg) => msg.type === 'ping');
        if (ping) driver.step({ type: 'streamPing', from, msg: ping }, answer);
      }
      return reply;
    });
    transport.onPeerGone((to, why) => this.peerGone(to, why));
    // Watch slots go to members first: an outsider's idle watches cannot keep a member's out.
    transport.checkWatchers((address) => this.queries.liveMemberAt(this.core, address) !== undefined);
    transport.onError((error) => {
      if (this.closed) return;
      this.transportFailure = `Gossip transport failed: ${error.message}`;
      this.context.lost(this.transportFailure);
    });
  }

  private async exchange(to: string, request: Uint8Array): Promise<void> {
    const result = await this.transport.request(to, request, { timeoutMs: this.config.streamTimeoutMs });
    const read = result.ok ? this.codec.read('stream', result.value, to) : { ok: false as const, error: result.error.message };
    this.driver.step(read.ok ? { type: 'streamReply', from: to, msg: read.value } : { type: 'streamFailed', to, error: read.error });
    // After the answer is handled: what waited for it (a first log line) holds up neither the table nor the announcement.
    this.firstExchangeSettled();
  }

  /**
   * A probe's fallback: the ping over TCP, bounded by the probe's length (a
   * later answer would be ignored). An ack is fed back; a failure needs no
   * input, the probe just ends without it.
   */
  private async pingOverTcp(to: string, ping: Ping): Promise<void> {
    const result = await this.transport.request(to, this.codec.sealMessage(ping), { timeoutMs: this.config.probeIntervalMs });
    if (!result.ok) return;
    const read = this.codec.read('packet', result.value, to);
    if (!read.ok) return;
    for (const msg of read.value) if (msg.type === 'ack' && msg.seq === ping.seq) this.driver.step({ type: 'streamAck', from: to, seq: msg.seq });
  }

  /**
   * A key operation on this member's keyring, from a member holding a current
   * key (it opened) or from this member's own control. Logged by fingerprint.
   */
  private applyKeyOp(msg: KeyOp, from: string): KeyReply {
    const keyring = this.keyring;
    if (!keyring) return { type: 'keyReply', error: 'KeysUnavailable: this member does not seal its traffic', keys: [] };
    let error = '';
    try {
      applyToKeyring(keyring, msg);
      if (msg.op !== 'list') this.context.log.warn({ op: msg.op, key: msg.op === 'install' ? fingerprintOf(msg.arg) : msg.arg, from }, 'Keyring changed');
    } catch (problem) {
      error = errorMessage(problem);
    }
    return { type: 'keyReply', error, keys: keyring.fingerprints() };
  }

  /** `op` here and on every live member, in parallel, each bounded by `timeoutMs`. */
  private async clusterKeyOp(op: ClusterKeyOp, arg: string, timeoutMs: number): Promise<MemberKeys[]> {
    const msg: KeyOp = { type: 'keyOp', op, arg };
    const here = this.applyKeyOp(msg, 'control');
    const self: MemberKeys = { id: this.core.self.id, address: this.address, answered: true, keys: here.keys, ...(here.error ? { error: here.error } : {}) };
    const request = this.codec.sealKeyFrame(msg);
    const others = this.queries.members(this.core).filter((m) => m.id !== self.id && (m.status === 'alive' || m.status === 'suspect'));
    const answers = await Promise.all(others.map((m) => this.askKeyOp(m, request, timeoutMs)));
    return [self, ...answers];
  }

  private async askKeyOp(member: MemberState, request: Uint8Array, timeoutMs: number): Promise<MemberKeys> {
    const { id, address } = member;
    const result = await this.transport.request(address, request, { timeoutMs });
    if (!result.ok) return { id, address, answered: false, error: result.error.message, keys: [] };
    const read = this.codec.read('keyReply', result.value, address);
    if (!read.ok) return { id, address, answered: false, error: read.error, keys: [] };
    return { id, address, answered: true, keys: read.value.keys, ...(read.value.error ? { error: read.value.error } : {}) };
  }

  /** A transport hint about an address becomes news about the live member there. */
  private peerGone(to: string, why: 'refused' | 'reset' | 'timeout'): void {
    const member = this.queries.liveMemberAt(this.core, to);
    if (!member) return;
    this.counters.peerGoneHints++;
    this.driver.step(why === 'refused' ? { type: 'peerGone', id: member.id } : { type: 'probeNow', id: member.id });
  }

  private schedule(at: number): void {
    clearTimeout(this.timer);
    // After a leave has gone out there may be nothing left to time.
    if (this.closed || !Number.isFinite(at)) return;
    this.timer = setTimeout(() => this.driver.step({ type: 'tick' }), Math.max(0, at - Date.now()));
  }

  /** Membership changes go to the machine as they happen: the only way they reach the peer table. */
  private report(events: readonly MemberEvent[], suspicion: Effects['suspicion'], udpUnreachable: readonly string[]): void {
    for (const id of udpUnreachable) this.warnUdpUnreachable(id);
    const changes = memberChanges(events, suspicion, (event) => {
      this.counters.conflicts++;
      warnConflict(this.context.log, event);
    });
    if (changes.length > 0) this.context.report(changes);
  }

  /** Once per member. */
  private warnUdpUnreachable(id: string): void {
    if (this.warnedUdp.has(id)) return;
    this.warnedUdp.add(id);
    warnUdpUnreachable(this.context.log, id, this.queries.memberOf(this.core, id));
  }

  /**
   * The seeds' addresses for one join or rejoin attempt or refresh (the core
   * asks before every join attempt, every `seedRefreshMs` while joined, and
   * each push-pull interval while no seed is a live member). `host:port` seeds come back as written; DNS seeds are
   * looked up afresh each time, so a member started before its peers are
   * published keeps trying until they are, and a seed that moved is found.
   */
  private async resolveSeeds(seeds: readonly string[]): Promise<string[]> {
    const found = await Promise.all(seeds.map((seed) => this.resolveSeed(seed)));
    return found.flat();
  }

  private async resolveSeed(seed: string): Promise<string[]> {
    // Seeds given later (the facade's join) may be DNS names too.
    const query = this.dnsSeeds.get(seed) ?? dnsSeedQueries([seed]).get(seed);
    if (!query) return [seed];
    this.counters.dnsSeedLookups++;
    const { log } = this.context;
    try {
      const answer = await resolveDns(query, this.options.dnsServers ?? [], this.lookups.signal);
      this.counters.dnsSeedFailedQueries += answer.failures.length;
      const partial = describeDnsFailures(answer.failures);
      // Logged when it changes: seeds are looked up again every refresh, and a resolver refuses the same query each time.
      if (partial !== '' && partial !== this.partialSeeds.get(seed)) {
        log.warn({ seed, failed: partial }, 'Partial DNS answer for a seed: using the addresses that resolved');
      }
      this.partialSeeds.set(seed, partial);
      // This member is among the answers too: dialling itself would count as a join.
      const targets = answer.endpoints.map((e) => formatAddress(e.host, e.port)).filter((to) => to !== this.address);
      if (targets.length === 0) log.debug({ seed }, 'DNS seed has no other members published yet');
      return targets;
    } catch (error) {
      if (!this.closed) {
        this.counters.dnsSeedFailures++;
        log.debug({ seed, error: errorMessage(error) }, 'DNS seed lookup failed');
      }
      return [];
    }
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    void this.leave(AbortSignal.timeout(this.config.leaveTimeoutMs)).finally(() => {
      void this.close();
      process.kill(process.pid, signal);
    });
  };

  leave(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.closed) return resolve();
      this.leaveSent = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
      this.driver.step({ type: 'leave' });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.driver.stop();
    clearTimeout(this.timer);
    this.lookups.abort();
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
    await this.transport.close();
  }

  /**
   * Health only: the peers reach the table through `report` alone, so the
   * sync returns no `peers` and the machine keeps its table as it is.
   */
  sync(): SyncResult {
    if (this.transportFailure) throw new Error(this.transportFailure);
    return memberHealth(this.queries.health(this.core), this.context.input.seedPeers);
  }

  counts(): Record<string, number> {
    const net = this.transport.counters();
    const codec = this.codec.counters;
    const t = this.queries.tally(this.core);
    return {
      ...net,
      ...codec,
      ...this.counters,
      malformedStreams: codec.malformedStreams + net.malformedStreams,
      members: t.members,
      membersLeft: t.left,
      membersFailed: t.failed,
      suspicions: t.suspicions,
      refutations: t.refutations,
      claimsOutOfWindow: t.claimsOutOfWindow,
      newMembersDropped: t.newMembersDropped,
      joinNewsSent: t.joinNewsSent,
      joinNewsDeferred: t.joinNewsDeferred,
      sealed: this.keyring ? 1 : 0,
      tcpFallbackProbes: t.tcpFallbacks,
      udpUnreachableMembers: this.queries.udpUnreachable(this.core).length,
    };
  }

  /** What the adapter machine drives. */
  backend() {
    const { self } = this.context.input;
    return {
      self: { id: self.id, address: this.address, metadata: self.metadata },
      sync: async () => this.sync(),
      setMetadata: (metadata: Record<string, string>) => this.driver.step({ type: 'setMetadata', metadata: metadata }),
      join: (seeds: readonly string[]) => this.driver.step({ type: 'join', seeds: [...seeds] }),
      leave: (signal: AbortSignal) => this.leave(signal),
      close: () => this.close(),
      counters: () => this.counts(),
      probeRttMs: () => this.queries.probeRtts(this.core),
      histograms: () => ({ probeRttMs: this.queries.probeRttHistogram(this.core) }),
      facts: () => ({ ...(this.seedLookup ? { seeds: this.seedLookup } : {}), udpUnreachable: this.queries.udpUnreachable(this.core) }),
      keyring: this.keyringControl(),
    };
  }
}
