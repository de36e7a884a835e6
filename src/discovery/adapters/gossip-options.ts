/**
 * The gossip adapter's options and their checks: every option a caller can
 * get wrong is `InvalidConfiguration` naming it, before anything is bound.
 */
import { parseAddress, type Endpoint } from '../address.js';
import { checkDnsServers, isDnsSeed, parseDnsSeed } from '../dns.js';
import { MAX_LABEL_BYTES } from '../gossip/wire/crypto.js';
import { resolveGossipConfig, type GossipConfig, type GossipProfile } from '../gossip/protocol/config.js';
import { errorMessage } from '../kit/backend.js';
import { isKey } from '../kit/keys.js';
import { DiscoveryErrors, err, ok, type AdapterOptions, type DiscoveryError, type Result } from '../types.js';

/** Options of the gossip adapter. */
export interface GossipAdapterOptions {
  /**
   * Where to listen: `'127.0.0.1:7946'` or `{ host, port }`. Default
   * `0.0.0.0:7946`; port 0 picks a free port (see `self().address`).
   */
  readonly bind?: string | Endpoint;
  /** What others should dial, when it differs from the bound address (NAT, containers): `host:port` or `{ host, port }`. */
  readonly advertise?: string | Endpoint;
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
  /**
   * A cluster label, sent in a header on every packet and push-pull (and bound
   * into every sealed one): members with another label, or none, are dropped
   * and counted (`labelMismatches`), so clusters sharing a network by mistake
   * never merge. Not a secret and not a fence: anyone can send any label; keys
   * are the fence. At most 255 UTF-8 bytes. Default '' (no header).
   */
  readonly label?: string;
  /**
   * Resolvers (`IP:PORT`, or a bare IP for port 53) for DNS seeds
   * (`dns:NAME:PORT`, `dns+srv:NAME` in `seedPeers`); default: the system's.
   */
  readonly dnsServers?: readonly string[];
}

const OPTION_NAMES: readonly string[] = ['bind', 'advertise', 'profile', 'config', 'leaveOnSignals', 'secretKeys', 'label', 'dnsServers'] satisfies readonly (keyof GossipAdapterOptions)[];

/**
 * An address option (`host:port`, `[v6]:port` or `{ host, port }`) as an
 * endpoint; port 0 only where it may be picked (`bind`). An error names the
 * option and the value.
 */
function endpointOption(field: string, value: string | Endpoint, portZero: boolean): Result<Endpoint, DiscoveryError> {
  const minPort = portZero ? 0 : 1;
  const wrong = () => err(DiscoveryErrors.invalidConfiguration(field, value, `"host:port" or { host, port } with a port from ${minPort} to 65535`));
  if (typeof value === 'string') {
    const endpoint = parseAddress(value, minPort);
    return endpoint ? ok(endpoint) : wrong();
  }
  if (typeof value !== 'object' || value === null) return wrong();
  const { host, port } = value as { host: unknown; port: unknown };
  const valid = typeof host === 'string' && host.length > 0 && Number.isInteger(port) && (port as number) >= minPort && (port as number) <= 65_535;
  return valid ? ok({ host, port: port as number }) : wrong();
}

/** An endpoint `validate` passed (a start that skipped it fails with the same words). */
export function endpointOrThrow(field: string, value: string | Endpoint, portZero: boolean): Endpoint {
  const endpoint = endpointOption(field, value, portZero);
  if (!endpoint.ok) throw new Error(endpoint.error.message);
  return endpoint.value;
}

/** A key as an error may show it: never whole. */
const keyShown = (key: unknown) => (typeof key === 'string' ? `${key.slice(0, 4)}… (${key.length} characters)` : key);

/** Every option of the gossip adapter, checked before anything starts: the first wrong one is named, with what was expected. */
export function checkGossipOptions(adapterOptions: AdapterOptions, options: GossipAdapterOptions): DiscoveryError | undefined {
  if (typeof options !== 'object' || options === null) return DiscoveryErrors.invalidConfiguration('gossipAdapter options', options, 'an object');
  const unknown = Object.keys(options).find((key) => !OPTION_NAMES.includes(key));
  if (unknown !== undefined) return DiscoveryErrors.invalidConfiguration(unknown, (options as Record<string, unknown>)[unknown], `no such gossip option; the options are ${OPTION_NAMES.join(', ')}`);
  for (const [field, value, portZero] of [['bind', options.bind, true], ['advertise', options.advertise, false]] as const) {
    if (value === undefined) continue;
    const endpoint = endpointOption(field, value, portZero);
    if (!endpoint.ok) return endpoint.error;
  }
  if (options.profile !== undefined && options.profile !== 'lan' && options.profile !== 'local') {
    return DiscoveryErrors.invalidConfiguration('profile', options.profile, '"lan" or "local"');
  }
  if (options.config !== undefined && (typeof options.config !== 'object' || options.config === null)) {
    return DiscoveryErrors.invalidConfiguration('config', options.config, 'an object of timings (see GossipConfig)');
  }
  try {
    resolveGossipConfig(options.config ?? {}, options.profile ?? 'lan');
  } catch (error) {
    const field = /gossip config (?:field )?"?(\w+)/.exec(errorMessage(error))?.[1];
    return DiscoveryErrors.invalidConfiguration(field ? `config.${field}` : 'config', field ? (options.config as Record<string, unknown> | undefined)?.[field] : options.config, errorMessage(error));
  }
  if (options.leaveOnSignals !== undefined && typeof options.leaveOnSignals !== 'boolean') {
    return DiscoveryErrors.invalidConfiguration('leaveOnSignals', options.leaveOnSignals, 'true or false');
  }
  if (options.secretKeys !== undefined) {
    if (!Array.isArray(options.secretKeys)) return DiscoveryErrors.invalidConfiguration('secretKeys', typeof options.secretKeys, 'an array of 32-byte keys in base64');
    const bad = options.secretKeys.findIndex((key) => !isKey(key));
    if (bad >= 0) return DiscoveryErrors.invalidConfiguration(`secretKeys[${bad}]`, keyShown(options.secretKeys[bad]), "a 32-byte key in base64 (generateKey() or 'distribute keygen' makes one)");
  }
  return checkSeeds(adapterOptions, options);
}

/** DNS seeds must parse; `dnsServers` must be resolver addresses. Other seeds are dialled as written. */
function checkSeeds(adapterOptions: AdapterOptions, options: GossipAdapterOptions): DiscoveryError | undefined {
  if (options.label !== undefined && (typeof options.label !== 'string' || Buffer.byteLength(options.label) > MAX_LABEL_BYTES)) {
    return DiscoveryErrors.invalidConfiguration('label', options.label, `a string of at most ${MAX_LABEL_BYTES} UTF-8 bytes`);
  }
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

