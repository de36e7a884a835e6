/**
 * `distribute agent`: start discovery through the facade, print every
 * membership change, serve the member table on the control endpoint, leave
 * gracefully on SIGINT/SIGTERM.
 */
import * as discovery from '../discovery.js';
import type { Adapter, DiscoveryEvent, PeerInfo } from '../discovery.js';
import { formatAddress } from './args.js';
import { isLoopbackHost, type Endpoint } from '../discovery/address.js';
import { defaultMaxStreams, httpHandlerWith } from '../http/handler.js';
import { agentControl } from './agent-control.js';
import { removeAgentFile, writeAgentFile } from './agent-file.js';
import { controlRoutes, startControl, type ControlServer } from './control.js';
import { failure } from './errors.js';
import { attachInspector, type AttachedInspector } from './inspect.js';
import { MemberTable } from './members.js';
import { printEvent, stdoutClosed, type Output } from './output.js';
import { generateToken } from './secrets.js';

export interface AgentOptions {
  readonly name: string;
  readonly adapter: Adapter;
  readonly adapterKind: string;
  readonly seeds: readonly string[];
  readonly metadata: Record<string, string>;
  readonly control: Endpoint;
  readonly controlIsDefault: boolean;
  /**
   * Bearer token the control endpoint requires: the operator's, or undefined for one the agent
   * makes once the join's first exchange is over (the join does not wait for the crypto module).
   * A made token is printed with the page's URL.
   */
  readonly controlToken: string | undefined;
  /** Host names the control endpoint answers to beside loopback and IP addresses. */
  readonly controlAllowHosts: readonly string[];
  /** Event streams the control endpoint serves at once (default: from the open-file limit). */
  readonly controlMaxStreams: number | undefined;
  /** PEM certificate and key for HTTPS on the control endpoint, and the certificate's path for the agent file. */
  readonly controlTls: { readonly cert: Buffer; readonly key: Buffer; readonly certPath: string } | undefined;
  readonly joinTimeoutMs: number;
  /** Other members that must be up before health is Up. */
  readonly minPeers: number;
  readonly inspect: string | undefined;
  readonly output: Output;
  /** The timings in force, for `distribute info`. */
  readonly timings: Readonly<Record<string, number>>;
}

/** The options once the control endpoint's token is settled. */
interface ControlledAgent extends AgentOptions {
  readonly controlToken: string;
  /** True when the agent made the token: then the page's URL, with it, is printed. */
  readonly tokenGenerated: boolean;
}

/** What ends the agent: a signal, `distribute leave` through the control endpoint, or stdout's reader gone. */
type LeaveCause = NodeJS.Signals | 'control' | 'stdout';

/** Runs until a signal; resolves with the exit code. */
export async function runAgent(options: AgentOptions): Promise<number> {
  const { print, log } = options.output;
  const startedAt = performance.now();
  // Signals are handled from the first moment: one that arrives while starting stops the agent once it runs.
  const signals = new Signals();
  const dispatch = signals.dispatch;
  const inspector: AttachedInspector | undefined = options.inspect ? await attachInspector(options.inspect, log) : undefined;
  const table = new MemberTable();
  let control: ControlServer | undefined;

  const started = await discovery.startLink({
    nodeId: options.name,
    metadata: options.metadata,
    seedPeers: options.seeds,
    minPeers: options.minPeers,
    adapter: options.adapter,
    logger: log,
    ...(inspector ? { inspect: inspector.inspect } : {}),
  });
  if (!started.ok) {
    inspector?.stop();
    throw failure(started.error.message);
  }
  const self = started.value.self;

  let agentFile: string | undefined;
  // Removed however the process ends short of SIGKILL (a second signal exits at once).
  const forget = () => agentFile && removeAgentFile(agentFile);
  process.once('exit', forget);
  const shutdown = async (code: number) => {
    await discovery.stop();
    await control?.close();
    forget();
    process.off('exit', forget);
    inspector?.stop();
    return code;
  };

  // startLink has sent the join's push-pull; the control endpoint (HTTP, TLS, the handler) waits for
  // its answer, so that neither the request nor the announcement that follows the answer waits for it.
  if (options.seeds.length > 0) await firstAnswer(options.joinTimeoutMs);
  const controlled: ControlledAgent = { ...options, controlToken: options.controlToken ?? generateToken(), tokenGenerated: options.controlToken === undefined };
  try {
    control = await serveControl(controlled, table, self, () => dispatch('control'));
    agentFile = recordAgent(controlled, self, control.address);
  } catch (error) {
    await shutdown(1);
    throw error;
  }

  printStarted(print, self, controlled, control.address, agentFile, startedAt);

  let joined: () => void = () => {};
  const firstPeer = new Promise<void>((resolve) => (joined = resolve));
  discovery.subscribe(
    (event: DiscoveryEvent) => {
      table.record(event);
      printEvent(print, event);
      if (event.type === 'PeerUp') joined();
    },
    { replay: true },
  );
  const reached = await awaitJoin(options, firstPeer, startedAt);
  if (!reached) {
    await shutdown(1);
    throw failure(`cannot reach any seed (${options.seeds.join(', ')}) within ${options.joinTimeoutMs} ms`);
  }

  return untilLeave(options.output, signals, () => shutdown(0));
}

/**
 * Longest the control endpoint waits for the join's first answer: a round
 * trip on any network the agent joins over, and the seed's handling. A seed
 * that does not answer (yet) holds the endpoint back no longer than this.
 */
const CONTROL_AFTER_JOIN_MAX_MS = 200;

/** Resolves at the first member seen, or after `CONTROL_AFTER_JOIN_MAX_MS` (at most `joinTimeoutMs`, when set). */
async function firstAnswer(joinTimeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let id: ReturnType<typeof discovery.subscribe> | undefined;
  const bound = joinTimeoutMs > 0 ? Math.min(joinTimeoutMs, CONTROL_AFTER_JOIN_MAX_MS) : CONTROL_AFTER_JOIN_MAX_MS;
  await new Promise<void>((resolve) => {
    timer = setTimeout(resolve, bound);
    id = discovery.subscribe((event) => (event.type === 'PeerUp' ? resolve() : undefined), { replay: true });
  });
  clearTimeout(timer);
  if (id?.ok) discovery.unsubscribe(id.value);
}

/**
 * Writes the agent file the verbs read. One that cannot be written (a
 * read-only home) is a warning: the agent runs, and the verbs need the token
 * given to them.
 */
function recordAgent(options: ControlledAgent, self: PeerInfo, address: Endpoint): string | undefined {
  try {
    return writeAgentFile({
      name: self.id,
      pid: process.pid,
      control: formatAddress(address),
      scheme: options.controlTls ? 'https' : 'http',
      token: options.controlToken,
      ...(options.controlTls ? { tlsCert: options.controlTls.certPath } : {}),
    });
  } catch (error) {
    options.output.log.warn({}, `cannot write the agent file for the verbs: ${(error as Error).message}`);
    return undefined;
  }
}

/** The control endpoint: the HTTP handler, and the agent's own member table for `members`. */
function serveControl(options: ControlledAgent, table: MemberTable, self: PeerInfo, leave: () => void): Promise<ControlServer> {
  const source = agentControl(table, { self, adapter: options.adapterKind, startedAt: new Date(), timings: options.timings }, leave);
  return startControl(
    options.control,
    {
      handler: httpHandlerWith(
        {
          token: options.controlToken,
          allowedHosts: options.controlAllowHosts,
          ...(options.controlMaxStreams !== undefined ? { maxStreams: options.controlMaxStreams } : {}),
          // The agent also remembers who left or failed, which the adapter forgets.
          members: () => source.members(),
        },
        controlRoutes(source),
      ),
      ...(options.controlTls ? { tls: { cert: options.controlTls.cert, key: options.controlTls.key } } : {}),
    },
    options.controlIsDefault,
    connectionBound(options.controlMaxStreams),
  );
}

/** Connections the control endpoint takes: the streams, and room beside them for health and the verbs. */
function connectionBound(maxStreams: number | undefined): number {
  const streams = maxStreams ?? defaultMaxStreams();
  return streams + Math.max(32, Math.floor(streams / 4));
}

const ANY_INTERFACE = new Set(['0.0.0.0', '::']);

/** Where the control endpoint can be reached from, in words an operator checks. */
function reachableFrom(address: Endpoint): string {
  if (ANY_INTERFACE.has(address.host)) return `every interface of this host, port ${address.port}`;
  return isLoopbackHost(address.host) ? 'this host only (loopback)' : `the network, at ${formatAddress(address)}`;
}

function printStarted(print: AgentOptions['output']['print'], self: PeerInfo, options: ControlledAgent, address: Endpoint, agentFile: string | undefined, startedAt: number): void {
  const control = formatAddress(address);
  const scheme = options.controlTls ? 'https' : 'http';
  const pageHost = ANY_INTERFACE.has(address.host) ? formatAddress({ host: '127.0.0.1', port: address.port }) : control;
  // The token travels in the fragment, which the browser never sends; an operator's own token is not echoed.
  const page = `${scheme}://${pageHost}/${options.tokenGenerated ? `#token=${options.controlToken}` : ''}`;
  const reachable = reachableFrom(address);
  print(
    {
      event: 'AgentStarted',
      node: self.id,
      address: self.address ?? null,
      adapter: options.adapterKind,
      control,
      page,
      reachable,
      agentFile: agentFile ?? null,
      metadata: self.metadata,
      ms: Math.round(performance.now() - startedAt),
    },
    `agent ${self.id} started (${options.adapterKind}) on ${self.address ?? '-'}, control on ${control}, reachable from ${reachable}\n  page: ${page}${options.tokenGenerated ? '' : '#token=<your token>'}${agentFile ? `\n  token and address for the verbs: ${agentFile}` : ''}`,
  );
}

/**
 * Waits for the first peer when there are seeds, and prints `Joined`; false
 * when `joinTimeoutMs` passes first. With `joinTimeoutMs` 0 it does not wait:
 * it keeps looking (DNS seeds of a cluster still starting up) and prints
 * `Joined` when a peer comes.
 */
async function awaitJoin(options: AgentOptions, firstPeer: Promise<void>, startedAt: number): Promise<boolean> {
  const { print } = options.output;
  const reportJoined = () => {
    const peers = discovery.snapshot();
    const members = (peers.ok ? peers.value.length : 0) + 1;
    print(
      { event: 'Joined', seeds: options.seeds, members, ms: Math.round(performance.now() - startedAt) },
      `joined the cluster through ${options.seeds.join(', ')}: ${members} members`,
    );
  };
  if (options.seeds.length === 0) return true;
  if (options.joinTimeoutMs === 0) {
    void firstPeer.then(reportJoined);
    return true;
  }
  const timedOut = Symbol('timeout');
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    firstPeer,
    new Promise<symbol>((resolve) => (timer = setTimeout(() => resolve(timedOut), options.joinTimeoutMs))),
  ]);
  clearTimeout(timer);
  if (outcome === timedOut) return false;
  reportJoined();
  return true;
}

/** Signals and leave requests: the first is kept until the agent runs; a second signal exits at once. */
class Signals {
  cause: LeaveCause | undefined;
  private onLeave: ((cause: LeaveCause) => void) | undefined;

  constructor() {
    process.on('SIGINT', this.dispatch);
    process.on('SIGTERM', this.dispatch);
    // `distribute agent | head -1`: the reader is done, so the agent leaves as on SIGTERM, and exits 0.
    stdoutClosed().addEventListener('abort', () => this.dispatch('stdout'), { once: true });
  }

  readonly dispatch = (signal: LeaveCause): void => {
    // A second signal: do not wait for the graceful leave (a second leave request, or a closed stdout, changes nothing).
    if (this.cause && (signal === 'control' || signal === 'stdout')) return;
    if (this.cause) process.exit(signal === 'SIGINT' ? 130 : 143);
    this.cause = signal;
    this.onLeave?.(signal);
  };

  /** Calls `leave` for the first cause: at once if one came already. */
  whenLeaving(leave: (cause: LeaveCause) => void): void {
    this.onLeave = leave;
    if (this.cause) leave(this.cause);
  }

  detach(): void {
    process.off('SIGINT', this.dispatch);
    process.off('SIGTERM', this.dispatch);
  }
}

/** Resolves with the exit code once a signal or a leave request has stopped the agent. */
function untilLeave({ print, log }: Output, signals: Signals, shutdown: () => Promise<number>): Promise<number> {
  return new Promise<number>((resolve) => {
    signals.whenLeaving((cause) => {
      if (cause === 'stdout') log.info({}, 'stdout was closed by its reader: leaving the cluster');
      print(
        { event: 'Leaving', ...(cause === 'control' ? { requested: 'control' } : cause === 'stdout' ? { stdout: 'closed' } : { signal: cause }) },
        cause === 'control' ? 'asked to leave through the control endpoint, leaving the cluster' : `received ${cause}, leaving the cluster`,
      );
      void shutdown().then((code) => {
        signals.detach();
        print({ event: 'Stopped' }, 'left the cluster, exiting');
        resolve(code);
      });
    });
  });
}
