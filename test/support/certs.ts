/**
 * Certificates for the TLS tests, made with openssl into a temporary
 * directory the caller removes: a CA, a server certificate for 127.0.0.1
 * and a client certificate it signed, and a second CA that signed nothing
 * the servers use (the "wrong CA").
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificates {
  readonly dir: string;
  /** Paths of the PEM files. */
  readonly files: { readonly ca: string; readonly cert: string; readonly key: string; readonly clientCert: string; readonly clientKey: string; readonly otherCa: string };
  /** The same files' contents. */
  readonly ca: Buffer;
  readonly clientCert: Buffer;
  readonly clientKey: Buffer;
  readonly otherCa: Buffer;
  remove(): void;
}

const openssl = (dir: string, ...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });

function makeCa(dir: string, name: string): void {
  openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.pem`);
}

/** A key and a certificate signed by `ca`, for `cn`, with `extensions` (an openssl extension section). */
function makeSigned(dir: string, ca: string, name: string, cn: string, extensions: string): void {
  writeFileSync(join(dir, `${name}.ext`), extensions);
  openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
}

/** `clientName` is the client certificate's common name (etcd takes it as a user name when no password is sent). */
export function makeCertificates(clientName = 'distribute-client'): Certificates {
  const dir = mkdtempSync(join(tmpdir(), 'distribute-certs-'));
  try {
    makeCa(dir, 'ca');
    makeCa(dir, 'other-ca');
    makeSigned(dir, 'ca', 'server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
    makeSigned(dir, 'ca', 'client', clientName, 'extendedKeyUsage=clientAuth\n');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const files = {
    ca: join(dir, 'ca.pem'),
    cert: join(dir, 'server.pem'),
    key: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    otherCa: join(dir, 'other-ca.pem'),
  };
  return {
    dir,
    files,
    ca: readFileSync(files.ca),
    clientCert: readFileSync(files.clientCert),
    clientKey: readFileSync(files.clientKey),
    otherCa: readFileSync(files.otherCa),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
