/** What a running agent answers on its control endpoint, through the facade. */
import * as discovery from '../discovery.js';
import { fingerprint, isFingerprint } from '../discovery/gossip/wire/crypto.js';
import { clusterKeyOp, type MemberKeys } from '../discovery/kit/keys.js';
import { DiscoveryImpl } from '../discovery/facade.js';
import type { PeerInfo } from '../discovery.js';
import { defaultTimings } from '../discovery/kit/adapter.js';
import { resolveGossipConfig, type GossipProfile } from '../discovery/gossip/protocol/config.js';
import { ControlRefusal, type ControlSource } from './control.js';
import type { MemberTable } from './members.js';
import { udpUnreachableOf } from '../http/members.js';

/** How long `join` waits for one of the given members to answer. */
const JOIN_WAIT_MS = 5000;

export interface AgentFacts {
  readonly self: PeerInfo;
  readonly adapter: string;
  readonly startedAt: Date;
  /** The timings in force, by name, in ms. */
  readonly timings: Readonly<Record<string, number>>;
}

/** The adapter's sync timings and, for gossip, the protocol's, as `distribute info` shows them. */
export function timingsOf(kind: string, profile: GossipProfile): Record<string, number> {
  const base = { ...defaultTimings };
  if (kind !== 'gossip') return base;
  const numbers = Object.entries(resolveGossipConfig({}, profile)).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
  return { ...base, ...Object.fromEntries(numbers) };
}

const peerIds = () => {
  const peers = discovery.snapshot();
  return peers.ok ? peers.value.map((p) => p.id) : [];
};

const peerAt = (addresses: readonly string[]) => {
  const peers = discovery.snapshot();
  return peers.ok ? peers.value.filter((p) => p.address !== undefined && addresses.includes(p.address)) : [];
};

/** A key as the endpoint shows it: the first 8 bytes of the SHA-256 of its 32 bytes, in hex. */
export const keyFingerprint = (key: string): string => fingerprint(key);

/** How long each member has to answer a key operation sent across the cluster. */
export const KEY_OP_TIMEOUT_MS = 2000;

/** A key operation across the cluster as the endpoint answers it: each member's answer, who did not answer, and each key by how many hold it and seal with it. */
export interface ClusterKeys {
  /** Members that answered. */
  readonly members: number;
  /** Members that did not answer, by id. */
  readonly missing: readonly string[];
  /** Members that answered but refused the operation, by id. */
  readonly failed: readonly string[];
  readonly results: readonly MemberKeys[];
  readonly keys: readonly { readonly fingerprint: string; readonly members: number; readonly primary: number }[];
}

function clusterSummary(results: readonly MemberKeys[]): ClusterKeys {
  const answered = results.filter((m) => m.answered);
  const keys = new Map<string, { fingerprint: string; members: number; primary: number }>();
  for (const m of answered) {
    m.keys.forEach((fp, at) => {
      const held = keys.get(fp) ?? { fingerprint: fp, members: 0, primary: 0 };
      held.members++;
      if (at === 0) held.primary++;
      keys.set(fp, held);
    });
  }
  return {
    members: answered.length,
    missing: results.filter((m) => !m.answered).map((m) => m.id),
    failed: answered.filter((m) => m.error !== undefined).map((m) => m.id),
    results,
    keys: [...keys.values()],
  };
}

/** The keyring as the endpoint answers it: fingerprints, the sealing key first and marked; no key material. */
export interface KeyFingerprints {
  readonly primary: string;
  readonly keys: readonly { readonly fingerprint: string; readonly primary: boolean }[];
}

function fingerprints(list: discovery.KeyList): KeyFingerprints {
  return {
    primary: keyFingerprint(list.primary),
    keys: list.keys.map((key) => ({ fingerprint: keyFingerprint(key), primary: key === list.primary })),
  };
}

/** The installed key a fingerprint names; a full key stands for itself. */
function keyNamed(given: string): string {
  if (!isFingerprint(given)) return given;
  const listed = discovery.listKeys();
  const found = listed.ok ? listed.value.keys.find((key) => keyFingerprint(key) === given) : undefined;
  if (!found) throw new ControlRefusal(400, `no installed key has the fingerprint ${given}`);
  return found;
}

/** A figure as a person reads it: three significant digits below 1000, whole above (4.814037000000013 is 4.81). */
export function roundFigure(value: number): number {
  if (Number.isInteger(value) || !Number.isFinite(value)) return value;
  return Math.abs(value) >= 1000 ? Math.round(value) : Number(value.toPrecision(3));
}

/** Every figure of a plain JSON value rounded; strings and structure as they were. */
function rounded<T>(value: T): T {
  if (typeof value === 'number') return roundFigure(value) as T;
  if (Array.isArray(value)) return value.map(rounded) as T;
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v)])) as T;
  return value;
}

/**
 * A refused key operation in the operator's words: an agent without keys is
 * started with `--key-file` (or `--key`), not the library's `secretKeys`.
 */
function refusal(error: discovery.DiscoveryError, facts: AgentFacts): ControlRefusal {
  if (error.type !== 'KeysUnavailable') return new ControlRefusal(400, error.message);
  const why =
    facts.adapter === 'gossip'
      ? `agent ${facts.self.id} does not seal its gossip, so it has no keys to list or change: start it with --key-file PATH (one key a line; 'distribute keygen' makes one) or --key KEY, and every member with the same key`
      : `agent ${facts.self.id} runs the ${facts.adapter} adapter, which has no gossip keys (--key-file and --key seal the gossip adapter)`;
  return new ControlRefusal(409, why);
}

export function agentControl(table: MemberTable, facts: AgentFacts, leave: () => void): ControlSource {
  return {
    members: () => {
      const peers = discovery.snapshot();
      const me = discovery.self();
      return table.rows(me.ok ? me.value : facts.self, peers.ok ? peers.value : [], udpUnreachableOf(discovery.metrics()));
    },
    info: () => {
      const me = discovery.self();
      const health = discovery.healthInfo();
      const metrics = discovery.metrics();
      return rounded({
        self: me.ok ? me.value : facts.self,
        adapter: facts.adapter,
        startedAt: facts.startedAt.toISOString(),
        health: health.ok ? health.value : { status: discovery.health() },
        metrics: metrics.ok ? metrics.value : null,
        timings: facts.timings,
      });
    },
    join: async (addresses) => {
      const known = new Set(peerIds());
      const asked = discovery.join(addresses);
      if (!asked.ok) throw new ControlRefusal(400, asked.error.message);
      // Joined: a member answers at one of the addresses, or (for names that resolve elsewhere) new members arrived.
      const joined = () => {
        const at = peerAt(addresses).map((p) => p.id);
        return at.length > 0 ? at : peerIds().filter((id) => !known.has(id));
      };
      const deadline = Date.now() + JOIN_WAIT_MS;
      while (joined().length === 0) {
        if (Date.now() > deadline) throw new ControlRefusal(504, `cannot reach any of ${addresses.join(', ')} within ${JOIN_WAIT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { joined: joined() };
    },
    tags: (set, remove) => {
      const me = discovery.self();
      const current = me.ok ? me.value.metadata : facts.self.metadata;
      const next = Object.fromEntries(Object.entries(current).filter(([key]) => !remove.includes(key)));
      const changed = discovery.setMetadata({ ...next, ...set });
      if (!changed.ok) throw new ControlRefusal(400, changed.error.message);
      const after = discovery.self();
      return after.ok ? after.value.metadata : { ...next, ...set };
    },
    leave,
    keys: (change) => {
      if (change) {
        const { op } = change;
        const key = op === 'install' ? change.key : keyNamed(change.key);
        const changed = op === 'install' ? discovery.installKey(key) : op === 'use' ? discovery.useKey(key) : discovery.removeKey(key);
        if (!changed.ok) throw refusal(changed.error, facts);
      }
      const listed = discovery.listKeys();
      if (!listed.ok) throw refusal(listed.error, facts);
      return fingerprints(listed.value);
    },
    clusterKeys: async (change) => {
      const answers = await clusterKeyOp(discovery.defaultAdapterName, new DiscoveryImpl().keyring, change?.op ?? 'list', change?.key ?? '', KEY_OP_TIMEOUT_MS);
      if (!answers.ok) throw refusal(answers.error, facts);
      return clusterSummary(answers.value);
    },
  };
}
