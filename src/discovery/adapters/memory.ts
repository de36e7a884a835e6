/**
 * The `memory` adapter: adapters in one process find each other through a
 * named in-process group. A test suite runs a whole cluster with no network;
 * leaving, crashing and metadata changes behave as they do over a network.
 */
import { defineAdapter } from '../kit/adapter.js';
import type { Adapter, BackendContext } from '../kit/backend.js';
import type { PeerInfo } from '../types.js';

interface Member {
  info: PeerInfo;
  readonly context: BackendContext;
}

const groups = new Map<string, Map<string, Member>>();

/** Options of the memory adapter. */
export interface MemoryAdapterOptions {
  /** The group to join; adapters in the same group see each other. Default `default`. */
  readonly group?: string;
}

function others(group: Map<string, Member>, selfId: string): PeerInfo[] {
  const peers: PeerInfo[] = [];
  for (const [id, member] of group) if (id !== selfId) peers.push(member.info);
  return peers;
}

/**
 * An adapter whose members live in this process.
 *
 * @example
 * ```ts
 * const a = await startLink({ name: 'a', nodeId: 'a', adapter: memoryAdapter({ group: 'demo' }) });
 * const b = await startLink({ name: 'b', nodeId: 'b', adapter: memoryAdapter({ group: 'demo' }) });
 * ```
 */
export function memoryAdapter(options: MemoryAdapterOptions = {}): Adapter {
  const groupName = options.group ?? 'default';
  return defineAdapter('memory', async (context) => {
    const self = context.input.self;
    let group = groups.get(groupName);
    if (!group) {
      group = new Map();
      groups.set(groupName, group);
    }
    if (group.has(self.id)) {
      throw new Error(`Node id ${JSON.stringify(self.id)} is already a member of memory group ${JSON.stringify(groupName)}`);
    }
    const members = group;
    const me: Member = { info: { id: self.id, metadata: self.metadata, address: `memory://${groupName}/${self.id}` }, context };
    members.set(self.id, me);
    for (const member of members.values()) {
      if (member !== me) member.context.report([{ type: 'up', peer: me.info }]);
    }
    context.report(others(members, self.id).map((peer) => ({ type: 'up', peer })));

    const depart = (reason: { type: 'Left' } | { type: 'Failed'; message: string }) => {
      if (members.get(self.id) !== me) return;
      members.delete(self.id);
      if (members.size === 0) groups.delete(groupName);
      for (const member of members.values()) member.context.report([{ type: 'down', id: self.id, reason }]);
    };

    return {
      self: me.info,
      // Push-style: every change is reported as it happens, so a sync has no list to add.
      sync: async () => ({}),
      setMetadata: (metadata) => {
        // A member that has left stays gone: late metadata must not bring it back.
        if (members.get(self.id) !== me) return;
        me.info = { ...me.info, metadata };
        for (const member of members.values()) {
          if (member !== me) member.context.report([{ type: 'up', peer: me.info }]);
        }
      },
      leave: async () => depart({ type: 'Left' }),
      close: () => depart({ type: 'Failed', message: 'Stopped without leaving' }),
      counters: () => ({ groupSize: members.size }),
    };
  });
}
