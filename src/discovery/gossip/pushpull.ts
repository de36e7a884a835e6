/** Push-pull: the full state exchange over TCP, and merging a table received. */
import { onAlive, onSuspect, onDead, plausible } from './membership.js';
import type { Alive, MemberState, PushPull } from './messages.js';
import { randomMembers } from './dissemination.js';
import { isLive, type Effects, type Core } from './state.js';

export function pushPullMessage(core: Core, join: boolean): PushPull {
  // Records are immutable and hold the MemberState fields; the codec reads only those.
  return withSelf(core, { type: 'pushPull', join, from: core.self.id, members: [...core.members.values()] });
}

/**
 * The answer to a join: the whole table, or beyond `joinReplyMembers` this
 * node and a random sample of the live members (see the config field).
 */
export function joinReplyMessage(core: Core): PushPull {
  const limit = core.config.joinReplyMembers;
  if (core.members.size <= limit) return pushPullMessage(core, false);
  const sample: MemberState[] = [core.self, ...randomMembers(core, limit - 1, (m) => isLive(m.status))];
  return withSelf(core, { type: 'pushPull', join: false, from: core.self.id, members: sample });
}

function withSelf(core: Core, msg: PushPull): PushPull {
  const members = msg.members as MemberState[];
  // A leaving node's own record says so: over TCP the push-pull is how its goodbye reaches members UDP does not.
  if (core.leaving) members[members.indexOf(core.self)] = { ...core.self, status: 'left' };
  return msg;
}

/**
 * Merges a table received. `joining` is true for our join's answers (the
 * seed's, and the rest of a sampled table after it): the members the sender
 * knows of are known to the others too, so they are not news to pass on.
 */
export function merge(core: Core, msg: PushPull, now: number, fx: Effects, joining: boolean): void {
  for (const remote of msg.members) {
    switch (remote.status) {
      case 'alive': {
        // Once joined, a member new to us is news to our side as well (two halves of a healed
        // partition meeting), as are the sender and any change to one we know.
        const news = !joining || remote.id === msg.from || core.members.has(remote.id);
        const alive: Alive = { type: 'alive', id: remote.id, address: remote.address, incarnation: remote.incarnation, metadata: remote.metadata };
        onAlive(core, alive, now, fx, news);
        break;
      }
      case 'left': {
        const dead = { type: 'dead', id: remote.id, incarnation: remote.incarnation, from: remote.id } as const;
        if (plausible(core, dead)) onDead(core, dead, now, fx);
        break;
      }
      // Another node's suspicion or verdict is only a suspicion here, so a live member can still refute it.
      case 'suspect':
      case 'dead': {
        const suspect = { type: 'suspect', id: remote.id, incarnation: remote.incarnation, from: msg.from } as const;
        if (plausible(core, suspect)) onSuspect(core, suspect, now, fx);
        break;
      }
    }
  }
}
