/**
 * The `static` adapter: a fixed list of peers (`seedPeers`, or `peers` given
 * here), each checked for reachability on every sync by opening a TCP
 * connection to it. An unreachable peer is `PeerDown`; `PeerUp` when it
 * answers again.
 */
import { connect } from 'node:net';
import { parseAddress } from '../address.js';
import { defineAdapter } from '../kit/adapter.js';
import type { Adapter, MembershipChange } from '../kit/backend.js';
import type { PeerInfo, PeerMetadata } from '../types.js';

/** A static peer: its address, and optionally an id (default: the address) and metadata. */
export interface StaticPeer {
  readonly address: string;
  readonly id?: string;
  readonly metadata?: PeerMetadata;
}

/** Options of the static adapter. */
export interface StaticAdapterOptions {
  /** Peers to watch; `seedPeers` (`host:port` strings) are added to these. */
  readonly peers?: readonly StaticPeer[];
  /** How long one reachability check may take. Default 1000 ms. */
  readonly connectTimeoutMs?: number;
}

/** Resolves when a TCP connection to `address` opens, rejects with the reason otherwise. */
function checkReachable(address: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const target = parseAddress(address.trim());
  if (!target) return Promise.reject(new Error(`Not a host:port address: ${JSON.stringify(address)}`));
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port });
    const finish = (error?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve();
    };
    const onAbort = () => finish(new Error('Aborted'));
    const timer = setTimeout(() => finish(new Error(`No answer within ${timeoutMs} ms`)), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish());
    socket.once('error', (error) => finish(error));
  });
}

/**
 * An adapter over a fixed list of peers.
 *
 * @example
 * ```ts
 * await startLink({ adapter: staticAdapter(), seedPeers: ['10.0.0.2:7946', '10.0.0.3:7946'] });
 * ```
 */
export function staticAdapter(options: StaticAdapterOptions = {}): Adapter {
  const connectTimeoutMs = options.connectTimeoutMs ?? 1000;
  return defineAdapter('static', async (context) => {
    const listed: StaticPeer[] = [...(options.peers ?? []), ...context.input.seedPeers.map((address) => ({ address }))];
    for (const peer of listed) {
      if (!parseAddress(peer.address.trim())) throw new Error(`Static peer address is not host:port: ${JSON.stringify(peer.address)}`);
    }
    const peers: PeerInfo[] = listed.map((peer) => ({
      id: peer.id ?? peer.address,
      address: peer.address,
      metadata: peer.metadata ?? {},
    }));
    const reachable = new Set<string>();
    let checks = 0;
    let failures = 0;

    return {
      self: context.input.self,
      async sync(signal) {
        const outcomes = await Promise.allSettled(
          peers.map((peer) => checkReachable(peer.address!, connectTimeoutMs, signal)),
        );
        if (signal.aborted) throw new Error('Sync abandoned');
        const changes: MembershipChange[] = [];
        outcomes.forEach((outcome, i) => {
          const peer = peers[i]!;
          checks++;
          if (outcome.status === 'fulfilled') {
            if (!reachable.has(peer.id)) changes.push({ type: 'up', peer });
            reachable.add(peer.id);
          } else {
            failures++;
            if (reachable.delete(peer.id)) {
              const message = outcome.reason instanceof Error ? outcome.reason.message : String(outcome.reason);
              changes.push({ type: 'down', id: peer.id, reason: { type: 'Failed', message: `Unreachable: ${message}` } });
            }
          }
        });
        context.report(changes);
        return peers.length > 0 && reachable.size === 0
          ? { degraded: `None of the ${peers.length} static peers is reachable` }
          : {};
      },
      close: () => {},
      counters: () => ({ staticPeers: peers.length, reachable: reachable.size, checks, failedChecks: failures }),
    };
  });
}
