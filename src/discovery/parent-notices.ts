/**
 * What a supervisor with `notifyParent` tells its parent. The parent keeps
 * its own count of peers from these events, so they must add up to the
 * adapter's table at all times: a peer is announced up once, down once, and
 * an adapter restarted after a crash (which rediscovers its peers from
 * nothing) neither repeats the ones the parent knows nor forgets the ones
 * that went meanwhile.
 */
import { samePeer } from './peers.js';
import type { DiscoveryEvent, DiscoveryParentEvent, HealthStatus, PeerDownReason, PeerInfo } from './types.js';

/** The reason given for a peer the restarted adapter did not find again. */
export const NOT_FOUND_AFTER_RESTART: PeerDownReason = { type: 'Failed', message: 'Not found again after the adapter restarted' };

/** The peers and health the parent has been told of, for one supervisor. */
export class ParentNotices {
  private readonly announced = new Map<string, PeerInfo>();
  private health: HealthStatus | undefined;

  constructor(private readonly name: string) {}

  /** How many peers the parent counts now. */
  get count(): number {
    return this.announced.size;
  }

  /** The notices for one membership event of the adapter; none when the parent already knows. */
  membership(event: DiscoveryEvent): DiscoveryParentEvent[] {
    const { name } = this;
    const known = this.announced.get(event.peer.id);
    if (event.type === 'PeerDown') {
      if (!known) return [];
      this.announced.delete(event.peer.id);
      return [{ type: 'discovery.peerDown', name, peer: event.peer, reason: event.reason }];
    }
    // A restarted adapter reports as new the peers the parent already counts.
    if (known && samePeer(known, event.peer)) return [];
    this.announced.set(event.peer.id, event.peer);
    return known ? [{ type: 'discovery.peerUpdate', name, peer: event.peer, previous: known }] : [{ type: 'discovery.peerUp', name, peer: event.peer }];
  }

  /** The notice for a health the adapter is in; none when it is the one the parent knows. */
  healthChanged(health: HealthStatus): DiscoveryParentEvent[] {
    const told = this.health;
    if (told && told.type === health.type && (told.type === 'Up' || (health.type !== 'Up' && told.reason === health.reason))) return [];
    this.health = health;
    return [{ type: 'discovery.health', name: this.name, health }];
  }

  /**
   * A restarted adapter has had its chance to find the peers again: those
   * the parent counts and the adapter does not know are down, and those it
   * knows and the parent does not are up.
   */
  settled(peers: readonly PeerInfo[]): DiscoveryParentEvent[] {
    const present = new Set(peers.map((peer) => peer.id));
    const notices: DiscoveryParentEvent[] = [];
    for (const [id, peer] of [...this.announced]) {
      if (present.has(id)) continue;
      this.announced.delete(id);
      notices.push({ type: 'discovery.peerDown', name: this.name, peer, reason: NOT_FOUND_AFTER_RESTART });
    }
    for (const peer of peers) notices.push(...this.membership({ type: 'PeerUp', peer }));
    return notices;
  }
}
