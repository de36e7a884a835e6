/**
 * `distribute agent`: start discovery through the facade, print every
 * membership change, serve the member table on the control endpoint, leave
 * gracefully on SIGINT/SIGTERM.
 */
import * as discovery from '../discovery.js';
import type { Adapter, DiscoveryEvent } from '../discovery.js';
import { formatAddress, type HostPort } from './args.js';
import { agentControl } from './agent-control.js';
import { startControl, type ControlServer } from './control.js';
import { failure } from './errors.js';
import { attachInspector, type AttachedInspector } from './inspect.js';
import { MemberTable } from './members.js';
import { printEvent, type Output } from './output.js';

export interface AgentOptions {
  readonly name: string;
  readonly adapter: Adapter;
  readonly adapterKind: string;
  readonly seeds: readonly string[];
  readonly metadata: Record<string, string>;
  readonly control: HostPort;
  readonly controlIsDefault: boolean;
  /** Bearer token the control endpoint requires, if any. */
  readonly controlToken: string | undefined;
  readonly joinTimeoutMs: number;
  readonly inspect: string | undefined;
  readonly output: Output;
  /** The timings in force, for `distribute info`. */
  readonly timings: Readonly<Record<string, number>>;
}

/** What ends the agent: a signal, or `distribute leave` through the control endpoint. */
type LeaveCause = NodeJS.Signals | 'control';

/** Runs until a signal; resolves with the exit code. */
export async function runAgent(options: AgentOptions): Promise<number> {
  const { print, log } = options.output;
  const startedAt = performance.now();
  // Signals are handled from the first moment: one that arrives while starting stops the agent once it runs.
  let signalled: LeaveCause | undefined;
  let onSignal = (signal: LeaveCause) => {
    if (signalled && signal === 'control') return;
    if (signalled) process.exit(signal === 'SIGINT' ? 130 : 143);
    signalled = signal;
  };
  const dispatch = (signal: LeaveCause) => onSignal(signal);
  process.on('SIGINT', dispatch);
  process.on('SIGTERM', dispatch);
  const inspector: AttachedInspector | undefined = options.inspect ? await attachInspector(options.inspect, log) : undefined;
  const table = new MemberTable();
  let control: ControlServer | undefined;

  const started = await discovery.startLink({
    nodeId: options.name,
    metadata: options.metadata,
    seedPeers: options.seeds,
    adapter: options.adapter,
    logger: log,
    ...(inspector ? { inspect: inspector.inspect } : {}),
  });
  if (!started.ok) {
    inspector?.stop();
    throw failure(started.error.message);
  }
  const self = started.value.self;

  const shutdown = async (code: number) => {
    await discovery.stop();
    await control?.close();
    inspector?.stop();
    return code;
  };

  try {
    const source = agentControl(table, { self, adapter: options.adapterKind, startedAt: new Date(), timings: options.timings }, () => dispatch('control'));
    control = await startControl(
      options.control,
      {
        handler: discovery.httpHandler({
          ...(options.controlToken !== undefined ? { token: options.controlToken } : {}),
          // The agent also remembers who left or failed, which the adapter forgets.
          members: () => source.members(),
        }),
        source,
        token: options.controlToken,
      },
      options.controlIsDefault,
    );
  } catch (error) {
    await shutdown(1);
    throw error;
  }

  print(
    {
      event: 'AgentStarted',
      node: self.id,
      address: self.address ?? null,
      adapter: options.adapterKind,
      control: formatAddress(control.address),
      metadata: self.metadata,
      ms: Math.round(performance.now() - startedAt),
    },
    `agent ${self.id} started (${options.adapterKind}) on ${self.address ?? '-'}, control on ${formatAddress(control.address)}`,
  );

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

  const reportJoined = () => {
    const peers = discovery.snapshot();
    print(
      { event: 'Joined', seeds: options.seeds, members: (peers.ok ? peers.value.length : 0) + 1, ms: Math.round(performance.now() - startedAt) },
      `joined the cluster through ${options.seeds.join(', ')}: ${(peers.ok ? peers.value.length : 0) + 1} members`,
    );
  };
  if (options.seeds.length > 0 && options.joinTimeoutMs === 0) {
    // No deadline: keep looking for peers (DNS seeds of a cluster still starting up).
    void firstPeer.then(reportJoined);
  } else if (options.seeds.length > 0) {
    const timedOut = Symbol('timeout');
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      firstPeer,
      new Promise<symbol>((resolve) => (timer = setTimeout(() => resolve(timedOut), options.joinTimeoutMs))),
    ]);
    clearTimeout(timer);
    if (outcome === timedOut) {
      await shutdown(1);
      throw failure(`cannot reach any seed (${options.seeds.join(', ')}) within ${options.joinTimeoutMs} ms`);
    }
    reportJoined();
  }

  return new Promise<number>((resolve) => {
    const leave = (cause: LeaveCause) => {
      print(
        { event: 'Leaving', ...(cause === 'control' ? { requested: 'control' } : { signal: cause }) },
        cause === 'control' ? 'asked to leave through the control endpoint, leaving the cluster' : `received ${cause}, leaving the cluster`,
      );
      void shutdown(0).then((code) => {
        process.off('SIGINT', dispatch);
        process.off('SIGTERM', dispatch);
        print({ event: 'Stopped' }, 'left the cluster, exiting');
        resolve(code);
      });
    };
    onSignal = (signal) => {
      // A second signal: do not wait for the graceful leave (a second leave request changes nothing).
      if (signalled && signal === 'control') return;
      if (signalled) process.exit(signal === 'SIGINT' ? 130 : 143);
      signalled = signal;
      leave(signal);
    };
    if (signalled) leave(signalled);
  });
}
