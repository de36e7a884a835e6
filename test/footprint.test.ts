/**
 * What a run loads, read from the module loader itself: a resolve hook in the
 * child process records every module it resolves (test/fixtures/record-modules.mjs).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './support/processes.js';
import { killAll, startCli } from './support/cli.js';

const root = join(import.meta.dirname, '..');
const recorder = join(import.meta.dirname, 'fixtures', 'record-modules.mjs');
const dirs: string[] = [];

afterEach(async () => {
  await killAll();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function logFile(): { file: string; loaded: () => string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'distribute-modules-'));
  dirs.push(dir);
  const file = join(dir, 'modules.txt');
  return { file, loaded: () => readFileSync(file, 'utf8').split('\n').filter(Boolean) };
}

const packages = (urls: string[]) =>
  new Set(urls.flatMap((url) => [.../node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.slice(1) ?? []]));

const EXTRAS = ['pino-pretty', '@statelyai/inspect', 'ws'];

/** Runs `code` as an ES module in the package's folder with the recorder on; the URLs it loaded. */
async function loadedBy(code: string): Promise<string[]> {
  const { file, loaded } = logFile();
  // The package imports itself by name from its own folder, as an installed app would.
  const child = spawn(process.execPath, ['--import', recorder, '--input-type=module', '-e', code], {
    cwd: root,
    env: { ...process.env, RECORD_MODULES_TO: file },
    stdio: 'inherit',
  });
  const status = await new Promise((resolve) => child.once('exit', resolve));
  expect(status).toBe(0);
  return loaded();
}

const GOSSIP_RUNTIME = /\/gossip\/(?:protocol|wire|net)\/(core|codec|transport)\.js$/;

describe('what importing the facade loads', () => {
  it('distribute/discovery loads xstate and none of the command extras, nor pino, nor the gossip runtime', async () => {
    const urls = await loadedBy("import 'distribute/discovery'");
    const seen = packages(urls);
    expect(seen).toContain('xstate');
    for (const extra of [...EXTRAS, 'pino']) expect(seen, `loaded ${extra}`).not.toContain(extra);
    expect(urls.filter((url) => GOSSIP_RUNTIME.test(url))).toEqual([]);
  });

  it('the gossip runtime loads when a gossip adapter starts, and not for another adapter', async () => {
    const run = (adapter: string) =>
      loadedBy(
        `import * as d from 'distribute/discovery'; const s = await d.startLink({ adapter: ${adapter} }); if (!s.ok) throw new Error(s.error.message); await d.stop();`,
      );
    expect((await run('d.memoryAdapter()')).filter((url) => GOSSIP_RUNTIME.test(url))).toEqual([]);
    const gossip = (await run("d.gossipAdapter({ bind: { host: '127.0.0.1', port: 0 }, profile: 'local' })")).filter((url) => GOSSIP_RUNTIME.test(url));
    expect([...new Set(gossip.map((url) => url.split('/').at(-1)))].sort()).toEqual(['codec.js', 'core.js', 'transport.js']);
  });
});

describe('what the command loads', () => {
  const agentArgs = async (name: string) => ['agent', '--name', name, '--bind', `127.0.0.1:${await freePort()}`, '--control', '127.0.0.1:0', '--profile', 'local'];

  it('agent --json loads neither the pretty printer nor the inspector nor its WebSocket client', async () => {
    const { file, loaded } = logFile();
    const agent = startCli([...(await agentArgs('plain')), '--json'], { RECORD_MODULES_TO: file }, ['--import', recorder]);
    await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start');
    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    // The command is one bundled file: the recorder sees it, and nothing of the extras.
    expect(loaded().some((url) => url.endsWith('/dist/cli.cjs'))).toBe(true);
    const seen = packages(loaded());
    for (const extra of EXTRAS) expect(seen, `loaded ${extra}`).not.toContain(extra);
  });

  it('agent --inspect loads the inspector and ws (the recorder sees optional imports)', async () => {
    const { file, loaded } = logFile();
    const nobody = await freePort();
    const agent = startCli([...(await agentArgs('inspected')), '--inspect', `ws://127.0.0.1:${nobody}`], { RECORD_MODULES_TO: file }, ['--import', recorder]);
    await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start');
    agent.child.kill('SIGTERM');
    expect((await agent.exited).code).toBe(0);
    const seen = packages(loaded());
    expect(seen).toContain('@statelyai/inspect');
    expect(seen).toContain('ws');
  });
});
