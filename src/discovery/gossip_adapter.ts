/**
 * The `gossip` adapter, the default: SWIM membership with the Lifeguard
 * refinements, over UDP (probes and piggybacked gossip) and TCP (push-pull
 * state exchange and liveness streams). Nothing to install.
 *
 * This file is the runtime around the sans-IO protocol core: it owns the
 * sockets and the one timer, feeds the core what arrives, and carries out
 * what the core asks for.
 */
import { formatAddress } from './address.js';
import { defineAdapter } from './adapter.js';
import { errorMessage, type Adapter, type BackendContext, type MembershipChange } from './behaviour.js';
import { checkDnsServers, isDnsSeed, parseDnsSeed, resolveDns, type DnsQuery } from './dns.js';
import { Keyring, SEAL_OVERHEAD } from './gossip/crypto.js';
import { resolveGossipConfig, type GossipConfig, type GossipProfile } from './gossip/config.js';
import type { Core, Effects, Input, MemberEvent, MemberState } from './gossip/core.js';
import type { PushPull } from './gossip/messages.js';
import type { Transport } from './gossip/transport.js';
import { provideKeyring } from './keys.js';
import type { AdapterOptions, DiscoveryError, PeerInfo } from './types.js';

/** Options of the gossip adapter. */
export interface GossipAdapterOptions {
  /** Where to listen. Default `0.0.0.0:7946`; port 0 picks a free port (see `self().address`). */
  readonly bind?: { readonly host: string; readonly port: number };
  /** What others should dial, when it differs from the bound address (NAT, containers). */
  readonly advertise?: { readonly host: string; readonly port: number };
  /** Timing profile: `lan` (default) or `local` (one host, faster). */
  readonly profile?: GossipProfile;
  /** Individual timings over the profile's. */
  readonly config?: Partial<GossipConfig>;
  /**
   * Leave the cluster gracefully on SIGTERM and SIGINT, then let the signal
   * end the process as it would have. Default false.
   */
  readonly leaveOnSignals?: boolean;
  /**
   * Keys (32 bytes, base64) that seal all gossip traffic with AES-256-GCM; the
   * first one seals, any of them opens, so keys can be rotated. A member
   * without a key the others hold can neither join nor inject anything.
   * Default: no encryption.
   */
  readonly secretKeys?: readonly string[];
  /** A cluster label bound into every sealed message: clusters with different labels never mix. Default ''. */
  readonly label?: string;
  /**
   * Resolvers (`IP:PORT`, or a bare IP for port 53) for DNS seeds
   * (`dns:NAME:PORT`, `dns+srv:NAME` in `seedPeers`); default: the system's.
   */
  readonly dnsServers?: readonly string[];
}

export const DEFAULT_GOSSIP_PORT = 7946;

function toPeer(member: MemberState): PeerInfo {
  return { id: member.name, address: member.addr, metadata: member.meta };
}

function toChange(event: MemberEvent): MembershipChange | undefined {
  switch (event.type) {
    case 'join':
    case 'update':
      return { type: 'up', peer: toPeer(event.member) };
    case 'leave':
      return { type: 'down', id: event.member.name, reason: { type: 'Left' } };
    case 'fail':
      return {
        type: 'down',
        id: event.member.name,
        reason: { type: 'Failed', message: 'Stopped answering probes and was declared dead' },
      };
    case 'conflict':
      return undefined;
  }
}

/**
 * The gossip adapter. Seeds are `host:port`, or DNS names looked up on every
 * join attempt: `dns:NAME:PORT` (A and AAAA) and `dns+srv:NAME` (SRV).
 *
 * @example
 * ```ts
 * await startLink({ adapter: gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' }), seedPeers: ['127.0.0.1:7946'] });
 * await startLink({ adapter: gossipAdapter(), seedPeers: ['dns+srv:_gossip._tcp.members.default.svc.cluster.local'] });
 * ```
 */
export function gossipAdapter(options: GossipAdapterOptions = {}): Adapter {
  return {
    ...defineAdapter('gossip', (context) => startGossip(context, options)),
    validate: (adapterOptions) => checkSeeds(adapterOptions, options),
  };
}

/** DNS seeds must parse; `dnsServers` must be resolver addresses. Other seeds are dialled as written. */
function checkSeeds(adapterOptions: AdapterOptions, options: GossipAdapterOptions): DiscoveryError | undefined {
  if (options.dnsServers !== undefined) {
    const problem = checkDnsServers('dnsServers', options.dnsServers);
    if (problem) return problem;
  }
  for (const seed of adapterOptions.seedPeers) {
    if (!isDnsSeed(seed)) continue;
    const parsed = parseDnsSeed(seed);
    if (!parsed.ok) return parsed.error;
  }
  return undefined;
}

/** The DNS seeds among `seeds`, by the text the core dials them as. */
function dnsSeedQueries(seeds: readonly string[]): Map<string, DnsQuery> {
  const queries = new Map<string, DnsQuery>();
  for (const seed of seeds) {
    const parsed = isDnsSeed(seed) ? parseDnsSeed(seed) : undefined;
    if (parsed?.ok) queries.set(seed, parsed.value);
  }
  return queries;
}

async function startGossip(context: BackendContext, options: GossipAdapterOptions) {
  // The protocol, codec and sockets load when a gossip adapter starts, not when the facade is imported.
  const [{ decodePacket, decodeStream, encodePackets, encodeStream }, { createCore, handle, health, nextDeadline }, { openTransport }] =
    await Promise.all([import('./gossip/codec.js'), import('./gossip/core.js'), import('./gossip/transport.js')]);
  const { input, log } = context;
  const config = resolveGossipConfig(options.config ?? {}, options.profile ?? 'lan');
  const keyring = options.secretKeys && options.secretKeys.length > 0 ? new Keyring(options.secretKeys) : undefined;
  const label = options.label ?? '';
  // Sealing wraps the codec's bytes; a message that does not open is counted like a malformed one.
  const seal = (bytes: Uint8Array): Uint8Array => (keyring ? keyring.seal(bytes, label) : bytes);
  const open = (bytes: Buffer): Buffer | undefined => {
    if (!keyring) return bytes;
    const opened = keyring.open(bytes, label);
    return opened.ok ? opened.value : undefined;
  };
  const packetBudget = config.udpBufferSize - (keyring ? SEAL_OVERHEAD : 0);
  const bind = options.bind ?? { host: '0.0.0.0', port: DEFAULT_GOSSIP_PORT };
  const opened = await openTransport({
    bindHost: bind.host,
    bindPort: bind.port,
    ...(options.advertise ? { advertiseHost: options.advertise.host, advertisePort: options.advertise.port } : {}),
    maxPacketBytes: config.udpBufferSize,
    maxStreamBytes: config.maxStreamBytes,
    maxWatchersIn: 2 * config.watchPeers + 2,
    streamTimeoutMs: config.streamTimeoutMs,
    logger: log,
  });
  if (!opened.ok) throw new Error(opened.error.message);
  const transport: Transport = opened.value;
  const address = `${transport.address.host}:${transport.address.port}`;
  const selfAddress = formatAddress(transport.address.host, transport.address.port);
  const core: Core = createCore({
    config,
    self: { name: input.self.id, addr: address, meta: input.self.metadata },
    seed: (Math.random() * 2 ** 32) >>> 0,
    now: Date.now(),
  });
  const counters = { malformedPackets: 0, malformedMessages: 0, malformedStreams: 0, unopenedMessages: 0, conflicts: 0, peerGoneHints: 0, dnsSeedLookups: 0, dnsSeedFailures: 0 };
  const dnsSeeds = dnsSeedQueries(input.seedPeers);
  const dnsServers = options.dnsServers ?? [];
  // Cancels DNS seed lookups still in flight when the member closes.
  const lookups = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let leaveSent: (() => void) | undefined;
  const watched = new Set<string>();

  const step = (inputEvent: Input) => {
    if (closed) return;
    apply(handle(core, inputEvent, Date.now()));
  };

  const exchange = (to: string, msg: PushPull) => {
    void transport.request(to, seal(encodeStream(msg)), { timeoutMs: config.streamTimeoutMs }).then((result) => {
      if (!result.ok) return step({ type: 'streamFailed', to, error: result.error.message });
      const opened = open(result.value);
      const decoded = opened ? decodeStream(opened, config.maxStreamBytes) : undefined;
      if (!decoded) {
        counters.unopenedMessages++;
        return step({ type: 'streamFailed', to, error: 'Reply did not open with our keys' });
      }
      if (!decoded.ok) {
        counters.malformedStreams++;
        return step({ type: 'streamFailed', to, error: decoded.error.message });
      }
      step({ type: 'streamReply', from: to, msg: decoded.value });
    });
  };

  /**
   * The seeds' addresses for one join or rejoin attempt (the core asks before
   * every one: each join attempt, and each push-pull interval while no seed
   * is a live member). `host:port` seeds come back as written; DNS seeds are
   * looked up afresh each time, so a member started before its peers are
   * published keeps trying until they are, and a seed that moved is found.
   */
  const resolveSeeds = async (seeds: readonly string[]): Promise<string[]> => {
    const found = await Promise.all(
      seeds.map(async (seed): Promise<string[]> => {
        // Seeds given later (the facade's join) may be DNS names too.
        const query = dnsSeeds.get(seed) ?? dnsSeedQueries([seed]).get(seed);
        if (!query) return [seed];
        counters.dnsSeedLookups++;
        try {
          const entries = await resolveDns(query, dnsServers, lookups.signal);
          // This member is among the answers too: dialling itself would count as a join.
          const targets = entries.map((e) => formatAddress(e.host, e.port)).filter((to) => to !== selfAddress);
          if (targets.length === 0) log.debug({ seed }, 'DNS seed has no other members published yet');
          return targets;
        } catch (error) {
          if (!closed) {
            counters.dnsSeedFailures++;
            log.debug({ seed, error: errorMessage(error) }, 'DNS seed lookup failed');
          }
          return [];
        }
      }),
    );
    return found.flat();
  };

  const apply = (effects: Effects) => {
    if (effects.resolveSeeds) void resolveSeeds(effects.resolveSeeds).then((addrs) => step({ type: 'seedAddresses', addrs }));
    for (const packet of effects.packets) {
      for (const bytes of encodePackets(packet.msgs, packetBudget)) transport.sendPacket(packet.to, seal(bytes));
    }
    for (const stream of effects.streams) exchange(stream.to, stream.msg);
    const changes: MembershipChange[] = [];

    for (const event of effects.events) {
      if (event.type === 'conflict') {
        counters.conflicts++;
        log.warn(
          { name: event.existing.name, existing: event.existing.addr, incoming: event.incoming.addr },
          'Two live members claim one name; keeping the one already known',
        );
        continue;
      }
      const change = toChange(event);
      if (change) changes.push(change);
    }
    for (const { name, suspect } of effects.suspicion) changes.push({ type: 'suspect', id: name, suspect });
    context.report(changes);
    if (effects.events.length > 0) rewatch();
    if (effects.leaveDone) leaveSent?.();
    schedule();
  };

  const schedule = () => {
    if (closed) return;
    clearTimeout(timer);
    const deadline = nextDeadline(core);
    // After a leave has gone out there may be nothing left to time.
    if (!Number.isFinite(deadline)) return;
    timer = setTimeout(() => step({ type: 'tick' }), Math.max(0, deadline - Date.now()));
  };

  // Each member keeps a TCP stream to the next few members in name order, so
  // that the death of any process is noticed at once by those watching it.
  const rewatch = () => {
    const alive = [...core.members.values()]
      .filter((m) => m.status === 'alive' && m.name !== input.self.id)
      .sort((a, b) => (a.name < b.name ? -1 : 1));
    const after = alive.filter((m) => m.name > input.self.id);
    const ring = [...after, ...alive.filter((m) => m.name <= input.self.id)];
    const want = new Set(ring.slice(0, config.watchPeers).map((m) => m.addr));
    for (const addr of watched) if (!want.has(addr)) transport.unwatch(addr);
    for (const addr of want) if (!watched.has(addr)) transport.watch(addr);
    watched.clear();
    for (const addr of want) watched.add(addr);
  };

  transport.onPacket((data, from) => {
    const opened = open(data);
    if (!opened) {
      counters.unopenedMessages++;
      return;
    }
    const decoded = decodePacket(opened);
    if (!decoded.ok) {
      counters.malformedPackets++;
      log.debug({ from, error: decoded.error }, 'Dropped a malformed packet');
      return;
    }
    if (decoded.skipped > 0) {
      counters.malformedMessages += decoded.skipped;
      log.debug({ from, skipped: decoded.skipped }, 'Dropped malformed messages from a packet');
    }
    step({ type: 'packet', from, msgs: decoded.value });
  });
  transport.onRequest((data, from) => {
    const opened = open(data);
    if (!opened) {
      counters.unopenedMessages++;
      return undefined;
    }
    const decoded = decodeStream(opened, config.maxStreamBytes);
    if (!decoded.ok) {
      counters.malformedStreams++;
      log.debug({ from, error: decoded.error }, 'Dropped a malformed stream');
      return undefined;
    }
    const effects = handle(core, { type: 'stream', from, msg: decoded.value }, Date.now());
    const reply = effects.reply;
    apply(effects);
    return reply ? seal(encodeStream(reply)) : undefined;
  });
  transport.onPeerGone((addr, why) => {
    let member: MemberState | undefined;
    for (const m of core.members.values()) if (m.addr === addr && m.status === 'alive') member = m;
    if (!member) return;
    counters.peerGoneHints++;
    step(why === 'refused' ? { type: 'peerGone', name: member.name } : { type: 'probeNow', name: member.name });
  });
  // Once the transport fails, every sync fails too, so health stays Down rather than bouncing back.
  let transportFailure: string | undefined;
  transport.onError((error) => {
    if (closed) return;
    transportFailure = `Gossip transport failed: ${error.message}`;
    context.lost(transportFailure);
  });

  if (input.seedPeers.length > 0) step({ type: 'join', seeds: [...input.seedPeers] });
  schedule();

  const onSignal = (signal: NodeJS.Signals) => {
    void leave(AbortSignal.timeout(config.leaveTimeoutMs)).finally(() => {
      void close();
      process.kill(process.pid, signal);
    });
  };
  if (options.leaveOnSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }

  const leave = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      leaveSent = resolve;
      signal.addEventListener('abort', () => resolve(), { once: true });
      step({ type: 'leave' });
    });

  // Live rotation through the facade's installKey/useKey/removeKey/listKeys, while this runs.
  const releaseKeyring = keyring
    ? provideKeyring(input.name, {
        install: (key) => keyring.install(key),
        use: (key) => keyring.use(key),
        remove: (key) => {
          if (!keyring.list().includes(Buffer.from(key, 'base64').toString('base64'))) throw new Error('an installed key');
          keyring.remove(key);
        },
        list: () => keyring.list(),
      })
    : undefined;

  const close = async () => {
    if (closed) return;
    closed = true;
    releaseKeyring?.();
    clearTimeout(timer);
    lookups.abort();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await transport.close();
  };

  return {
    self: { id: input.self.id, address, metadata: input.self.metadata },
    async sync() {
      if (transportFailure) throw new Error(transportFailure);
      const state = health(core);
      const peers = [...core.members.values()]
        .filter((m) => (m.status === 'alive' || m.status === 'suspect') && m.name !== input.self.id)
        .map(toPeer);
      if (!state.joined && input.seedPeers.length > 0) {
        return { peers, degraded: `No seed reachable yet (${input.seedPeers.join(', ')})` };
      }
      if (state.recentProbeFailureRatio > 0.5) {
        return { peers, degraded: `Most probes fail (${Math.round(state.recentProbeFailureRatio * 100)}% recently)` };
      }
      return { peers };
    },
    setMetadata(metadata: Record<string, string>) {
      step({ type: 'setMeta', meta: metadata });
    },
    join(seeds: readonly string[]) {
      step({ type: 'join', seeds: [...seeds] });
    },
    leave,
    close,
    counters: () => {
      const net = transport.counters();
      let left = 0;
      let failed = 0;
      for (const m of core.members.values()) {
        if (m.status === 'left') left++;
        else if (m.status === 'dead') failed++;
      }
      return {
        ...net,
        ...counters,
        malformedStreams: counters.malformedStreams + net.malformedStreams,
        members: core.members.size,
        membersLeft: left,
        membersFailed: failed,
        suspicions: core.stats.suspicions,
        refutations: core.stats.refutations,
      };
    },
    probeRttMs: () => Object.fromEntries(core.probeRttMs),
  };
}
