/**
 * Where the gossip protocol's words end: the core's member events (`join`,
 * `update`, `leave`, `fail`, `conflict`) and suspicions become the backend's
 * membership changes (`up`, `down` with `Left` or `Failed`, `suspect`), and
 * its health a sync result. The one translation of SWIM's terms; nothing
 * past this file sees them (see docs/glossary.md).
 */
import type { MembershipChange, SyncResult } from '../kit/backend.js';
import type { Effects, MemberEvent, MemberState } from '../gossip/protocol/core.js';
import type { PeerInfo } from '../types.js';

function toPeer(member: MemberState): PeerInfo {
  return { id: member.id, address: member.address, metadata: member.metadata };
}

function toChange(event: Exclude<MemberEvent, { type: 'conflict' }>): MembershipChange {
  switch (event.type) {
    case 'join':
    case 'update':
      return { type: 'up', peer: toPeer(event.member) };
    case 'leave':
      return { type: 'down', id: event.member.id, reason: { type: 'Left' } };
    case 'fail':
      return {
        type: 'down',
        id: event.member.id,
        reason: { type: 'Failed', message: 'Stopped answering probes and was declared dead' },
      };
  }
}

/**
 * The core's events and suspicions as the machine's membership changes, in
 * order; `onConflict` hears of two live members claiming one id (no change).
 */
export function memberChanges(
  events: readonly MemberEvent[],
  suspicion: Effects['suspicion'],
  onConflict: (event: Extract<MemberEvent, { type: 'conflict' }>) => void,
): MembershipChange[] {
  const changes: MembershipChange[] = [];
  for (const event of events) {
    if (event.type === 'conflict') onConflict(event);
    else changes.push(toChange(event));
  }
  for (const { id, suspect } of suspicion) changes.push({ type: 'suspect', id, suspect });
  return changes;
}

/** A gossip member's health as a sync result: Degraded while no seed answered, or while most probes fail. */
export function memberHealth(state: { readonly joined: boolean; readonly recentProbeFailureRatio: number }, seedPeers: readonly string[]): SyncResult {
  if (!state.joined && seedPeers.length > 0) return { degraded: `No seed reachable yet (${seedPeers.join(', ')})` };
  if (state.recentProbeFailureRatio > 0.5) {
    return { degraded: `Most probes fail (${Math.round(state.recentProbeFailureRatio * 100)}% recently)` };
  }
  return {};
}
