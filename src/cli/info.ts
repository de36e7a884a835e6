/** `distribute info`: the running agent's self, health, metrics and timings in force. */
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, noPositionals, parseFlags } from './args.js';
import { callControl } from './control.js';

export const HELP = `distribute info [--name NAME | --control HOST:PORT] [--json]
  Show the running agent: this node, its health, its metrics and the timings in force.
`;

/** Nested objects as indented `key: value` lines, as serf's info prints them. */
function outline(value: object, indent = ''): string {
  return Object.entries(value)
    .map(([key, v]) =>
      typeof v === 'object' && v !== null && Object.keys(v).length > 0
        ? `${indent}${key}:\n${outline(v, `${indent}  `)}`
        : `${indent}${key}: ${typeof v === 'object' && v !== null ? '-' : String(v)}\n`,
    )
    .join('');
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, controlFlags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const info = await callControl<Record<string, unknown>>(controlClient(values), 'GET', '/v1/info');
  process.stdout.write(values.json ? `${JSON.stringify(info, null, 2)}\n` : outline(info));
  return 0;
}
