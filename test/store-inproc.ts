/** Store adapter members in the test's own process, each under its own registered name. */
import { bind, defaultAdapterName, startLink, type Adapter, type AdapterHandle, type DiscoveryMetrics } from 'distribute/discovery';
import { collector, eventually, unwrap } from './support/index.js';

const handles: AdapterHandle[] = [];
let count = 0;

/** Starts a member; `cluster` is the default one, so child-process members (test/fixtures/store-member.mjs) share it. */
export async function inProcessMember(id: string, adapter: (cluster: string) => Adapter, syncIntervalMs = 500) {
  const name = `inproc-${id}-${++count}`;
  const handle = unwrap(await startLink({ name, nodeId: id, adapter: adapter(defaultAdapterName), syncIntervalMs, retryConfig: { maxDelayMs: 500 } }));
  handles.push(handle);
  const facade = bind({ name });
  const events = collector();
  unwrap(facade.subscribe(events.callback, { replay: true }));
  return {
    handle,
    facade,
    events,
    /** Backend counters as of a sync run now (they travel with sync results). */
    backend: async (): Promise<DiscoveryMetrics['backend']> => {
      const before = unwrap(facade.metrics()).syncCount;
      handle.actor.send({ type: 'sync' });
      await eventually(() => unwrap(facade.metrics()).syncCount > before, 5000, `${id}: a sync`);
      return unwrap(facade.metrics()).backend;
    },
    peers: () => unwrap(facade.snapshot()).map((p) => p.id).sort(),
  };
}

/** Stops every in-process member still running (for afterEach). */
export async function stopInProcess(): Promise<void> {
  await Promise.all(handles.splice(0).map((h) => h.stop()));
}
