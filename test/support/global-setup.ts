/**
 * Runs once before the suite's workers start: the run gets an agent directory
 * of its own (XDG_RUNTIME_DIR, which the workers and every process they start
 * inherit), so that no agent a test starts writes into the user's own, and it
 * is removed after the run. A test file still gives its agents a directory of
 * their own (`runtimeDir` in cli.ts) to keep them apart from other files'.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'distribute-suite-'));
  process.env.XDG_RUNTIME_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
