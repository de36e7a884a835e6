/**
 * `distribute/discovery`: find the other processes of a cluster, track who
 * is up, and hear when a peer joins, changes its metadata or leaves.
 *
 * The facade's functions talk to one adapter actor registered under
 * `defaultAdapterName`; `bind()` gives the same functions for another name
 * or XState system. Every function returns a `Result`; none throws.
 *
 * @example
 * ```ts
 * import * as discovery from 'distribute/discovery';
 *
 * const started = await discovery.startLink();
 * if (!started.ok) throw new Error(started.error.message);
 * discovery.subscribe((event) => console.log(event.type, event.peer.id));
 * ```
 *
 * @module
 */
// The facade: the default adapter's functions, and the same bound to another.
export { bind, events, health, healthInfo, installKey, join, listKeys, lookup, metrics, owner, owners, removeKey, self, setMetadata, snapshot, stop, subscribe, subscription, unsubscribe, useKey, type Discovery, type DiscoveryTarget, type Subscription } from './discovery/facade.js';
export { childSpec, startLink, type StartOptions } from './discovery/start.js';
export type { AdapterHandle, DiscoveryActorRef } from './discovery/handle.js';
export { defaultAdapter, discoveryLogic, type DiscoveryInput, type DiscoveryLogic, type DiscoveryOptions, type RestartPolicy } from './discovery/supervisor.js';
export type { DiscoveryCallback, SubscribeOptions } from './discovery/hub.js';
export type { EventStream } from './discovery/event-stream.js';
export type { KeyList } from './discovery/kit/keys.js';

// The vocabulary: peers, events, health, options, errors, results.
export { DiscoveryErrors, DiscoveryFailure, isPermanentError, isTransientError, type AdapterOptions, type BackendLog, type DiscoveryError, type DiscoveryEvent, type DiscoveryLogger, type DiscoveryMetrics, type HealthInfo, type HealthStatus, type LogFn, type PeerDownReason, type PeerInfo, type PeerMetadata, type PeerSuspicionEvent, type Result, type RetryConfig, type SeedLookup, type SubscriptionId } from './discovery/types.js';

// The adapters.
export { memoryAdapter, type MemoryAdapterOptions } from './discovery/adapters/memory.js';
export { staticAdapter, type StaticAdapterOptions, type StaticPeer } from './discovery/adapters/static.js';
export { gossipAdapter, DEFAULT_GOSSIP_PORT, type GossipAdapterOptions } from './discovery/adapters/gossip.js';
export type { GossipConfig, GossipProfile } from './discovery/gossip/protocol/config.js';
export { generateKey } from './discovery/gossip/wire/crypto.js';
export { dnsAdapter, type DnsAdapterOptions } from './discovery/adapters/dns.js';
export type { DnsRecordType } from './discovery/dns.js';
export { etcdAdapter, type EtcdAdapterOptions } from './discovery/adapters/etcd.js';
export { redisAdapter, type RedisAdapterOptions } from './discovery/adapters/redis.js';
export type { StoreOptions } from './discovery/adapters/store.js';
export { OWNER_WEIGHT_KEY } from './discovery/ownership.js';

// The kit for writing an adapter; the backend protocol itself is in `distribute/discovery/internals`.
export { defaultAdapterName, defaultRetryConfig, defineAdapter, MAX_METADATA_BYTES, MAX_METADATA_ENTRIES, type AdapterOptionsInput } from './discovery/kit/adapter.js';
export type { Adapter, BackendContext, BackendFacts, BackendSession, MembershipChange, SyncResult } from './discovery/kit/backend.js';

// The HTTP handler: the page, the event stream, metrics, health and the control verbs.
export { httpHandler, type HttpHandler, type HttpHandlerOptions } from './http/handler.js';
export type { HealthEvent, StreamEvent } from './http/events.js';
export type { MemberRow, MemberStatus } from './http/members.js';
