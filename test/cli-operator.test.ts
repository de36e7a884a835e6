/**
 * What an operator meets at the command line, each with real agents as child
 * processes: a reader that closes early, verbs pointed at the wrong port, an
 * unsealed agent asked for its keys, the figures of `info`, one `Health Down`
 * per stop in `monitor`, the process and histogram metrics of `/metrics`, and
 * `inspect-server` saying what it needs.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { freePort, readLines } from './support/processes.js';
import { eventually as until } from './support/wait.js';
import { agentArgs, agentToken, cliPath, killAll, runCli, runtimeDir, seenBy, startCli } from './support/cli.js';
import { parsePrometheus, sampleValue } from './http/prometheus.js';

afterEach(killAll);

/** Significant digits of a figure as printed: 4.81 has 3, 4.814037000000013 has 16. */
const digits = (value: number) => String(value).replace(/^-?0*\.?0*/, '').replace('.', '').replace(/e.*$/, '').length;

describe('stdout closed by its reader', () => {
  it('distribute agent | head -1: the agent leaves gracefully when its next line has nowhere to go, and exits 0', async () => {
    const port = await freePort();
    const args = agentArgs('piped', port).map((a) => `'${a}'`).join(' ');
    // The operator's own pipeline, with the agent's exit status reported on stderr.
    const shell = spawn('bash', ['-c', `'${process.execPath}' '${cliPath}' ${args} | head -1; echo "agent exit \${PIPESTATUS[0]}" >&2`], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: (Record<string, unknown> | string)[] = [];
    let stderr = '';
    readLines(shell.stdout, (line) => out.push(line));
    shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const done = new Promise<number | null>((resolve) => shell.once('exit', resolve));
    try {
      await until(() => out.length > 0, 10_000, 'the first line through head');
      expect(out[0]).toMatchObject({ event: 'AgentStarted', node: 'piped' });
      // A peer joins: the agent prints PeerUp into the closed pipe.
      const peer = startCli(agentArgs('reader', await freePort(), '--join', `127.0.0.1:${port}`));
      await peer.waitFor((l) => l.event === 'PeerUp' && l.peer === 'piped', 10_000, 'reader: PeerUp piped');
      const down = await peer.waitFor((l) => l.event === 'PeerDown' && l.peer === 'piped', 10_000, 'reader: PeerDown piped');
      expect(down.reason).toBe('left');
      expect(await done).toBe(0);
      expect(stderr).toBe('agent exit 0\n');
    } finally {
      shell.kill('SIGKILL');
    }
  });

  it('distribute monitor | head -1 ends at once, quietly, with 0', async () => {
    const agent = startCli(agentArgs('watched', await freePort()));
    await agent.waitFor((l) => l.event === 'AgentStarted');
    const shell = spawn('bash', ['-c', `'${process.execPath}' '${cliPath}' monitor --name watched --json | head -1 >/dev/null; echo "monitor exit \${PIPESTATUS[0]}" >&2`], {
      env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    shell.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<void>((resolve) => shell.once('exit', () => resolve()));
    try {
      // Events the monitor prints after head has gone: a newcomer, then its metadata changes.
      const newcomer = startCli(agentArgs('newcomer', await freePort(), '--join', String((agent.lines[0] as Record<string, unknown>).address)));
      await newcomer.waitFor((l) => l.event === 'Joined', 10_000, 'the newcomer to join');
      for (let i = 0; shell.exitCode === null && i < 50; i++) {
        await runCli(['tags', '--name', 'newcomer', '--set', `n=${i}`]);
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
      }
      await exited;
      expect(stderr).toBe('monitor exit 0\n');
    } finally {
      shell.kill('SIGKILL');
    }
  });
});

describe('errors in the operator\'s words', () => {
  it('a verb pointed at the gossip port says nothing listens for control there, and asks', async () => {
    const port = await freePort();
    const agent = startCli(agentArgs('ports', port));
    await agent.waitFor((l) => l.event === 'AgentStarted');
    const result = await runCli(['info', '--control', `127.0.0.1:${port}`]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(`nothing listens for control at 127.0.0.1:${port}, is that the gossip port?`);
    expect(result.stderr).not.toContain('UND_ERR');
  });

  it('keys --list on an unsealed agent talks about --key-file and --key, not the library option', async () => {
    const agent = startCli(agentArgs('open', await freePort()));
    await agent.waitFor((l) => l.event === 'AgentStarted');
    for (const args of [['keys', '--list'], ['keys', '--local', '--list']]) {
      const result = await runCli(args);
      expect(result.code, args.join(' ')).toBe(1);
      expect(result.stderr).toContain('agent open does not seal its gossip');
      expect(result.stderr).toContain('--key-file');
      expect(result.stderr).toContain('--key ');
      expect(result.stderr).not.toContain('secretKeys');
    }
  });
});

describe('info and monitor', () => {
  it('info prints rounded figures', async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = startCli(agentArgs('figures', portA));
    await a.waitFor((l) => l.event === 'AgentStarted');
    await seenBy(a, startCli(agentArgs('other', portB, '--join', `127.0.0.1:${portA}`)), 'other');
    // Probes measure a round trip to the other member.
    let facts: Record<string, any> = {};
    await until(() => false, 1500, 'probes').catch(() => undefined);
    facts = JSON.parse((await runCli(['info', '--json'])).stdout) as Record<string, any>;
    const figures: number[] = [];
    const collect = (value: unknown) => {
      if (typeof value === 'number') figures.push(value);
      else if (typeof value === 'object' && value !== null) Object.values(value).forEach(collect);
    };
    collect(facts);
    expect(facts.metrics.lastSyncDurationMs).toBeGreaterThan(0);
    expect(Object.keys(facts.metrics.probeRttMs)).toEqual(['other']);
    for (const figure of figures.filter((f) => !Number.isInteger(f))) expect(digits(figure), String(figure)).toBeLessThanOrEqual(3);
    const text = (await runCli(['info'])).stdout;
    expect(text).toMatch(/^ {2}lastSyncDurationMs: \d+(\.\d{1,3})?$/m);
    expect(text).not.toMatch(/\d\.\d{4,}/);
  });

  it('monitor prints one Health Down when the agent stops', async () => {
    const agent = startCli(agentArgs('stopping', await freePort()));
    await agent.waitFor((l) => l.event === 'AgentStarted');
    const monitor = startCli(['monitor', '--json']);
    await monitor.waitFor((l) => l.event === 'Health' && l.status === 'Up', 10_000, 'Health Up');
    agent.child.kill('SIGTERM');
    expect((await monitor.exited).code).toBe(1);
    const health = monitor.lines.filter((l): l is Record<string, unknown> => typeof l === 'object' && l.event === 'Health');
    expect(health.map((l) => l.status)).toEqual(['Up', 'Down']);
    expect(health[1]).toMatchObject({ state: 'stopping', reason: 'Stopping' });
  });
});

describe('/metrics of an agent, scraped over HTTP', () => {
  it("carries the process's and Node's default metrics, and histograms of sync duration and probe round trip", async () => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = startCli(agentArgs('scraped', portA));
    const started = await a.waitFor((l) => l.event === 'AgentStarted');
    await seenBy(a, startCli(agentArgs('probed', portB, '--join', `127.0.0.1:${portA}`)), 'probed');
    const scrape = async () => {
      const response = await fetch(`http://${String(started.control)}/metrics`, { headers: { authorization: `Bearer ${agentToken(started)}` } });
      expect(response.status).toBe(200);
      return parsePrometheus(await response.text());
    };
    let families = await scrape();
    for (const [name, type] of [
      ['process_resident_memory_bytes', 'gauge'],
      ['process_open_fds', 'gauge'],
      ['process_cpu_seconds_total', 'counter'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['discovery_sync_duration_seconds', 'histogram'],
      ['discovery_gossip_probe_rtt_seconds', 'histogram'],
    ] as const) {
      expect(families.get(name)?.type, name).toBe(type);
    }
    expect(sampleValue(families, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(sampleValue(families, 'process_open_fds')).toBeGreaterThan(3);
    // Probes go on; their round trips land in the buckets, each bucket holding at least the one before.
    const probes = () => sampleValue(families, 'discovery_gossip_probe_rtt_seconds_count') ?? 0;
    const deadline = Date.now() + 10_000;
    while (probes() < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      families = await scrape();
    }
    expect(probes()).toBeGreaterThanOrEqual(3);
    const buckets = families.get('discovery_gossip_probe_rtt_seconds')!.samples.filter((s) => s.name.endsWith('_bucket'));
    expect(buckets.at(-1)).toMatchObject({ labels: { le: '+Inf' }, value: probes() });
    buckets.slice(1).forEach((b, i) => expect(b.value).toBeGreaterThanOrEqual(buckets[i]!.value));
    expect(sampleValue(families, 'discovery_gossip_probe_rtt_seconds_sum')).toBeGreaterThan(0);
    expect(sampleValue(families, 'discovery_sync_duration_seconds_count')).toBeGreaterThanOrEqual(1);
  });
});

describe('inspect-server', () => {
  it('says the inspector it serves is hosted and needs the internet, and points to the agent\'s page', async () => {
    const agent = startCli(agentArgs('paged', await freePort()));
    const started = await agent.waitFor((l) => l.event === 'AgentStarted');
    const relay = startCli(['inspect-server', '--port', String(await freePort())]);
    await until(() => relay.stdout.join('').includes('Ctrl-C stops it') && relay.stdout.join('').includes('page'), 10_000, 'the relay to start');
    const text = relay.stdout.join('');
    expect(text).toContain('needs the internet');
    expect(text).toContain(`paged: http://${String(started.control)}/`);
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
  });
});
