/**
 * What a run loads, read from the module loader itself: a resolve hook in the
 * child process records every module it resolves (test/fixtures/record-modules.mjs).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './children.js';
import { killAll, startCli } from './cli-support.js';

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

describe('what importing the facade loads', () => {
  it('distribute/discovery loads xstate and none of the command extras, nor pino', async () => {
    const { file, loaded } = logFile();
    // The package imports itself by name from its own folder, as an installed app would.
    const child = spawn(process.execPath, ['--import', recorder, '--input-type=module', '-e', "import 'distribute/discovery'"], {
      cwd: root,
      env: { ...process.env, RECORD_MODULES_TO: file },
      stdio: 'inherit',
    });
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const seen = packages(loaded());
    expect(seen).toContain('xstate');
    for (const extra of [...EXTRAS, 'pino']) expect(seen, `loaded ${extra}`).not.toContain(extra);
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
    expect(loaded().some((url) => url.endsWith('/dist/cli.js'))).toBe(true);
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
