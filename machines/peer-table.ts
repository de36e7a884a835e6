/**
 * The peer table kept in the adapter's context: an immutable map from peer id
 * to `PeerInfo`, split into buckets so that one change copies one bucket, not
 * the whole table. It is plain data (arrays and objects), so the inspector
 * shows it as it is.
 */
import type { PeerInfo } from '../src/discovery/types.js';

/** Buckets are plain objects keyed by peer id. */
export interface PeerTable {
  readonly size: number;
  readonly buckets: readonly Readonly<Record<string, PeerInfo>>[];
}

// 64 buckets: a change at 10,000 peers copies ~160 entries and a 64-slot array.
const BUCKETS = 64;
const EMPTY_BUCKET: Readonly<Record<string, PeerInfo>> = Object.freeze({});

/** A table with no peers. */
export const emptyTable: PeerTable = { size: 0, buckets: new Array(BUCKETS).fill(EMPTY_BUCKET) };

function bucketOf(id: string): number {
  // FNV-1a, folded to the bucket count.
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % BUCKETS;
}

const has = Object.prototype.hasOwnProperty;

/** The peer with this id, or undefined. Constant time. */
export function getPeer(table: PeerTable, id: string): PeerInfo | undefined {
  const bucket = table.buckets[bucketOf(id)]!;
  return has.call(bucket, id) ? bucket[id] : undefined;
}

/** A table with `peer` added or replaced. */
export function setPeer(table: PeerTable, peer: PeerInfo): PeerTable {
  const index = bucketOf(peer.id);
  const bucket = table.buckets[index]!;
  const added = has.call(bucket, peer.id) ? 0 : 1;
  const buckets = table.buckets.slice();
  buckets[index] = { ...bucket, [peer.id]: peer };
  return { size: table.size + added, buckets };
}

/** A table without the peer `id` (the same table when it is absent). */
export function removePeer(table: PeerTable, id: string): PeerTable {
  const index = bucketOf(id);
  const bucket = table.buckets[index]!;
  if (!has.call(bucket, id)) return table;
  const { [id]: _removed, ...rest } = bucket;
  const buckets = table.buckets.slice();
  buckets[index] = rest;
  return { size: table.size - 1, buckets };
}

/** Every peer, as a new array the caller owns. */
export function listPeers(table: PeerTable): PeerInfo[] {
  const out: PeerInfo[] = new Array(table.size);
  let i = 0;
  for (const bucket of table.buckets) {
    for (const id in bucket) out[i++] = bucket[id]!;
  }
  return out;
}

export { samePeer } from '../src/discovery/peers.js';
