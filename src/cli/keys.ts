/** `distribute keys --list | --install KEY | --use KEY | --remove KEY`: the running agent's keyring. */
import { isKey } from '../discovery/keys.js';
import type { KeyFingerprints } from './agent-control.js';
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, noPositionals, parseFlags } from './args.js';
import { callControl, type KeyOp } from './control.js';
import { usage } from './errors.js';

export const HELP = `distribute keys --list | --install KEY | --use KEY|FINGERPRINT | --remove KEY|FINGERPRINT
                [--name NAME | --control HOST:PORT] [--json]
  List or change the running agent's keys; prints the keys' fingerprints after (the first 8
  bytes of each key's SHA-256, in hex), marking the one that seals; keys never leave the agent.
  --use and --remove take a key or its fingerprint. Rotation, each step on every member before
  the next: keygen, --install NEW, --use NEW, --remove OLD.
`;

const flags = {
  ...controlFlags,
  list: { type: 'boolean' },
  install: { type: 'string' },
  use: { type: 'string' },
  remove: { type: 'string' },
} as const;

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
    const fingerprint = op !== 'install' && /^[0-9a-f]{16}$/.test(key);
    if (!isKey(key) && !fingerprint) {
      throw usage(`--${op} expects 32 bytes in base64 (try 'distribute keygen')${op === 'install' ? '' : ' or a fingerprint from --list'}, got ${JSON.stringify(shown)}`);
    }
  }
  const client = controlClient(values);
  const listed =
    op && key ? await callControl<KeyFingerprints>(client, 'POST', '/v1/keys', { op, key }) : await callControl<KeyFingerprints>(client, 'GET', '/v1/keys');
  if (values.json) process.stdout.write(`${JSON.stringify(listed)}\n`);
  else for (const k of listed.keys) process.stdout.write(`${k.fingerprint}${k.primary ? '  (primary)' : ''}\n`);
  return 0;
}
