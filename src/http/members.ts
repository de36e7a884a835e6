/** The member table as `GET /v1/members` serves it and `distribute members` prints it. */
import type { DiscoveryMetrics, PeerInfo, PeerMetadata, Result } from '../discovery/types.js';

export const MEMBER_STATUSES = ['alive', 'suspect', 'left', 'failed'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** One member: who, where, in what state, with what metadata. */
export interface MemberRow {
  readonly name: string;
  readonly address: string | null;
  readonly status: MemberStatus;
  readonly metadata: PeerMetadata;
  /** `unreachable` while the member answers probes over TCP only (its UDP port blocked?); absent otherwise. */
  readonly udp?: 'unreachable';
}

/**
 * A live peer as a row: `suspect` while the adapter suspects it, else
 * `alive`; flagged when its id is among `udpUnreachable` (`metrics().udpUnreachable`).
 */
export function memberRow(peer: PeerInfo, udpUnreachable: readonly string[] = []): MemberRow {
  const row: MemberRow = { name: peer.id, address: peer.address ?? null, status: peer.status ?? 'alive', metadata: peer.metadata };
  return udpUnreachable.includes(peer.id) ? { ...row, udp: 'unreachable' } : row;
}

/** The ids of the peers the running adapter reaches over TCP only (none where it does not tell). */
export function udpUnreachableOf(metrics: Result<DiscoveryMetrics>): readonly string[] {
  return metrics.ok ? (metrics.value.udpUnreachable ?? []) : [];
}
