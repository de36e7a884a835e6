/**
 * Type-level tests: a strict `setup()` machine using the discovery actor
 * logic, and every runnable README example, compile with `tsc --strict`
 * against the built package as a user's project would (lines marked
 * `@ts-expect-error` there must stay errors).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { readmeBlocks, root } from './support/readme-blocks.js';

const run = promisify(execFile);
const dir = join(root, '.type-check');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function strictCheck(files: string[]): Promise<string> {
  const config = {
    compilerOptions: {
      strict: true,
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      lib: ['ES2023'],
      types: ['node'],
      noEmit: true,
      skipLibCheck: true,
    },
    files,
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
  try {
    await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], {
      cwd: root,
      timeout: 60_000,
    });
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}

describe('types under tsc --strict', () => {
  it('a setup() machine invokes and spawns discoveryLogic and reads the adapter without casts', async () => {
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(root, 'test/types/setup-machine.ts'), join(dir, 'setup-machine.ts'));
    expect(await strictCheck(['setup-machine.ts'])).toBe('');
  });

  it('the check itself fails on a type error', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'broken.ts'),
      "import { setup } from 'xstate';\nimport { discoveryLogic } from 'distribute/discovery';\n" +
        "setup({ actors: { discovery: discoveryLogic } }).createMachine({ invoke: { src: 'discovery', input: { nodeId: 1 } } });\n",
    );
    expect(await strictCheck(['broken.ts'])).toContain('broken.ts');
  });

  it('every runnable README example compiles', async () => {
    mkdirSync(dir, { recursive: true });
    const blocks = readmeBlocks();
    const files = blocks.map((code, i) => {
      const file = `readme-${i + 1}.ts`;
      writeFileSync(join(dir, file), code);
      return file;
    });
    expect(await strictCheck(files)).toBe('');
  });
});
