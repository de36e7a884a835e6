/** The adapters the command can run, by name. */
import { dnsAdapter, gossipAdapter, memoryAdapter, staticAdapter, type Adapter, type DnsRecordType } from '../discovery.js';
import { formatAddress, type HostPort } from './args.js';

export const ADAPTER_KINDS = ['gossip', 'static', 'memory', 'dns'] as const;
export type AdapterKind = (typeof ADAPTER_KINDS)[number];
export const PROFILES = ['lan', 'local'] as const;
export type Profile = (typeof PROFILES)[number];

export interface AdapterFlags {
  readonly bind: HostPort;
  readonly advertise: HostPort | undefined;
  readonly profile: Profile;
  readonly secretKeys?: readonly string[];
  readonly label?: string;
  /** Resolvers for `--adapter dns` and for DNS seeds in `--join`. */
  readonly dnsServers?: readonly string[];
  /** What `--adapter dns` resolves. */
  readonly dns?: { readonly name: string; readonly type: DnsRecordType; readonly port: number };
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
  }
}
