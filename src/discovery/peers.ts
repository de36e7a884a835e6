/** Comparing peers: the one test of whether a change is one a subscriber would see. */
import type { PeerInfo, PeerMetadata } from './types.js';

/** Whether two metadata maps hold the same keys with the same values. */
export function sameMetadata(a: PeerMetadata, b: PeerMetadata): boolean {
  if (a === b) return true;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** Whether two views of a peer differ in nothing a subscriber sees (id, address, metadata). */
export function samePeer(a: PeerInfo, b: PeerInfo): boolean {
  return a.id === b.id && a.address === b.address && sameMetadata(a.metadata, b.metadata);
}
