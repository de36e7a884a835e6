/** The member table as `GET /v1/members` serves it and `distribute members` prints it. */
import type { PeerInfo, PeerMetadata } from '../discovery/types.js';

export const MEMBER_STATUSES = ['alive', 'suspect', 'left', 'failed'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** One member: who, where, in what state, with what metadata. */
export interface MemberRow {
  readonly name: string;
  readonly address: string | null;
  readonly status: MemberStatus;
  readonly metadata: PeerMetadata;
}

/** A live peer as a row: `suspect` while the adapter suspects it, else `alive`. */
export function memberRow(peer: PeerInfo): MemberRow {
  return { name: peer.id, address: peer.address ?? null, status: peer.status ?? 'alive', metadata: peer.metadata };
}
