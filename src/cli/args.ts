/** Parsing of the values flags carry: `host:port`, `key=value`. */
import { formatAddress as joinEndpoint, parseAddress as parseEndpoint, type Endpoint } from '../discovery/address.js';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { usage } from './errors.js';

/** `host:port`, `:port` (any interface) or a bare port; port 0 picks a free one. */
export function parseAddress(flag: string, value: string, defaultHost = '0.0.0.0'): Endpoint {
  const text = value.trim();
  if (/^\d{1,5}$/.test(text)) return checkPort(flag, value, { host: defaultHost, port: Number(text) });
  if (/^:\d{1,5}$/.test(text)) return checkPort(flag, value, { host: defaultHost, port: Number(text.slice(1)) });
  const withZero = /^(?:\[([^\]]+)\]|([^:\s]+)):0$/.exec(text);
  if (withZero) return { host: (withZero[1] ?? withZero[2])!, port: 0 };
  const parsed = parseEndpoint(text);
  if (!parsed) throw usage(`${flag} expects host:port, got ${JSON.stringify(value)}`);
  return parsed;
}

function checkPort(flag: string, value: string, address: Endpoint): Endpoint {
  if (address.port > 65535) throw usage(`${flag} expects a port from 0 to 65535, got ${JSON.stringify(value)}`);
  return address;
}

/** `key=value` pairs into an object; a pair without `=` or with an empty key is a usage error. */
export function parseMeta(flag: string, pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw usage(`${flag} expects key=value, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return out;
}

export const formatAddress = (address: Endpoint) => joinEndpoint(address.host, address.port);

/** Strict flag parsing; a bad flag is a usage error naming it. */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>> {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usage((error as Error).message.replace(/\. To specify .*$/s, ''));
  }
}

/** Verbs take no positional arguments but `join`: the first one given is a usage error. */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) throw usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
}

/** The flags every verb that talks to a running agent takes. */
export const controlFlags = {
  control: { type: 'string' },
  name: { type: 'string' },
  'control-token': { type: 'string' },
  'control-token-file': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];
