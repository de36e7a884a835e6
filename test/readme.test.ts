/**
 * Every runnable example in the README (fenced as `ts`) runs as a program
 * against the built package, imported by its public name, and exits cleanly.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeBlocks, root } from './support/readme-blocks.js';

const run = promisify(execFile);
const dir = join(root, '.readme-examples');
const blocks = readmeBlocks();

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README porting notes', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Porting from Gleam'));

  it('list each deliberate difference from the Gleam module', () => {
    expect(readme).toContain('### Porting from Gleam');
    for (const difference of ['**Results**', '**Errors and reasons**', '**Events carry the peer as an object**', '**`onPeerUp`**']) {
      expect(section).toContain(difference);
    }
    expect(section).toContain('"distribute_discovery_adapter"');
  });

  it('show onPeerUp taking one peer object, in an example that runs', () => {
    expect(blocks.some((code) => code.includes('const onPeerUp = (peer: PeerInfo)'))).toBe(true);
  });

  it('put the setup() form first', () => {
    const setupAt = blocks.findIndex((code) => code.includes('actors: { discovery: discoveryLogic }'));
    const childSpecAt = blocks.findIndex((code) => code.includes('discovery.childSpec('));
    expect(setupAt).toBe(0);
    expect(childSpecAt).toBeGreaterThan(setupAt);
  });
});

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
      if (code.includes('setup({')) expect(stdout).toContain('true node1');
      if (code.includes('const onPeerUp = (peer: PeerInfo)')) expect(stdout).toContain("Peer up: b { zone: 'b' }");
      if (code.includes('simulatedNetwork({ seed: 42 })')) expect(stdout).toMatch(/^leader (n\d), then n\d while partitioned, then \1 again, in 95 simulated seconds\n$/);
      if (code.includes("owner('jobs:nightly')")) {
        expect(stdout).toBe('same owner everywhere: true\nuser:42 lives on 2 members\nmoved and agreed: true\n');
      }
      if (code.includes('minPeers: 2')) {
        expect(stdout).toContain("{ type: 'Degraded', reason: 'Waiting for 2 peers, 0 seen' }\n{ type: 'Up' }\n{ type: 'Degraded', reason: 'Waiting for 2 peers, 1 seen' }");
      }
      if (code.includes('httpHandler')) expect(stdout).toContain("200 { type: 'Up', state: 'up' }");
    });
  });
});
