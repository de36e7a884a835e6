/**
 * The page as the offline view of an agent, in Debian's chromium (headless):
 * the statechart panel is drawn at once and never stays empty, the layout
 * engine's drawing replaces it when its worker runs, a worker that cannot load
 * leaves the plain drawing with the reason beside it, and the timeline's axis
 * spans a minute, not years, while it holds one point.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { browserUnavailable, launchBrowser } from './support/browser.js';
import { freePort } from './support/processes.js';
import { agentArgs, killAll, startCli } from './support/cli.js';

const unavailable = browserUnavailable();
// Under CI a missing browser is a failure, not a skip.
const skip = unavailable !== undefined && process.env.CI !== 'true';

describe.skipIf(skip)(`the statechart panel and the timeline in chromium${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  let browser: Awaited<ReturnType<typeof launchBrowser>> | undefined;
  let control = '';

  beforeAll(async () => {
    if (unavailable) throw new Error(unavailable);
    const agent = startCli(agentArgs('panel', await freePort(), '--control-token', 'sesame'));
    control = String((await agent.waitFor((l) => l.event === 'AgentStarted', 10_000, 'the agent to start')).control);
    browser = await launchBrowser();
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await killAll();
  });

  async function open(blockWorker: boolean): Promise<{ page: Page; errors: string[] }> {
    const page = await browser!.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    if (blockWorker) await page.route('**/elk-worker.js', (route) => route.abort('blockedbyclient'));
    await page.goto(`http://${control}/#token=sesame`);
    return { page, errors };
  }

  const lit = (page: Page) => page.locator('#statechart .state.current').getAttribute('data-state');

  it('draws the statechart with the current state lit, then lays it out with the engine', async () => {
    const { page, errors } = await open(false);
    // One point so far: the axis spans the last minute, not years.
    const span = async () => [await page.locator('#timeline').getAttribute('data-points'), Number(await page.locator('#timeline').getAttribute('data-span'))];
    await expect.poll(span, { timeout: 10_000 }).toEqual(['1', 60]);

    await page.locator('#statechart .state.current').waitFor({ timeout: 10_000 });
    expect(await page.locator('#statechart .state').count()).toBe(7); // six states and "any state"
    await expect.poll(() => lit(page), { timeout: 10_000 }).toBe('up');
    await page.locator('#statechart[data-layout="engine"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#statechart-note').textContent()).toBe('');
    expect(await lit(page)).toBe('up');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('with the layout worker blocked, keeps the plain drawing and says why', async () => {
    const { page, errors } = await open(true);
    await page.locator('#statechart .state.current').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('#statechart-note').textContent(), { timeout: 10_000 }).toMatch(/^plain layout: the layout engine could not run \(.+\)$/);
    expect(await page.locator('#statechart').getAttribute('data-layout')).toBe('simple');
    expect(await page.locator('#statechart .state').count()).toBe(7);
    expect(await page.locator('#statechart .edge').count()).toBeGreaterThan(5);
    expect(await lit(page)).toBe('up');
    expect(errors).toEqual([]);
    await page.close();
  });
});
