/** The member table: who, where, in what state, with what metadata. */
import type { DiscoveryEvent, PeerInfo } from '../discovery.js';
import { memberRow, type MemberRow } from '../http/members.js';

export { MEMBER_STATUSES, type MemberRow, type MemberStatus } from '../http/members.js';

/** The metadata role of the short-lived observer `members --join` runs. */
export const OBSERVER_ROLE = 'observer';

// Departed members are remembered, newest last, up to this many.
const MAX_DEPARTED = 1000;

/** Keeps the departed members an agent has seen, beside the live ones the adapter knows. */
export class MemberTable {
  private readonly departed = new Map<string, MemberRow>();

  record(event: DiscoveryEvent): void {
    // A `members --join` observer comes and goes by design; it leaves no row behind.
    if (event.type === 'PeerDown' && event.peer.metadata.role === OBSERVER_ROLE) {
      this.departed.delete(event.peer.id);
      return;
    }
    if (event.type === 'PeerDown') {
      this.departed.delete(event.peer.id);
      this.departed.set(event.peer.id, {
        ...memberRow(event.peer),
        status: event.reason.type === 'Left' ? 'left' : 'failed',
      });
      if (this.departed.size > MAX_DEPARTED) this.departed.delete(this.departed.keys().next().value!);
    } else {
      this.departed.delete(event.peer.id);
    }
  }

  /** Self first (when given), then live peers (those in `udpUnreachable` flagged), then departed ones, each sorted by name. */
  rows(self: PeerInfo | undefined, live: readonly PeerInfo[], udpUnreachable: readonly string[] = []): MemberRow[] {
    const byName = (a: MemberRow, b: MemberRow) => a.name.localeCompare(b.name);
    const alive = live.map((peer) => memberRow(peer, udpUnreachable)).sort(byName);
    return [...(self ? [memberRow(self)] : []), ...alive, ...[...this.departed.values()].sort(byName)];
  }
}

/** What `members` shows: names, states and metadata values matching these (absent: any). */
export interface RowFilter {
  readonly name?: RegExp | undefined;
  readonly status?: RegExp | undefined;
  readonly meta?: Readonly<Record<string, RegExp>>;
}

/** Keeps rows whose name, status and every given metadata value match. */
export function filterRows(rows: readonly MemberRow[], filter: RowFilter): MemberRow[] {
  return rows.filter(
    (r) =>
      (filter.name === undefined || filter.name.test(r.name)) &&
      (filter.status === undefined || filter.status.test(r.status)) &&
      Object.entries(filter.meta ?? {}).every(([k, v]) => r.metadata[k] !== undefined && v.test(r.metadata[k]!)),
  );
}

/** A plain aligned table, as `serf members` prints one. */
export function formatTable(rows: readonly MemberRow[]): string {
  const cells = [
    ['NAME', 'ADDRESS', 'STATUS', 'METADATA'],
    ...rows.map((r) => [
      r.name,
      r.address ?? '-',
      r.udp === 'unreachable' ? `${r.status} (udp unreachable)` : r.status,
      Object.entries(r.metadata)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    ]),
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) => c.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ').trimEnd()).join('\n');
}
