#!/usr/bin/env node
/**
 * The `distribute` command.
 *
 *   distribute agent    run a discovery agent and print membership changes
 *   distribute members  print the member table of a running cluster
 *   distribute monitor  print an agent's event stream
 *   distribute inspect-server  run the local relay for the Stately inspector
 */
import type { ParseArgsConfig } from 'node:util';
import { runAgent } from './cli/agent.js';
import { timingsOf } from './cli/agent-control.js';
import { helped } from './cli/agent-verb.js';
import { generateNodeId } from './discovery/kit/adapter.js';
import { generateKey } from './discovery/gossip/wire/crypto.js';
import { checkDnsQuery, checkDnsServers, isDnsSeed, parseDnsSeed, type DnsRecordType } from './discovery/dns.js';
import { controlFlags, formatAddress, noPositionals, parseAddress, parseFlags, parseMeta } from './cli/args.js';
import { makeAdapter, ADAPTER_KINDS, PROFILES, type AdapterKind, type Profile } from './cli/adapters.js';
import { DEFAULT_CONTROL_PORT, fetchMembers } from './cli/control.js';
import { controlClient, warned } from './cli/agent-verb.js';
import { readAgentFiles } from './cli/agent-file.js';
import { givenKeys, givenToken } from './cli/secrets.js';
import { storeCredentialFlags, storeCredentials } from './cli/store-credentials.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError, usage } from './cli/errors.js';
import { DEFAULT_INSPECT_URL, optionalPeer } from './cli/inspect.js';
import { filterRows, formatTable, MEMBER_STATUSES } from './cli/members.js';
import { HELP as INFO_HELP } from './cli/info.js';
import { HELP as JOIN_HELP } from './cli/join.js';
import { HELP as KEYS_HELP } from './cli/keys.js';
import { HELP as LEAVE_HELP } from './cli/leave.js';
import { HELP as TAGS_HELP } from './cli/tags.js';
import { version } from './cli/version.js';
import { runMonitor } from './cli/monitor.js';
import { observeMembers } from './cli/observer.js';
import { createOutput, LOG_LEVELS, stdoutClosed, type LogLevel } from './cli/output.js';

const HELP = `Usage: distribute <command> [options]

Commands:
  agent            Start a discovery agent; print membership changes as they happen
  members          Print the member table of a running cluster
  info             Show the running agent: self, health, metrics, timings
  join             Make the running agent join more members
  tags             Change the running agent's metadata
  keys             List or rotate the running agent's keys
  leave            Make the running agent leave gracefully and exit
  monitor          Print an agent's membership and health events as they happen
  keygen           Print a new random key for --key
  inspect-server   Run the local relay for Stately's hosted inspector (needs the internet; offline, the
                   agent's own page shows its statechart)
  version          Print the version (also --version)

distribute agent [options]
  --name NAME            this node's name (default: <hostname>-<pid>-<random>)
  --bind HOST:PORT       address to listen on (default 127.0.0.1:7946; 0.0.0.0:7946 to reach
                         other hosts; port 0 picks one)
  --advertise HOST:PORT  address others reach this node at (default: derived from --bind)
  --join SEED            a member to join through: HOST:PORT, or DNS names looked up on
                         every join attempt: dns:NAME:PORT (A/AAAA), dns+srv:NAME (SRV);
                         repeatable
  --meta KEY=VALUE       metadata to publish; repeatable
  --profile lan|local    gossip timings (default lan; local is for one host)
  --adapter KIND         ${ADAPTER_KINDS.join(' | ')} (default gossip)
  --etcd URL             etcd endpoint for --adapter etcd (http://127.0.0.1:2379); repeatable
  --redis URL            Redis server for --adapter redis (redis://127.0.0.1:6379; rediss:// for TLS)
  --etcd-ca FILE         CA (PEM) that signed etcd's certificate, for https:// endpoints
  --etcd-cert FILE       client certificate (PEM) for etcd's --client-cert-auth; with --etcd-key FILE
  --etcd-user NAME       etcd user; its password from --etcd-password-file FILE or DISTRIBUTE_ETCD_PASSWORD
  --redis-ca FILE        CA (PEM) that signed Redis's certificate, for a rediss:// URL
  --redis-cert FILE      client certificate (PEM) when Redis checks clients; with --redis-key FILE
  --redis-user NAME      Redis ACL user; its password from --redis-password-file FILE or
                         DISTRIBUTE_REDIS_PASSWORD (either wins over a password in the URL)
  --prefix P             key prefix in etcd or Redis (default distribute)
  --ttl MS               how long a member's entry outlives it in etcd or Redis (default 10000)
  --control HOST:PORT    control endpoint: the live page at http://HOST:PORT/, /v1/events, /metrics,
                         /v1/health, and what 'members' and 'monitor' read (default 127.0.0.1:${DEFAULT_CONTROL_PORT})
                         (a non-loopback address prints where it is reachable from)
  --control-token-file PATH  the bearer token the control endpoint requires (all but the page's
                         files and /v1/health); or DISTRIBUTE_CONTROL_TOKEN; or --control-token TOKEN
                         (other users can read it in the process list). Default: a random token made
                         at start; with the address, it goes to a file only you can read, where the
                         verbs find it (${'$'}XDG_RUNTIME_DIR/distribute/<pid>.json, else
                         ~/.config/distribute/agents/<pid>.json), removed at exit
  --control-allow-host NAME  a host name the control endpoint answers to besides localhost and IP
                         addresses (others are refused against DNS rebinding); repeatable
  --control-max-streams N  event streams served at once (default: half the open-file limit)
  --control-tls-cert PATH, --control-tls-key PATH  serve the control endpoint over HTTPS
  --join-timeout MS      give up when no seed answers within this (default 5000; 0 keeps
                         trying for as long as it takes)
  --min-peers N          health stays Degraded until N other members are up (default 0)
  --dns NAME             with --adapter dns: the name whose records are the members
  --dns-type a|aaaa|srv  record type for --dns (default a)
  --dns-port PORT        the members' port for A/AAAA answers (default: the --bind port)
  --dns-server IP:PORT   resolver for --dns and DNS seeds (default: the system's); repeatable
  --key-file PATH        seal gossip with these 32-byte keys, one a line, the first one seals
                         (or DISTRIBUTE_KEYS, comma-separated; or --key BASE64, repeatable, which
                         other users can read in the process list; 'distribute keygen' makes one)
  --label LABEL          cluster label sent on every gossip packet and stream, sealed or not:
                         agents with another label (or none) are dropped and counted, so
                         clusters sharing a network never merge; not a secret (--key-file is)
  --inspect [URL]        stream the adapter to a Stately inspector (default ${DEFAULT_INSPECT_URL})
  --log-level LEVEL      ${LOG_LEVELS.join(' | ')} (default warn)
  --json                 one JSON object per line (the default when stdout is not a terminal)

distribute members [options]
  --control HOST:PORT    ask the agent at this control endpoint (default: the one agent of this user
                         on this host, from its agent file; else 127.0.0.1:${DEFAULT_CONTROL_PORT})
  --agent NAME           ask this user's agent of this name (several run on this host)
  --control-token-file PATH  the agent's token when its file is not readable (or
                         DISTRIBUTE_CONTROL_TOKEN, or --control-token TOKEN)
  --join SEED            or join through this seed (as for agent) as a short-lived observer;
                         repeatable
  --key-file, --label    as for agent, when joining a sealed or labelled cluster
  --dns-server IP:PORT   as for agent, for DNS seeds in --join
  --name REGEXP          only members whose name matches
  --status REGEXP        only members whose state matches: ${MEMBER_STATUSES.join(' | ')}
  --meta KEY=REGEXP      only members whose metadata KEY matches; repeatable
  --json                 print JSON
  (each REGEXP must match the whole value, as serf's filters do)

${INFO_HELP}${JOIN_HELP}${TAGS_HELP}${KEYS_HELP}${LEAVE_HELP}  Each of these (and monitor) talks to this user's agent on this host, found through its agent
  file with its token; with several, pick one by --name NAME or --control HOST:PORT (default
  127.0.0.1:${DEFAULT_CONTROL_PORT} when no file is found); --control-token-file PATH or
  DISTRIBUTE_CONTROL_TOKEN give the token of an agent whose file is not readable.

distribute monitor [--name NAME | --control HOST:PORT] [--json]
  --json                 one JSON object per line (the default when stdout is not a terminal)

distribute inspect-server [--port PORT]   (default 8080; the inspector it frames is hosted by Stately and needs
                                          the internet: offline, open the agent's page, the "page:" URL it prints)
distribute keygen                         print a new random key for --key
`;

const agentFlags = {
  name: { type: 'string' },
  bind: { type: 'string' },
  advertise: { type: 'string' },
  join: { type: 'string', multiple: true },
  meta: { type: 'string', multiple: true },
  profile: { type: 'string' },
  adapter: { type: 'string' },
  etcd: { type: 'string', multiple: true },
  redis: { type: 'string' },
  prefix: { type: 'string' },
  ttl: { type: 'string' },
  ...storeCredentialFlags,
  control: { type: 'string' },
  'control-token': { type: 'string' },
  'control-token-file': { type: 'string' },
  'control-allow-host': { type: 'string', multiple: true },
  'control-max-streams': { type: 'string' },
  'control-tls-cert': { type: 'string' },
  'control-tls-key': { type: 'string' },
  'join-timeout': { type: 'string' },
  'min-peers': { type: 'string' },
  dns: { type: 'string' },
  'dns-type': { type: 'string' },
  'dns-port': { type: 'string' },
  'dns-server': { type: 'string', multiple: true },
  inspect: { type: 'boolean' },
  key: { type: 'string', multiple: true },
  'key-file': { type: 'string' },
  label: { type: 'string' },
  'log-level': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const membersFlags = {
  name: { type: 'string' },
  agent: { type: 'string' },
  key: { type: 'string', multiple: true },
  'key-file': { type: 'string' },
  'dns-server': { type: 'string', multiple: true },
  label: { type: 'string' },
  control: { type: 'string' },
  'control-token': { type: 'string' },
  'control-token-file': { type: 'string' },
  join: { type: 'string', multiple: true },
  status: { type: 'string' },
  meta: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];


function oneOf<T extends string>(flag: string, value: string | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw usage(`${flag} must be one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function positiveInt(flag: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) {
    throw usage(`${flag} expects ${min === 0 ? 'a whole number, 0 or more' : 'a positive whole number'}, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--inspect` takes an optional URL: lift it out before strict parsing. */
function liftInspect(args: string[]): { inspect: string | undefined; rest: string[] } {
  const at = args.indexOf('--inspect');
  if (at < 0) return { inspect: undefined, rest: args };
  const next = args[at + 1];
  const withUrl = next !== undefined && !next.startsWith('--');
  return { inspect: withUrl ? next : DEFAULT_INSPECT_URL, rest: [...args.slice(0, at), ...args.slice(at + (withUrl ? 2 : 1))] };
}

async function agent(argv: string[]): Promise<number> {
  const { inspect, rest: args } = liftInspect(argv);
  const { values, positionals } = parseFlags(args, agentFlags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const level = oneOf<LogLevel>('--log-level', values['log-level'], LOG_LEVELS, 'warn');
  const kind = oneOf<AdapterKind>('--adapter', values.adapter, ADAPTER_KINDS, 'gossip');
  const profile = oneOf<Profile>('--profile', values.profile, PROFILES, 'lan');
  const bind = parseAddress('--bind', values.bind ?? '127.0.0.1:7946');
  const advertise = values.advertise !== undefined ? parseAddress('--advertise', values.advertise) : undefined;
  const seeds = (values.join ?? []).map(parseSeed);
  const dnsServers = parseDnsServers(values['dns-server']);
  const dns = kind === 'dns' ? parseDnsFlags(values.dns, values['dns-type'], values['dns-port'], bind.port) : undefined;
  if (kind !== 'dns' && (values.dns ?? values['dns-type'] ?? values['dns-port']) !== undefined) {
    throw usage('--dns, --dns-type and --dns-port go with --adapter dns');
  }
  const metadata = parseMeta('--meta', values.meta ?? []);
  const control = parseAddress('--control', values.control ?? `127.0.0.1:${DEFAULT_CONTROL_PORT}`, '127.0.0.1');
  if ((kind === 'etcd' || kind === 'redis') && seeds.length > 0) {
    throw usage(`--join is for the gossip adapter; ${kind} members find each other through --${kind}`);
  }
  const stores = {
    ...(values.etcd ? { etcd: values.etcd } : {}),
    ...(values.redis !== undefined ? { redis: values.redis } : {}),
    ...(values.prefix !== undefined ? { prefix: values.prefix } : {}),
    ...(values.ttl !== undefined ? { ttlMs: positiveInt('--ttl', values.ttl, 10_000) } : {}),
  };
  const output = createOutput({ json: values.json ?? false, level });
  const keys = givenKeys(values.key, values['key-file']);
  const given = givenToken(values['control-token'], values['control-token-file']);
  for (const warning of [keys.warning, given?.warning]) if (warning) output.log.warn({}, warning);
  const tls = controlTls(values['control-tls-cert'], values['control-tls-key']);
  // Both checked: flags of the store not chosen are a usage error.
  const etcdCredentials = storeCredentials('etcd', kind, values);
  const credentials = storeCredentials('redis', kind, values) ?? etcdCredentials;
  const adapter = makeAdapter(kind, {
    bind,
    advertise,
    profile,
    ...sealing(keys.value, values.label),
    ...(dnsServers ? { dnsServers } : {}),
    ...(dns ? { dns } : {}),
    ...stores,
    ...(credentials ? { credentials } : {}),
  });
  return runAgent({
    name: values.name ?? generateNodeId(),
    adapter,
    adapterKind: kind,
    seeds,
    metadata,
    control,
    controlIsDefault: values.control === undefined,
    controlToken: given?.value,
    controlAllowHosts: values['control-allow-host'] ?? [],
    controlMaxStreams: values['control-max-streams'] === undefined ? undefined : positiveInt('--control-max-streams', values['control-max-streams'], 1),
    controlTls: tls,
    joinTimeoutMs: values['join-timeout'] === '0' ? 0 : positiveInt('--join-timeout', values['join-timeout'], 5000),
    minPeers: positiveInt('--min-peers', values['min-peers'], 0, 0),
    inspect,
    output,
    timings: timingsOf(kind, profile),
  });
}

async function members(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, membersFlags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  const filter = {
    name: pattern('--name', values.name),
    status: pattern('--status', values.status),
    meta: Object.fromEntries(Object.entries(parseMeta('--meta', values.meta ?? [])).map(([k, v]) => [k, pattern(`--meta ${k}`, v)!])),
  };
  const seeds = (values.join ?? []).map(parseSeed);
  const dnsServers = parseDnsServers(values['dns-server']);
  if (seeds.length > 0 && (values.control ?? values.agent) !== undefined) throw usage('use either --control (or --agent) or --join, not both');
  const rows =
    seeds.length > 0
      ? await observeMembers(seeds, oneOf<LogLevel>('--log-level', values['log-level'], LOG_LEVELS, 'silent'), {
          ...sealing(warned(givenKeys(values.key, values['key-file'])), values.label),
          ...(dnsServers ? { dnsServers } : {}),
        })
      : await fetchMembers(controlClient({ ...values, name: values.agent }, '--agent'), 3000);
  const shown = filterRows(rows, filter);
  process.stdout.write(values.json ? `${JSON.stringify(shown, null, 2)}\n` : `${formatTable(shown)}\n`);
  return 0;
}

const monitorFlags = controlFlags;

async function monitor(args: string[]): Promise<number> {
  const { values, positionals } = parseFlags(args, monitorFlags);
  if (helped(values, HELP)) return 0;
  noPositionals(positionals);
  return runMonitor(controlClient(values), createOutput({ json: values.json ?? false, level: 'warn' }));
}

/** `--control-tls-cert` and `--control-tls-key`, both or neither, read now so a bad path stops the start. */
function controlTls(cert: string | undefined, key: string | undefined): { cert: Buffer; key: Buffer; certPath: string } | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw usage('--control-tls-cert and --control-tls-key go together');
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw usage(`${flag} cannot read ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  return { cert: read('--control-tls-cert', cert), key: read('--control-tls-key', key), certPath: resolve(cert) };
}

async function inspectServer(args: string[]): Promise<number> {
  const { values } = parseFlags(args, { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (helped(values, HELP)) return 0;
  const port = positiveInt('--port', values.port, 8080);
  const { createInspectorServer } = await optionalPeer(() => import('@statelyai/inspect/server'), 'inspect-server');
  const server = createInspectorServer({ port, autoOpen: false });
  // Signals are handled before the first line, so one sent as soon as it is read stops the relay cleanly.
  const stopped = new Promise<number>((resolve) => {
    const stop = () => {
      server.stop();
      resolve(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  process.stdout.write(
    `Inspector relay listening: agents send to ws://127.0.0.1:${port} (distribute agent --inspect ws://127.0.0.1:${port});\n` +
      `open http://localhost:${port} in a browser to watch. Ctrl-C stops it.\n` +
      `That page frames Stately's hosted inspector (https://stately.ai/inspect): it needs the internet.\n` +
      `Offline, open the agent's own page instead: its statechart with the current state lit, members, timeline and metrics,\n` +
      `at the "page:" URL the agent printed at start${agentPages()}.\n`,
  );
  return stopped;
}

/** The pages of this user's agents on this host, from their agent files (the token is in the URL the agent printed). */
function agentPages(): string {
  const pages = readAgentFiles().map((r) => `${r.name}: ${r.scheme}://${r.control.replace(/^(?:0\.0\.0\.0|\[::\]):/, '127.0.0.1:')}/`);
  return pages.length > 0 ? ` (${pages.join(', ')})` : '';
}

/** A `--join` value: a DNS seed as written (checked), or `host:port`. */
function parseSeed(value: string): string {
  if (!isDnsSeed(value)) return formatAddress(parseAddress('--join', value, '127.0.0.1'));
  const parsed = parseDnsSeed(value, '--join');
  if (!parsed.ok) throw usage(parsed.error.message);
  return value;
}

function parseDnsServers(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  const problem = checkDnsServers('--dns-server', values);
  if (problem) throw usage(problem.message);
  return values;
}

/** `--dns`, `--dns-type`, `--dns-port`, checked as the dns adapter checks them, with flag names in the messages. */
function parseDnsFlags(name: string | undefined, type: string | undefined, port: string | undefined, bindPort: number) {
  if (name === undefined) throw usage('--adapter dns needs --dns NAME');
  const query = {
    name,
    type: oneOf('--dns-type', type, ['a', 'aaaa', 'srv'] as const, 'a').toUpperCase() as DnsRecordType,
    port: port === undefined ? bindPort : Number(port),
  };
  const problem = checkDnsQuery(query);
  if (problem?.type === 'InvalidConfiguration') {
    const flag = problem.field === 'name' ? '--dns' : problem.field === 'port' ? '--dns-port' : '--dns-type';
    throw usage(problem.message.replace(`Invalid ${problem.field}`, `Invalid ${flag}`));
  }
  return query;
}

/** The adapter's sealing options from keys already checked. */
function sealing(keys: string[], label: string | undefined): { secretKeys?: string[]; label?: string } {
  return { ...(keys.length > 0 ? { secretKeys: keys } : {}), ...(label !== undefined ? { label } : {}) };
}

/** A whole-value regular expression from a filter flag; a bad one is a usage error naming it. */
function pattern(flag: string, value: string | undefined): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(`^(?:${value})$`);
  } catch (error) {
    throw usage(`${flag} expects a regular expression, got ${JSON.stringify(value)}: ${(error as SyntaxError).message}`);
  }
}

/** Verbs that talk to a running agent, one module each, loaded when called. */
const agentVerbs: Record<string, () => Promise<{ run(args: string[]): Promise<number> }>> = {
  info: () => import('./cli/info.js'),
  join: () => import('./cli/join.js'),
  tags: () => import('./cli/tags.js'),
  keys: () => import('./cli/keys.js'),
  leave: () => import('./cli/leave.js'),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const verb = command !== undefined ? agentVerbs[command] : undefined;
  if (verb) return (await verb()).run(rest);
  switch (command) {
    case 'agent':
      return agent(rest);
    case 'members':
      return members(rest);
    case 'monitor':
      return monitor(rest);
    case 'inspect-server':
      return inspectServer(rest);
    case 'keygen':
      process.stdout.write(`${generateKey()}\n`);
      return 0;
    case 'version':
    case '--version':
    case '-v':
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return command === undefined ? 2 : 0;
    default:
      throw usage(`unknown command ${JSON.stringify(command)}; try 'distribute help'`);
  }
}

// A reader that goes early (`| head -1`) ends the output, never with a stack trace.
stdoutClosed();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CliError) {
      process.stderr.write(`distribute: ${error.message}\n`);
      process.exit(error.code);
    }
    process.stderr.write(`distribute: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
