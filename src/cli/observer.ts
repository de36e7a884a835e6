/**
 * `distribute members --join`: join the cluster as a short-lived observer,
 * read the member table, leave. The observer shows up to the others as a
 * member with `role=observer` that leaves at once.
 */
import * as discovery from '../discovery.js';
import { gossipAdapter } from '../discovery.js';
import { failure } from './errors.js';
import { MemberTable, OBSERVER_ROLE, type MemberRow } from './members.js';
import { createOutput, type LogLevel } from './output.js';

const OBSERVER = 'distribute_members_observer';

const isLoopback = (address: string) => /^(127\.|\[::1\]|localhost:)/.test(address);

export async function observeMembers(
  seeds: readonly string[],
  level: LogLevel,
  gossip: { secretKeys?: readonly string[]; label?: string; dnsServers?: readonly string[] } = {},
  timeoutMs = 5000,
): Promise<MemberRow[]> {
  const { log } = createOutput({ json: true, level });
  const observer = discovery.bind({ name: OBSERVER });
  const started = await discovery.startLink({
    name: OBSERVER,
    nodeId: `observer-${process.pid}-${Date.now().toString(36)}`,
    metadata: { role: OBSERVER_ROLE },
    seedPeers: seeds,
    // Seeds on loopback: stay on loopback; otherwise listen where the cluster can answer.
    adapter: gossipAdapter({ bind: { host: seeds.every(isLoopback) ? '127.0.0.1' : '0.0.0.0', port: 0 }, profile: 'local', ...gossip }),
    logger: log,
  });
  if (!started.ok) throw failure(started.error.message);
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const peers = observer.snapshot();
      if (peers.ok && peers.value.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const peers = observer.snapshot();
    if (!peers.ok || peers.value.length === 0) {
      throw failure(`cannot reach any seed (${seeds.join(', ')}) within ${timeoutMs} ms`);
    }
    // The join's push-pull brought the whole table; the observer itself is not listed.
    return new MemberTable().rows(undefined, peers.value);
  } finally {
    await observer.stop();
  }
}
