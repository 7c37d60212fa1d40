/**
 * The Experiments, Models and Features pages on a fresh platform (`--no-startup`: nothing seeded,
 * trained or materialized): each says so in its empty state, with no console error and no failed
 * request, and a model or run that does not exist is MLflow's error in words, not a blank page.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, type ConsolePlatform, launchBrowser, openConsole, startConsolePlatform } from './harness';

let platform: ConsolePlatform;
let browser: Browser;

beforeAll(async () => {
  [platform, browser] = await Promise.all([startConsolePlatform({ startup: false }), launchBrowser()]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
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
