/** Push-pull: merging a table received in the full state exchange over TCP (the message itself is built in dissemination.ts). */
import { onAlive, onSuspect, onDead, plausible } from './membership.js';
import type { Alive, PushPull } from '../wire/messages.js';
import { isLive, type Effects, type Core } from './state.js';

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
