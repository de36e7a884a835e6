/** The `distribute` command, run as real child processes on loopback. */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { WebSocketServer } from 'ws';
import { freePort } from './support/processes.js';
import { agentArgs, killAll, runCli, startCli } from './support/cli.js';

afterEach(killAll);

describe('distribute agent and members', () => {
  it('two agents join, list each other, and one leaving is seen as a leave', async () => {
    const portA = await freePort();
    const a = startCli(agentArgs('alpha', portA, '--meta', 'role=web'));
    const startedA = await a.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start');
    expect(startedA).toMatchObject({ node: 'alpha', address: `127.0.0.1:${portA}`, adapter: 'gossip', metadata: { role: 'web' } });

    const portB = await freePort();
    const b = startCli(agentArgs('beta', portB, '--join', `127.0.0.1:${portA}`, '--meta', 'role=db', '--meta', 'zone=b'));
    await b.waitFor((l) => l.event === 'Joined', 10_000, 'beta to join');
    await b.waitFor((l) => l.event === 'PeerUp' && l.peer === 'alpha', 5000, 'beta: PeerUp alpha');
    const upAtA = await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'beta', 5000, 'alpha: PeerUp beta');
    expect(upAtA).toMatchObject({ address: `127.0.0.1:${portB}`, metadata: { role: 'db', zone: 'b' } });

    // members through alpha's control endpoint
    const control = String(startedA.control);
    const listed = await runCli(['members', '--control', control, '--json']);
    expect(listed.code).toBe(0);
    const rows = JSON.parse(listed.stdout) as { name: string; status: string; address: string; metadata: Record<string, string> }[];
    expect(rows.map((r) => [r.name, r.status]).sort()).toEqual([['alpha', 'alive'], ['beta', 'alive']]);
    expect(rows.find((r) => r.name === 'beta')!.metadata).toEqual({ role: 'db', zone: 'b' });

    // the readable table, filtered
    const table = await runCli(['members', '--control', control, '--meta', 'role=db']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+ADDRESS\s+STATUS\s+METADATA$/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(new RegExp(`^beta\\s+127\\.0\\.0\\.1:${portB}\\s+alive\\s+role=db,zone=b$`));

    // members by joining as an observer
    const observed = await runCli(['members', '--join', `127.0.0.1:${portB}`, '--json']);
    expect(observed.code).toBe(0);
    expect((JSON.parse(observed.stdout) as { name: string }[]).map((r) => r.name).sort()).toEqual(['alpha', 'beta']);

    // SIGTERM to beta: alpha sees it leave, beta exits 0
    b.child.kill('SIGTERM');
    const down = await a.waitFor((l) => l.event === 'PeerDown' && l.peer === 'beta', 5000, 'alpha: PeerDown beta');
    expect(down.reason).toBe('left');
    expect((await b.exited).code).toBe(0);

    const after = await runCli(['members', '--control', control, '--json', '--status', 'left']);
    expect((JSON.parse(after.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['beta']);

    a.child.kill('SIGINT');
    expect((await a.exited).code).toBe(0);
  });

  it('prints readable lines on a terminal-like request and parsable JSON lines otherwise', async () => {
    const port = await freePort();
    const a = startCli(agentArgs('solo', port, '--json'));
    const started = await a.waitFor((l) => l.event === 'AgentStarted');
    for (const line of a.lines) expect(typeof line).toBe('object');
    expect(started).toHaveProperty('time');
    expect(started).toHaveProperty('msg');
    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
  });
});

describe('the control endpoint: monitor, token, metrics', () => {
  it('monitor prints the replay and live events; members and monitor need the token the agent requires', async () => {
    const portA = await freePort();
    const secrets = mkdtempSync(join(tmpdir(), 'distribute-secrets-'));
    const tokenFile = join(secrets, 'token');
    writeFileSync(tokenFile, 'sesame\n', { mode: 0o600 });
    const a = startCli(agentArgs('alpha', portA, '--control-token-file', tokenFile));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const b = startCli(agentArgs('beta', await freePort(), '--join', `127.0.0.1:${portA}`, '--meta', 'role=db'));
    await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'beta', 10_000, 'alpha: PeerUp beta');

    // As another user sees it: no access to this user's agent files.
    const elsewhere = { XDG_RUNTIME_DIR: secrets };
    const refused = await runCli(['members', '--control', control], 15_000, elsewhere);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('needs its token');
    expect((await runCli(['members', '--control', control, '--control-token-file', tokenFile, '--json'], 15_000, elsewhere)).code).toBe(0);
    // The token on the command line still works, with a warning that others can read it.
    const visible = await runCli(['members', '--control', control, '--control-token', 'sesame', '--json'], 15_000, elsewhere);
    expect(visible.code).toBe(0);
    expect(visible.stderr).toContain('process list');
    expect((await fetch(`http://${control}/metrics`)).status).toBe(401);
    const metrics = await fetch(`http://${control}/metrics`, { headers: { authorization: 'Bearer sesame' } });
    expect(await metrics.text()).toMatch(/^discovery_members\{status="alive"\} 1$/m);
    // The page's own files need no token: the token goes in the page's URL (#token=...).
    expect((await fetch(`http://${control}/`)).status).toBe(200);

    const monitor = startCli(['monitor', '--control', control, '--json'], { DISTRIBUTE_CONTROL_TOKEN: 'sesame', ...elsewhere });
    await monitor.waitFor((l) => l.event === 'Health', 10_000, 'Health');
    await monitor.waitFor((l) => l.event === 'PeerUp' && l.peer === 'beta', 10_000, 'replayed PeerUp beta');
    b.child.kill('SIGTERM');
    const down = await monitor.waitFor((l) => l.event === 'PeerDown' && l.peer === 'beta', 10_000, 'PeerDown beta');
    expect(down.reason).toBe('left');
    const events = monitor.lines.filter((l): l is Record<string, unknown> => typeof l === 'object').map((l) => `${l.event}:${l.peer ?? l.state}`);
    expect(events).toEqual(['Health:up', 'PeerUp:beta', 'PeerDown:beta']);
    // When the agent goes away, monitor says so and exits 1.
    a.child.kill('SIGTERM');
    expect((await monitor.exited).code).toBe(1);
    expect(monitor.stderr.join('')).toContain('the agent closed the event stream');
    rmSync(secrets, { recursive: true, force: true });
  });
});

describe('errors a person can act on', () => {
  it('a bad flag exits 2 with one line naming it', async () => {
    const result = await runCli(['agent', '--bogus']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain("'--bogus'");
  });

  it('an invalid metadata pair exits 2 naming it', async () => {
    const result = await runCli(['agent', '--meta', 'novalue']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('distribute: --meta expects key=value, got "novalue"\n');
  });

  it('an empty or spaced control token exits 2 naming the flag', async () => {
    for (const token of ['', 'two words']) {
      const result = await runCli(['agent', '--control-token', token]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('--control-token expects a non-empty token without spaces');
    }
  });

  it('an unknown adapter or profile exits 2', async () => {
    expect((await runCli(['agent', '--adapter', 'zookeeper'])).code).toBe(2);
    expect((await runCli(['agent', '--profile', 'wan'])).stderr).toContain('--profile must be one of lan, local');
  });

  it('a port in use exits 1 naming the address', async () => {
    const port = await freePort();
    const udp = createSocket('udp4');
    await new Promise<void>((resolve) => udp.bind(port, '127.0.0.1', () => resolve()));
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const result = await runCli(agentArgs('blocked', port));
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(`127.0.0.1:${port}`);
      expect(result.stderr).toMatch(/in use/i);
    } finally {
      udp.close();
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('an unreachable seed exits 1 naming it', async () => {
    const port = await freePort();
    const dead = await freePort();
    const result = await runCli(agentArgs('lonely', port, '--join', `127.0.0.1:${dead}`, '--join-timeout', '1500'));
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot reach any seed (127.0.0.1:${dead}) within 1500 ms`);
  });

  it('members with no agent listening exits 1 and says what to do', async () => {
    const dead = await freePort();
    const result = await runCli(['members', '--control', `127.0.0.1:${dead}`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`no agent at 127.0.0.1:${dead} (connection refused)`);
  });
});

describe('inspection from the command line', () => {
  it('streams the adapter snapshots to an inspector server the test runs', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    const received: { type: string; snapshot?: { context?: { self?: { id?: string } } } }[] = [];
    server.on('connection', (socket) => socket.on('message', (data) => received.push(JSON.parse(String(data)))));
    try {
      const port = await freePort();
      const a = startCli(agentArgs('watched', port, '--inspect', `ws://127.0.0.1:${(server.address() as { port: number }).port}`));
      await a.waitFor((l) => l.event === 'AgentStarted');
      const deadline = Date.now() + 5000;
      while (!received.some((m) => m.type === '@xstate.snapshot' && m.snapshot?.context?.self?.id === 'watched')) {
        if (Date.now() > deadline) throw new Error('no snapshot reached the inspector server');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      a.child.kill('SIGTERM');
      expect((await a.exited).code).toBe(0);
    } finally {
      for (const client of server.clients) client.terminate();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('runs without an inspector when none listens, warns, and still exits cleanly', async () => {
    const port = await freePort();
    const nobody = await freePort();
    const a = startCli(agentArgs('unwatched', port, '--inspect', `ws://127.0.0.1:${nobody}`, '--log-level', 'warn'));
    await a.waitFor((l) => l.event === 'AgentStarted');
    a.child.kill('SIGTERM');
    const exit = await a.exited;
    expect(exit.code).toBe(0);
    expect(a.stderr.join('')).toContain('is not reachable');
  });
});

describe('sealed clusters from the command line', () => {
  it('agents sharing a key join; members --join with the key lists them; a bad key is a usage error', async () => {
    const keygen = await runCli(['keygen']);
    expect(keygen.code).toBe(0);
    const key = keygen.stdout.trim();
    expect(Buffer.from(key, 'base64')).toHaveLength(32);
    const portA = await freePort();
    const a = startCli(agentArgs('sealed-a', portA, '--key', key, '--label', 'test'));
    await a.waitFor((l) => l.event === 'AgentStarted');
    const b = startCli(agentArgs('sealed-b', await freePort(), '--key', key, '--label', 'test', '--join', `127.0.0.1:${portA}`));
    await b.waitFor((l) => l.event === 'Joined');
    const listed = await runCli(['members', '--join', `127.0.0.1:${portA}`, '--key', key, '--label', 'test', '--json']);
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((r) => r.name).sort()).toEqual(['sealed-a', 'sealed-b']);
    const outsider = await runCli(agentArgs('outsider', await freePort(), '--join', `127.0.0.1:${portA}`, '--join-timeout', '1000'));
    expect(outsider.code).toBe(1);
    const bad = await runCli(['agent', '--key', 'not-a-key']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--key expects 32 bytes in base64');
  });

  it('keys --local rotates two running agents one at a time from one key to another through their control endpoints, with no restart and no PeerDown', async () => {
    const [oldKey, newKey] = [(await runCli(['keygen'])).stdout.trim(), (await runCli(['keygen'])).stdout.trim()];
    const portA = await freePort();
    const a = startCli(agentArgs('rot-a', portA, '--key', oldKey));
    const controlA = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const b = startCli(agentArgs('rot-b', await freePort(), '--key', oldKey, '--join', `127.0.0.1:${portA}`));
    const controlB = String((await b.waitFor((l) => l.event === 'AgentStarted')).control);
    await a.waitFor((l) => l.event === 'PeerUp' && l.peer === 'rot-b');
    const keys = (control: string, ...args: string[]) => runCli(['keys', '--control', control, '--local', ...args]);

    for (const control of [controlA, controlB]) expect((await keys(control, '--install', newKey)).code).toBe(0);
    for (const control of [controlA, controlB]) expect((await keys(control, '--use', newKey)).code).toBe(0);
    for (const control of [controlA, controlB]) expect((await keys(control, '--remove', oldKey)).code).toBe(0);
    // Fingerprints only (the first 8 bytes of the key's SHA-256): the keys themselves never leave the agent.
    const fingerprint = (key: string) => createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 16);
    const listed = await keys(controlA, '--list', '--json');
    expect(JSON.parse(listed.stdout)).toEqual({ primary: fingerprint(newKey), keys: [{ fingerprint: fingerprint(newKey), primary: true }] });
    expect(listed.stdout).not.toContain(newKey);
    expect((await keys(controlB, '--list')).stdout.trim()).toBe(`${fingerprint(newKey)}  (primary)`);

    // Sealed with the new key only: an agent holding only the old one is shut out.
    const stale = await runCli(agentArgs('rot-old', await freePort(), '--key', oldKey, '--join', `127.0.0.1:${portA}`, '--join-timeout', '1000'));
    expect(stale.code).toBe(1);
    expect([...a.lines, ...b.lines].filter((l) => typeof l === 'object' && l.event === 'PeerDown')).toEqual([]);

    const misuse = await keys(controlA, '--remove', fingerprint(newKey));
    expect(misuse.code).toBe(2);
    expect(misuse.stderr).toContain('primary');
    expect((await keys(controlA, '--list', '--use', newKey)).code).toBe(2);
    expect((await keys(controlA, '--install', 'not-a-key')).code).toBe(2);
    expect((await keys(controlA, '--install', fingerprint(oldKey))).code).toBe(2);
    const unknown = await keys(controlA, '--use', fingerprint(oldKey));
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`no installed key has the fingerprint ${fingerprint(oldKey)}`);
  });
});
