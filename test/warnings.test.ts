/** Errors with no logger: surfaced as rate-limited process warnings on stderr, never silent. */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

// Runs in its own process so the warnings reach a stderr the test can read.
const script = `
import * as discovery from 'distribute/discovery';
import { memoryAdapter } from 'distribute/discovery';
const cluster = memoryAdapter({ group: 'warnings' });
const started = await discovery.startLink({ adapter: cluster, nodeId: 'a' });
if (!started.ok) throw new Error(started.error.message);
let calls = 0;
discovery.subscribe(() => { calls++; throw new Error('callback broke ' + calls); });
const others = [];
for (const id of ['b', 'c', 'd']) {
  const other = await discovery.startLink({ name: id, adapter: cluster, nodeId: id });
  if (other.ok) others.push(other.value);
}
while (calls < 3) await new Promise((r) => setTimeout(r, 10));
for (const other of others) await other.stop();
await discovery.stop();
console.log('calls', calls);
`;

function run(): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('errors without a logger', () => {
  it('a subscriber that throws on every event shows one DiscoveryWarning naming it, not one per event', async () => {
    const { code, stdout, stderr } = await run();
    expect(code).toBe(0);
    expect(Number(/calls (\d+)/.exec(stdout)?.[1])).toBeGreaterThanOrEqual(3);
    const warnings = stderr.split('\n').filter((line) => line.includes('DiscoveryWarning'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('Subscriber callback failed (adapter distribute_discovery_adapter): callback broke 1');
  });
});
