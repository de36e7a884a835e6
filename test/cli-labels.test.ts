/** Agents with cluster labels and no keys: another label never merges, the same label does, and --help says so. */
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from './support/processes.js';
import { agentArgs, killAll, runCli, startCli } from './support/cli.js';

afterEach(killAll);

describe('cluster labels from the command line', () => {
  it('--label prod and --label staging agents do not merge, unsealed; two prod agents do', async () => {
    const portA = await freePort();
    const prod = startCli(agentArgs('prod-a', portA, '--label', 'prod'));
    await prod.waitFor((l) => l.event === 'AgentStarted');
    const staging = await runCli(agentArgs('staging-b', await freePort(), '--label', 'staging', '--join', `127.0.0.1:${portA}`, '--join-timeout', '1000'));
    expect(staging.code).toBe(1);
    const prod2 = startCli(agentArgs('prod-c', await freePort(), '--label', 'prod', '--join', `127.0.0.1:${portA}`));
    await prod2.waitFor((l) => l.event === 'Joined');
    await prod.waitFor((l) => l.event === 'PeerUp' && l.peer === 'prod-c', 10_000, 'prod-a to see prod-c');
    expect(prod.lines.some((l) => typeof l === 'object' && l.peer === 'staging-b')).toBe(false);
  });

  it('--help says the label is on every packet, sealed or not, and is no secret', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).toContain('cluster label sent on every gossip packet and stream, sealed or not');
    expect(help.stdout).toContain('not a secret');
  });
});
