/** Sealing gossip traffic with a keyring. */
import { describe, expect, it } from 'vitest';
import { generateKey, Keyring, SEAL_OVERHEAD } from '../../src/discovery/gossip/wire/crypto.js';

const text = (s: string) => Buffer.from(s, 'utf8');

describe('keyring', () => {
  it('seals and opens under the same key and label, adding a fixed overhead', () => {
    const ring = new Keyring([generateKey()]);
    const sealed = ring.seal(text('ping'), 'prod');
    expect(sealed.length).toBe(4 + SEAL_OVERHEAD);
    expect(sealed.includes(text('ping'))).toBe(false);
    const opened = ring.open(sealed, 'prod');
    expect(opened.ok && opened.value.toString()).toBe('ping');
  });

  it('does not open under another key, another label, or after tampering', () => {
    const ring = new Keyring([generateKey()]);
    const sealed = ring.seal(text('alive'), 'prod');
    expect(new Keyring([generateKey()]).open(sealed, 'prod')).toMatchObject({ ok: false, error: { type: 'NoKeyOpens' } });
    expect(ring.open(sealed, 'staging')).toMatchObject({ ok: false, error: { type: 'NoKeyOpens' } });
    const tampered = Buffer.from(sealed);
    tampered[20] = tampered[20]! ^ 1;
    expect(ring.open(tampered, 'prod')).toMatchObject({ ok: false, error: { type: 'NoKeyOpens' } });
  });

  it('rejects short input and unknown versions without throwing', () => {
    const ring = new Keyring([generateKey()]);
    expect(ring.open(Buffer.alloc(5), 'x')).toMatchObject({ ok: false, error: { type: 'NotSealed' } });
    const sealed = ring.seal(text('x'), 'x');
    sealed[0] = 9;
    expect(ring.open(sealed, 'x')).toMatchObject({ ok: false, error: { type: 'UnsupportedVersion' } });
  });

  it('rotates keys: install, use, remove, with both ends opening throughout', () => {
    const oldKey = generateKey();
    const newKey = generateKey();
    const a = new Keyring([oldKey]);
    const b = new Keyring([oldKey]);
    a.install(newKey);
    b.install(newKey);
    a.use(newKey);
    // b still seals with the old key; a opens both.
    expect(a.open(b.seal(text('1'), 'c'), 'c').ok).toBe(true);
    expect(b.open(a.seal(text('2'), 'c'), 'c').ok).toBe(true);
    b.use(newKey);
    a.remove(oldKey);
    b.remove(oldKey);
    expect(a.list()).toEqual([newKey]);
    expect(new Keyring([oldKey]).open(a.seal(text('3'), 'c'), 'c').ok).toBe(false);
    expect(() => a.remove(newKey)).toThrow(/other than the primary one/);
    expect(() => new Keyring([Buffer.alloc(16)])).toThrow(/32 bytes/);
  });
});
