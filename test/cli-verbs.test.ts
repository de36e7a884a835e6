/** The operator verbs (info, join, tags, leave, members filters, version), each a child process against running agents. */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { freePort } from './support/processes.js';
import { agentArgs, killAll, runCli, runtimeDir, seenBy, startCli } from './support/cli.js';

afterEach(killAll);

const oneLine = (stderr: string) => expect(stderr.trim().split('\n')).toHaveLength(1);

describe('verbs against a running agent', () => {
  it('join, tags, info, members filters and leave do what they say, as the other member sees it', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = startCli(agentArgs('alpha', portA, '--meta', 'role=web'));
    const b = startCli(agentArgs('beta', portB, '--meta', 'role=db'));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    await b.waitFor((l) => l.event === 'AgentStarted');

    // By name: the member answers at 127.0.0.1, and the new member counts as joined.
    const joined = await runCli(['join', '--control', control, `localhost:${portB}`]);
    expect(joined.stderr).toBe('');
    expect(joined.code).toBe(0);
    expect(joined.stdout).toContain('beta');
    await b.waitFor((l) => l.event === 'PeerUp' && l.peer === 'alpha', 5000, 'beta: PeerUp alpha');

    const tagged = await runCli(['tags', '--control', control, '--set', 'zone=b', '--delete', 'role', '--json']);
    expect(tagged.code).toBe(0);
    expect(JSON.parse(tagged.stdout)).toEqual({ zone: 'b' });
    await b.waitFor((l) => l.event === 'PeerUpdate' && l.peer === 'alpha', 5000, 'beta: PeerUpdate alpha');
    expect(b.lines.filter((l) => typeof l === 'object' && l.event === 'PeerUpdate').at(-1)).toMatchObject({ metadata: { zone: 'b' } });

    const info = await runCli(['info', '--control', control, '--json']);
    expect(info.code).toBe(0);
    const facts = JSON.parse(info.stdout) as Record<string, any>;
    expect(facts.self).toMatchObject({ id: 'alpha', address: `127.0.0.1:${portA}`, metadata: { zone: 'b' } });
    expect(facts.adapter).toBe('gossip');
    expect(facts.health.status.type).toMatch(/Up|Degraded/);
    expect(facts.metrics.knownPeersCount).toBe(1);
    expect(facts.timings).toMatchObject({ syncIntervalMs: 5000 });
    expect(typeof facts.timings.probeIntervalMs).toBe('number');
    const readable = await runCli(['info', '--control', control]);
    expect(readable.stdout).toMatch(/^self:\n {2}id: alpha$/m);

    const rows = async (...filters: string[]) => {
      const listed = await runCli(['members', '--control', control, '--json', ...filters]);
      expect(listed.code).toBe(0);
      return (JSON.parse(listed.stdout) as { name: string }[]).map((r) => r.name).sort();
    };
    expect(await rows('--name', 'al.*')).toEqual(['alpha']);
    expect(await rows('--name', 'al')).toEqual([]); // whole-value match, as serf
    expect(await rows('--status', 'alive|left')).toEqual(['alpha', 'beta']);
    expect(await rows('--meta', 'role=d.')).toEqual(['beta']);
    expect(await rows('--meta', 'zone=a|b', '--name', 'alpha|beta')).toEqual(['alpha']);

    const left = await runCli(['leave', '--control', control]);
    expect(left.code).toBe(0);
    expect((await a.exited).code).toBe(0);
    const down = await b.waitFor((l) => l.event === 'PeerDown' && l.peer === 'alpha', 5000, 'beta: PeerDown alpha');
    expect(down.reason).toBe('left');
    b.child.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
  });

  it('join to a member nobody answers at exits 1 naming it', async () => {
    const a = startCli(agentArgs('gamma', await freePort()));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const dead = await freePort();
    const result = await runCli(['join', '--control', control, `127.0.0.1:${dead}`]);
    expect(result.code).toBe(1);
    oneLine(result.stderr);
    expect(result.stderr).toContain(`cannot reach any of 127.0.0.1:${dead}`);
  });

  it('metadata the agent refuses is a usage error (2) in one line', async () => {
    const a = startCli(agentArgs('delta', await freePort()));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const result = await runCli(['tags', '--control', control, '--set', `big=${'x'.repeat(600)}`]);
    expect(result.code).toBe(2);
    oneLine(result.stderr);
    expect(result.stderr).toContain('metadata');
  });
});

describe('finding the agent through its per-user file', () => {
  it('the verbs need no flags: the agent writes its address and a new token to a file only its user can read, removed at exit', async () => {
    const a = startCli(agentArgs('alpha', await freePort()));
    const started = await a.waitFor((l) => l.event === 'AgentStarted');
    const file = String(started.agentFile);
    expect(dirname(file)).toBe(join(runtimeDir, 'distribute'));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    const record = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(record).toMatchObject({ name: 'alpha', pid: a.child.pid, control: started.control, scheme: 'http' });
    expect(String(record.token)).toMatch(/^[\w-]{43}$/);
    // The page's URL carries the token in its fragment, which no request line does.
    expect(started.page).toBe(`http://${String(started.control)}/#token=${String(record.token)}`);

    const members = await runCli(['members', '--json']);
    expect(members.stderr).toBe('');
    expect((JSON.parse(members.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['alpha']);
    for (const verb of [['info', '--json'], ['tags', '--set', 'zone=a', '--json']]) {
      const result = await runCli(verb);
      expect(result.stderr, verb[0]).toBe('');
    }

    a.child.kill('SIGTERM');
    expect((await a.exited).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('with several agents, --name or --control picks one, and with neither the verb says which it chose', async () => {
    const a = startCli(agentArgs('alpha', await freePort()));
    await a.waitFor((l) => l.event === 'AgentStarted');
    const b = startCli(agentArgs('beta', await freePort()));
    const controlB = String((await b.waitFor((l) => l.event === 'AgentStarted')).control);
    const self = (stdout: string) => (JSON.parse(stdout) as { self: { id: string } }).self.id;

    const byName = await runCli(['info', '--name', 'beta', '--json']);
    expect(byName.stderr).toBe('');
    expect(self(byName.stdout)).toBe('beta');
    const byControl = await runCli(['info', '--control', controlB, '--json']);
    expect(self(byControl.stdout)).toBe('beta');
    const membersOf = await runCli(['members', '--agent', 'beta', '--json']);
    expect((JSON.parse(membersOf.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['beta']);

    const either = await runCli(['info', '--json']);
    expect(either.code).toBe(0);
    const chosen = self(either.stdout);
    // It names what it found, where, which it used and how to pick another.
    expect(either.stderr).toMatch(new RegExp(`^distribute: 2 agents run here \\(alpha at 127\\.0\\.0\\.1:\\d+, beta at ${controlB.replace(/\./g, '\\.')}\\); using ${chosen}: pick another with --name NAME or --control HOST:PORT\n$`));
    const members = await runCli(['members', '--json']);
    expect(members.stderr).toContain(`; using ${chosen}: pick another with --agent NAME or --control HOST:PORT`);

    const unknown = await runCli(['info', '--name', 'gamma']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no agent named "gamma"');
  });

  it('a secret on the command line works and warns that other users can read it; from files it does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'distribute-secrets-'));
    const key = (await runCli(['keygen'])).stdout.trim();
    writeFileSync(join(dir, 'keys'), `${key}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'token'), 'sesame\n', { mode: 0o600 });
    const quiet = startCli(agentArgs('quiet', await freePort(), '--key-file', join(dir, 'keys'), '--control-token-file', join(dir, 'token')));
    const control = String((await quiet.waitFor((l) => l.event === 'AgentStarted')).control);
    expect((await fetch(`http://${control}/v1/info`, { headers: { authorization: 'Bearer sesame' } })).status).toBe(200);
    const listed = await runCli(['keys', '--local', '--list', '--control', control]);
    expect(listed.stdout.trim()).toMatch(/^[0-9a-f]{16} {2}\(primary\)$/);
    const loud = startCli(agentArgs('loud', await freePort(), '--key', key, '--control-token', 'sesame'));
    await loud.waitFor((l) => l.event === 'AgentStarted');
    const warnings = loud.stderr.join('');
    expect(warnings).toContain('--key on the command line can be read by other users');
    expect(warnings).toContain('--control-token on the command line can be read by other users');
    expect(warnings + JSON.stringify(loud.lines)).not.toContain(key);
    expect(quiet.stderr.join('')).toBe('');
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('verb errors', () => {
  it('each verb with no agent listening exits 1 in one line', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    for (const args of [['info'], ['join', '127.0.0.1:1'], ['tags', '--set', 'a=b'], ['leave']]) {
      const result = await runCli([...args, '--control', dead]);
      expect(result.code, args[0]).toBe(1);
      oneLine(result.stderr);
      expect(result.stderr).toContain(`no agent at ${dead} (connection refused)`);
    }
  });

  it('agent --min-peers keeps health Degraded until that many others are up', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = startCli(agentArgs('alpha', portA, '--min-peers', '1'));
    const control = String((await a.waitFor((l) => l.event === 'AgentStarted')).control);
    const health = async () => (JSON.parse((await runCli(['info', '--control', control, '--json'])).stdout) as { health: { status: unknown } }).health.status;
    expect(await health()).toEqual({ type: 'Degraded', reason: 'Waiting for 1 peer, 0 seen' });
    await seenBy(a, startCli(agentArgs('beta', portB, '--join', `127.0.0.1:${portA}`)), 'beta');
    expect(await health()).toEqual({ type: 'Up' });
  });

  it('bad values exit 2 in one line naming them', async () => {
    const cases: [string[], string][] = [
      [['join'], 'join expects at least one member address'],
      [['join', 'host:notaport'], 'join expects host:port'],
      [['tags'], 'tags expects --set KEY=VALUE or --delete KEY'],
      [['tags', '--set', 'novalue'], '--set expects key=value'],
      [['info', 'extra'], 'unexpected argument "extra"'],
      [['leave', '--bogus'], "'--bogus'"],
      [['members', '--name', '('], '--name expects a regular expression'],
      [['members', '--meta', 'role=[', '--control', '127.0.0.1:1'], '--meta role expects a regular expression'],
      [['agent', '--min-peers=-1'], '--min-peers expects a whole number, 0 or more, got "-1"'],
      [['agent', '--min-peers', 'two'], '--min-peers expects a whole number, 0 or more, got "two"'],
    ];
    for (const [args, message] of cases) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(2);
      oneLine(result.stderr);
      expect(result.stderr).toContain(message);
    }
  });

  it('--version prints the package version; help lists every verb and keygen', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', 'version']) {
      const result = await runCli([flag]);
      expect(result.code).toBe(0);
      expect(result.stdout.trim()).toBe(version);
    }
    const help = await runCli(['help']);
    for (const verb of ['agent', 'members', 'info', 'join', 'tags', 'leave', 'keygen', 'inspect-server', '--version']) {
      expect(help.stdout).toContain(verb);
    }
  });
});
