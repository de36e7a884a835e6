/** The adapters the command can run, by name. */
import { gossipAdapter, memoryAdapter, staticAdapter, type Adapter } from '../discovery.js';
import type { HostPort } from './args.js';

export const ADAPTER_KINDS = ['gossip', 'static', 'memory'] as const;
export type AdapterKind = (typeof ADAPTER_KINDS)[number];
export const PROFILES = ['lan', 'local'] as const;
export type Profile = (typeof PROFILES)[number];

export interface AdapterFlags {
  readonly bind: HostPort;
  readonly advertise: HostPort | undefined;
  readonly profile: Profile;
  readonly secretKeys?: readonly string[];
  readonly label?: string;
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
      });
    case 'static':
      return staticAdapter();
    case 'memory':
      return memoryAdapter();
  }
}
