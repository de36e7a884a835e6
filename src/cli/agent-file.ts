/**
 * The per-user agent file: where a running agent's control endpoint is and
 * its token, so the verbs on this host find it with no flags. One JSON file a
 * running agent, `<pid>.json`, readable by its owner only (0600 in a 0700
 * directory), removed when the agent exits:
 *
 *   $XDG_RUNTIME_DIR/distribute/             when XDG_RUNTIME_DIR is set
 *   $XDG_CONFIG_HOME/distribute/agents/      else (~/.config/distribute/agents/)
 *
 * `{"name": "web-1", "pid": 4242, "control": "127.0.0.1:7373", "scheme": "http", "token": "..."}`
 * (with HTTPS, `"tlsCert": "/path/cert.pem"` too).
 */
import { chmodSync, closeSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseAddress } from '../discovery/address.js';
import { failure } from './errors.js';

/** What a running agent writes about itself. */
export interface AgentRecord {
  readonly name: string;
  readonly pid: number;
  /** `host:port` the control endpoint is bound to. */
  readonly control: string;
  readonly scheme: 'http' | 'https';
  readonly token: string;
  /** With HTTPS: the path of the endpoint's certificate, which the verbs trust for it. */
  readonly tlsCert?: string;
}

/** The directory of this user's agent files. */
export function agentDirectory(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'distribute');
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'distribute', 'agents');
}

/** Makes the directory (0700) or checks the one there: ours, a real directory, closed to others. */
function ownDirectory(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw failure(`${dir} must be a directory for the agent file, and is not`);
  if (process.getuid && stat.uid !== process.getuid()) throw failure(`${dir} belongs to another user; the agent file cannot go there`);
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Writes the agent's file (0600, created new, then renamed in place whole); returns its path. */
export function writeAgentFile(record: AgentRecord, dir = agentDirectory()): string {
  ownDirectory(dir);
  const path = join(dir, `${record.pid}.json`);
  const partial = join(dir, `.${record.pid}.json.partial`);
  rmSync(partial, { force: true });
  // 'wx' refuses a file (or link) someone placed there; the mode applies from the first byte.
  const fd = openSync(partial, 'wx', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
  } finally {
    closeSync(fd);
  }
  renameSync(partial, path);
  return path;
}

export function removeAgentFile(path: string): void {
  rmSync(path, { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseRecord(text: string): AgentRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<AgentRecord>;
    const valid =
      typeof r.name === 'string' && Number.isInteger(r.pid) && typeof r.control === 'string' && parseAddress(r.control) !== undefined && (r.scheme === 'http' || r.scheme === 'https') && typeof r.token === 'string';
    return valid ? (r as AgentRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** The agents running for this user, oldest file first; files of agents that died without removing them are removed. */
export function readAgentFiles(dir = agentDirectory()): AgentRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const records: AgentRecord[] = [];
  for (const name of names.sort((a, b) => parseInt(a) - parseInt(b))) {
    const path = join(dir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      continue;
    }
    const record = parseRecord(text);
    if (record && alive(record.pid)) records.push(record);
    else if (record) removeAgentFile(path);
  }
  return records;
}
