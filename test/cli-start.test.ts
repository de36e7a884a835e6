/**
 * How the command starts: the bundle runs with V8's code cache written at
 * build, a cache that does not fit is set aside, and a joining agent's first
 * push-pull goes out before anything a join does not need is loaded.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { agentArgs, cliPath, killAll, startCli } from './support/cli.js';
import { freePort } from './support/processes.js';

const dist = dirname(cliPath);
const bundle = join(dist, 'cli-bundle.cjs');
const cache = join(dist, 'cli-bundle.cache');
const scratch = mkdtempSync(join(tmpdir(), 'distribute-start-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => killAll());

const node = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, args, { env: { ...process.env, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );

/** A copy of the command (entry, bundle and `cache` as given) beside a copy of package.json, as an install lays it out. */
function copyOfCommand(name: string, cacheBytes: Buffer | undefined): string {
  const root = join(scratch, name);
  mkdirSync(join(root, 'dist'), { recursive: true });
  copyFileSync(join(dist, '..', 'package.json'), join(root, 'package.json'));
  copyFileSync(cliPath, join(root, 'dist', 'cli.cjs'));
  copyFileSync(bundle, join(root, 'dist', 'cli-bundle.cjs'));
  if (cacheBytes) writeFileSync(join(root, 'dist', 'cli-bundle.cache'), cacheBytes);
  return join(root, 'dist', 'cli.cjs');
}

/** Whether V8 takes `cacheFile` for `bundleFile`, compiled as the entry compiles it, in a process with Node's default flags. */
async function cacheTaken(bundleFile: string, cacheFile: string): Promise<boolean> {
  const check = `
    const { readFileSync } = require('node:fs');
    const { wrap } = require('node:module');
    const { Script } = require('node:vm');
    const script = new Script(wrap(readFileSync(${JSON.stringify(bundleFile)}, 'latin1')), { filename: ${JSON.stringify(bundleFile)}, cachedData: readFileSync(${JSON.stringify(cacheFile)}) });
    console.log(script.cachedDataRejected ? 'rejected' : 'taken');`;
  const result = await node(['-e', check]);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim() === 'taken';
}

describe('the code cache', () => {
  it('is built beside the bundle, and V8 takes it as it is', async () => {
    expect(existsSync(cache)).toBe(true);
    expect(await cacheTaken(bundle, cache)).toBe(true);
  });

  it('the bundle is ASCII, as the entry reads it (one byte a character)', () => {
    const bytes = readFileSync(bundle);
    expect(bytes.findIndex((byte) => byte > 0x7f)).toBe(-1);
    expect(bytes.toString('latin1')).toBe(bytes.toString('utf8'));
  });

  it('a cache that does not fit (cut short, or not a cache at all) is set aside, and the command runs', async () => {
    const version = JSON.parse(readFileSync(join(dist, '..', 'package.json'), 'utf8')).version as string;
    const cut = copyOfCommand('cut', readFileSync(cache).subarray(0, 1000));
    const garbage = copyOfCommand('garbage', Buffer.from('not a code cache at all\n'));
    const none = copyOfCommand('none', undefined);
    for (const entry of [cut, garbage, none]) {
      const result = await node([entry, 'version']);
      expect(result, entry).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('the entry writes the cache only to its own path, only when told that path', async () => {
    const entry = copyOfCommand('writes', undefined);
    const own = join(dirname(entry), 'cli-bundle.cache');
    const elsewhere = join(scratch, 'elsewhere.cache');
    expect((await node([entry, 'version'], { DISTRIBUTE_WRITE_CODE_CACHE: elsewhere })).code).toBe(0);
    expect(existsSync(elsewhere)).toBe(false);
    expect(existsSync(own)).toBe(false);
    expect((await node([entry, 'version'], { DISTRIBUTE_WRITE_CODE_CACHE: own })).code).toBe(0);
    expect(await cacheTaken(join(dirname(entry), 'cli-bundle.cjs'), own)).toBe(true);
    // One cut short is not.
    truncateSync(own, 1000);
    expect(await cacheTaken(join(dirname(entry), 'cli-bundle.cjs'), own)).toBe(false);
  });
});

describe('a joining agent', () => {
  // Preloaded: records, in order, the first load of node:crypto and every write to a TCP socket.
  const recorder = join(import.meta.dirname, 'fixtures', 'record-start.cjs');

  it('writes its join push-pull before it loads node:crypto, and its control endpoint still works', async () => {
    const seed = startCli(agentArgs('start-seed', await freePort(), '--json'));
    const started = await seed.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the seed to start');
    const log = join(scratch, 'order.txt');
    const newcomer = startCli(
      agentArgs('start-newcomer', await freePort(), '--json', '--join', String(started.address)),
      { RECORD_START_TO: log },
      ['--require', recorder],
    );
    await seed.waitFor((l) => l.event === 'PeerUp' && l.peer === 'start-newcomer', 10_000, 'the seed to see the newcomer');
    const up = await newcomer.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the newcomer to start');
    // The token the control endpoint was given after the join is the one in the page's address.
    const token = /#token=([\w-]+)$/.exec(String(up.page))![1]!;
    const members = await fetch(`http://${String(up.control)}/v1/members`, { headers: { authorization: `Bearer ${token}` } });
    expect(members.status).toBe(200);
    const order = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    expect(order[0]).toBe('tcp write');
    expect(order).toContain('node:crypto');
  });
});
