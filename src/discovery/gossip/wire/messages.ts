/**
 * The messages of the gossip protocol, as the core sees them (the codec
 * turns them into bytes). Discriminated on `type`.
 *
 * A UDP packet carries one or more of the packet messages: the primary one
 * (a ping, an ack, …) first, then as many queued broadcasts (alive, suspect,
 * dead) as fit, piggybacked. That list is the compound message; it is not
 * nested, so decoding never recurses. A push-pull, over TCP, carries a whole
 * member table.
 */

/**
 * A member's state inside the protocol. The peer view (`MemberStatus`) shows
 * `dead` as `failed`.
 */
export type ProtocolStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** What the cluster knows of one member. */
export interface MemberState {
  readonly id: string;
  /** `host:port` of its UDP and TCP listener. */
  readonly address: string;
  /** Raised only by the member itself, to refute suspicion or publish new metadata; orders all news about it. */
  readonly incarnation: number;
  readonly status: ProtocolStatus;
  readonly metadata: Readonly<Record<string, string>>;
}

/** Are you there, `target`? Answer `ack` with `seq`. `target` guards against a new process at a reused address. */
export interface Ping {
  readonly type: 'ping';
  readonly seq: number;
  readonly target: string;
  readonly from: string;
}

/**
 * Please probe `target` at `targetAddr` for me and forward its ack, with my
 * `seq`; with `nack`, answer `nack` if the target stays silent, so I can tell
 * a dead target from my own trouble.
 */
export interface IndirectPing {
  readonly type: 'indirect';
  readonly seq: number;
  readonly target: string;
  readonly targetAddress: string;
  readonly nack: boolean;
}

/** The answer to a ping, direct or relayed. */
export interface Ack {
  readonly type: 'ack';
  readonly seq: number;
}

/** A relay asked for an indirect probe heard nothing from the target in time. */
export interface Nack {
  readonly type: 'nack';
  readonly seq: number;
}

/** `id` is alive at `incarnation`, with this address and metadata. Also how a new member announces itself. */
export interface Alive {
  readonly type: 'alive';
  readonly id: string;
  readonly address: string;
  readonly incarnation: number;
  readonly metadata: Readonly<Record<string, string>>;
}

/** `from` could not reach `id` at `incarnation`. */
export interface Suspect {
  readonly type: 'suspect';
  readonly id: string;
  readonly incarnation: number;
  readonly from: string;
}

/** `from` declares `id` dead at `incarnation`; `from === id` means the member left gracefully. */
export interface Dead {
  readonly type: 'dead';
  readonly id: string;
  readonly incarnation: number;
  readonly from: string;
}

/** A message sent over UDP. */
export type PacketMessage = Ping | IndirectPing | Ack | Nack | Alive | Suspect | Dead;

/**
 * A full state exchange over TCP: the sender's whole member table. The
 * request (`join` true when the sender is joining through a seed) and the
 * answer (the receiver's table, `join` false) have the same shape.
 */
export interface PushPull {
  readonly type: 'pushPull';
  readonly join: boolean;
  readonly from: string;
  readonly members: readonly MemberState[];
}
