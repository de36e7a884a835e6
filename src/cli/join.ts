/** `distribute join ADDR...`: a running agent joins more members. */
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, formatAddress, parseAddress, parseFlags } from './args.js';
import { callControl } from './control.js';
import { usage } from './errors.js';

export const HELP = `distribute join HOST:PORT... [--name NAME | --control HOST:PORT]
  Make the running agent contact these members and join the cluster through them.
`;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, controlFlags);
  if (helped(values, HELP)) return 0;
  if (positionals.length === 0) throw usage('join expects at least one member address, e.g. distribute join 10.0.0.7:7946');
  const addresses = positionals.map((p) => formatAddress(parseAddress('join', p, '127.0.0.1')));
  const { joined } = await callControl<{ joined: string[] }>(controlClient(values), 'POST', '/v1/join', { addresses }, 10_000);
  process.stdout.write(
    values.json ? `${JSON.stringify({ joined })}\n` : `joined through ${addresses.join(', ')}: ${joined.join(', ')}\n`,
  );
  return 0;
}
