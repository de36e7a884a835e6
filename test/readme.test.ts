/**
 * Every runnable example in the README (fenced as `ts`) runs as a program
 * against the built package, imported by its public name, and exits cleanly.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const dir = join(root, '.readme-examples');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README examples', () => {
  it('has runnable examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
  });

  blocks.forEach((code, i) => {
    it(`example ${i + 1} runs and exits on its own`, async () => {
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `example-${i + 1}.ts`);
      writeFileSync(file, code);
      const { stdout } = await run(process.execPath, ['--import', 'tsx', file], { cwd: root, timeout: 20_000 });
      if (code.includes("console.log('Peer joined:'")) {
        expect(stdout).toContain('Peer joined: node2@host');
        expect(stdout).toContain('Peer: node2@host');
        expect(stdout).toContain("Found peer with metadata { zone: 'b' }");
        expect(stdout).toContain('Discovery is healthy');
      }
    });
  });
});
