/**
 * The driver between the core and the I/O: the order in which a step's
 * effects come out, with a recording I/O in place of sockets.
 */
import { describe, expect, it } from 'vitest';
import { GossipDriver, type GossipIO } from '../../src/discovery/gossip/driver.js';
import { lanProfile } from '../../src/discovery/gossip/protocol/config.js';
import { createCore } from '../../src/discovery/gossip/protocol/core.js';

const NOW = 1_700_000_000_000;

/** An I/O that records what the driver asks of it; the report is handed on in a microtask, as the hub does. */
function recordingIo(order: string[]): GossipIO {
  return {
    now: () => NOW,
    sendPacket: (to) => order.push(`packet ${to}`),
    openStream: (to) => order.push(`stream ${to}`),
    pingStream: (to) => order.push(`ping ${to}`),
    resolveSeeds: () => undefined,
    schedule: () => undefined,
    report: (events) => {
      order.push('report');
      queueMicrotask(() => order.push(`delivered ${events.map((e) => ('member' in e ? `${e.type} ${e.member.id}` : e.type)).join(', ')}`));
    },
    watch: (address) => order.push(`watch ${address}`),
    unwatch: (address) => order.push(`unwatch ${address}`),
    leaveDone: () => undefined,
  };
}

describe('the gossip driver', () => {
  it("news of a new member reaches the report's subscribers before a watch connection to it opens", async () => {
    const order: string[] = [];
    const core = createCore({ config: lanProfile(), self: { id: 'a', address: '127.0.0.1:7001', metadata: {} }, seed: 1, now: NOW });
    const driver = new GossipDriver(core, recordingIo(order), { packetBytes: 1400 });
    driver.step({
      type: 'packet',
      from: '127.0.0.1:7002',
      msgs: [{ type: 'alive', id: 'b', address: '127.0.0.1:7002', incarnation: 1, metadata: {} }],
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(order.filter((line) => !line.startsWith('packet'))).toEqual(['report', 'delivered join b', 'watch 127.0.0.1:7002']);
  });

  it('a driver stopped before its watches were due opens none', async () => {
    const order: string[] = [];
    const core = createCore({ config: lanProfile(), self: { id: 'a', address: '127.0.0.1:7001', metadata: {} }, seed: 1, now: NOW });
    const driver = new GossipDriver(core, recordingIo(order), { packetBytes: 1400 });
    driver.step({ type: 'packet', from: '127.0.0.1:7002', msgs: [{ type: 'alive', id: 'b', address: '127.0.0.1:7002', incarnation: 1, metadata: {} }] });
    driver.stop();
    await new Promise((resolve) => setImmediate(resolve));
    expect(order.some((line) => line.startsWith('watch'))).toBe(false);
  });
});
