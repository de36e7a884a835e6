/** The adapters the command can run, by name. */
import { defaultOptions } from '../internals.js';
import {
  dnsAdapter,
  etcdAdapter,
  gossipAdapter,
  memoryAdapter,
  redisAdapter,
  staticAdapter,
  type Adapter,
  type DnsRecordType,
} from '../discovery.js';
import { formatAddress } from './args.js';
import type { Endpoint } from '../discovery/address.js';
import { usage } from './errors.js';
import { hasTls, type StoreCredentials } from './store-credentials.js';

export const ADAPTER_KINDS = ['gossip', 'static', 'memory', 'dns', 'etcd', 'redis'] as const;
export type AdapterKind = (typeof ADAPTER_KINDS)[number];
export const PROFILES = ['lan', 'local'] as const;
export type Profile = (typeof PROFILES)[number];

export interface AdapterFlags {
  readonly bind: Endpoint;
  readonly advertise: Endpoint | undefined;
  readonly profile: Profile;
  readonly secretKeys?: readonly string[];
  readonly label?: string;
  /** Resolvers for `--adapter dns` and for DNS seeds in `--join`. */
  readonly dnsServers?: readonly string[];
  /** What `--adapter dns` resolves. */
  readonly dns?: { readonly name: string; readonly type: DnsRecordType; readonly port: number };
  /** `--etcd` URLs, `--redis` URL, `--prefix`, `--ttl` for the store adapters. */
  readonly etcd?: readonly string[];
  readonly redis?: string;
  readonly prefix?: string;
  readonly ttlMs?: number;
  /** TLS files and a user for the store `--adapter` names. */
  readonly credentials?: StoreCredentials;
}

// Which flag sets each store adapter option, for errors a person can act on.
const FLAG_OF: Record<string, string> = { endpoints: '--etcd', url: '--redis', ttlMs: '--ttl', prefix: '--prefix', address: '--advertise' };

function store(kind: 'etcd' | 'redis', flags: AdapterFlags): Adapter {
  const common = {
    ...(flags.prefix !== undefined ? { prefix: flags.prefix } : {}),
    ...(flags.ttlMs !== undefined ? { ttlMs: flags.ttlMs } : {}),
    ...(flags.advertise ? { address: formatAddress(flags.advertise) } : {}),
  };
  const { credentials: given } = flags;
  let adapter: Adapter;
  if (kind === 'etcd') {
    if (!flags.etcd || flags.etcd.length === 0) throw usage('--adapter etcd needs --etcd URL (e.g. http://127.0.0.1:2379)');
    if (hasTls(given) && !flags.etcd.every((url) => url.startsWith('https:'))) throw usage('--etcd-ca and --etcd-cert need https:// URLs in --etcd');
    adapter = etcdAdapter({
      endpoints: flags.etcd,
      ...common,
      ...(hasTls(given) ? { tls: { rootCertificate: given!.ca, certChain: given!.cert, privateKey: given!.key } } : {}),
      ...(given?.user !== undefined ? { auth: { username: given.user, password: given.password! } } : {}),
    });
  } else {
    if (flags.redis === undefined) throw usage('--adapter redis needs --redis URL (e.g. redis://127.0.0.1:6379)');
    if (hasTls(given) && !flags.redis.startsWith('rediss:')) throw usage('--redis-ca and --redis-cert need a rediss:// URL in --redis');
    adapter = redisAdapter({
      url: flags.redis,
      ...common,
      ...(hasTls(given) ? { tls: { ca: given!.ca, cert: given!.cert, key: given!.key } } : {}),
      ...(given?.password !== undefined ? { auth: { password: given.password, ...(given.user !== undefined ? { username: given.user } : {}) } } : {}),
    });
  }
  const problem = adapter.validate?.(defaultOptions());
  if (problem?.type === 'InvalidConfiguration') {
    const flag = FLAG_OF[problem.field] ?? problem.field;
    throw usage(`${flag}: ${problem.message.replace(`Invalid ${problem.field}: `, '')}`);
  }
  return adapter;
}

/** The adapter for `--adapter`; `--join` seeds reach it as `seedPeers`. */
export function makeAdapter(kind: AdapterKind, flags: AdapterFlags): Adapter {
  switch (kind) {
    case 'gossip':
      return gossipAdapter({
        bind: flags.bind,
        profile: flags.profile,
        ...(flags.advertise ? { advertise: flags.advertise } : {}),
        ...(flags.secretKeys ? { secretKeys: flags.secretKeys } : {}),
        ...(flags.label !== undefined ? { label: flags.label } : {}),
        ...(flags.dnsServers ? { dnsServers: flags.dnsServers } : {}),
      });
    case 'dns':
      return dnsAdapter({
        name: flags.dns?.name ?? '',
        type: flags.dns?.type ?? 'A',
        port: flags.dns?.port ?? flags.bind.port,
        ...(flags.dnsServers ? { servers: flags.dnsServers } : {}),
        ...(flags.advertise ? { advertise: formatAddress(flags.advertise) } : {}),
      });
    case 'static':
      return staticAdapter();
    case 'memory':
      return memoryAdapter();
    case 'etcd':
    case 'redis':
      return store(kind, flags);
  }
}
