/**
 * The cluster page in a real browser (Debian's chromium, headless): three
 * members on loopback, the page of one, checked through the DOM while a
 * member is killed, another changes its metadata, then stalls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser } from './support/browser.js';
import { freePort, readLines } from './support/processes.js';
import { eventually } from './support/wait.js';
import { killAll, startCli, type CliProcess } from './support/cli.js';

const unavailable = browserUnavailable();
// Under CI a missing browser is a failure, not a skip.
const skip = unavailable !== undefined && process.env.CI !== 'true';
const artifacts = join(import.meta.dirname, '..', 'test-artifacts');
const fixture = join(import.meta.dirname, 'fixtures', 'member.mjs');

const agentArgs = (name: string, port: number, ...more: string[]) => [
  'agent', '--name', name, '--bind', `127.0.0.1:${port}`, '--profile', 'local', '--control', '127.0.0.1:0', ...more,
];

describe.skipIf(skip)(`the cluster page in chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let member: ChildProcess | undefined;
  const memberLines: Record<string, unknown>[] = [];
  let alpha: CliProcess;
  let beta: CliProcess;
  let control: string;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (unavailable) throw new Error(unavailable);
    const portA = await freePort();
    alpha = startCli(agentArgs('alpha', portA, '--meta', 'role=web', '--control-token', 'sesame'));
    control = String((await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to start')).control);
    beta = startCli(agentArgs('beta', await freePort(), '--join', `127.0.0.1:${portA}`, '--meta', 'role=db'));
    await beta.waitFor((l) => l.event === 'Joined', 10_000, 'beta to join');
    // The third member runs the library itself, so the test can call setMetadata through the facade.
    member = spawn(process.execPath, [fixture, 'gamma', String(await freePort()), `127.0.0.1:${portA}`], { stdio: ['pipe', 'pipe', 'inherit'] });
    readLines(member.stdout!, (line) => typeof line === 'object' && memberLines.push(line));
    await eventually(() => memberLines.some((l) => l.type === 'ready'), 10_000, 'gamma ready');
    await alpha.waitFor((l) => l.event === 'PeerUp' && l.peer === 'gamma', 10_000, 'alpha: PeerUp gamma');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (member && member.exitCode === null && member.signalCode === null) {
      const exited = new Promise((resolve) => member!.once('exit', resolve));
      member.kill('SIGKILL');
      await exited;
    }
    await killAll();
  });

  const rows = (status: string) => page.locator(`#members tbody tr[data-status="${status}"]`);

  it('shows the members live, a killed one as failed, new metadata, the statechart and the timeline', async () => {
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`http://${control}/#token=sesame`);
    await page.locator('#connection[data-connected="true"]').waitFor({ timeout: 10_000 });
    // Signed in with the fragment's token, then a session cookie: the token in no request line, gone from the address bar.
    expect(requested.filter((url) => url.includes('sesame'))).toEqual([]);
    expect(page.url()).toBe(`http://${control}/`);
    await expect.poll(() => rows('alive').count(), { timeout: 10_000 }).toBe(3);
    expect(await page.locator('#members tbody tr[data-name="alpha"] td.name').textContent()).toBe('alpha (self)');
    expect(await page.locator('#members tbody tr[data-name="beta"] td.metadata').textContent()).toBe('role=db');

    // The statechart is drawn from the machine, with the current state lit.
    await page.locator('#statechart .state.current').waitFor({ timeout: 10_000 });
    expect(await page.locator('#statechart .state.current').getAttribute('data-state')).toBe('up');
    expect(await page.locator('#statechart .state').count()).toBe(7); // six states and "any state"
    expect(await page.locator('#statechart .edge').count()).toBeGreaterThan(5);
    expect(await page.locator('#health').textContent()).toBe('Up');

    beta.child.kill('SIGKILL');
    await page.locator('#members tbody tr[data-name="beta"][data-status="failed"]').waitFor({ timeout: 10_000 });
    expect(await rows('alive').count()).toBe(2);

    member!.stdin!.write('meta pid=1,phase=two\n');
    await expect
      .poll(() => page.locator('#members tbody tr[data-name="gamma"] td.metadata').textContent(), { timeout: 10_000 })
      .toBe('pid=1, phase=two');

    // Filters: by status, and by metadata.
    await page.selectOption('#status-filter', 'failed');
    expect(await page.locator('#members tbody tr').count()).toBe(1);
    await page.selectOption('#status-filter', '');
    await page.fill('#meta-filter', 'role=web');
    expect(await page.locator('#members tbody tr').count()).toBe(1);
    expect(await page.locator('#members tbody tr').getAttribute('data-name')).toBe('alpha');
    await page.fill('#meta-filter', '');
    // Sorting by name, descending on a second click.
    await page.click('th[data-sort="name"]');
    expect(await page.locator('#members tbody tr').first().getAttribute('data-name')).toBe('gamma');

    await expect.poll(async () => Number(await page.locator('#timeline').getAttribute('data-points')), { timeout: 10_000 }).toBeGreaterThan(2);
    expect(await page.locator('#timeline canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('#metrics dd[data-metric="syncs"]').textContent(), { timeout: 10_000 }).toMatch(/^\d+$/);

    // A member that stops answering (its sockets stay open) shows as suspect.
    member!.kill('SIGSTOP');
    try {
      await page.locator('#members tbody tr[data-name="gamma"][data-status="suspect"]').waitFor({ timeout: 10_000 });
      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'page.png'), fullPage: true });
    } finally {
      member!.kill('SIGCONT');
    }
    expect(pageErrors).toEqual([]);
  });

  it('reconnects on its own when the agent restarts', async () => {
    const address = String((alpha.lines.find((l) => typeof l === 'object' && l.event === 'AgentStarted') as Record<string, unknown>).address);
    const port = Number(address.split(':')[1]);
    const [, controlPort] = control.split(':');
    alpha.child.kill('SIGKILL');
    await alpha.exited;
    await page.locator('#connection[data-connected="false"]').waitFor({ timeout: 10_000 });
    alpha = startCli(agentArgs('alpha', port, '--control', `127.0.0.1:${controlPort}`, '--control-token', 'sesame', '--meta', 'role=web2'));
    await alpha.waitFor((l) => l.event === 'AgentStarted', 10_000, 'alpha to restart');
    await page.locator('#connection[data-connected="true"]').waitFor({ timeout: 10_000 });
    await expect
      .poll(() => page.locator('#members tbody tr[data-name="alpha"] td.metadata').textContent(), { timeout: 10_000 })
      .toBe('role=web2');
  });
});
