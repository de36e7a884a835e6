/** `distribute tags --set k=v --delete k`: change the running agent's metadata. */
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, noPositionals, parseFlags, parseMeta } from './args.js';
import { callControl } from './control.js';
import { usage } from './errors.js';
import { formatMeta } from './output.js';

export const HELP = `distribute tags [--set KEY=VALUE]... [--delete KEY]... [--name NAME | --control HOST:PORT] [--json]
  Change the running agent's metadata; the others see PeerUpdate. Prints the metadata after.
`;

const flags = { ...controlFlags, set: { type: 'string', multiple: true }, delete: { type: 'string', multiple: true } } as const;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, flags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const set = parseMeta('--set', values.set ?? []);
  const remove = values.delete ?? [];
  if (remove.some((key) => key.length === 0)) throw usage('--delete expects a key, got ""');
  if (Object.keys(set).length === 0 && remove.length === 0) throw usage('tags expects --set KEY=VALUE or --delete KEY');
  const metadata = await callControl<Record<string, string>>(controlClient(values), 'PUT', '/v1/tags', { set, delete: remove });
  process.stdout.write(values.json ? `${JSON.stringify(metadata)}\n` : `${formatMeta(metadata) || '(no metadata)'}\n`);
  return 0;
}
