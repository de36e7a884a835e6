/**
 * Store adapters, without a server: bad options are InvalidConfiguration
 * naming the field; an unreachable store is StartFailed; a missing client
 * package is StartFailed saying what to install, and nothing else needs it.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { etcdAdapter, redisAdapter, startLink, type Adapter } from 'distribute/discovery';
import { freePort } from './support/processes.js';

async function startError(adapter: Adapter) {
  const started = await startLink({ name: `config-${Math.random()}`, adapter });
  if (started.ok) {
    await started.value.stop();
    throw new Error('started');
  }
  return started.error;
}

describe('store adapter options', () => {
  it.each([
    ['etcd endpoints scheme', () => etcdAdapter({ endpoints: 'ftp://127.0.0.1:2379' }), 'endpoints'],
    ['etcd endpoints not a URL', () => etcdAdapter({ endpoints: ['http://127.0.0.1:2379', 'not a url'] }), 'endpoints'],
    ['etcd no endpoints', () => etcdAdapter({ endpoints: [] }), 'endpoints'],
    ['etcd TTL zero', () => etcdAdapter({ endpoints: 'http://127.0.0.1:2379', ttlMs: 0 }), 'ttlMs'],
    ['etcd TTL under a second', () => etcdAdapter({ endpoints: 'http://127.0.0.1:2379', ttlMs: 500 }), 'ttlMs'],
    ['etcd auth without password', () => etcdAdapter({ endpoints: 'http://127.0.0.1:2379', auth: { username: 'u' } as never }), 'auth'],
    ['redis URL scheme', () => redisAdapter({ url: 'http://127.0.0.1:6379' }), 'url'],
    ['redis URL missing', () => redisAdapter({} as never), 'url'],
    ['redis TTL fractional', () => redisAdapter({ url: 'redis://127.0.0.1:6379', ttlMs: 1500.5 }), 'ttlMs'],
    ['redis TTL a string', () => redisAdapter({ url: 'redis://127.0.0.1:6379', ttlMs: '10s' as never }), 'ttlMs'],
    ['redis empty prefix', () => redisAdapter({ url: 'redis://127.0.0.1:6379', prefix: '' }), 'prefix'],
    ['redis request timeout', () => redisAdapter({ url: 'redis://127.0.0.1:6379', requestTimeoutMs: -1 }), 'requestTimeoutMs'],
  ])('%s is InvalidConfiguration naming the field', async (_, make, field) => {
    const error = await startError(make());
    expect(error).toMatchObject({ type: 'InvalidConfiguration', field });
    expect(error.message).toContain(field);
  });

  it('an unreachable etcd or Redis is StartFailed, promptly', async () => {
    const port = await freePort();
    const etcd = await startError(etcdAdapter({ endpoints: `http://127.0.0.1:${port}`, requestTimeoutMs: 500 }));
    expect(etcd.type).toBe('StartFailed');
    const redis = await startError(redisAdapter({ url: `redis://127.0.0.1:${port}`, requestTimeoutMs: 500 }));
    expect(redis.type).toBe('StartFailed');
    expect(redis.message).toMatch(/ECONNREFUSED|connect/i);
  });
});

describe('store client packages are optional', () => {
  const hide = join(import.meta.dirname, 'fixtures', 'hide-store-clients.mjs');
  const script = `
    import * as d from 'distribute/discovery';
    const out = {};
    const etcd = await d.startLink({ name: 'e', adapter: d.etcdAdapter({ endpoints: 'http://127.0.0.1:1' }) });
    out.etcd = etcd.ok ? 'started' : etcd.error;
    const redis = await d.startLink({ name: 'r', adapter: d.redisAdapter({ url: 'redis://127.0.0.1:1' }) });
    out.redis = redis.ok ? 'started' : redis.error;
    const memory = await d.startLink({ name: 'm', adapter: d.memoryAdapter() });
    out.memory = memory.ok;
    if (memory.ok) await memory.value.stop();
    console.log(JSON.stringify(out));`;

  it('without etcd3 and ioredis installed, starting either adapter is StartFailed saying which package to install', async () => {
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--import', hide, '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..') }, (error, out, err) =>
        error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
      ),
    );
    const out = JSON.parse(stdout) as Record<string, { type: string; message: string } | boolean>;
    expect(out.etcd).toMatchObject({ type: 'StartFailed' });
    expect((out.etcd as { message: string }).message).toContain("needs the 'etcd3' package");
    expect((out.etcd as { message: string }).message).toContain('npm install etcd3');
    expect(out.redis).toMatchObject({ type: 'StartFailed' });
    expect((out.redis as { message: string }).message).toContain('npm install ioredis');
    // The package itself loads and runs without them.
    expect(out.memory).toBe(true);
  });
});
