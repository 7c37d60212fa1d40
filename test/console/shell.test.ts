/**
 * The console on a fresh platform (`--no-startup`: nothing trained, nothing served): `mlops up`
 * prints its URL, each page opens with no console error and no failed request, shows its empty
 * state, has no serious or critical axe-core violation, and is screenshotted at 1280×800 and at a
 * phone's width. The Experiments, Models and Features pages each say so in their empty state, and
 * a model or run that does not exist is MLflow's error in words, not a blank page. (One platform
 * and one browser for both: the empty-state tests were a file of their own that started another.)
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type Browser,
  type ConsolePlatform,
  launchBrowser,
  openConsole,
  startConsolePlatform,
  stepFunctions,
} from './harness';

/** What each page shows on a fresh platform. */
const EMPTY: Record<string, RegExp> = {
  pipelines: /mlops-local-trainingpipeline-\S+\s+STANDARD\s+0\s+none yet/,
  serving: /No model is served yet\.[\s\S]*promoted to Production/,
};

// A browser on a busy CI machine: what a page shows may take seconds, not expect.poll's default 1 s.
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });

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
      // A fresh platform says so, and what to do about it (pages of this part; the others test their own).
      if (EMPTY[id]) await expect.poll(() => page.page.locator('main').innerText(), id).toMatch(EMPTY[id]);
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

  it('is usable by keyboard: a skip link, the nav, sortable column headers', async () => {
    const page = await openConsole(browser, platform, '#/pipelines');
    const active = () => page.page.evaluate(() => {
      const el = (globalThis as any).document.activeElement;
      return `${el?.tagName.toLowerCase()}#${el?.id ?? ''}:${(el?.textContent ?? '').trim().slice(0, 40)}`;
    });
    await page.page.keyboard.press('Tab');
    expect(await active()).toBe('a#:Skip to content');
    await page.page.keyboard.press('Enter');
    expect(await active()).toMatch(/^main#main:/);

    // The nav by Tab and Enter.
    await page.page.locator('nav a', { hasText: 'Serving' }).focus();
    await page.page.keyboard.press('Enter');
    await expect.poll(() => page.page.locator('main h1').textContent()).toBe('Serving');
    expect(await page.page.locator('nav a[aria-current="page"]').textContent()).toBe('Serving');
    await page.page.goBack();
    await expect.poll(() => page.page.locator('main h1').textContent()).toBe('Pipelines');

    // A column header sorts on Enter, and says which way.
    const header = page.page.getByRole('button', { name: 'State machine' });
    const names = () => page.page.locator('main tbody tr td:first-child').allInnerTexts();
    const { stateMachines } = (await stepFunctions(platform, 'ListStateMachines')) as { stateMachines: unknown[] };
    expect(stateMachines.length).toBeGreaterThanOrEqual(3);
    await expect.poll(() => names().then((n) => n.length)).toBe(stateMachines.length);
    await header.focus();
    await page.page.keyboard.press('Enter');
    const ascending = await names();
    expect(ascending).toEqual([...ascending].sort());
    expect(await page.page.locator('th[aria-sort]').getAttribute('aria-sort')).toBe('ascending');
    await page.page.keyboard.press('Enter');
    expect(await names()).toEqual([...ascending].reverse());
    expect(page.problems()).toEqual([]);
    await page.page.close();
  });
});

const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });

describe('empty states on a fresh platform', () => {
  it.each([
    ['#/experiments', 'No model has been trained yet.'],
    ['#/models', 'No registered models yet.'],
  ])('%s says %s', async (hash, title) => {
    const p = await openConsole(browser, platform, hash);
    await poll(() => p.page.locator('.empty-title').allTextContents()).toContain(title);
    await p.page.waitForLoadState('networkidle');
    expect(p.problems()).toEqual([]);
    expect(await p.accessibility()).toEqual([]);
    await p.page.close();
  });

  it('shows the feature views as defined, never materialized', async () => {
    const p = await openConsole(browser, platform, '#/features');
    const window = p.page.locator('[data-view="wine_features"] [data-window]');
    await window.waitFor();
    expect(await window.getAttribute('data-window')).toBe('');
    expect(await window.textContent()).toMatch(/^never/);
    await p.page.waitForLoadState('networkidle');
    expect(p.problems()).toEqual([]);
    await p.page.close();
  });

  it("shows a missing model's registry error in MLflow's words", async () => {
    const p = await openConsole(browser, platform, '#/models/nope');
    await poll(() => p.page.locator('.error-banner').textContent()).toMatch(/RESOURCE_DOES_NOT_EXIST/);
    // The 404s are the point here; nothing else went wrong.
    for (const x of p.problems()) expect(x).toMatch(/404/);
    await p.page.close();
  });
});
