/**
 * The queue of broadcasts waiting to be piggybacked on packets. Each is sent
 * on a limited number of times (scaled with log n); a newer message about a
 * member replaces an older one still queued; the least-sent go first.
 */
import { encodeMessage } from './codec.js';
import type { PacketMessage } from './messages.js';

interface Entry {
  readonly key: string;
  readonly bytes: Uint8Array;
  transmits: number;
  /** Insertion order, to break ties in favour of the newest. */
  readonly order: number;
}

export class BroadcastQueue {
  private readonly entries = new Map<string, Entry>();
  private order = 0;

  get size(): number {
    return this.entries.size;
  }

  /** Queues `msg` under `key` (a member name), replacing what was queued for it. */
  push(key: string, msg: PacketMessage): void {
    this.entries.set(key, { key, bytes: encodeMessage(msg), transmits: 0, order: this.order++ });
  }

  /** Whether a broadcast about `key` is still queued. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Takes up to `budget` bytes of broadcasts, least-sent (then newest) first,
   * counting a transmission for each and dropping those sent `limit` times.
   */
  take(budget: number, limit: number): Uint8Array[] {
    if (this.entries.size === 0 || budget <= 0) return [];
    const sorted = [...this.entries.values()].sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: Uint8Array[] = [];
    let used = 0;
    for (const entry of sorted) {
      if (used + entry.bytes.length > budget) continue;
      out.push(entry.bytes);
      used += entry.bytes.length;
      if (++entry.transmits >= limit) this.entries.delete(entry.key);
    }
    return out;
  }
}
