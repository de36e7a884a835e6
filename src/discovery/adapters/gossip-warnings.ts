/** What the gossip adapter tells an operator: each warning names what is wrong and where to look. */
import { formatAddress } from '../address.js';
import type { BackendLog } from '../kit/backend.js';
import type { MemberEvent, MemberState } from '../gossip/protocol/core.js';

/** Unsealed on an address others reach: who can do what, and how to seal. */
export function warnUnsealed(log: BackendLog, bind: { readonly host: string; readonly port: number }): void {
  log.warn(
    { bind: formatAddress(bind.host, bind.port) },
    'Gossip is unsealed on a non-loopback address: anyone who reaches this port can join, read the membership and forge news about members. ' +
      "Seal it with a key: 'distribute keygen' makes one; give it to every member (--key-file or DISTRIBUTE_KEYS for the agent, secretKeys in code)",
  );
}

/** Another address claims the id of a member that still answers at its own. */
export function warnConflict(log: BackendLog, event: Extract<MemberEvent, { type: 'conflict' }>): void {
  log.warn(
    { id: event.existing.id, existing: event.existing.address, incoming: event.incoming.address },
    'Conflicting address: another address claims the id of a member that still answers at its own; keeping the one known',
  );
}

/** A member that answers probes over TCP only: the operator's fix is in the network (a firewall, a security group). */
export function warnUdpUnreachable(log: BackendLog, id: string, member: MemberState | undefined): void {
  const address = member?.address;
  log.warn(
    { id, address },
    `Member ${id} at ${address} answers probes over TCP but not over UDP: UDP port blocked? Gossip to and from it goes over TCP push-pull only`,
  );
}
