/** Small helpers shared by the tests. */
import type { DiscoveryEvent } from 'distribute/discovery';

export { eventually, sleep } from './wait.js';


/** Collects events a subscriber receives. */
export function collector() {
  const events: DiscoveryEvent[] = [];
  return {
    events,
    callback: (event: DiscoveryEvent) => {
      events.push(event);
    },
    /** `type:peer` strings, e.g. `PeerUp:b`. */
    summary: () => events.map((e) => `${e.type}:${e.peer.id}`),
  };
}

/** Unwraps a `Result`, failing the test with the error when it is not ok. */
export function unwrap<T>(result: { ok: true; value: T } | { ok: false; error: { type: string; message: string } }): T {
  if (!result.ok) throw new Error(`${result.error.type}: ${result.error.message}`);
  return result.value;
}


import { afterEach } from 'vitest';
import { defineAdapter, startLink, type AdapterHandle, type BackendContext, type PeerInfo, type StartOptions, type SyncResult } from 'distribute/discovery';

/**
 * A backend the test drives by hand: it reports what the test tells it to and
 * answers syncs with `nextSync` (a neighbour of the code under test, standing
 * in for a network).
 */
export function controlledAdapter() {
  let context: BackendContext | undefined;
  const control = {
    /** Changes a sync of the machine will see; undefined means "sync succeeds, no list". */
    nextSync: async (): Promise<SyncResult> => ({}),
    syncs: 0,
    left: false,
    closed: false,
    up(...peers: PeerInfo[]) {
      context!.report(peers.map((peer) => ({ type: 'up' as const, peer })));
    },
    down(id: string, reason: { type: 'Left' } | { type: 'Failed'; message: string } = { type: 'Left' }) {
      context!.report([{ type: 'down', id, reason }]);
    },
    lost(message: string) {
      context!.lost(message);
    },
    suspect(id: string, suspect = true) {
      context!.report([{ type: 'suspect', id, suspect }]);
    },
    get started() {
      return context !== undefined;
    },
  };
  const adapter = defineAdapter('controlled', async (ctx) => {
    context = ctx;
    return {
      self: ctx.input.self,
      sync: () => {
        control.syncs++;
        return control.nextSync();
      },
      leave: async () => {
        control.left = true;
      },
      close: () => {
        control.closed = true;
      },
    };
  });
  return { adapter, control };
}

export const peer = (id: string, metadata: Record<string, string> = {}): PeerInfo => ({ id, metadata });

/**
 * A `startLink` for one test file: every adapter it starts is stopped after
 * each test, and a start that fails fails the test.
 */
export function startEach(): (options: StartOptions) => Promise<AdapterHandle> {
  const handles: AdapterHandle[] = [];
  afterEach(async () => {
    await Promise.all(handles.splice(0).map((handle) => handle[Symbol.asyncDispose]()));
  });
  return async (options) => {
    const handle = unwrap(await startLink(options));
    handles.push(handle);
    return handle;
  };
}
