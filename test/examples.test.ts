/** The programs in examples/ run to completion and print what they promise. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

describe('examples', () => {
  it('memory-cluster: three members see each other, a metadata change, and one leaving', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/memory-cluster.ts'], { cwd: root, timeout: 20_000 });
    const lines = stdout.trim().split('\n');
    for (const [who, whom] of [['alpha', 'beta'], ['alpha', 'gamma'], ['beta', 'alpha'], ['beta', 'gamma'], ['gamma', 'alpha'], ['gamma', 'beta']]) {
      expect(lines.some((l) => l.startsWith(who!) && l.includes(`PeerUp     ${whom} `))).toBe(true);
    }
    expect(lines).toContain('alpha sees PeerUpdate beta {"role":"worker","load":"high"}');
    expect(lines).toContain('alpha sees PeerDown   gamma {"role":"worker"} (left)');
    expect(lines).toContain('beta  sees PeerDown   gamma {"role":"worker"} (left)');
    expect(lines).toContain('alpha now knows: beta');
  });
});
