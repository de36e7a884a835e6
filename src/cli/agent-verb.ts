/** What the verbs that talk to a running agent share: finding the agent and its token, and help. */
import { readFileSync } from 'node:fs';
import { parseAddress } from './args.js';
import type { Endpoint } from '../discovery/address.js';
import { readAgentFiles, type AgentRecord } from './agent-file.js';
import { DEFAULT_CONTROL_PORT, type ControlClient } from './control.js';
import { usage } from './errors.js';
import { givenToken, type Secret } from './secrets.js';

/** The flags that pick an agent and give its token. */
export interface AgentPick {
  readonly control?: string | undefined;
  readonly name?: string | undefined;
  readonly 'control-token'?: string | undefined;
  readonly 'control-token-file'?: string | undefined;
}

/** A secret's value, its warning (a secret on the command line) printed first. */
export function warned<T>(secret: Secret<T>): T {
  if (secret.warning) process.stderr.write(`distribute: warning: ${secret.warning}\n`);
  return secret.value;
}

const LOOPBACK_OR_ANY = /^(?:127\.|localhost$|::1$|0\.0\.0\.0$|::$)/;

/** True when `--control` names this record's endpoint: the same port, and the same host or loopback on both sides. */
function sameEndpoint(asked: Endpoint, record: AgentRecord): boolean {
  const bound = parseAddress('agent file', record.control);
  if (bound.port !== asked.port) return false;
  return bound.host === asked.host || (LOOPBACK_OR_ANY.test(bound.host) && LOOPBACK_OR_ANY.test(asked.host));
}

/** The agent among this user's running ones: by `--control`, by `--name`, the only one, or (saying so) the oldest. */
function pickRecord(pick: AgentPick, records: readonly AgentRecord[], asked: Endpoint | undefined): AgentRecord | undefined {
  if (asked) return records.find((r) => sameEndpoint(asked, r));
  if (pick.name !== undefined) {
    const named = records.find((r) => r.name === pick.name);
    if (!named) throw usage(`no agent named ${JSON.stringify(pick.name)} runs for this user here${records.length ? `; running: ${records.map((r) => r.name).join(', ')}` : ''}`);
    return named;
  }
  const chosen = records.find((r) => sameEndpoint({ host: '127.0.0.1', port: DEFAULT_CONTROL_PORT }, r)) ?? records[0];
  if (chosen && records.length > 1) {
    process.stderr.write(
      `distribute: ${records.length} agents run here (${records.map((r) => r.name).join(', ')}); using ${chosen.name} at ${chosen.control}: pick another with --name or --control\n`,
    );
  }
  return chosen;
}

/**
 * Where a verb connects, with what token: the agent's file (found by
 * `--control`, `--name`, or as the one running) gives the address, scheme
 * and token; a token given explicitly wins; with no file, `--control` or
 * the default address.
 */
export function controlClient(pick: AgentPick): ControlClient {
  const asked = pick.control === undefined ? undefined : parseAddress('--control', pick.control, '127.0.0.1');
  const given = givenToken(pick['control-token'], pick['control-token-file']);
  const record = pickRecord(pick, readAgentFiles(), asked);
  const token = given ? warned(given) : record?.token;
  const ca = record?.tlsCert ? readCertificate(record.tlsCert) : undefined;
  const tls = ca ? { ca } : {};
  if (record && !asked) return { address: parseAddress('agent file', record.control), token, scheme: record.scheme, name: record.name, ...tls };
  return { address: asked ?? { host: '127.0.0.1', port: DEFAULT_CONTROL_PORT }, token, scheme: record?.scheme ?? 'http', ...tls };
}

function readCertificate(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    // Then the system's roots decide, as for any HTTPS server.
    return undefined;
  }
}

/** Prints `help` and says so, when `--help` was given. */
export function helped(values: { help?: boolean | undefined }, help: string): boolean {
  if (values.help) process.stdout.write(help);
  return values.help === true;
}

