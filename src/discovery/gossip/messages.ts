/** The messages of the gossip protocol. */

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** What the cluster knows of one member. */
export interface MemberState {
  readonly name: string;
  /** `host:port` of its UDP and TCP listener. */
  readonly addr: string;
  readonly incarnation: number;
  readonly status: MemberStatus;
  readonly meta: Readonly<Record<string, string>>;
}

/** Are you there, `target`? Answer `ack` with `seq`. */
export interface Ping {
  readonly type: 'ping';
  readonly seq: number;
  readonly target: string;
  readonly from: string;
}

/** Please probe `target` at `targetAddr` for me and forward its ack; `nack` asks for a nack if it does not answer. */
export interface IndirectPing {
  readonly type: 'indirect';
  readonly seq: number;
  readonly target: string;
  readonly targetAddr: string;
  readonly nack: boolean;
}

export interface Ack {
  readonly type: 'ack';
  readonly seq: number;
}

/** The relay asked for an indirect probe heard nothing from the target. */
export interface Nack {
  readonly type: 'nack';
  readonly seq: number;
}

export interface Alive {
  readonly type: 'alive';
  readonly name: string;
  readonly addr: string;
  readonly incarnation: number;
  readonly meta: Readonly<Record<string, string>>;
}

export interface Suspect {
  readonly type: 'suspect';
  readonly name: string;
  readonly incarnation: number;
  readonly from: string;
}

/** `from === name` means the member left gracefully. */
export interface Dead {
  readonly type: 'dead';
  readonly name: string;
  readonly incarnation: number;
  readonly from: string;
}

/** A message sent over UDP, possibly several to a packet. */
export type PacketMessage = Ping | IndirectPing | Ack | Nack | Alive | Suspect | Dead;

/** A full state exchange over TCP: the sender's view; the answer is the receiver's. */
export interface PushPull {
  readonly type: 'pushPull';
  readonly join: boolean;
  readonly from: string;
  readonly members: readonly MemberState[];
}
