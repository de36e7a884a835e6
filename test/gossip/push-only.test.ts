/**
 * The gossip backend is push-style: membership reaches the machine only
 * through `report`, and its sync carries health alone (no `peers`), so a
 * sync can never overwrite what was pushed. The machine is replaced here by
 * a recording context (its neighbour); members run over a MemoryNetwork.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { BackendContext, MembershipChange } from '../../src/discovery/kit/backend.js';
import { MemoryNetwork } from '../../src/discovery/gossip/net/memory-transport.js';
import { startGossip } from '../../src/discovery/adapters/gossip.js';
import { eventually } from '../support/index.js';

const quiet = { debug() {}, warn() {}, error() {} };
const started: { close(): void | Promise<void> }[] = [];
afterEach(async () => {
  for (const backend of started.splice(0)) await backend.close();
});

async function member(network: MemoryNetwork, id: string, seeds: string[] = []) {
  const changes: MembershipChange[] = [];
  const context: BackendContext = {
    input: { name: `push-${id}`, self: { id, metadata: {} }, seedPeers: seeds, syncTimeoutMs: 1000, stopTimeoutMs: 1000, custom: {} },
    report: (batch) => changes.push(...batch),
    lost: (message) => {
      throw new Error(`unexpected loss: ${message}`);
    },
    interrupted: (message) => {
      throw new Error(`unexpected interruption: ${message}`);
    },
    log: quiet,
  };
  const backend = await startGossip(context, { profile: 'local' }, network.opener());
  started.push(backend);
  return { backend, changes };
}

describe('the gossip backend reports changes only', () => {
  it('pushes up, metadata updates and down; its sync never lists peers', async () => {
    const network = new MemoryNetwork();
    const a = await member(network, 'a');
    const b = await member(network, 'b', [a.backend.self.address!]);
    await eventually(() => a.changes.some((c) => c.type === 'up' && c.peer.id === 'b'), 3000, 'a to be told b is up');
    expect(await a.backend.sync()).toEqual({});
    expect(await b.backend.sync()).not.toHaveProperty('peers');

    b.backend.setMetadata({ role: 'db' });
    await eventually(() => a.changes.some((c) => c.type === 'up' && c.peer.metadata.role === 'db'), 3000, 'the new metadata pushed to a');

    await b.backend.leave(AbortSignal.timeout(1000));
    await eventually(() => a.changes.some((c) => c.type === 'down' && c.id === 'b' && c.reason.type === 'Left'), 3000, 'b to be down (left) at a');
    expect(await a.backend.sync()).toEqual({});
  });
});
