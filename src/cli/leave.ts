/** `distribute leave`: the agent leaves the cluster gracefully and exits; returns once it has. */
import { controlClient, helped } from './agent-verb.js';
import { controlFlags, formatAddress, noPositionals, parseFlags } from './args.js';
import { callControl } from './control.js';
import { failure } from './errors.js';

export const HELP = `distribute leave [--name NAME | --control HOST:PORT]
  Make the agent leave the cluster gracefully and exit; waits until it has.
`;

// The agent's graceful leave is bounded by its stop timeout (5 s) plus a little.
const EXIT_WAIT_MS = 8000;

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, controlFlags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const control = controlClient(values);
  await callControl(control, 'POST', '/v1/leave');
  // Gone once its control endpoint refuses connections.
  const deadline = Date.now() + EXIT_WAIT_MS;
  for (;;) {
    try {
      await callControl(control, 'GET', '/v1/health', undefined, 1000);
    } catch {
      break;
    }
    if (Date.now() > deadline) throw failure(`the agent at ${formatAddress(control.address)} is still running ${EXIT_WAIT_MS} ms after being asked to leave`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.stdout.write(values.json ? `${JSON.stringify({ left: true })}\n` : 'the agent left the cluster and exited\n');
  return 0;
}
