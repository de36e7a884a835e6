/**
 * DNS lookups shared by the `dns` adapter and the gossip adapter's DNS seeds:
 * checking names and resolver addresses, reading `dns:NAME:PORT` and
 * `dns+srv:NAME` seeds, and turning an A, AAAA or SRV answer into addresses.
 *
 * An answer that says "no such name" or "no records" is an empty list, not a
 * failure: a Kubernetes headless Service with no ready pods answers that way.
 * A timeout, SERVFAIL, REFUSED or an unreachable resolver is a failure of
 * that one query: A and AAAA, and each SRV target, are asked on their own,
 * and an answer missing some of them is partial, not failed.
 */
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';
import { formatAddress, parseAddress, type Endpoint } from './address.js';
import { DiscoveryErrors, type DiscoveryError } from './types.js';

/** The record types a lookup can ask for. */
export type DnsRecordType = 'A' | 'AAAA' | 'SRV';

/** One lookup: a name, its record type, and for A/AAAA the port every member listens on. */
export interface DnsQuery {
  readonly name: string;
  /** `ADDRESS` (DNS seeds written `dns:NAME:PORT`) asks for A and AAAA records both. */
  readonly type: DnsRecordType | 'ADDRESS';
  /** Required for A and AAAA; SRV answers carry their own ports. */
  readonly port?: number;
}

/** How long one query to one resolver may take, and how often it is tried. */
export const DNS_QUERY_TIMEOUT_MS = 1000;
export const DNS_QUERY_TRIES = 2;

/** Answer codes that mean "nothing published", which is a valid, empty answer. */
const EMPTY_ANSWER = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Whether `name` is a DNS name: dot-separated labels of 1 to 63 letters,
 * digits, `-` or `_` (SRV names start with `_service._proto`), not starting or
 * ending with `-`, at most 253 characters; one trailing dot allowed.
 *
 * @example
 * ```ts
 * isDnsName('_gossip._tcp.members.default.svc.cluster.local'); // true
 * isDnsName('bad..name'); // false
 * ```
 */
function isDnsName(name: string): boolean {
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  if (bare.length === 0 || bare.length > 253) return false;
  return bare.split('.').every((label) => /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label));
}

/** Whether `seed` is written as a DNS seed (`dns:` or `dns+srv:`), valid or not. */
export function isDnsSeed(seed: string): boolean {
  return seed.startsWith('dns:') || seed.startsWith('dns+srv:');
}

const validPort = (port: unknown): port is number => Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65_535;

/**
 * Reads a DNS seed: `dns:NAME:PORT` (A and AAAA records, every member on
 * PORT) or `dns+srv:NAME` (SRV records). An `InvalidConfiguration` naming
 * `field` when it is not one.
 *
 * @example
 * ```ts
 * parseDnsSeed('dns+srv:_gossip._tcp.members.default.svc.cluster.local');
 * // { ok: true, value: { name: '_gossip._tcp.members.default.svc.cluster.local', type: 'SRV' } }
 * ```
 */
export function parseDnsSeed(seed: string, field = 'seedPeers'): { ok: true; value: DnsQuery } | { ok: false; error: DiscoveryError } {
  const invalid = (expected: string) => ({ ok: false as const, error: DiscoveryErrors.invalidConfiguration(field, seed, expected) });
  if (seed.startsWith('dns+srv:')) {
    const name = seed.slice('dns+srv:'.length);
    return isDnsName(name) ? { ok: true, value: { name, type: 'SRV' } } : invalid('dns+srv:NAME with NAME a DNS name');
  }
  if (seed.startsWith('dns:')) {
    const match = /^dns:(.+):(\d{1,5})$/.exec(seed);
    if (!match) return invalid('dns:NAME:PORT');
    const [, name, port] = match;
    if (!isDnsName(name!)) return invalid('dns:NAME:PORT with NAME a DNS name');
    if (!validPort(Number(port))) return invalid('dns:NAME:PORT with PORT from 1 to 65535');
    return { ok: true, value: { name: name!, type: 'ADDRESS', port: Number(port) } };
  }
  return invalid('dns:NAME:PORT or dns+srv:NAME');
}

/**
 * Checks resolver addresses: each an IP address with a port (`10.0.0.10:53`,
 * `[fd00::10]:53`) or a bare IP (port 53). An `InvalidConfiguration` naming
 * `field` for the first that is not.
 */
export function checkDnsServers(field: string, servers: unknown): DiscoveryError | undefined {
  const expected = 'resolver addresses as IP:PORT (or a bare IP for port 53)';
  if (!Array.isArray(servers)) return DiscoveryErrors.invalidConfiguration(field, servers, `an array of ${expected}`);
  for (const server of servers) {
    if (typeof server !== 'string') return DiscoveryErrors.invalidConfiguration(field, server, expected);
    const parsed = parseAddress(server);
    if (isIP(server) === 0 && (!parsed || isIP(parsed.host) === 0)) {
      return DiscoveryErrors.invalidConfiguration(field, server, expected);
    }
  }
  return undefined;
}

/** Checks a query: a DNS name, a known type, and a port from 1 to 65535 for A/AAAA. */
export function checkDnsQuery(query: { name?: unknown; type?: unknown; port?: unknown }, prefix = ''): DiscoveryError | undefined {
  if (typeof query.name !== 'string' || !isDnsName(query.name)) {
    return DiscoveryErrors.invalidConfiguration(`${prefix}name`, query.name, 'a DNS name (labels of letters, digits, - or _, at most 253 characters)');
  }
  if (query.type !== 'A' && query.type !== 'AAAA' && query.type !== 'SRV') {
    return DiscoveryErrors.invalidConfiguration(`${prefix}type`, query.type, "'A', 'AAAA' or 'SRV'");
  }
  if (query.type !== 'SRV' && !validPort(query.port)) {
    return DiscoveryErrors.invalidConfiguration(`${prefix}port`, query.port, 'a port from 1 to 65535 (required for A and AAAA)');
  }
  if (query.type === 'SRV' && query.port !== undefined && !validPort(query.port)) {
    return DiscoveryErrors.invalidConfiguration(`${prefix}port`, query.port, 'a port from 1 to 65535, or none for SRV');
  }
  return undefined;
}

/** A lookup that failed for a reason other than "nothing published". */
export class DnsLookupError extends Error {
  constructor(
    readonly query: string,
    readonly code: string,
  ) {
    super(`DNS lookup of ${query} failed: ${code}`);
    this.name = 'DnsLookupError';
  }
}

/** The records of one type, or [] when the name has none. */
async function records<T>(query: string, lookup: () => Promise<T[]>): Promise<T[]> {
  try {
    return await lookup();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    if (EMPTY_ANSWER.has(code)) return [];
    throw new DnsLookupError(query, code);
  }
}

/** What a lookup gave: the addresses, and the queries (a record family, an SRV target) that failed on the way. */
export interface DnsAnswer {
  /** Deduplicated and sorted. */
  readonly endpoints: Endpoint[];
  /** Empty for a whole answer; otherwise the answer is partial and these say what is missing. */
  readonly failures: readonly DnsLookupError[];
}

/**
 * One query of a lookup made of several: a failure is collected in
 * `failures` and the query counts as empty, so the queries that did answer
 * are still used (a resolver that refuses AAAA for an A-only name must not
 * hide the A records).
 */
async function partOf<T>(failures: DnsLookupError[], query: string, lookup: () => Promise<T[]>): Promise<T[]> {
  try {
    return await records(query, lookup);
  } catch (error) {
    failures.push(error as DnsLookupError);
    return [];
  }
}

/** IPv4 and IPv6 addresses of a name, each family asked on its own. */
async function addressesOf(resolver: Resolver, host: string, failures: DnsLookupError[]): Promise<string[]> {
  const bare = host.endsWith('.') ? host.slice(0, -1) : host;
  if (isIP(bare) !== 0) return [bare];
  const [v4, v6] = await Promise.all([
    partOf(failures, `A ${bare}`, () => resolver.resolve4(bare)),
    partOf(failures, `AAAA ${bare}`, () => resolver.resolve6(bare)),
  ]);
  return [...v4, ...v6];
}

/**
 * Resolves `query` to the addresses it names, deduplicated and sorted: for
 * A/AAAA each address with `query.port`, for SRV each target's addresses with
 * the target's port. `servers` are asked instead of the system's resolvers
 * when given.
 *
 * A and AAAA are asked separately, and for each SRV target: a family or a
 * target that fails is listed in `failures` and the rest is used. Resolves
 * with no endpoints when nothing is published; rejects with a
 * `DnsLookupError` only when nothing resolved and something failed (the SRV
 * query itself, or every address query), or when `signal` aborts.
 *
 * @example
 * ```ts fragment
 * const { endpoints, failures } = await resolveDns({ name: 'members.default.svc.cluster.local', type: 'A', port: 7946 });
 * ```
 */
export async function resolveDns(query: DnsQuery, servers: readonly string[] = [], signal?: AbortSignal): Promise<DnsAnswer> {
  const resolver = new Resolver({ timeout: DNS_QUERY_TIMEOUT_MS, tries: DNS_QUERY_TRIES });
  if (servers.length > 0) resolver.setServers([...servers]);
  const cancelled = () => new DnsLookupError(`${query.type} ${query.name}`, 'ECANCELLED');
  if (signal?.aborted) throw cancelled();
  // Aborting cancels the queries in flight; they then reject with ECANCELLED.
  const onAbort = () => resolver.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const failures: DnsLookupError[] = [];
    const endpoints = await lookup(resolver, query, failures);
    if (signal?.aborted) throw cancelled();
    if (endpoints.length === 0 && failures.length > 0) throw failures[0]!;
    const unique = new Map(endpoints.map((e) => [formatAddress(e.host, e.port), e]));
    return { endpoints: [...unique.keys()].sort().map((key) => unique.get(key)!), failures };
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Every endpoint `query` names; failed address queries go to `failures`, a failed SRV query throws. */
async function lookup(resolver: Resolver, query: DnsQuery, failures: DnsLookupError[]): Promise<Endpoint[]> {
  const name = query.name.endsWith('.') ? query.name.slice(0, -1) : query.name;
  if (query.type === 'SRV') {
    // Without the SRV answer there are no targets to ask: that is a failure, not a partial answer.
    const answers = await records(`SRV ${name}`, () => resolver.resolveSrv(name));
    const resolved = await Promise.all(
      answers.map(async (srv) => (await addressesOf(resolver, srv.name, failures)).map((host) => ({ host, port: srv.port }))),
    );
    return resolved.flat();
  }
  const hosts =
    query.type === 'A'
      ? await records(`A ${name}`, () => resolver.resolve4(name))
      : query.type === 'AAAA'
        ? await records(`AAAA ${name}`, () => resolver.resolve6(name))
        : await addressesOf(resolver, name, failures);
  return hosts.map((host) => ({ host, port: query.port! }));
}

/** The failed queries of a partial answer, for a log line or a health reason: `AAAA pod-a.example: EREFUSED; …`. */
export function describeDnsFailures(failures: readonly DnsLookupError[]): string {
  return failures.map((f) => `${f.query}: ${f.code}`).join('; ');
}

/** The text form of a query, for messages: `dns:NAME:PORT` or `dns+srv:NAME`. */
export function describeDnsQuery(query: DnsQuery): string {
  return query.type === 'SRV' ? `dns+srv:${query.name}` : `dns:${query.name}:${query.port}${query.type === 'ADDRESS' ? '' : ` (${query.type})`}`;
}

/** The DNS seeds among `seeds`, by the text the core dials them as. */
export function dnsSeedQueries(seeds: readonly string[]): Map<string, DnsQuery> {
  const queries = new Map<string, DnsQuery>();
  for (const seed of seeds) {
    const parsed = isDnsSeed(seed) ? parseDnsSeed(seed) : undefined;
    if (parsed?.ok) queries.set(seed, parsed.value);
  }
  return queries;
}
