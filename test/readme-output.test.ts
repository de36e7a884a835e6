/**
 * The README's output is what the commands print: the two agents of its first
 * example run on a terminal (a pty, through `script`), and each line the
 * README shows must come out, in order, with only times, addresses, the token
 * and the agent file's path left free. The first agent's name must be one the
 * default produces.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateNodeId } from '../src/discovery/kit/adapter.js';
import { freePort } from './support/processes.js';
import { eventually as until } from './support/wait.js';
import { cliPath, runtimeDir } from './support/cli.js';
import { root } from './support/readme-blocks.js';

const scriptMissing = spawnSync('script', ['--version']).error ? 'script (util-linux) is missing: apt-get install -y bsdutils' : undefined;
// Under CI a missing tool is a failure, not a skip.
const skip = scriptMissing !== undefined && process.env.CI !== 'true';

const readme = readFileSync(join(root, 'README.md'), 'utf8');
/** A default name: host, pid, 8 hex digits. */
const DEFAULT_NAME = /\b[\w.-]+-\d+-[0-9a-f]{8}\b/g;

/** A line with what differs from run to run named instead of written. */
function shape(line: string): string {
  return line
    .replace(/\r$/, '')
    .replace(/^\[\d\d:\d\d:\d\d\.\d{3}\]/, '[TIME]')
    .replace(/#token=[\w-]{43}\b/g, '#token=TOKEN')
    .replace(/\/\S+\/distribute\/\d+\.json\b/g, 'AGENT_FILE')
    .replace(DEFAULT_NAME, 'DEFAULT_NAME')
    .replace(/\b127\.0\.0\.1:\d+\b/g, 'ADDRESS');
}

/** Checks that `shown` (README lines; `  ...` stands for any lines) come out of `printed`, in order; returns what did not. */
function missing(shown: string[], printed: string[]): string | undefined {
  let at = 0;
  let skipping = false;
  for (const line of shown.map(shape)) {
    if (line.trim() === '...') {
      skipping = true;
      continue;
    }
    const found = printed.map(shape).indexOf(line, at);
    if (found < 0 || (!skipping && found !== at)) return line;
    at = found + 1;
    skipping = false;
  }
  return undefined;
}

/** One command on a terminal; its output as lines so far. */
function onTerminal(command: string[]): { child: ChildProcess; lines: () => string[] } {
  let out = '';
  const child = spawn('script', ['-qfec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], { env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  return { child, lines: () => out.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l !== '') };
}

const running: ChildProcess[] = [];
afterAll(async () => {
  for (const child of running) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
});

describe.skipIf(skip)(`the README's output${scriptMissing ? ` (skipped: ${scriptMissing})` : ''}`, () => {
  it('two agents print what the README shows, and Ctrl-C on one gives the other the line it names', async () => {
    if (scriptMissing) throw new Error(scriptMissing);
    const blocks = [...readme.matchAll(/^```\n(\[\d\d:\d\d:\d\d\.\d{3}\] agent [\s\S]*?)^```$/gm)].map((m) => m[1]!.trimEnd().split('\n'));
    expect(blocks).toHaveLength(2);
    const [first, second] = blocks as [string[], string[]];
    // The first agent is `npm start`'s, with the default name: a name the default produces.
    const name = /agent (\S+) started/.exec(first[0]!)![1]!;
    expect(name.replace(DEFAULT_NAME, 'DEFAULT_NAME')).toBe('DEFAULT_NAME');
    expect(generateNodeId().replace(DEFAULT_NAME, 'DEFAULT_NAME')).toBe('DEFAULT_NAME');

    const [portOne, portTwo] = [await freePort(), await freePort()];
    // As the README runs them, on free ports (and a free control port for each).
    const one = onTerminal(['npm', 'start', '--silent', '--', '--bind', `127.0.0.1:${portOne}`, '--control', '127.0.0.1:0']);
    running.push(one.child);
    await until(() => one.lines().some((l) => l.includes('token and address for the verbs')), 20_000, 'the first agent to start');
    const command = /^npx distribute (agent --name two .*)$/m.exec(readme)![1]!.replace('7950', String(portTwo)).replace('7946', String(portOne)).split(' ');
    const two = onTerminal([process.execPath, cliPath, ...command, '--control', '127.0.0.1:0']);
    running.push(two.child);
    await until(() => two.lines().some((l) => l.includes('joined the cluster')), 20_000, 'the second agent to join');
    await until(() => one.lines().some((l) => l.includes('PeerUp two')), 10_000, 'the first agent to print the newcomer');
    expect(missing(first, one.lines()), one.lines().join('\n')).toBeUndefined();
    expect(missing(second, two.lines()), two.lines().join('\n')).toBeUndefined();

    // Ctrl-C on the second: the first prints the line the README names.
    const said = /Ctrl-C on either makes it leave; the other prints `([^`]+)`/.exec(readme)![1]!;
    const file = /token and address for the verbs: (\S+)/.exec(two.lines().join('\n'))![1]!;
    process.kill(Number(/(\d+)\.json$/.exec(file)![1]), 'SIGINT');
    await until(() => one.lines().some((l) => l.includes('PeerDown two')), 10_000, 'the first agent to print the leave');
    expect(one.lines().map(shape)).toContain(`[TIME] ${shape(said)}`);
  });
});
