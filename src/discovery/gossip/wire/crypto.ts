/**
 * Encryption of gossip traffic: AES-256-GCM under a keyring. Every packet
 * and stream frame is sealed with the primary key; opening tries every key in
 * the ring, so keys can be rotated without a flag day (install the new key
 * everywhere, make it primary everywhere, then remove the old one). The
 * cluster label is bound in as associated data: a sealed message from a
 * cluster with another label does not open, even under the same key.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

/** First byte of a sealed message; a later scheme gets a new number. */
const SEAL_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** Longest cluster label, in UTF-8 bytes: its length is one byte in the header each packet carries (see sealed.ts). */
export const MAX_LABEL_BYTES = 255;
/** Bytes a sealed message adds to its plaintext. */
export const SEAL_OVERHEAD = 1 + NONCE_BYTES + TAG_BYTES;

export type OpenError = { readonly type: 'NotSealed' | 'UnsupportedVersion' | 'NoKeyOpens'; readonly message: string };

/** A set of 32-byte keys, one of them primary (used to seal). */
export class Keyring {
  private keys: Buffer[];

  /** `keys[0]` is primary. Each key is 32 bytes, given raw or base64. */
  constructor(keys: readonly (Uint8Array | string)[]) {
    if (keys.length === 0) throw new Error('A keyring needs at least one key');
    this.keys = keys.map(toKey);
  }

  /** The keys, primary first, as base64 (for listing, never for logs). */
  list(): string[] {
    return this.keys.map((k) => k.toString('base64'));
  }

  /** The keys' fingerprints, primary first: what may be shown of them. */
  fingerprints(): string[] {
    return this.keys.map(fingerprint);
  }

  /** The installed key with this fingerprint, as base64. */
  keyWith(fingerprinted: string): string | undefined {
    return this.keys.find((k) => fingerprint(k) === fingerprinted)?.toString('base64');
  }

  /** Adds a key (not primary); adding a key twice is a no-op. */
  install(key: Uint8Array | string): void {
    const k = toKey(key);
    if (!this.keys.some((existing) => existing.equals(k))) this.keys.push(k);
  }

  /** Makes an installed key the primary one. */
  use(key: Uint8Array | string): void {
    const k = toKey(key);
    const at = this.keys.findIndex((existing) => existing.equals(k));
    if (at < 0) throw new Error('an installed key (only an installed key can become primary; install it first)');
    this.keys.unshift(...this.keys.splice(at, 1));
  }

  /** Removes a key; the primary key cannot be removed. */
  remove(key: Uint8Array | string): void {
    const k = toKey(key);
    if (this.keys[0]!.equals(k)) throw new Error('a key other than the primary one (make another key primary first)');
    this.keys = this.keys.filter((existing) => !existing.equals(k));
  }

  /** Seals `plaintext`: version, nonce, ciphertext, tag. */
  seal(plaintext: Uint8Array, label: string): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys[0]!, nonce);
    cipher.setAAD(Buffer.from(label, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(SEAL_VERSION), nonce, body, cipher.getAuthTag()]);
  }

  /** Opens a sealed message with any key of the ring; never throws. */
  open(sealed: Uint8Array, label: string): { ok: true; value: Buffer } | { ok: false; error: OpenError } {
    if (sealed.length < SEAL_OVERHEAD) {
      return { ok: false, error: { type: 'NotSealed', message: `${sealed.length} bytes is shorter than a sealed message` } };
    }
    if (sealed[0] !== SEAL_VERSION) {
      return { ok: false, error: { type: 'UnsupportedVersion', message: `Seal version ${sealed[0]} is not supported` } };
    }
    const data = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const nonce = data.subarray(1, 1 + NONCE_BYTES);
    const body = data.subarray(1 + NONCE_BYTES, data.length - TAG_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    for (const key of this.keys) {
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, nonce);
        decipher.setAAD(Buffer.from(label, 'utf8'));
        decipher.setAuthTag(tag);
        return { ok: true, value: Buffer.concat([decipher.update(body), decipher.final()]) };
      } catch {
        // Not this key; try the next.
      }
    }
    return { ok: false, error: { type: 'NoKeyOpens', message: 'No key in the keyring opens this message' } };
  }
}

/** A fresh random key, base64, for `distribute` users to share with their cluster. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

/** A key as it may be shown: the first 8 bytes of the SHA-256 of its 32 bytes, in hex. */
export function fingerprint(key: Uint8Array | string): string {
  return createHash('sha256').update(toKey(key)).digest('hex').slice(0, 16);
}

/** Whether `given` has the shape of a fingerprint. */
export const isFingerprint = (given: string): boolean => /^[0-9a-f]{16}$/.test(given);

function toKey(key: Uint8Array | string): Buffer {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : Buffer.from(key);
  if (bytes.length !== 32) throw new Error(`A key must be 32 bytes (AES-256), got ${bytes.length}`);
  return bytes;
}
