/**
 * TLS files and credentials for the store adapters, from flags: `--etcd-ca`,
 * `--etcd-cert`, `--etcd-key`, `--etcd-user` and the password from
 * `--etcd-password-file` or `DISTRIBUTE_ETCD_PASSWORD` (the same with
 * `redis`). A password is never a flag value, so it stays out of `ps` and
 * shell history.
 */
import { readFileSync } from 'node:fs';
import { usage } from './errors.js';

export type StoreKind = 'etcd' | 'redis';

/** What the flags of one store gave: PEM contents and a user with a password. */
export interface StoreCredentials {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly user?: string;
  readonly password?: string;
}

const SUFFIXES = ['ca', 'cert', 'key', 'user', 'password-file'] as const;

/** The flag definitions of both stores, for `parseArgs`. */
export const storeCredentialFlags = Object.fromEntries(
  (['etcd', 'redis'] as const).flatMap((kind) => SUFFIXES.map((suffix) => [`${kind}-${suffix}`, { type: 'string' }] as const)),
) as Record<`${StoreKind}-${(typeof SUFFIXES)[number]}`, { type: 'string' }>;

export const passwordVariable = (kind: StoreKind) => `DISTRIBUTE_${kind.toUpperCase()}_PASSWORD`;

function readFlagFile(flag: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw usage(`${flag}: cannot read ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/**
 * The credentials `values` (parsed flags) give for `kind`, or undefined when
 * none; flags for a store other than `adapter` are a usage error.
 */
export function storeCredentials(
  kind: StoreKind,
  adapter: string,
  values: Partial<Record<string, string | boolean | string[] | undefined>>,
  env: NodeJS.ProcessEnv = process.env,
): StoreCredentials | undefined {
  const flag = (suffix: (typeof SUFFIXES)[number]) => `--${kind}-${suffix}`;
  const given = SUFFIXES.filter((suffix) => values[`${kind}-${suffix}`] !== undefined);
  const fromEnv = env[passwordVariable(kind)] || undefined;
  if (adapter !== kind) {
    if (given.length > 0) throw usage(`${flag(given[0]!)} goes with --adapter ${kind}`);
    return undefined;
  }
  if (given.length === 0 && fromEnv === undefined) return undefined;
  const value = (suffix: (typeof SUFFIXES)[number]) => values[`${kind}-${suffix}`] as string | undefined;
  const file = (suffix: 'ca' | 'cert' | 'key') => (value(suffix) !== undefined ? readFlagFile(flag(suffix), value(suffix)!) : undefined);
  if ((value('cert') === undefined) !== (value('key') === undefined)) {
    throw usage(`${flag('cert')} and ${flag('key')} go together (the client certificate and its private key)`);
  }
  const passwordFile = value('password-file');
  // A file's last line break is not part of the password.
  const password = passwordFile !== undefined ? readFlagFile(flag('password-file'), passwordFile).toString('utf8').replace(/\r?\n$/, '') : fromEnv;
  const user = value('user');
  if (user !== undefined && password === undefined) {
    throw usage(`${flag('user')} needs a password: ${flag('password-file')} FILE or ${passwordVariable(kind)}`);
  }
  if (kind === 'etcd' && password !== undefined && user === undefined) {
    throw usage(`a password for etcd needs ${flag('user')}`);
  }
  const ca = file('ca');
  const cert = file('cert');
  const key = file('key');
  return {
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(user !== undefined ? { user } : {}),
    ...(password !== undefined ? { password } : {}),
  };
}

/** Whether the credentials carry TLS material, which needs a TLS URL. */
export const hasTls = (credentials: StoreCredentials | undefined) =>
  credentials !== undefined && (credentials.ca ?? credentials.cert) !== undefined;
