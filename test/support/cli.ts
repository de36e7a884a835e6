/** Running the `distribute` command as a real child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { readLines } from './processes.js';
import { pushedWaits } from './wait.js';

/**
 * The agent files of this test file's agents, apart from the user's own and
 * from other files' (vitest runs files in parallel): every child gets it as
 * XDG_RUNTIME_DIR unless the test gives one.
 */
export const runtimeDir = mkdtempSync(join(tmpdir(), 'distribute-run-'));
afterAll(() => rmSync(runtimeDir, { recursive: true, force: true }));

export const cliPath = join(import.meta.dirname, '..', '..', 'dist', 'cli.cjs');

export interface CliProcess {
  readonly child: ChildProcess;
  /** stdout lines, parsed when they are JSON. */
  readonly lines: (Record<string, unknown> | string)[];
  readonly stderr: string[];
  /** stdout as it came, for output that is not JSON lines (a pretty-printed document). */
  readonly stdout: string[];
  /** Resolves with the first line matching, or rejects after `timeoutMs`. */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<ChildProcess>();

/**
 * Starts `distribute ...args` (after `nodeArgs` for node itself, and under
 * `wrapper` such as `prlimit ...` when given); stdout is a pipe, so output is
 * JSON lines.
 */
export function startCli(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = [], wrapper: string[] = []): CliProcess {
  const command = [...wrapper, process.execPath, ...nodeArgs, cliPath, ...args];
  const child = spawn(command[0]!, command.slice(1), { env: { ...process.env, XDG_RUNTIME_DIR: runtimeDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: (Record<string, unknown> | string)[] = [];
  const stderr: string[] = [];
  const stdout: string[] = [];
  const waits = pushedWaits();
  child.stdout!.on('data', (chunk: string) => stdout.push(chunk));
  readLines(child.stdout!, (line) => {
    lines.push(line);
    waits.wake();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      waits.wake();
      resolve({ code, signal });
    }),
  );
  const waitFor: CliProcess['waitFor'] = (predicate, timeoutMs = 10_000, what = 'a line') =>
    waits.until(
      () => {
        const found = lines.find((l): l is Record<string, unknown> => typeof l === 'object' && predicate(l));
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`process exited before ${what}; stdout: ${JSON.stringify(lines)} stderr: ${stderr.join('')}`);
        }
        return undefined;
      },
      timeoutMs,
      () => `${what}; stdout: ${JSON.stringify(lines)} stderr: ${stderr.join('')}`,
    );
  return { child, lines, stderr, stdout, waitFor, exited };
}

/** Kills every CLI process still running (for afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all(
    [...running].map(
      (child) =>
        new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

/** Runs `distribute ...args` to completion. */
export function runCli(args: string[], timeoutMs = 15_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = startCli(args, env);
  const timer = setTimeout(() => cli.child.kill('SIGKILL'), timeoutMs);
  return cli.exited.then(({ code }) => {
    clearTimeout(timer);
    return {
      code,
      // As it came: rebuilt from parsed lines, a line holding only a JSON string would lose its quotes.
      stdout: cli.stdout.join('').replace(/\n$/, ''),
      stderr: cli.stderr.join(''),
    };
  });
}

/** `agent` on loopback with the `local` profile and a free control port, named and bound to `port`. */
export const agentArgs = (name: string, port: number, ...more: string[]) => [
  'agent', '--name', name, '--bind', `127.0.0.1:${port}`, '--profile', 'local', '--control', '127.0.0.1:0', ...more,
];

/** The control token an agent wrote to its agent file (named in its `AgentStarted` line), when it wrote one. */
export function agentToken(started: Record<string, unknown>): string | undefined {
  if (typeof started.agentFile !== 'string') return undefined;
  return (JSON.parse(readFileSync(started.agentFile, 'utf8')) as { token: string }).token;
}

/**
 * Waits for `seed` to print PeerUp for `name`, the member `joiner` runs; when
 * it does not, the error carries the joiner's output too (it may have exited).
 */
export async function seenBy(seed: CliProcess, joiner: CliProcess, name: string, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  const gone = joiner.exited.then(({ code, signal }) => {
    throw new Error(`${name} exited (${code ?? signal}) before PeerUp; stdout: ${JSON.stringify(joiner.lines)} stderr: ${joiner.stderr.join('')}`);
  });
  try {
    return await Promise.race([seed.waitFor((l) => l.event === 'PeerUp' && l.peer === name, timeoutMs, `PeerUp ${name}`), gone]);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`${reason}\n${name}'s stdout: ${JSON.stringify(joiner.lines)} stderr: ${joiner.stderr.join('')}`);
  } finally {
    gone.catch(() => undefined);
  }
}
