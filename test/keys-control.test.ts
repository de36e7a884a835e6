/**
 * Key operations take the one control path: the facade sends the adapter
 * machine a `keys` command, the machine hands it to the backend, and the
 * backend's session answers with its keyring. There is no registry of
 * keyrings beside the machine: each adapter name reaches its own session.
 */
import { describe, expect, it } from 'vitest';
import * as discovery from 'distribute/discovery';
import { defineAdapter, generateKey } from 'distribute/discovery';
import type { KeyringControl } from 'distribute/discovery/internals';
import { startEach, unwrap } from './support/index.js';

/** A session keyring that records what reaches it (the neighbour of the path under test). */
function recordingKeyring(first: string) {
  const keys = [first];
  const calls: string[] = [];
  const keyring: KeyringControl = {
    install: (key) => void (calls.push(`install ${key}`), keys.push(key)),
    use: (key) => {
      calls.push(`use ${key}`);
      if (!keys.includes(key)) throw new Error('an installed key');
      keys.splice(keys.indexOf(key), 1);
      keys.unshift(key);
    },
    remove: (key) => void (calls.push(`remove ${key}`), keys.splice(keys.indexOf(key), 1)),
    list: () => [...keys],
    cluster: async () => [],
  };
  return { keyring, calls };
}

const withKeyring = (keyring: KeyringControl | undefined) =>
  defineAdapter('keyed', async (context) => ({ self: context.input.self, sync: async () => ({}), close: () => {}, ...(keyring ? { keyring } : {}) }));

describe('keys through the adapter machine', () => {
  const start = startEach();

  it('sends every key function to the machine as a keys command, which the backend answers with its keyring', async () => {
    const keyA = generateKey();
    const keyB = generateKey();
    const { keyring, calls } = recordingKeyring(keyA);
    const received: { actor: unknown; type: string }[] = [];
    const handle = await start({
      name: 'keyed-a',
      adapter: withKeyring(keyring),
      inspect: (event) => {
        if (event.type === '@xstate.event') received.push({ actor: event.actorRef, type: event.event.type });
      },
    });
    const a = discovery.bind({ name: 'keyed-a' });
    unwrap(a.installKey(keyB));
    unwrap(a.useKey(keyB));
    expect(unwrap(a.listKeys())).toEqual({ primary: keyB, keys: [keyB, keyA] });
    expect(a.useKey(generateKey())).toMatchObject({ ok: false, error: { type: 'InvalidConfiguration', message: expect.stringContaining('installed') } });
    expect(calls.slice(0, 2)).toEqual([`install ${keyB}`, `use ${keyB}`]);
    expect(received.filter((e) => e.actor === handle.actor && e.type === 'keys')).toHaveLength(4);
  });

  it('reaches each name its own session, and none once the adapter stopped', async () => {
    const keyA = generateKey();
    const keyC = generateKey();
    await start({ name: 'keyed-b', adapter: withKeyring(recordingKeyring(keyA).keyring) });
    const handle = await start({ name: 'keyed-c', adapter: withKeyring(recordingKeyring(keyC).keyring) });
    await start({ name: 'keyed-plain', adapter: withKeyring(undefined) });
    expect(unwrap(discovery.bind({ name: 'keyed-b' }).listKeys()).primary).toBe(keyA);
    expect(unwrap(discovery.bind({ name: 'keyed-c' }).listKeys()).primary).toBe(keyC);
    expect(discovery.bind({ name: 'keyed-plain' }).listKeys()).toMatchObject({ ok: false, error: { type: 'KeysUnavailable' } });
    unwrap(await handle.stop());
    expect(discovery.bind({ name: 'keyed-c' }).listKeys()).toMatchObject({ ok: false, error: { type: 'KeysUnavailable' } });
  });
});
