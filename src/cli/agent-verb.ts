/** What the verbs that talk to a running agent share: the control address and help. */
import { parseAddress, type HostPort } from './args.js';
import { DEFAULT_CONTROL_PORT } from './control.js';

/** The agent's control endpoint from `--control`, or the default one on this host. */
export const controlAddress = (value: string | undefined): HostPort =>
  parseAddress('--control', value ?? `127.0.0.1:${DEFAULT_CONTROL_PORT}`, '127.0.0.1');

/** Prints `help` and says so, when `--help` was given. */
export function helped(values: { help?: boolean | undefined }, help: string): boolean {
  if (values.help) process.stdout.write(help);
  return values.help === true;
}
