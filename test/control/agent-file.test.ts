/** The per-user agent file: owner-only, whole or absent, stale ones dropped, foreign directories refused. */
import { afterEach, describe, expect, it } from 'vitest';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentDirectory, readAgentFiles, removeAgentFile, writeAgentFile, type AgentRecord } from '../../src/cli/agent-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'distribute-agent-file-'));
  dirs.push(dir);
  return dir;
}

const record = (pid: number, name = 'alpha'): AgentRecord => ({ name, pid, control: '127.0.0.1:7373', scheme: 'http', token: 't0k3n' });

describe('the agent file', () => {
  it('lives under XDG_RUNTIME_DIR, else the config directory', () => {
    expect(agentDirectory({ XDG_RUNTIME_DIR: '/run/user/1000' })).toBe('/run/user/1000/distribute');
    expect(agentDirectory({ XDG_CONFIG_HOME: '/home/u/.cfg' })).toBe('/home/u/.cfg/distribute/agents');
  });

  it("is, in the suite's workers and all they start, a directory of the run's own, not the user's (test/support/global-setup.ts)", () => {
    expect(agentDirectory().startsWith(join(tmpdir(), 'distribute-'))).toBe(true);
  });

  it('is written 0600 in a 0700 directory, closing a directory others could read, and read back', () => {
    const dir = join(scratch(), 'distribute');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const path = writeAgentFile(record(process.pid), dir);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readAgentFiles(dir)).toEqual([record(process.pid)]);
    removeAgentFile(path);
    expect(readAgentFiles(dir)).toEqual([]);
  });

  it('drops the files of agents no longer running, and ignores what is not an agent file', () => {
    const dir = scratch();
    // A pid far above any pid_max: no such process.
    writeAgentFile(record(2 ** 30, 'gone'), dir);
    writeFileSync(join(dir, '77.json'), '{"not": "a record"}');
    writeFileSync(join(dir, 'notes.txt'), 'x');
    writeAgentFile(record(process.pid), dir);
    expect(readAgentFiles(dir).map((r) => r.name)).toEqual(['alpha']);
    expect(readdirSync(dir).sort()).toEqual(['77.json', `${process.pid}.json`, 'notes.txt'].sort());
  });

  it('ignores a record whose control endpoint is not an address, so one bad file cannot stop every verb', () => {
    const dir = scratch();
    writeFileSync(join(dir, `${process.ppid}.json`), JSON.stringify({ ...record(process.ppid, 'broken'), control: 'no port here' }));
    writeAgentFile(record(process.pid), dir);
    expect(readAgentFiles(dir).map((r) => r.name)).toEqual(['alpha']);
  });

  it('refuses a directory that is a link or belongs to another user', () => {
    const base = scratch();
    const real = join(base, 'real');
    mkdirSync(real, { mode: 0o700 });
    symlinkSync(real, join(base, 'link'));
    expect(() => writeAgentFile(record(process.pid), join(base, 'link'))).toThrow(/must be a directory/);
    if (process.getuid?.() === 0) {
      const foreign = join(base, 'foreign');
      mkdirSync(foreign, { mode: 0o700 });
      chownSync(foreign, 65534, 65534);
      expect(() => writeAgentFile(record(process.pid), foreign)).toThrow(/belongs to another user/);
    }
  });
});
