/**
 * Secrets for the command: the control token and the gossip keys, from a
 * file, the environment or (warned about) the command line, never echoed.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isKey } from '../discovery/kit/keys.js';
import { usage } from './errors.js';

/** A secret and, when it came from the command line, the warning to print. */
export interface Secret<T> {
  readonly value: T;
  readonly warning?: string;
}

const visible = (flag: string, instead: string) =>
  `${flag} on the command line can be read by other users of this host in the process list; use ${instead}`;

function readSecretFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw usage(`${flag} cannot read ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

function checkToken(flag: string, token: string): string {
  if (token.length === 0 || /\s/.test(token)) throw usage(`${flag} expects a non-empty token without spaces, got ${JSON.stringify(token.length > 4 ? `${token.slice(0, 4)}…` : token)}`);
  return token;
}

/** `--control-token-file`, else `--control-token` (warned), else DISTRIBUTE_CONTROL_TOKEN; undefined when none. */
export function givenToken(flag: string | undefined, file: string | undefined): Secret<string> | undefined {
  if (flag !== undefined && file !== undefined) throw usage('use either --control-token or --control-token-file, not both');
  if (file !== undefined) return { value: checkToken('--control-token-file', readSecretFile('--control-token-file', file).trim()) };
  if (flag !== undefined) return { value: checkToken('--control-token', flag), warning: visible('--control-token', '--control-token-file or DISTRIBUTE_CONTROL_TOKEN') };
  const env = process.env.DISTRIBUTE_CONTROL_TOKEN;
  return env ? { value: checkToken('DISTRIBUTE_CONTROL_TOKEN', env) } : undefined;
}

/** A new random token: 32 bytes, URL-safe. */
export const generateToken = (): string => randomBytes(32).toString('base64url');

function checkKeys(source: string, keys: readonly string[]): string[] {
  for (const key of keys) {
    const shown = key.length > 12 ? `${key.slice(0, 12)}…` : key;
    if (!isKey(key)) throw usage(`${source} expects 32 bytes in base64 (try 'distribute keygen'), got ${JSON.stringify(shown)}`);
  }
  return [...keys];
}

/** `--key-file` (one key a line; the first seals), else `--key` (warned), else DISTRIBUTE_KEYS (comma-separated). */
export function givenKeys(flags: readonly string[] | undefined, file: string | undefined): Secret<string[]> {
  if (flags !== undefined && file !== undefined) throw usage('use either --key or --key-file, not both');
  if (file !== undefined) {
    const lines = readSecretFile('--key-file', file).split('\n').map((l) => l.trim()).filter((l) => l.length > 0 && !l.startsWith('#'));
    if (lines.length === 0) throw usage(`--key-file ${JSON.stringify(file)} holds no key`);
    return { value: checkKeys('--key-file', lines) };
  }
  if (flags !== undefined) return { value: checkKeys('--key', flags), warning: visible('--key', '--key-file or DISTRIBUTE_KEYS') };
  const env = process.env.DISTRIBUTE_KEYS;
  return { value: env ? checkKeys('DISTRIBUTE_KEYS', env.split(',')) : [] };
}
