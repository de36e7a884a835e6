/**
 * The adapter contract keeps a session's commands in the order they were
 * sent. `setMetadata`, `sync` and `stop` are issued back to back in every
 * order on each adapter (memory, static, gossip on loopback, and one written
 * here with `defineAdapter`), and what the other members see is checked: no
 * ghost `PeerUp` after `PeerDown (Left)`, the stopped peer gone from
 * `snapshot()` and `lookup()`, `onPeerUp` called once.
 */
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import {
  defineAdapter,
  gossipAdapter,
  memoryAdapter,
  staticAdapter,
  type Adapter,
  type BackendContext,
  type DiscoveryEvent,
  type PeerInfo,
} from 'distribute/discovery';
import { eventually, sleep, unwrap } from './support/index.js';

type Step = 'setMetadata' | 'sync' | 'stop';

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}
const ORDERS = permutations<Step>(['setMetadata', 'sync', 'stop']);

const names: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  for (const name of names.splice(0)) await discovery.bind({ name }).stop(2000);
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

let run = 0;

/**
 * A custom adapter on a shared in-test board. Its calls are slow (a few ms,
 * like a store round trip) and it has no guard of its own against metadata
 * after leave: only the order in which `defineAdapter` runs commands keeps
 * a left member from coming back. Each session logs the calls it gets.
 */
function boardAdapter(board: Map<string, { info: PeerInfo; context: BackendContext }>, calls: Map<string, string[]>): Adapter {
  const roundTrip = () => sleep(3);
  return defineAdapter('board', async (context) => {
    const id = context.input.self.id;
    const log: string[] = [];
    calls.set(id, log);
    const tell = (change: Parameters<BackendContext['report']>[0][number]) => {
      for (const [other, member] of board) if (other !== id) member.context.report([change]);
    };
    const me = { info: { ...context.input.self }, context };
    board.set(id, me);
    tell({ type: 'up', peer: me.info });
    context.report([...board.values()].filter((m) => m !== me).map((m) => ({ type: 'up' as const, peer: m.info })));
    return {
      self: me.info,
      sync: async () => {
        log.push('sync');
        await roundTrip();
        return { peers: [...board.values()].filter((m) => m !== me).map((m) => m.info) };
      },
      setMetadata: async (metadata) => {
        log.push('setMetadata');
        await roundTrip();
        me.info = { ...me.info, metadata };
        board.set(id, me);
        tell({ type: 'up', peer: me.info });
      },
      leave: async () => {
        log.push('leave');
        await roundTrip();
        board.delete(id);
        tell({ type: 'down', id, reason: { type: 'Left' } });
      },
      close: () => {
        log.push('close');
        if (board.get(id) === me) {
          board.delete(id);
          tell({ type: 'down', id, reason: { type: 'Failed', message: 'closed without leaving' } });
        }
      },
    };
  });
}

interface Cluster {
  /** Adapter for the observer and the subject; the subject seeds through `seeds`. */
  adapter(): Adapter;
  seeds?: (observer: discovery.Discovery) => string[];
  /** How long a late ghost could take to show up. */
  quietMs: number;
  /** Whether metadata set before the stop must reach the observer before the PeerDown. */
  metadataArrivesBeforeLeave: boolean;
  calls?: Map<string, string[]>;
}

const clusters: Record<string, () => Cluster> = {
  memory: () => {
    const group = `order-${process.pid}-${run++}`;
    return { adapter: () => memoryAdapter({ group }), quietMs: 50, metadataArrivesBeforeLeave: true };
  },
  'custom (defineAdapter)': () => {
    const board = new Map<string, { info: PeerInfo; context: BackendContext }>();
    const calls = new Map<string, string[]>();
    return { adapter: () => boardAdapter(board, calls), quietMs: 50, metadataArrivesBeforeLeave: true, calls };
  },
  'gossip (loopback)': () => ({
    adapter: () => gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' }),
    seeds: (observer) => [unwrap(observer.self()).address!],
    quietMs: 600,
    // Gossip may fold the update into the leave; it must never come after it.
    metadataArrivesBeforeLeave: false,
  }),
};

async function issue(order: readonly Step[], subject: discovery.Discovery, handle: discovery.AdapterHandle) {
  let stopping: Promise<discovery.Result<void>> | undefined;
  for (const step of order) {
    if (step === 'setMetadata') subject.setMetadata({ k: 'w' });
    if (step === 'sync') handle.actor.send({ type: 'sync' });
    if (step === 'stop') stopping = subject.stop(5000);
  }
  return stopping!;
}

for (const [kind, makeCluster] of Object.entries(clusters)) {
  describe(`command order on the ${kind} adapter`, () => {
    for (const order of ORDERS) {
      it(`${order.join(', ')}: the others see one PeerUp, then PeerDown (Left), and nothing after`, async () => {
        const cluster = makeCluster();
        const id = `${run++}`;
        const [observerName, subjectName] = [`obs-${id}`, `sub-${id}`];
        const ups: string[] = [];
        names.push(observerName, subjectName);
        unwrap(
          await discovery.startLink({
            name: observerName,
            nodeId: observerName,
            adapter: cluster.adapter(),
            // No periodic sync: a ghost must not be hidden by a later reconciliation.
            syncIntervalMs: 60_000,
            onPeerUp: (peer) => ups.push(peer.id),
          }),
        );
        const observer = discovery.bind({ name: observerName });
        const seen: DiscoveryEvent[] = [];
        unwrap(observer.subscribe((event) => void (event.peer.id === subjectName && seen.push(event))));
        const handle = unwrap(
          await discovery.startLink({
            name: subjectName,
            nodeId: subjectName,
            adapter: cluster.adapter(),
            metadata: { k: 'v' },
            syncIntervalMs: 60_000,
            seedPeers: cluster.seeds?.(observer) ?? [],
          }),
        );
        const subject = discovery.bind({ name: subjectName });
        // Both ways: a member that does not know anyone yet has nobody to say goodbye to.
        await eventually(
          () => observer.lookup(subjectName).ok && subject.lookup(observerName).ok,
          5000,
          'the observer and the subject to see each other',
        );

        unwrap(await issue(order, subject, handle));
        await eventually(() => seen.some((e) => e.type === 'PeerDown'), 5000, 'the observer to see the subject leave');
        await sleep(cluster.quietMs);

        const downAt = seen.findIndex((e) => e.type === 'PeerDown');
        expect(seen.slice(downAt).map((e) => e.type)).toEqual(['PeerDown']);
        expect(seen[downAt]).toMatchObject({ type: 'PeerDown', reason: { type: 'Left' } });
        expect(seen[0]).toMatchObject({ type: 'PeerUp' });
        expect(ups.filter((up) => up === subjectName)).toHaveLength(1);
        expect(unwrap(observer.snapshot()).map((p) => p.id)).not.toContain(subjectName);
        expect(observer.lookup(subjectName)).toMatchObject({ ok: false, error: { type: 'PeerNotFound' } });

        const metadataBeforeStop = order.indexOf('setMetadata') < order.indexOf('stop');
        if (!metadataBeforeStop) {
          // Metadata sent after stop never goes out.
          expect(seen.every((e) => e.peer.metadata.k === 'v')).toBe(true);
        } else if (cluster.metadataArrivesBeforeLeave) {
          expect(seen.map((e) => e.type)).toEqual(['PeerUp', 'PeerUpdate', 'PeerDown']);
          expect(seen[2]!.peer.metadata).toEqual({ k: 'w' });
        }

        const calls = cluster.calls?.get(subjectName);
        if (calls) {
          // Syncs may be dropped once a leave supersedes them; the rest arrive in the order sent, close last.
          const sent = order.slice(0, order.indexOf('stop') + 1).map((step) => (step === 'stop' ? 'leave' : step));
          expect(calls.filter((call) => call !== 'sync')).toEqual([...sent.filter((call) => call !== 'sync'), 'close']);
          expect(calls.indexOf('leave')).toBe(calls.length - 2);
        }
      });
    }
  });
}

describe('command order on the static adapter', () => {
  for (const order of ORDERS) {
    it(`${order.join(', ')}: its peer comes up once and nothing is delivered after stop`, async () => {
      const server = createServer((socket) => socket.destroy());
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
      const name = `static-${run++}`;
      names.push(name);
      const ups: string[] = [];
      const handle = unwrap(
        await discovery.startLink({
          name,
          adapter: staticAdapter(),
          seedPeers: [address],
          metadata: { k: 'v' },
          syncIntervalMs: 60_000,
          onPeerUp: (peer) => ups.push(peer.id),
        }),
      );
      const subject = discovery.bind({ name });
      const seen: DiscoveryEvent[] = [];
      unwrap(subject.subscribe((event) => void seen.push(event), { replay: true }));
      await eventually(() => seen.length === 1, 5000, 'the static peer to come up');

      unwrap(await issue(order, subject, handle));
      const delivered = seen.length;
      await sleep(50);
      expect(seen.length).toBe(delivered);
      expect(seen.map((e) => `${e.type}:${e.peer.id}`)).toEqual([`PeerUp:${address}`]);
      expect(ups).toEqual([address]);
      expect(subject.health()).toEqual({ type: 'Down', reason: 'Discovery process not found' });
    });
  }
});

describe('commands sent while the backend starts', () => {
  it('wait for it, in order, and the metadata set meanwhile is kept', async () => {
    let release: (() => void) | undefined;
    const calls: string[] = [];
    const slow = defineAdapter('slow-start', async ({ input }) => {
      await new Promise<void>((resolve) => (release = resolve));
      return {
        self: input.self,
        sync: async () => {
          calls.push('sync');
          return {};
        },
        setMetadata: (metadata) => void calls.push(`setMetadata ${metadata.k}`),
        close: () => void calls.push('close'),
      };
    });
    const name = `slow-${run++}`;
    names.push(name);
    const starting = discovery.startLink({ name, adapter: slow, metadata: { k: 'v' }, syncIntervalMs: 60_000 });
    const facade = discovery.bind({ name });
    await eventually(() => release !== undefined, 2000, 'the backend to start starting');
    unwrap(facade.setMetadata({ k: 'w' }));
    unwrap(facade.setMetadata({ k: 'x' }));
    release!();
    unwrap(await starting);
    await eventually(() => calls.includes('sync'), 2000, 'the first sync');
    expect(calls).toEqual(['setMetadata w', 'setMetadata x', 'sync']);
    expect(unwrap(facade.self()).metadata).toEqual({ k: 'x' });
    unwrap(await facade.stop());
    expect(calls.at(-1)).toBe('close');
  });
});
