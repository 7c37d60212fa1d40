/**
 * The console on a fresh platform (`--no-startup`: nothing trained, nothing served): `mlops up`
 * prints its URL, each page opens with no console error and no failed request, shows its empty
 * state, has no serious or critical axe-core violation, and is screenshotted at 1280×800 and at a
 * phone's width.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Browser,
  type ConsolePlatform,
  launchBrowser,
  openConsole,
  startConsolePlatform,
} from './harness';

let platform: ConsolePlatform;
let browser: Browser;

beforeAll(async () => {
  [platform, browser] = await Promise.all([startConsolePlatform({ startup: false }), launchBrowser()]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

describe('the console on a fresh platform', () => {
  it('is printed in the banner and served at the gateway root, its API routes unchanged', async () => {
    expect(platform.consoleUrl).toBe(`${platform.gatewayUrl.replace(/\/$/, '')}/`);
    const html = await fetch(platform.consoleUrl);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const health = await fetch(`${platform.gatewayUrl.replace(/\/$/, '')}/health`);
    expect(health.status).toBe(200);
    // Paths no route claims still get API Gateway's answer.
    const other = await fetch(`${platform.gatewayUrl.replace(/\/$/, '')}/console/nope.js`);
    expect(other.status).toBe(403);
  });

  it('opens every page in the nav with no console error, no failed request, no serious axe violation', async () => {
    const home = await openConsole(browser, platform);
    const nav = await home.page.locator('nav a').evaluateAll((links) =>
      links.map((a) => ({ href: a.getAttribute('href')!, title: a.textContent!.trim() })),
    );
    await home.page.close();
    expect(nav.map((n) => n.href)).toEqual(['#/pipelines', '#/experiments', '#/models', '#/features', '#/serving']);
    for (const { href, title } of nav) {
      const id = href.slice(2);
      const page = await openConsole(browser, platform, href);
      await expect.poll(() => page.page.locator('main h1').first().textContent()).toBe(title);
      // Settled: every request the page starts on load has answered.
      await page.page.waitForLoadState('networkidle');
      expect(page.problems(), id).toEqual([]);
      expect(await page.accessibility(), id).toEqual([]);
      await page.screenshot(`empty-${id}`);
      await page.page.setViewportSize({ width: 390, height: 800 });
      expect(await page.accessibility(), `${id} (narrow)`).toEqual([]);
      await page.screenshot(`empty-${id}-narrow`);
      expect(page.problems(), id).toEqual([]);
      await page.page.close();
    }
  });
});
