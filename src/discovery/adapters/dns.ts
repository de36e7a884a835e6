/**
 * The `dns` adapter: the members are what a DNS name answers, polled every
 * sync. A Kubernetes headless Service (`clusterIP: None`) publishes an A
 * record per pod and SRV records per named port, so this adapter gives pods
 * their peers with nothing else to run; Consul DNS, dnsmasq or a zone file
 * work the same way.
 *
 * DNS carries no metadata: every peer this adapter reports has empty
 * metadata, and its id is its address. For metadata, leave, and sub-second
 * failure detection, run the gossip adapter with a DNS seed instead
 * (`seedPeers: ['dns+srv:NAME']`).
 */
import { formatAddress, parseAddress } from '../address.js';
import { defineAdapter } from '../kit/adapter.js';
import type { Adapter } from '../kit/backend.js';
import { checkDnsQuery, checkDnsServers, describeDnsFailures, describeDnsQuery, resolveDns, type DnsQuery, type DnsRecordType } from '../dns.js';
import { DiscoveryErrors, type DiscoveryError, type PeerInfo } from '../types.js';

/** Options of the dns adapter. */
export interface DnsAdapterOptions {
  /** The name to resolve, e.g. `members.default.svc.cluster.local` or `_gossip._tcp.members.default.svc.cluster.local`. */
  readonly name: string;
  /** Record type: `A` (default), `AAAA`, or `SRV` (each target resolved to its addresses, with the SRV port). */
  readonly type?: DnsRecordType;
  /** The port every member listens on; required for A and AAAA, ignored for SRV. */
  readonly port?: number;
  /** Resolvers to ask (`IP:PORT`, or a bare IP for port 53); default: the system's. */
  readonly servers?: readonly string[];
  /** How often to resolve, in ms; sets the adapter's `syncIntervalMs` unless that is given. Default 5000. */
  readonly intervalMs?: number;
  /**
   * This node's address as the records publish it (`host:port`), so it is
   * left out of its own peers. The command passes `--advertise`.
   */
  readonly advertise?: string;
}

/** Checks dns adapter options; the first problem as an `InvalidConfiguration` naming the field. */
function checkDnsAdapterOptions(options: DnsAdapterOptions): DiscoveryError | undefined {
  if (typeof options !== 'object' || options === null) return DiscoveryErrors.invalidConfiguration('dns', options, 'an object of dns adapter options');
  const type = options.type ?? 'A';
  const { intervalMs, advertise } = options;
  return (
    checkDnsQuery({ name: options.name, type, port: options.port }) ??
    (options.servers === undefined ? undefined : checkDnsServers('servers', options.servers)) ??
    (intervalMs === undefined || (typeof intervalMs === 'number' && Number.isFinite(intervalMs) && intervalMs > 0)
      ? undefined
      : DiscoveryErrors.invalidConfiguration('intervalMs', intervalMs, 'a positive, finite number of milliseconds')) ??
    (advertise === undefined || (typeof advertise === 'string' && parseAddress(advertise) !== undefined)
      ? undefined
      : DiscoveryErrors.invalidConfiguration('advertise', advertise, 'host:port'))
  );
}

/**
 * An adapter whose members are the answers to a DNS name. A name with no
 * records is an empty membership; a resolver that fails (timeout, SERVFAIL,
 * REFUSED, unreachable) fails the sync, so health goes `Degraded` then `Down`
 * while the peers last seen stay listed (no `PeerDown`) until answers return.
 * A partial answer (an SRV target, or its A or AAAA family, failing while
 * others resolve) gives the members that resolved, keeps those listed before
 * (a failed query is no news of its members: no `PeerDown` until a whole
 * answer leaves them out), and health `Degraded` naming the failed queries;
 * the failures are counted (`dnsFailedQueries`).
 * DNS has no metadata: peers come with `{}` and their address as id.
 *
 * @example
 * ```ts
 * const members = dnsAdapter({ name: '_gossip._tcp.members.default.svc.cluster.local', type: 'SRV', intervalMs: 2000 });
 * const checked = await startLink({ name: 'dns-example', adapter: members });
 * if (checked.ok) await checked.value.stop();
 * ```
 */
export function dnsAdapter(options: DnsAdapterOptions): Adapter {
  const problem = checkDnsAdapterOptions(options);
  const query: DnsQuery = { name: options?.name, type: options?.type ?? 'A', ...(options?.port !== undefined ? { port: options.port } : {}) };
  const servers = options?.servers ?? [];
  const self = options?.advertise ? parseAddress(options.advertise) : undefined;
  const selfAddress = self ? formatAddress(self.host, self.port) : undefined;
  const adapter = defineAdapter('dns', async (context) => {
    if (problem) throw new Error(problem.message);
    let lookups = 0;
    let failedLookups = 0;
    let failedQueries = 0;
    let answers = 0;
    // The failures of the last partial answer, so a resolver refusing the same query every sync is logged once.
    let lastPartial = '';
    // The peers of the last sync: a failed query says nothing about the members it names, so they stay.
    let listed: readonly PeerInfo[] = [];
    return {
      self: { ...context.input.self, ...(selfAddress ? { address: selfAddress } : {}) },
      async sync(signal) {
        lookups++;
        let found;
        try {
          found = await resolveDns(query, servers, signal);
        } catch (error) {
          failedLookups++;
          throw error;
        }
        answers = found.endpoints.length;
        const peers: PeerInfo[] = [];
        for (const { host, port } of found.endpoints) {
          const address = formatAddress(host, port);
          if (address !== selfAddress) peers.push({ id: address, address, metadata: {} });
        }
        const missingReason = { type: 'Failed' as const, message: `No longer published under ${describeDnsQuery(query)}` };
        failedQueries += found.failures.length;
        const partial = describeDnsFailures(found.failures);
        if (partial !== lastPartial && partial !== '') {
          context.log.warn({ query: describeDnsQuery(query), failed: partial, answers }, 'Partial DNS answer: using the addresses that resolved');
        }
        lastPartial = partial;
        if (partial === '') {
          listed = peers;
          return { peers, missingReason };
        }
        // Not Down and not empty: the members that resolved, plus those last listed (their query may be the one that
        // failed), stay until a whole answer says otherwise; the reason names what failed.
        const resolved = new Set(peers.map((peer) => peer.id));
        listed = [...peers, ...listed.filter((peer) => !resolved.has(peer.id))];
        return { peers: listed, missingReason, degraded: `Partial DNS answer for ${describeDnsQuery(query)}: ${partial}` };
      },
      close: () => {},
      counters: () => ({ dnsLookups: lookups, dnsFailedLookups: failedLookups, dnsFailedQueries: failedQueries, dnsAnswers: answers }),
    };
  });
  return {
    ...adapter,
    ...(options?.intervalMs !== undefined && problem === undefined ? { syncIntervalMs: options.intervalMs } : {}),
    validate: () => problem,
  };
}
