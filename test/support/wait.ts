/** Waiting in tests and benchmarks: for a condition, or for a while. */

/**
 * Polls `check` (which may answer with a promise) every `intervalMs` until it
 * holds, or fails naming `what` after `timeoutMs`.
 */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition', intervalMs = 5): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits on a source that is pushed to (lines of a process, events of a
 * stream): `until(poll)` settles when `poll` answers a value (or throws), and
 * is asked again at each `wake()`; it fails after `timeoutMs` with
 * "timed out waiting for " and what `describe` says then.
 */
export function pushedWaits() {
  const pending = new Set<() => void>();
  return {
    wake(): void {
      for (const check of pending) check();
    },
    until<T>(poll: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          pending.delete(check);
        };
        const check = () => {
          try {
            const value = poll();
            if (value === undefined) return;
            done();
            resolve(value);
          } catch (error) {
            done();
            reject(error as Error);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for ${describe()}`));
        }, timeoutMs);
        pending.add(check);
        check();
      });
    },
  };
}
