/** The simulator's agenda: jobs ordered by simulated time, then by the order they were scheduled. */
export interface Scheduled<T> {
  readonly at: number;
  readonly order: number;
  readonly job: T;
}

const before = <T>(a: Scheduled<T>, b: Scheduled<T>) => a.at < b.at || (a.at === b.at && a.order < b.order);

/** A binary min-heap on (time, insertion order), so equal times run in the order scheduled. */
export class EventQueue<T> {
  private readonly items: Scheduled<T>[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Scheduled<T> | undefined {
    return this.items[0];
  }

  push(item: Scheduled<T>): void {
    const items = this.items;
    let i = items.length;
    items.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(items[parent]!, item)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Scheduled<T> | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      const child = r < items.length && before(items[r]!, items[l]!) ? r : l;
      if (!before(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
