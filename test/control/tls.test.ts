/**
 * The control endpoint over HTTPS (`--control-tls-cert`, `--control-tls-key`)
 * with a certificate openssl makes for the test: the verbs reach it with no
 * flags, trusting the certificate the agent file names; plain HTTP gets nothing.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/processes.js';
import { agentArgs, killAll, runCli, startCli } from '../support/cli.js';

function opensslMissing(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'openssl is missing (apt-get install -y openssl)';
  }
}
const missing = opensslMissing();
// Under CI a missing tool is a failure, not a skip.
const skip = missing !== undefined && process.env.CI !== 'true';
const dir = mkdtempSync(join(tmpdir(), 'distribute-tls-'));

afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** GET over HTTPS trusting `ca`: the status and body. */
function getTls(url: string, ca: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { ca, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describe.skipIf(skip)(`the control endpoint over HTTPS${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('serves HTTPS only, prints an https page URL, and the verbs reach it with no flags', async () => {
    if (missing) throw new Error(missing);
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-keyout', key, '-out', cert, '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ], { stdio: 'ignore' });
    const agent = startCli(agentArgs('secure', await freePort(), '--control-tls-cert', cert, '--control-tls-key', key));
    const started = await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start');
    const control = String(started.control);
    expect(String(started.page)).toMatch(new RegExp(`^https://${control.replace(/\./g, '\\.')}/#token=`));
    const record = JSON.parse(readFileSync(String(started.agentFile), 'utf8')) as { scheme: string; token: string; tlsCert: string };
    expect(record).toMatchObject({ scheme: 'https', tlsCert: cert });

    const ca = readFileSync(cert);
    expect((await getTls(`https://${control}/v1/health`, ca)).status).toBe(200);
    expect((await getTls(`https://${control}/v1/members`, ca)).status).toBe(401);
    expect((await getTls(`https://${control}/v1/members`, ca, { authorization: `Bearer ${record.token}` })).status).toBe(200);
    // Plain HTTP is not answered as HTTP.
    const plain = await fetch(`http://${control}/v1/health`).then((r) => r.status, () => 0);
    expect(plain).not.toBe(200);

    const members = await runCli(['members', '--json']);
    expect(members.stderr).toBe('');
    expect((JSON.parse(members.stdout) as { name: string }[]).map((r) => r.name)).toEqual(['secure']);
    const info = await runCli(['info', '--control', control, '--json']);
    expect(info.code).toBe(0);
  });
});
