/**
 * Key ownership by rendezvous (highest-random-weight) hashing: every member
 * scores every key with a hash of the two, and the key belongs to the
 * highest score. Every member that holds the same view of the cluster gets
 * the same answer without talking to the others; when a member goes, only
 * its keys move (each to its own runner-up), and a member that comes takes
 * about 1/N of the keys from the others.
 *
 * A view is built once per membership change (the per-member hash seeds are
 * computed then), so a lookup is one hash of the key and a few integer
 * multiplications per member.
 *
 * @module
 */
import type { PeerInfo } from './types.js';

/**
 * The metadata key of a member's weight in `owner`/`owners`: a positive
 * decimal number (`"2"` takes about twice the keys of `"1"`); `"0"` takes
 * keys only when every member has weight 0 (a member being drained). Missing
 * or not a number: 1.
 */
export const OWNER_WEIGHT_KEY = 'distribute.weight';

/** The members of one view, ready to rank keys. */
export interface OwnershipView {
  readonly members: readonly PeerInfo[];
  /** Two 32-bit hash seeds per member, from its id. */
  readonly seedA: Uint32Array;
  readonly seedB: Uint32Array;
  /** Per-member weights; undefined when every member weighs 1 (the fast path). */
  readonly weights: Float64Array | undefined;
}

/** A 32-bit avalanche of a 32-bit value (every input bit flips each output bit with probability about 1/2). */
function avalanche(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A 32-bit hash of a string's UTF-16 code units, two at a time, under `seed`. */
export function hashText(text: string, seed: number): number {
  let h = seed ^ Math.imul(text.length, 0x9e3779b1);
  const pairs = text.length & ~1;
  for (let i = 0; i < pairs; i += 2) {
    const word = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    h = Math.imul(h ^ avalanche(word), 0x01000193) + 0x6b43a9b5;
  }
  if (pairs < text.length) h = Math.imul(h ^ avalanche(text.charCodeAt(pairs)), 0x01000193);
  return avalanche(h);
}

const SEED_MEMBER_A = 0x2c1b3c6d;
const SEED_MEMBER_B = 0x297a2d39;
const SEED_KEY_A = 0x6a09e667;
const SEED_KEY_B = 0xbb67ae85;
const TWO_POW_21 = 2 ** 21;
/** Up to this many owners asked for, keep them by insertion; past it, sort every member. */
const INSERTION_LIMIT = 32;
const TWO_POW_32 = 2 ** 32;
const TWO_POW_53 = 2 ** 53;

/** A member's weight from its metadata; see {@link OWNER_WEIGHT_KEY}. */
export function weightOf(peer: PeerInfo): number {
  const raw = peer.metadata[OWNER_WEIGHT_KEY];
  if (raw === undefined) return 1;
  const weight = Number(raw);
  return raw.trim() !== '' && Number.isFinite(weight) && weight >= 0 ? weight : 1;
}

/** Prepares a view of `members` (self included) for lookups. */
export function ownershipView(members: readonly PeerInfo[]): OwnershipView {
  const n = members.length;
  const seedA = new Uint32Array(n);
  const seedB = new Uint32Array(n);
  let weights: Float64Array | undefined;
  for (let i = 0; i < n; i++) {
    const member = members[i]!;
    seedA[i] = hashText(member.id, SEED_MEMBER_A);
    seedB[i] = hashText(member.id, SEED_MEMBER_B);
    const weight = weightOf(member);
    if (weight !== 1 && !weights) weights = new Float64Array(n).fill(1);
    if (weights) weights[i] = weight;
  }
  return { members, seedA, seedB, weights };
}

/** The high 32 bits of member `i`'s score for the key hash `ka`. */
function highBits(view: OwnershipView, i: number, ka: number): number {
  return avalanche(view.seedA[i]! ^ ka);
}

/**
 * The 53-bit score of member `i` whose high bits are `hi`: uniform in
 * [0, 2^53), independent across members and keys.
 */
function score(view: OwnershipView, i: number, hi: number, kb: number): number {
  const lo = avalanche((view.seedB[i]! ^ kb) + hi);
  return hi * TWO_POW_21 + (lo >>> 11);
}

/**
 * Weighted rendezvous: `-w / ln(u)` for the member's uniform `u` in (0, 1),
 * so a member of weight w wins a share of keys proportional to w.
 */
function weighted(raw: number, weight: number): number {
  return weight === 0 ? 0 : -weight / Math.log((raw + 0.5) / TWO_POW_53);
}

/** Whether member `i` (weighted score `wi`, raw `ri`) ranks before member `j`. */
function ranksBefore(view: OwnershipView, wi: number, ri: number, i: number, wj: number, rj: number, j: number): boolean {
  if (wi !== wj) return wi > wj;
  if (ri !== rj) return ri > rj;
  // Equal scores are all but impossible; the ids still decide, the same way everywhere.
  return view.members[i]!.id < view.members[j]!.id;
}

/**
 * Whether a member of `weight` whose score's high bits are `hi` surely ranks
 * below a weighted score of `last`, so the rest of its hash and the
 * logarithm can be skipped: its weighted score is at most
 * `w / (1 − (hi + 1) / 2^32)`, since `u < (hi + 1) / 2^32` and `−ln u ≥ 1 − u`.
 */
function surelyBelow(weight: number, hi: number, last: number): boolean {
  if (weight === 0) return last > 0;
  const room = 1 - (hi + 1) / TWO_POW_32;
  return room > 0 && weight / room < last;
}

/** The best `want` members so far, best first, kept by insertion (`want` is small: an owner and a few replicas). */
class Top {
  readonly index: number[] = [];
  readonly weighted: number[] = [];
  readonly raw: number[] = [];

  constructor(
    private readonly view: OwnershipView,
    readonly want: number,
  ) {}

  get full(): boolean {
    return this.index.length === this.want;
  }

  /** Keeps member `i` if it ranks among the best. */
  offer(i: number, w: number, r: number): void {
    const last = this.index.length - 1;
    if (this.full && !ranksBefore(this.view, w, r, i, this.weighted[last]!, this.raw[last]!, this.index[last]!)) return;
    let at = this.full ? last : this.index.length;
    while (at > 0 && ranksBefore(this.view, w, r, i, this.weighted[at - 1]!, this.raw[at - 1]!, this.index[at - 1]!)) {
      this.index[at] = this.index[at - 1]!;
      this.weighted[at] = this.weighted[at - 1]!;
      this.raw[at] = this.raw[at - 1]!;
      at--;
    }
    this.index[at] = i;
    this.weighted[at] = w;
    this.raw[at] = r;
  }
}

/**
 * The `n` members that rank highest for `key`, best first (all of them,
 * ranked, when there are fewer than `n`).
 *
 * @example
 * ```ts
 * const view = ownershipView([{ id: 'a', metadata: {} }, { id: 'b', metadata: {} }]);
 * rank(view, 'user:42', 1)[0]!.id; // 'a' or 'b', the same on every member with this view
 * ```
 */
export function rank(view: OwnershipView, key: string, n: number): PeerInfo[] {
  const count = view.members.length;
  if (count === 0 || n <= 0) return [];
  const ka = hashText(key, SEED_KEY_A);
  const kb = hashText(key, SEED_KEY_B);
  const want = Math.min(n, count);
  if (want > INSERTION_LIMIT) return rankAll(view, ka, kb).slice(0, want);
  const top = new Top(view, want);
  if (view.weights) offerWeighted(view, view.weights, top, ka, kb);
  else offerUniform(view, top, ka, kb);
  return top.index.map((i) => view.members[i]!);
}

/** Offers every member, all of weight 1: one whose high 32 bits fall below the last kept one's cannot rank. */
function offerUniform(view: OwnershipView, top: Top, ka: number, kb: number): void {
  const last = top.want - 1;
  let cut = -1;
  for (let i = 0; i < view.members.length; i++) {
    const hi = highBits(view, i, ka);
    if (hi < cut) continue;
    const r = score(view, i, hi, kb);
    top.offer(i, r, r);
    if (top.full) cut = Math.floor(top.raw[last]! / TWO_POW_21);
  }
}

/** Offers every member by weighted score, skipping those bounded below the last kept. */
function offerWeighted(view: OwnershipView, weights: Float64Array, top: Top, ka: number, kb: number): void {
  const last = top.want - 1;
  for (let i = 0; i < view.members.length; i++) {
    const hi = highBits(view, i, ka);
    const weight = weights[i]!;
    if (top.full && surelyBelow(weight, hi, top.weighted[last]!)) continue;
    const r = score(view, i, hi, kb);
    top.offer(i, weighted(r, weight), r);
  }
}

/** Every member ranked for the key hashes `ka`, `kb`, best first. */
function rankAll(view: OwnershipView, ka: number, kb: number): PeerInfo[] {
  const count = view.members.length;
  const raw = new Float64Array(count);
  const ranked = new Float64Array(count);
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < count; i++) {
    raw[i] = score(view, i, highBits(view, i, ka), kb);
    ranked[i] = view.weights ? weighted(raw[i]!, view.weights[i]!) : raw[i]!;
  }
  order.sort((i, j) => (ranksBefore(view, ranked[i]!, raw[i]!, i, ranked[j]!, raw[j]!, j) ? -1 : 1));
  return order.map((i) => view.members[i]!);
}
