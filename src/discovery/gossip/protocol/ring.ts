/** Whom each member watches over TCP: the next few alive members after it in id order, so every process is watched by the few before it. */
import type { Effects, MemberRecord, Core } from './state.js';

/** Chooses again whom to watch after membership changed; says so only when the choice moved. */
export function rewatch(core: Core, fx: Effects): void {
  const next = watchTargets(core);
  const same = next.length === core.watching.length && next.every((address, i) => address === core.watching[i]);
  if (same) return;
  core.watching = next;
  fx.watch = next;
}

/**
 * The addresses of the next `watchPeers` alive members after this one in id
 * order, wrapping around: every process is then watched by the few before
 * it. One pass over the table, keeping the few smallest ids on each side.
 */
export function watchTargets(core: Core): string[] {
  const k = core.config.watchPeers;
  if (k === 0) return [];
  const selfId = core.self.id;
  const after: MemberRecord[] = [];
  const upTo: MemberRecord[] = [];
  for (const m of core.members.values()) {
    if (m === core.self || m.status !== 'alive') continue;
    keepSmallest(m.id > selfId ? after : upTo, m, k);
  }
  return [...after, ...upTo].slice(0, k).map((m) => m.address);
}

/** Inserts `m` into `list` (sorted by id) and keeps only its `k` smallest. */
function keepSmallest(list: MemberRecord[], m: MemberRecord, k: number): void {
  if (list.length === k && list[k - 1]!.id < m.id) return;
  let i = list.length;
  list.push(m);
  while (i > 0 && list[i - 1]!.id > m.id) {
    list[i] = list[i - 1]!;
    i--;
  }
  list[i] = m;
  if (list.length > k) list.length = k;
}
