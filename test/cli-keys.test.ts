/** Cluster-wide key rotation: one `distribute keys` call reaches every live member over sealed streams. */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Keyring } from '../src/discovery/gossip/wire/crypto.js';
import { frameHeader, KIND_REQUEST } from '../src/discovery/gossip/net/framing.js';
import { encodeKeyOp } from '../src/discovery/gossip/wire/key-op.js';
import { freePort } from './support/processes.js';
import { agentArgs, killAll, runCli, startCli } from './support/cli.js';

afterEach(killAll);

const fingerprint = (key: string) => createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 16);

/** Sends one request frame to `to` and waits for the connection to close. */
function sendRequest(to: number, bytes: Uint8Array): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: to }, () => {
      socket.write(frameHeader(KIND_REQUEST, bytes.length));
      socket.end(bytes);
    });
    socket.on('data', () => {});
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
  });
}

async function unopened(control: string): Promise<number> {
  const info = JSON.parse((await runCli(['info', '--control', control, '--json'])).stdout) as { metrics: { backend: Record<string, number> } };
  return info.metrics.backend.unopenedMessages ?? 0;
}

describe('distribute keys across the cluster', () => {
  it('rotates three sealed agents from one key to another with one call per step from one agent, and refuses to remove a key in use', async () => {
    const [oldKey, newKey] = [(await runCli(['keygen'])).stdout.trim(), (await runCli(['keygen'])).stdout.trim()];
    const portA = await freePort();
    const a = startCli(agentArgs('ring-a', portA, '--key', oldKey));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const b = startCli(agentArgs('ring-b', await freePort(), '--key', oldKey, '--join', `127.0.0.1:${portA}`));
    const c = startCli(agentArgs('ring-c', await freePort(), '--key', oldKey, '--join', `127.0.0.1:${portA}`));
    const controlB = String((await b.waitFor((l) => l.event === 'AgentStarted')).control);
    const controlC = String((await c.waitFor((l) => l.event === 'AgentStarted')).control);
    await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'ring-b');
    await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'ring-c');
    const keys = (...args: string[]) => runCli(['keys', '--control', control, ...args]);

    const installed = await keys('--install', newKey);
    expect(installed.code).toBe(0);
    for (const name of ['ring-a', 'ring-b', 'ring-c']) expect(installed.stdout).toMatch(new RegExp(`^${name}\\s+ok`, 'm'));
    expect(installed.stdout).not.toContain(newKey);

    const listed = await keys('--list', '--json');
    expect(listed.code).toBe(0);
    const both = JSON.parse(listed.stdout) as { members: number; keys: { fingerprint: string; members: number; primary: number }[]; missing: string[] };
    expect(both.members).toBe(3);
    expect(both.missing).toEqual([]);
    expect(both.keys).toEqual([
      { fingerprint: fingerprint(oldKey), members: 3, primary: 3 },
      { fingerprint: fingerprint(newKey), members: 3, primary: 0 },
    ]);
    expect(listed.stdout).not.toContain(newKey);

    expect((await keys('--use', fingerprint(newKey))).code).toBe(0);
    // The key every member seals with cannot go: the refusal names who still seals with it.
    const refused = await keys('--remove', fingerprint(newKey));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('ring-a');
    expect(refused.stderr).toContain('ring-b');
    expect(refused.stderr).toContain('ring-c');
    expect((await keys('--remove', oldKey)).code).toBe(0);

    for (const at of [control, controlB, controlC]) {
      const local = await runCli(['keys', '--control', at, '--local', '--list', '--json']);
      expect(JSON.parse(local.stdout)).toEqual({ primary: fingerprint(newKey), keys: [{ fingerprint: fingerprint(newKey), primary: true }] });
    }
    const stale = await runCli(agentArgs('ring-old', await freePort(), '--key', oldKey, '--join', `127.0.0.1:${portA}`, '--join-timeout', '1000'));
    expect(stale.code).toBe(1);
    expect([...a.lines, ...b.lines, ...c.lines].filter((l) => typeof l === 'object' && l.event === 'PeerDown')).toEqual([]);

    // A member that does not answer is named, and the call fails.
    c.child.kill('SIGSTOP');
    try {
      const partial = await keys('--list');
      expect(partial.code).toBe(1);
      expect(partial.stdout + partial.stderr).toMatch(/ring-c.*(did not answer|timeout|no answer)/i);
      expect(partial.stdout).toMatch(/^ring-b\s+ok/m);
    } finally {
      c.child.kill('SIGCONT');
    }
  });

  it('drops a key operation sealed with a key the cluster does not hold, and counts it', async () => {
    const [key, outsiderKey, planted] = [(await runCli(['keygen'])).stdout.trim(), (await runCli(['keygen'])).stdout.trim(), (await runCli(['keygen'])).stdout.trim()];
    const port = await freePort();
    const a = startCli(agentArgs('keep-a', port, '--key', key));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const before = await unopened(control);
    const forged = new Keyring([outsiderKey]).seal(encodeKeyOp({ type: 'keyOp', op: 'install', arg: planted }), '');
    await sendRequest(port, forged);
    // Counters reach `info` with the next sync.
    let after = before;
    for (let tries = 0; tries < 40 && after <= before; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      after = await unopened(control);
    }
    expect(after).toBeGreaterThan(before);
    const local = await runCli(['keys', '--control', control, '--local', '--list', '--json']);
    expect(JSON.parse(local.stdout)).toEqual({ primary: fingerprint(key), keys: [{ fingerprint: fingerprint(key), primary: true }] });
    // The same frame sealed with the cluster's key is applied: what kept the first one out is the key alone.
    await sendRequest(port, new Keyring([key]).seal(encodeKeyOp({ type: 'keyOp', op: 'install', arg: planted }), ''));
    const installed = await runCli(['keys', '--control', control, '--local', '--list', '--json']);
    expect(JSON.parse(installed.stdout)).toEqual({
      primary: fingerprint(key),
      keys: [{ fingerprint: fingerprint(key), primary: true }, { fingerprint: fingerprint(planted), primary: false }],
    });
  });

  it('an unsealed cluster has no keys to rotate', async () => {
    const a = startCli(agentArgs('open-a', await freePort()));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const listed = await runCli(['keys', '--control', control, '--list']);
    expect(listed.code).not.toBe(0);
    expect(listed.stderr).toMatch(/keys/i);
  });
});
