/**
 * A hostile page in a real browser (Debian's chromium, headless): served from
 * another origin on the same host, it tries fetch and form posts against the
 * agent's control endpoint, after the operator opened the agent's page in the
 * same browser. Nothing runs: the agent stays in its cluster with its keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { browserUnavailable, launchBrowser } from '../support/browser.js';
import { freePort } from '../support/processes.js';
import { agentArgs, agentToken, killAll, startCli, type CliProcess } from '../support/cli.js';

const unavailable = browserUnavailable();
// Under CI a missing browser is a failure, not a skip.
const skip = unavailable !== undefined && process.env.CI !== 'true';
const KEY = 'dGhpcnR5LXR3by1ieXRlcy1vZi1rZXktbWF0ZXJpYWw=';
const EVIL_KEY = 'ZXZpbC1rZXktb2YtdGhpcnR5LXR3by1ieXRlcy1sb24=';

/** The attacker's page: fetches (JSON and simple) and form posts to /v1/leave and /v1/keys. */
function attackPage(control: string): string {
  const target = `http://${control}`;
  const install = JSON.stringify({ op: 'install', key: EVIL_KEY });
  return `<!doctype html><html><body>
<form id="leave" method="post" action="${target}/v1/leave" enctype="text/plain" target="sink1"><input name='{"a":"' value='"}'></form>
<form id="keys" method="post" action="${target}/v1/keys" enctype="text/plain" target="sink2"><input name='${install.slice(0, -1)},"x":"' value='"}'></form>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<script>
window.results = [];
const tries = [
  ['keys simple', () => fetch('${target}/v1/keys', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: ${JSON.stringify(install)} })],
  ['keys json', () => fetch('${target}/v1/keys', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: ${JSON.stringify(install)} })],
  ['leave simple', () => fetch('${target}/v1/leave', { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{}' })],
  ['leave json', () => fetch('${target}/v1/leave', { method: 'POST', credentials: 'include', headers: { 'content-type': 'application/json' }, body: '{}' })],
  ['keys read', () => fetch('${target}/v1/keys', { credentials: 'include' }).then((r) => r.text())],
];
window.attack = async () => {
  for (const [name, run] of tries) {
    try { const r = await run(); window.results.push(name + ': ' + (typeof r === 'string' ? r : r.type + ' ' + r.status)); }
    catch (e) { window.results.push(name + ': ' + e.message); }
  }
  document.getElementById('keys').submit();
  document.getElementById('leave').submit();
  return window.results;
};
</script></body></html>`;
}

describe.skipIf(skip)(`a hostile page in chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let alpha: CliProcess;
  let beta: CliProcess;
  let started: Record<string, unknown>;
  let evil: Server;

  beforeAll(async () => {
    if (unavailable) throw new Error(unavailable);
    const portA = await freePort();
    alpha = startCli(agentArgs('alpha', portA, '--key', KEY));
    started = await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start');
    beta = startCli(agentArgs('beta', await freePort(), '--key', KEY, '--join', `127.0.0.1:${portA}`));
    await beta.waitFor((l) => l.event === 'Joined', 10_000, 'beta to join');
    evil = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(attackPage(String(started.control)));
    });
    await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    evil?.closeAllConnections();
    await new Promise((resolve) => evil?.close(resolve));
    await killAll();
  });

  it('cannot make the agent leave or change its keys, by fetch or form, with the operator signed in', async () => {
    const page = await browser!.context.newPage();
    // The operator opened the agent's page from the URL it printed (signed in, where the agent has sign-in).
    const own = typeof started.page === 'string' ? started.page : `http://${String(started.control)}/`;
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(own);
    await page.locator('#connection[data-connected="true"]').waitFor({ timeout: 10_000 });
    const token = agentToken(started);
    if (token) {
      // Signed in: a cookie no script can read and no other site sends; the token in no request line.
      const cookies = await browser!.context.cookies();
      expect(cookies.find((c) => c.name.startsWith('distribute_'))).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      expect(requested.filter((url) => url.includes(token))).toEqual([]);
      expect(page.url()).not.toContain(token);
    }

    const { port } = evil.address() as { port: number };
    const attacker = await browser!.context.newPage();
    await attacker.goto(`http://127.0.0.1:${port}/`);
    // The forms' posts land in the iframes: wait for the agent's answers to both.
    const posted = (path: string) => attacker.waitForResponse((r) => r.url().endsWith(path) && r.request().method() === 'POST' && r.request().resourceType() === 'document', { timeout: 10_000 });
    const forms = Promise.all([posted('/v1/leave'), posted('/v1/keys')]);
    const results = (await attacker.evaluate('window.attack()')) as string[];
    await forms;
    expect(results.join('\n')).not.toContain(KEY);

    // A request of our own after the attack: the agent still answers, still a member, still on its one key.
    const keys = await fetch(`http://${String(started.control)}/v1/keys`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    expect(keys.status).toBe(200);
    expect(((await keys.json()) as { keys: unknown[] }).keys).toHaveLength(1);
    expect(alpha.child.exitCode).toBeNull();
    expect(alpha.lines.some((l) => typeof l === 'object' && l.event === 'Leaving')).toBe(false);
    expect(beta.lines.some((l) => typeof l === 'object' && l.event === 'PeerDown' && l.peer === 'alpha')).toBe(false);
    await attacker.close();
    await page.close();
  }, 60_000);
});
