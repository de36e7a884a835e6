/**
 * The public entry is a barrel: `src/discovery.ts` holds re-exports and
 * nothing else, and what it exports is the reviewed list below. A new export
 * is a change to this list, made on purpose. `distribute/discovery/internals`
 * is the superset of it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as entry from 'distribute/discovery';
import * as internals from 'distribute/discovery/internals';

const root = join(import.meta.dirname, '..');

/** Values (functions, constants, classes) the entry exports. */
const VALUES = [
  'DEFAULT_GOSSIP_PORT', 'DiscoveryErrors', 'DiscoveryFailure', 'MAX_METADATA_BYTES', 'MAX_METADATA_ENTRIES', 'OWNER_WEIGHT_KEY',
  'bind', 'childSpec', 'defaultAdapter', 'defaultAdapterName', 'defaultRetryConfig', 'defineAdapter', 'discoveryLogic',
  'dnsAdapter', 'etcdAdapter', 'events', 'generateKey', 'gossipAdapter', 'health', 'healthInfo', 'httpHandler', 'installKey',
  'isPermanentError', 'isTransientError', 'join', 'listKeys', 'lookup', 'memoryAdapter', 'metrics', 'owner', 'owners',
  'redisAdapter', 'removeKey', 'self', 'setMetadata', 'snapshot', 'startLink', 'staticAdapter', 'stop', 'subscribe',
  'subscription', 'unsubscribe', 'useKey',
];

/** Types the entry exports. */
const TYPES = [
  'Adapter', 'AdapterHandle', 'AdapterOptions', 'AdapterOptionsInput', 'BackendContext', 'BackendFacts', 'BackendLog',
  'BackendSession', 'Discovery', 'DiscoveryActorRef', 'DiscoveryCallback', 'DiscoveryError', 'DiscoveryEvent',
  'DiscoveryInput', 'DiscoveryLogger', 'DiscoveryLogic', 'DiscoveryMetrics', 'DiscoveryOptions', 'DiscoveryTarget',
  'DnsAdapterOptions', 'DnsRecordType', 'EtcdAdapterOptions', 'EventStream', 'GossipAdapterOptions', 'GossipConfig',
  'GossipProfile', 'HealthEvent', 'HealthInfo', 'HealthStatus', 'HttpHandler', 'HttpHandlerOptions', 'KeyList', 'LogFn',
  'MemberRow', 'MembershipChange', 'MemberStatus', 'MemoryAdapterOptions', 'PeerDownReason', 'PeerInfo', 'PeerMetadata',
  'PeerSuspicionEvent', 'RedisAdapterOptions', 'RestartPolicy', 'Result', 'RetryConfig', 'SeedLookup', 'StartOptions',
  'StaticAdapterOptions', 'StaticPeer', 'StoreOptions', 'StreamEvent', 'SubscribeOptions', 'Subscription',
  'SubscriptionId', 'SyncResult',
];

const sorted = (names: Iterable<string>) => [...names].sort();
const barrel = readFileSync(join(root, 'src', 'discovery.ts'), 'utf8');

/** Each `export { … } from` / `export type { … } from` of the barrel, names as exported, split into values and types. */
function barrelExports(): { values: string[]; types: string[] } {
  const values: string[] = [];
  const types: string[] = [];
  for (const [, typeOnly, list] of barrel.matchAll(/export\s+(type\s+)?\{([^}]*)\}\s*from\s*'[^']+';/g)) {
    for (const raw of list!.split(',').map((n) => n.trim()).filter(Boolean)) {
      const isType = typeOnly !== undefined || raw.startsWith('type ');
      const name = raw.replace(/^type\s+/, '').split(/\s+as\s+/).at(-1)!;
      (isType ? types : values).push(name);
    }
  }
  return { values, types };
}

describe('the public entry distribute/discovery', () => {
  it('holds re-exports only: no logic, no `export *`', () => {
    const code = barrel
      .replace(/\/\*[\s\S]*?\*\//g, '')
      .replace(/^\s*\/\/.*$/gm, '')
      .replace(/export\s+(type\s+)?\{[^}]*\}\s*from\s*'[^']+';/g, '')
      .trim();
    expect(code).toBe('');
  });

  it('exports the reviewed values, and at run time exactly those', () => {
    expect(sorted(barrelExports().values)).toEqual(sorted(VALUES));
    expect(sorted(Object.keys(entry))).toEqual(sorted(VALUES));
  });

  it('exports the reviewed types', () => {
    expect(sorted(barrelExports().types)).toEqual(sorted(TYPES));
  });

  it('keeps the plumbing out: the facade class, result helpers, option defaults, the bare actor, the statechart wire types', () => {
    for (const name of ['DiscoveryImpl', 'attempt', 'ok', 'err', 'defaultOptions', 'adapterActor', 'adapterMachine', 'EventHub']) {
      expect(Object.keys(entry), name).not.toContain(name);
      expect(Object.keys(internals), name).toContain(name);
    }
  });

  it('distribute/discovery/internals is a superset of it, the same values included', () => {
    for (const name of VALUES) expect((internals as Record<string, unknown>)[name], name).toBe((entry as Record<string, unknown>)[name]);
  });
});
