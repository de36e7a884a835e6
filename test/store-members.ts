/** Members of a store adapter as child processes (test/fixtures/store-member.mjs). */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { readLines } from './support/processes.js';
import { eventually } from './support/wait.js';

const fixture = join(import.meta.dirname, 'fixtures', 'store-member.mjs');

export type Line = Record<string, unknown> & { type: string; at: number };

export class StoreMember {
  readonly lines: Line[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  private stderr = '';

  constructor(
    readonly name: string,
    kind: 'etcd' | 'redis',
    url: string,
    ttlMs: number,
    env: NodeJS.ProcessEnv = {},
  ) {
    this.child = spawn(process.execPath, [fixture, kind, url, name, String(ttlMs)], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    readLines(this.child.stdout!, (line) => typeof line === 'object' && this.lines.push(line as Line));
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    running.add(this);
    void this.exited.then(() => running.delete(this));
  }

  /** Events of `type` about `peer` (and `reason`, for PeerDown). */
  count(type: string, peer?: string, reason?: string): number {
    return this.lines.filter((l) => l.type === type && (peer === undefined || l.peer === peer) && (reason === undefined || l.reason === reason)).length;
  }

  async waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    try {
      await eventually(() => {
        if (check()) return true;
        if (this.child.exitCode !== null && this.child.signalCode === null) throw new Error(`${this.name} exited`);
        return false;
      }, timeoutMs, `${this.name}: ${what}`);
    } catch (error) {
      throw new Error(`${(error as Error).message}; lines: ${JSON.stringify(this.lines.slice(-20))} stderr: ${this.stderr.slice(-2000)}`);
    }
  }

  async ready(timeoutMs = 30_000): Promise<void> {
    await this.waitFor(() => this.lines.some((l) => l.type === 'ready' || l.type === 'error'), 'ready', timeoutMs);
    const error = this.lines.find((l) => l.type === 'error');
    if (error) throw new Error(`${this.name} did not start: ${JSON.stringify(error.error)}`);
  }

  send(command: string): void {
    this.child.stdin!.write(`${command}\n`);
  }

  /** The health statuses it went through, in order. */
  healthPath(): string[] {
    return this.lines.filter((l) => l.type === 'health').map((l) => String(l.status));
  }

  async kill(signal: NodeJS.Signals): Promise<number> {
    const at = Date.now();
    this.child.kill(signal);
    await this.exited;
    return at;
  }
}

const running = new Set<StoreMember>();

/** SIGKILLs every member still running (for afterEach). */
export async function killMembers(): Promise<void> {
  await Promise.all([...running].map((m) => m.kill('SIGKILL')));
}
