/**
 * The package as a user gets it: `npm pack`, its file list, and the tarball
 * installed into fresh apps (npm's nested layout; xstate at the lowest
 * supported 5.x), where a strict TypeScript app using the facade compiles and
 * runs, and every command runs from node_modules/.bin. Slow (npm installs),
 * so all in this one file; the npm cache keeps it from the network after the
 * first run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, readLines } from './support/processes.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lowestXstate = manifest.peerDependencies.xstate!.replace(/^\^/, '');
const tsc = join(root, 'node_modules', '.bin', 'tsc');
const scratch = mkdtempSync(join(tmpdir(), 'distribute-pack-'));
let tarball = '';

beforeAll(async () => {
  // --ignore-scripts: pack what `npm test` built, without rebuilding dist/ under the other tests' feet.
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: root });
  tarball = join(scratch, (JSON.parse(stdout) as { filename: string }[])[0]!.filename);
}, 60_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('npm pack', () => {
  it('ships exactly the built code, the README, the license and package.json', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: root });
    const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path).sort();
    expect(files.filter((f) => !f.startsWith('dist/'))).toEqual(['LICENSE', 'README.md', 'package.json']);
    for (const file of files.filter((f) => f.startsWith('dist/'))) {
      expect(file).toMatch(/^dist\/(cli\.cjs|cli-bundle\.(cjs|cache)|page\/(index\.html|app\.js|app\.css|elk-worker\.js)|(src|machines)\/.+\.(js|d\.ts))$/);
    }
    // The page ships built: httpHandler serves it with nothing to fetch or build.
    for (const entry of ['dist/cli.cjs', 'dist/cli-bundle.cjs', 'dist/cli-bundle.cache', 'dist/src/discovery.js', 'dist/src/discovery.d.ts', 'dist/src/internals.js', 'dist/src/internals.d.ts', 'dist/src/testing.js', 'dist/src/testing.d.ts', 'dist/machines/adapter.machine.js', 'dist/page/index.html', 'dist/page/app.js']) {
      expect(files).toContain(entry);
    }
    expect(readFileSync(join(root, 'LICENSE'), 'utf8')).toContain('Apache License');
  });

  it('ships a package.json with no script that runs when the tarball is installed', async () => {
    const { stdout } = await run('tar', ['-xzOf', tarball, 'package/package.json']);
    const packed = JSON.parse(stdout) as { scripts?: Record<string, string> };
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare']) {
      expect(packed.scripts?.[script], script).toBeUndefined();
    }
  });
});

/** A fresh app with the tarball installed; returns its folder. */
async function installApp(name: string, npmArgs: string[], xstate: string): Promise<string> {
  const dir = mkdtempSync(join(scratch, `${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true, skipLibCheck: false, types: ['node'], outDir: 'out' },
      include: ['app.ts'],
    }),
  );
  copyFileSync(join(import.meta.dirname, 'fixtures', 'packed-app.ts'), join(dir, 'app.ts'));
  const { stderr } = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...npmArgs, tarball, `xstate@${xstate}`, `@types/node@${manifest.devDependencies['@types/node']}`], {
    cwd: dir,
  });
  // Nothing of ours runs, or asks to run, at install: no warning about install scripts.
  expect(stderr).not.toMatch(/install-scripts|distribute@.*(prepare|install)/);
  return dir;
}

async function compileAndRun(dir: string) {
  await run(tsc, ['-p', dir]).catch((error: { stdout?: string }) => {
    throw new Error(`tsc failed in the packed app:\n${error.stdout}`);
  });
  const { stdout } = await run(process.execPath, [join(dir, 'out', 'app.js')]);
  expect(JSON.parse(stdout)).toEqual({ events: ['PeerUp two', 'PeerDown two'], read: ['PeerUp two'], parentCounts: [1, 0], registered: true, simulated: [1, 0] });
}

/** Runs `distribute ...args` from the app's node_modules/.bin. */
/** The app's own agent files, in its directory, apart from the user's. */
const appEnv = (dir: string) => ({ ...process.env, XDG_RUNTIME_DIR: join(dir, 'run') });

function bin(dir: string, args: string[]) {
  return run(join(dir, 'node_modules', '.bin', 'distribute'), args, { cwd: dir, env: appEnv(dir) }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}

/** Starts `distribute agent` from the app's .bin; resolves with its first line once it has started. */
function binAgent(dir: string, args: string[]) {
  const child = spawn(join(dir, 'node_modules', '.bin', 'distribute'), ['agent', '--profile', 'local', '--json', ...args], { cwd: dir, env: appEnv(dir), stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    readLines(child.stdout, (line) => typeof line === 'object' && line.event === 'AgentStarted' && resolve(line));
    void exited.then((code) => reject(new Error(`agent exited (${code}) before starting`)));
  });
  return { child, started, exited };
}

async function everyCommand(dir: string) {
  expect((await bin(dir, ['--version'])).stdout.trim()).toBe(manifest.version);
  expect((await bin(dir, ['help'])).code).toBe(0);
  expect(Buffer.from((await bin(dir, ['keygen'])).stdout.trim(), 'base64')).toHaveLength(32);
  const a = binAgent(dir, ['--name', 'packed-a', '--bind', `127.0.0.1:${await freePort()}`, '--control', '127.0.0.1:0']);
  const b = binAgent(dir, ['--name', 'packed-b', '--bind', `127.0.0.1:${await freePort()}`, '--control', '127.0.0.1:0']);
  try {
    const [startedA, startedB] = await Promise.all([a.started, b.started]);
    const control = String(startedA.control);
    expect(await bin(dir, ['join', '--control', control, String(startedB.address)])).toMatchObject({ code: 0 });
    expect(await bin(dir, ['tags', '--control', control, '--set', 'role=web', '--json'])).toMatchObject({ code: 0, stdout: '{"role":"web"}\n' });
    const members = await bin(dir, ['members', '--control', control, '--json', '--meta', 'role=w.b']);
    expect((JSON.parse(members.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['packed-a']);
    expect(JSON.parse((await bin(dir, ['info', '--control', control, '--json'])).stdout)).toMatchObject({ self: { id: 'packed-a' } });
    expect(await bin(dir, ['leave', '--control', control])).toMatchObject({ code: 0 });
    expect(await a.exited).toBe(0);
    expect(await bin(dir, ['leave', '--control', String(startedB.control)])).toMatchObject({ code: 0 });
    expect(await b.exited).toBe(0);
  } finally {
    a.child.kill('SIGKILL');
    b.child.kill('SIGKILL');
  }
  // The inspector is an optional peer these apps did not install: one line saying what to install.
  for (const args of [['inspect-server', '--port', '1'], ['agent', '--bind', '127.0.0.1:0', '--control', '127.0.0.1:0', '--inspect']]) {
    const result = await bin(dir, args);
    expect(result.code, args[0]).toBe(1);
    expect(result.stderr).toBe(`distribute: ${args[0] === 'inspect-server' ? 'inspect-server' : '--inspect'} needs the optional packages @statelyai/inspect and ws: npm install @statelyai/inspect ws\n`);
  }
}

describe('the packed tarball installed into a fresh app', () => {
  it("with npm's nested layout: the app compiles strictly and runs, and every command runs from .bin", async () => {
    const dir = await installApp('nested', ['--install-strategy=nested'], manifest.devDependencies.xstate!.replace(/^\^/, ''));
    await compileAndRun(dir);
    await everyCommand(dir);
  }, 120_000);

  it(`with xstate at the lowest supported version (${lowestXstate}): one copy of xstate, the app compiles and runs`, async () => {
    const dir = await installApp('lowest', [], lowestXstate);
    const { stdout } = await run('npm', ['ls', 'xstate', '--all', '--parseable'], { cwd: dir });
    expect(stdout.trim().split('\n').filter((line) => line.includes('node_modules/xstate'))).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, 'node_modules', 'xstate', 'package.json'), 'utf8')).version).toBe(lowestXstate);
    await compileAndRun(dir);
    expect((await bin(dir, ['--version'])).stdout.trim()).toBe(manifest.version);
  }, 120_000);
});
