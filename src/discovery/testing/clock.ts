/**
 * XState's `SimulatedClock`, telling when its next timer is due, so a
 * simulated network can run its own events and the actors' delayed events
 * on one timeline, in time order. Move it only through the network's
 * `advance()`: set on its own, it would run ahead of the network.
 */
import { SimulatedClock } from 'xstate';

export class NetworkClock extends SimulatedClock {
  /** When each pending timer is due, by id. */
  private readonly due = new Map<number, number>();

  override setTimeout(fn: (...args: any[]) => void, timeout: number): number {
    const id: number = super.setTimeout(() => {
      this.due.delete(id);
      fn();
    }, timeout);
    this.due.set(id, this.now() + timeout);
    return id;
  }

  override clearTimeout(id: number): void {
    this.due.delete(id);
    super.clearTimeout(id);
  }

  /** When the earliest pending timer is due; `Infinity` when none is. */
  nextAt(): number {
    let next = Number.POSITIVE_INFINITY;
    for (const at of this.due.values()) if (at < next) next = at;
    return next;
  }
}
