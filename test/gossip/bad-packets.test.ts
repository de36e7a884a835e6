/**
 * A live gossip member takes random, truncated, oversized and future-version
 * input on its UDP and TCP ports: it counts and drops them, stays up, and
 * keeps serving its real peers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import * as discovery from 'distribute/discovery';
import { gossipAdapter } from 'distribute/discovery';
import { encodePackets, PROTOCOL_VERSION } from '../../src/discovery/gossip/wire/codec.js';
import { eventually, unwrap } from '../support/index.js';

afterEach(async () => {
  await discovery.stop(2000);
  await discovery.bind({ name: 'peer' }).stop(2000);
});

const local = () => gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' });

function sendUdp(port: number, payloads: Buffer[]): Promise<void> {
  const socket = createSocket('udp4');
  return new Promise((resolve) => {
    let left = payloads.length;
    for (const payload of payloads) {
      socket.send(payload, port, '127.0.0.1', () => {
        if (--left === 0) {
          socket.close();
          resolve();
        }
      });
    }
  });
}

function sendTcp(port: number, payload: Buffer, endAfterWrite = true): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(payload, () => {
        if (endAfterWrite) socket.end();
      });
    });
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.resume();
  });
}

describe('bad input on the wire', () => {
  it('counts and drops garbage on UDP and TCP, and stays up and useful', async () => {
    unwrap(await discovery.startLink({ adapter: local(), nodeId: 'target', syncIntervalMs: 50 }));
    const port = Number(unwrap(discovery.self()).address!.split(':')[1]);
    unwrap(await discovery.startLink({ name: 'peer', adapter: local(), nodeId: 'peer', seedPeers: [`127.0.0.1:${port}`] }));
    await eventually(() => discovery.lookup('peer').ok, 5000, 'the peer to join');

    const valid = encodePackets([{ type: 'ack', seq: 1 } as never], 1400)[0]!;
    const future = Buffer.from(valid);
    future[0] = PROTOCOL_VERSION + 1;
    const udpGarbage = [
      ...Array.from({ length: 200 }, (_, i) => randomBytes(1 + (i % 300))),
      Buffer.from(valid).subarray(0, Math.max(1, valid.length - 2)),
      future,
      Buffer.alloc(0),
    ];
    await sendUdp(port, udpGarbage);
    await sendTcp(port, randomBytes(4096));
    await sendTcp(port, Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff]), randomBytes(100)]));
    await sendTcp(port, Buffer.from([0, 0, 0, 50, 1, 2, 3]));

    await eventually(() => {
      const backend = unwrap(discovery.metrics()).backend;
      return (backend.malformedPackets ?? 0) >= 150 && (backend.malformedStreams ?? 0) >= 2;
    }, 5000, 'the garbage to be counted');
    expect(discovery.health().type).not.toBe('Down');

    // Still a working member: a metadata change reaches the peer.
    unwrap(discovery.setMetadata({ still: 'here' }));
    const peerView = discovery.bind({ name: 'peer' });
    await eventually(() => {
      const seen = peerView.lookup('target');
      return seen.ok && seen.value.metadata.still === 'here';
    }, 5000, 'the metadata update to reach the peer');
  });
});
