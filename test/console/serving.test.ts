/**
 * The Serving page against a platform after its start-up (one `mlops up`): the wine-quality
 * deployment with its served version and traffic, live request rate and latency charts that move
 * when predictions arrive, and the try-it form answering the README's value in both protocols, and
 * the protocol's own error for a bad request.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Browser, type ConsolePlatform, launchBrowser, openConsole, startConsolePlatform } from './harness';

// A browser on a busy CI machine: what a page shows may take seconds, not expect.poll's default 1 s.
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });

let platform: ConsolePlatform;
let browser: Browser;

beforeAll(async () => {
  [platform, browser] = await Promise.all([startConsolePlatform({ startup: true }), launchBrowser()]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await platform?.stop();
});

/** What the README's curl examples print for its example wine. */
const README_VALUE = '5.314977351562266';
const WINE = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];

describe('Serving', () => {
  it('shows the deployment, its traffic and live metrics that follow the predictions sent', async () => {
    const page = await openConsole(browser, platform, '#/serving');
    const main = page.page.locator('main');
    await expect.poll(() => main.locator('tbody').first().innerText()).toMatch(/seldon\/wine-quality\s+serving\s+v1\s+v1 Production \(champion\)/);
    await expect.poll(() => main.getByRole('table', { name: 'Traffic split of wine-quality' }).innerText()).toMatch(/v1\s+100 %/);

    // Predictions from outside the browser show up in the live charts.
    const gateway = platform.gatewayUrl.replace(/\/$/, '');
    const live = page.page.getByTestId('live-metrics');
    const sendSome = async () => {
      for (let i = 0; i < 20; i++) {
        const res = await fetch(`${gateway}/seldon/seldon/wine-quality/api/v1.0/predictions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ data: { ndarray: [WINE] } }),
        });
        expect(res.status).toBe(200);
      }
    };
    await sendSome();
    await expect.poll(async () => Number(await live.locator('figure').first().getAttribute('data-points')), { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
    await sendSome();
    // The rate chart's latest point counts them: its accessible summary names a rate above zero.
    await expect.poll(async () => {
      const label = await live.locator('figure').first().locator('[role="img"]').getAttribute('aria-label');
      return /requests\/s: (\d+(\.\d+)?)/.exec(label ?? '')?.map(Number)[1] ?? 0;
    }, { timeout: 15_000 }).toBeGreaterThan(0);
    expect(await live.locator('canvas').count()).toBe(2);
    await expect.poll(() => main.getByRole('table', { name: 'Traffic split of wine-quality' }).innerText()).toMatch(/v1\s+100 %\s+\d{2,} \(100 %\)/);

    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('serving');
    await page.page.close();
  });

  it("answers the README's value from the try-it form, in Seldon v1 and OIP v2, and shows a protocol error", async () => {
    const page = await openConsole(browser, platform, '#/serving/wine-quality');
    const form = page.page.locator('form', { has: page.page.getByRole('heading', { name: 'Try it' }) });
    const body = form.getByLabel('Request body');
    await expect.poll(async () => JSON.parse(await body.inputValue())).toEqual({ data: { ndarray: [WINE] } });
    await form.getByRole('button', { name: 'Send' }).click();
    const answer = page.page.getByTestId('try-answer');
    await expect.poll(() => answer.innerText()).toContain(README_VALUE);
    expect(await answer.getAttribute('data-ok')).toBe('true');

    await form.getByLabel('Open Inference Protocol v2').check();
    await expect.poll(async () => JSON.parse(await body.inputValue())).toEqual({
      inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: WINE }],
    });
    await form.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => answer.innerText()).toMatch(new RegExp(`"model_name": "wine-quality"[\\s\\S]*${README_VALUE}`));
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('serving-try-it');

    // A request of the wrong shape: OIP's own error, shown as such.
    await body.fill(JSON.stringify({ inputs: [{ name: 'input-0', shape: [1, 3], datatype: 'FP64', data: [1, 2, 3] }] }));
    await form.getByRole('button', { name: 'Send' }).click();
    await expect.poll(() => answer.getAttribute('data-ok')).toBe('false');
    expect(await answer.getByRole('alert').innerText()).toMatch(/HTTP 400 .*\S/);
    expect(page.problems()).toEqual([expect.stringMatching(/HTTP 400: POST .*\/v2\/models\/wine-quality\/infer/), expect.stringMatching(/status of 400/)]);
    page.reset();

    await page.page.setViewportSize({ width: 390, height: 800 });
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('serving-narrow');
    await page.page.close();
  });
});
