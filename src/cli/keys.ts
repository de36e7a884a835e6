/** `distribute keys --list | --install KEY | --use KEY | --remove KEY [--local]`: the cluster's keyrings, or one agent's. */
import { isKey } from '../discovery/kit/keys.js';
import { KEY_OP_TIMEOUT_MS, type ClusterKeys, type KeyFingerprints } from './agent-control.js';
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, noPositionals, parseFlags } from './args.js';
import { callControl, type KeyOp } from './control.js';
import { usage } from './errors.js';
import { isFingerprint } from '../discovery/gossip/wire/crypto.js';

export const HELP = `distribute keys --list | --install KEY | --use KEY|FINGERPRINT | --remove KEY|FINGERPRINT
                [--local] [--name NAME | --control HOST:PORT] [--json]
  List or change the keys of every live member of the agent's cluster: the agent sends the
  operation to each member over gossip's sealed streams (so only a sealed cluster can be
  rotated, and only by a holder of a current key), each member applies it and answers within
  ${KEY_OP_TIMEOUT_MS} ms. Prints each member's answer and names the members that did not answer; exits 1
  when any member refused or did not answer. --list shows each key's fingerprint (the first 8
  bytes of its SHA-256, in hex) with how many members hold it and how many seal with it. Keys
  never leave the sealed streams; only fingerprints are shown. --remove of a key that some member
  still seals with is refused, naming those members.
  --use and --remove take a key or its fingerprint.
  Rotation, one call each: keygen, --install NEW, --use NEW, --remove OLD.
  --local   the agent's own keyring only (prints its fingerprints, marking the one that seals)
`;

const flags = {
  ...controlFlags,
  list: { type: 'boolean' },
  local: { type: 'boolean' },
  install: { type: 'string' },
  use: { type: 'string' },
  remove: { type: 'string' },
} as const;

/** Enough for a `--remove` (a listing, then the removal), each waiting for its slowest member. */
const CLUSTER_CALL_MS = 2 * KEY_OP_TIMEOUT_MS + 3000;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, flags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const ops = (['install', 'use', 'remove'] as const).filter((op) => values[op] !== undefined);
  if (ops.length + (values.list ? 1 : 0) !== 1) throw usage('keys expects exactly one of --list, --install KEY, --use KEY, --remove KEY');
  const op: KeyOp | undefined = ops[0];
  const key = op === undefined ? undefined : values[op]!;
  if (key !== undefined) {
    const shown = key.length > 12 ? `${key.slice(0, 12)}…` : key;
    const fingerprint = op !== 'install' && isFingerprint(key);
    if (!isKey(key) && !fingerprint) {
      throw usage(`--${op} expects 32 bytes in base64 (try 'distribute keygen')${op === 'install' ? '' : ' or a fingerprint from --list'}, got ${JSON.stringify(shown)}`);
    }
  }
  const client = controlClient(values);
  const change = op && key ? { op, key } : undefined;
  if (values.local) {
    const listed = change ? await callControl<KeyFingerprints>(client, 'POST', '/v1/keys', change) : await callControl<KeyFingerprints>(client, 'GET', '/v1/keys');
    if (values.json) process.stdout.write(`${JSON.stringify(listed)}\n`);
    else for (const k of listed.keys) process.stdout.write(`${k.fingerprint}${k.primary ? '  (primary)' : ''}\n`);
    return 0;
  }
  const cluster = await callControl<ClusterKeys>(client, change ? 'POST' : 'GET', '/v1/cluster/keys', change, CLUSTER_CALL_MS);
  if (values.json) process.stdout.write(`${JSON.stringify(cluster)}\n`);
  else printCluster(cluster, change === undefined);
  const bad = [...cluster.missing, ...cluster.failed];
  if (bad.length > 0) process.stderr.write(`${describeTrouble(cluster)}\n`);
  return bad.length > 0 ? 1 : 0;
}

function printCluster(cluster: ClusterKeys, listing: boolean): void {
  const width = Math.max(...cluster.results.map((m) => m.id.length), 4);
  for (const m of cluster.results) {
    const outcome = !m.answered ? `did not answer: ${m.error ?? ''}` : m.error !== undefined ? `refused: ${m.error}` : `ok  ${m.keys.map((fp, at) => (at === 0 ? `${fp} (primary)` : fp)).join(' ')}`;
    process.stdout.write(`${m.id.padEnd(width)}  ${outcome}\n`);
  }
  if (!listing) return;
  process.stdout.write(`\nKEY               MEMBERS  PRIMARY   (of ${cluster.members} answering)\n`);
  for (const k of cluster.keys) process.stdout.write(`${k.fingerprint}  ${String(k.members).padEnd(7)}  ${k.primary}\n`);
}

function describeTrouble(cluster: ClusterKeys): string {
  const parts: string[] = [];
  if (cluster.missing.length > 0) parts.push(`did not answer: ${cluster.missing.join(', ')}`);
  if (cluster.failed.length > 0) parts.push(`refused: ${cluster.failed.join(', ')}`);
  return `keys: ${parts.join('; ')}`;
}
