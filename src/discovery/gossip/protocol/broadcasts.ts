/**
 * The queue of broadcasts waiting to be piggybacked on packets or gossiped.
 * Each is sent on a limited number of times, scaled with log n, which is
 * enough for an epidemic to reach everyone with high probability; a newer
 * message about a member replaces an older one still queued (the core only
 * queues news it accepted as newer); the least-sent go first, newest first
 * among equals, so fresh news overtakes news already spread.
 */
import { encodeMessage } from '../wire/codec.js';
import type { GossipConfig } from './config.js';
import type { PacketMessage } from '../wire/messages.js';

interface Entry {
  readonly key: string;
  /** Encoded once: its length is what it costs in a packet. */
  readonly bytes: Uint8Array;
  transmits: number;
  /** Insertion order, to break ties in favour of the newest. */
  readonly order: number;
}

/**
 * How many times each broadcast is sent on in a cluster of `n`:
 * `retransmitMult × ceil(log10(n + 1))`.
 *
 * @example
 * retransmitLimit(lanProfile(), 1000); // 6 × 4 = 24
 */
export function retransmitLimit(config: GossipConfig, n: number): number {
  return config.retransmitMult * Math.ceil(Math.log10(Math.max(1, n) + 1));
}

/**
 * Broadcasts keyed by the member they are about.
 *
 * @example
 * const queue = new BroadcastQueue();
 * queue.push('b', { type: 'suspect', name: 'b', incarnation: 1, from: 'a' });
 * queue.take(1400, 3); // [the suspect, encoded]; sent twice more before it is dropped
 */
export class BroadcastQueue {
  private readonly entries = new Map<string, Entry>();
  private order = 0;

  /** Broadcasts queued. */
  get size(): number {
    return this.entries.size;
  }

  /** Queues `msg` under `key` (a member name), replacing whatever was queued for that member. */
  push(key: string, msg: PacketMessage): void {
    this.entries.set(key, { key, bytes: encodeMessage(msg), transmits: 0, order: this.order++ });
  }

  /** Whether a broadcast about `key` is still queued. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** Times the broadcast about `key` has been sent so far, or undefined when none is queued. */
  transmits(key: string): number | undefined {
    return this.entries.get(key)?.transmits;
  }

  /**
   * Counts `times` transmissions of the broadcast about `key` made outside
   * {@link take} (sent at once to a few members); dropped at `limit`.
   */
  sent(key: string, times: number, limit: number): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    entry.transmits += times;
    if (entry.transmits >= limit) this.entries.delete(key);
  }

  /**
   * Takes broadcasts totalling at most `budget` bytes, least-sent (then
   * newest) first, skipping those too large for what is left. Each taken
   * counts one transmission; those sent `limit` times are dropped.
   */
  take(budget: number, limit: number): Uint8Array[] {
    if (this.entries.size === 0 || budget <= 0) return [];
    const sorted = [...this.entries.values()];
    if (sorted.length > 1) sorted.sort((a, b) => a.transmits - b.transmits || b.order - a.order);
    const out: Uint8Array[] = [];
    let left = budget;
    for (const entry of sorted) {
      if (entry.bytes.length > left) continue;
      out.push(entry.bytes);
      left -= entry.bytes.length;
      if (++entry.transmits >= limit) this.entries.delete(entry.key);
      if (left < 8) break;
    }
    return out;
  }
}
