/**
 * owner() and owners() at 1,000 members: lookups per second through the
 * facade and of the ranking alone, the cost of rebuilding the view after a
 * membership change, and, for scale, the same ranking with a SHA-256 per
 * member per lookup (what the precomputed seeds and the integer hash avoid).
 *
 *   node --import tsx bench/ownership.ts      (writes bench/results/ownership.json)
 */
import { createHash } from 'node:crypto';
import { OWNER_WEIGHT_KEY, ownershipView, rank } from '../src/discovery/ownership.js';
import type { PeerInfo } from '../src/discovery.js';
import { makePeer, median, round, timeEach, withPeers, writeResults } from './support.js';

const MEMBERS = 1000;
const BATCH = 10_000;
const RUNS = 15;

/** Lookups per second of `lookup` over `BATCH` distinct keys, median of `RUNS` runs. */
function lookupsPerSecond(lookup: (key: string) => unknown, batch = BATCH): number {
  const keys = Array.from({ length: batch }, (_, i) => `user:${i}`);
  const runs = timeEach(() => {
    for (const key of keys) lookup(key);
  }, RUNS, 3);
  return Math.round(batch / (median(runs) / 1000));
}

/** Rendezvous with a SHA-256 of (member, key) per member per lookup, for comparison. */
function sha256Owner(members: readonly PeerInfo[], key: string): PeerInfo {
  let best = members[0]!;
  let bestScore = -1;
  for (const member of members) {
    const score = createHash('sha256').update(member.id).update('\0').update(key).digest().readUIntBE(0, 6);
    if (score > bestScore) {
      bestScore = score;
      best = member;
    }
  }
  return best;
}

async function main() {
  const { facade, report } = await withPeers(MEMBERS - 1);
  const self = facade.self();
  if (!self.ok) throw new Error(self.error.message);
  const members = [self.value, ...(facade.snapshot() as { value: PeerInfo[] }).value];
  if (members.length !== MEMBERS) throw new Error('table not filled');
  const view = ownershipView(members);
  const weightedView = ownershipView(members.map((m, i) => ({ ...m, metadata: { ...m.metadata, [OWNER_WEIGHT_KEY]: String(1 + (i % 3)) } })));
  const lookups = {
    'owner() through the facade, lookups/s': (key: string) => facade.owner(key),
    'owners(key, 3) through the facade, lookups/s': (key: string) => facade.owners(key, 3),
    'rank(view, key, 1) alone, lookups/s': (key: string) => rank(view, key, 1),
    'rank(view, key, 1) with weights 1-3 from metadata, lookups/s': (key: string) => rank(weightedView, key, 1),
  };
  // Every path compiled before any is timed, so the first measured pays no warm-up.
  for (const lookup of Object.values(lookups)) lookupsPerSecond(lookup);

  const figures: Record<string, unknown> = {
    members: MEMBERS,
    ...Object.fromEntries(Object.entries(lookups).map(([what, lookup]) => [what, lookupsPerSecond(lookup)])),
    'SHA-256 per member per lookup, lookups/s': lookupsPerSecond((key) => sha256Owner(members, key), 200),
  };
  figures['speed-up over SHA-256 per member'] = round(
    (figures['owner() through the facade, lookups/s'] as number) / (figures['SHA-256 per member per lookup, lookups/s'] as number),
    3,
  );

  // A membership change makes a new table; the first lookup after it rebuilds the view.
  let version = 1;
  const rebuild = timeEach(() => {
    report([{ type: 'up', peer: makePeer(version % (MEMBERS - 1), version++) }]);
    facade.owner('after-change');
  }, 300, 30);
  figures['first owner() after a change (view rebuild), median ms'] = round(median(rebuild));

  await facade.stop();
  const file = writeResults('ownership', 'node --import tsx bench/ownership.ts', figures);
  console.table(figures);
  console.log(`written to ${file}`);
}

await main();
