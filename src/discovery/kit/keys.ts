/**
 * Live key rotation: the keyring of a running adapter that seals its
 * traffic, which the facade reaches through the adapter machine: a `keys`
 * command the machine hands to the backend, which answers it as it arrives
 * (it waits on no I/O, so no queue holds it up). The
 * gossip adapter's session offers its keyring; an adapter without keys
 * offers none, and the key functions answer `KeysUnavailable`.
 *
 * Rotation without a restart, each step on every member before the next:
 * install the new key (all members can now open it), make it primary
 * (members seal with it), then remove the old key (members holding only the
 * old one are shut out). The facade's functions change this process's
 * keyring; {@link clusterKeyOp} sends a step to every live member at once.
 */
import { fingerprint, isFingerprint, type Keyring } from '../gossip/wire/crypto.js';
import type { KeyOp } from '../gossip/wire/key-op.js';
import { errorMessage } from '../values.js';
import type { ClusterKeyOp, KeyringControl, MemberKeys } from './backend.js';
import { DiscoveryErrors, err, ok, type Result } from '../types.js';

export type { ClusterKeyOp, KeyringControl, MemberKeys };

/** The keys of a running adapter: the primary one (that seals) and all (that open), as base64. */
export interface KeyList {
  readonly primary: string;
  readonly keys: readonly string[];
}

/**
 * Asks the adapter for its keyring: the facade sends the adapter machine a
 * `keys` command, which hands it to the backend, which calls `use` at once
 * with its keyring (or with undefined: no keys, or no running adapter, and
 * then `use` may not be called at all).
 */
export type KeyringRequest = (use: (keyring: KeyringControl | undefined) => void) => void;

const KEY_PATTERN = /^[A-Za-z0-9+/]+={0,2}$/;

/** Whether `key` is 32 bytes of base64, as `generateKey()` makes them. */
export function isKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_PATTERN.test(key) && Buffer.from(key, 'base64').length === 32;
}

/** A key as it may appear in an error: never whole, as it may be a secret with a typo. */
const shown = (key: unknown) => (typeof key === 'string' && key.length > 8 ? `${key.slice(0, 8)}…` : key);

/** The keyring `request` hands over, or undefined. */
function keyringOf(request: KeyringRequest): KeyringControl | undefined {
  let keyring: KeyringControl | undefined;
  request((given) => (keyring = given));
  return keyring;
}

function withKeyring<T>(name: string, control: KeyringControl | undefined, act: (control: KeyringControl) => T, field = 'key', key?: unknown): Result<T> {
  if (!control) {
    return err(DiscoveryErrors.keysUnavailable(`No running adapter named ${JSON.stringify(name)} seals its traffic with keys (start the gossip adapter with secretKeys)`));
  }
  try {
    return ok(act(control));
  } catch (error) {
    return err(DiscoveryErrors.invalidConfiguration(field, shown(key), (error as Error).message));
  }
}

/** The members among `answers` whose primary key has the fingerprint `fingerprinted`. */
const sealingWith = (answers: readonly MemberKeys[], fingerprinted: string) => answers.filter((m) => m.keys[0] === fingerprinted).map((m) => m.id);

/**
 * A key operation on every live member of the cluster the adapter `name`
 * belongs to: `install` takes a key, `use` and `remove` a key or its
 * fingerprint (only the fingerprint crosses to other members). `remove` of a
 * key some member still seals with is refused before anything changes,
 * naming those members.
 *
 * @example
 * const answers = await clusterKeyOp('default', 'install', generateKey(), 2000);
 * if (answers.ok) for (const m of answers.value) console.log(m.id, m.error ?? 'ok');
 */
export async function clusterKeyOp(name: string, request: KeyringRequest, op: ClusterKeyOp, given: string, timeoutMs: number): Promise<Result<MemberKeys[]>> {
  const control = keyringOf(request);
  if (!control) return withKeyring(name, undefined, () => []);
  if (op === 'install' && !isKey(given)) return err(DiscoveryErrors.invalidConfiguration('key', shown(given), '32 bytes in base64 (see generateKey())'));
  if ((op === 'use' || op === 'remove') && !isKey(given) && !isFingerprint(given)) {
    return err(DiscoveryErrors.invalidConfiguration('key', shown(given), '32 bytes in base64, or the fingerprint of an installed key'));
  }
  const arg = op === 'use' || op === 'remove' ? (isFingerprint(given) ? given : fingerprint(given)) : given;
  if (op === 'remove') {
    const listing = await control.cluster('list', '', timeoutMs);
    const sealing = sealingWith(listing, arg);
    const silent = listing.filter((m) => !m.answered).map((m) => m.id);
    // A member that cannot be asked may still seal with the key: removing it elsewhere would shut that member out.
    if (silent.length > 0 && sealing.length === 0) {
      return err(DiscoveryErrors.invalidConfiguration('key', arg, `a key no member seals with; cannot tell, as ${silent.join(', ')} did not answer (try again once they do)`));
    }
    if (sealing.length > 0) {
      return err(DiscoveryErrors.invalidConfiguration('key', arg, `a key no member seals with; ${sealing.join(', ')} still seal with it (use another key first)`));
    }
  }
  return ok(await control.cluster(op, arg, timeoutMs));
}

/** The four key functions of the facade, for the adapter registered as `name`, whose keyring `request` asks for. */
export function keyFunctions(name: string, request: KeyringRequest) {
  const change = (verb: 'install' | 'use' | 'remove') => (key: string): Result<void> => {
    if (!isKey(key)) return err(DiscoveryErrors.invalidConfiguration('key', shown(key), "32 bytes in base64 (see generateKey())"));
    return withKeyring(name, keyringOf(request), (control) => control[verb](key), 'key', key);
  };
  return {
    installKey: change('install'),
    useKey: change('use'),
    removeKey: change('remove'),
    listKeys: (): Result<KeyList> =>
      withKeyring(name, keyringOf(request), (control) => {
        const keys = control.list();
        return { primary: keys[0]!, keys };
      }),
  };
}

/** A key, or a note that it is not one, as a log line may name it: by fingerprint only. */
export const fingerprintOf = (key: string) => (isKey(key) ? fingerprint(key) : '(not a key)');

/** A key operation from another member (or this one's control) on this member's keyring; throws with the reason when refused. */
export function applyToKeyring(keyring: Keyring, msg: KeyOp): void {
  if (msg.op === 'list') return;
  if (msg.op === 'install') {
    if (!isKey(msg.arg)) throw new Error('refused: not a key of 32 bytes in base64');
    return keyring.install(msg.arg);
  }
  const key = keyring.keyWith(msg.arg);
  if (key === undefined) throw new Error(`refused: no installed key has the fingerprint ${msg.arg}`);
  try {
    if (msg.op === 'use') keyring.use(key);
    else keyring.remove(key);
  } catch (problem) {
    throw new Error(`refused: expected ${errorMessage(problem)}`);
  }
}

/** The facade's key rotation, over this member's keyring. */
export function keyringControl(keyring: Keyring) {
  return {
    install: (key: string) => keyring.install(key),
    use: (key: string) => keyring.use(key),
    remove: (key: string) => {
      if (!keyring.list().includes(Buffer.from(key, 'base64').toString('base64'))) throw new Error('an installed key');
      keyring.remove(key);
    },
    list: () => keyring.list(),
  };
}
