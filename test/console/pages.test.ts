/**
 * The Experiments, Models and Features pages, and the console's shell, on two platforms driven by
 * one Chromium.
 *
 * After `npm start`'s start-up (seed, materialize, train, register, promote, serve) plus one more
 * training run: the wine model and its run appear, the run's metric chart draws its series, two
 * runs compare as bar charts, a refused filter shows MLflow's error inline, a stage transition
 * confirmed in the dialog by keyboard reaches the registry (checked through MLflow REST), and the
 * entity lookup shows values with their statuses.
 *
 * On a fresh platform (`--no-startup`: nothing trained, nothing served): `mlops up` prints its URL,
 * each page in the nav opens with its empty state, the console is usable by keyboard, the
 * Experiments, Models and Features pages each say so in their empty state, and a model that does
 * not exist is MLflow's error in words, not a blank page.
 *
 * Each page: no console error, no failed request, no serious or critical axe-core violation,
 * screenshots at 1280×800 and at a phone's width under test-output/console/. The tests pass in any
 * order (`--sequence.shuffle`): the fresh platform is only read; on the trained one, the stage
 * transition puts version 2 back in None when it ends (the version list expects None there), and
 * the other changes (an alias on version 2, a tag and a report on version 1) are ones no other test
 * reads.
 */
import { spawnSync } from 'node:child_process';
import { ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import {
  type Browser,
  type ConsolePage,
  type ConsolePlatform,
  launchBrowser,
  openConsole,
  startConsolePlatform,
  stepFunctions,
} from './harness';

// A browser on a busy CI machine: what a page shows may take seconds, not expect.poll's default 1 s.
vi.setConfig({ expect: { poll: { timeout: 20_000, interval: 100 } } });

/** After the start-up and a second training run. */
let platform: ConsolePlatform;
/** Started with `--no-startup`; nothing changes it. */
let fresh: ConsolePlatform;
let browser: Browser;
const screenshots: string[] = [];

const TRAINING_INPUT = {
  dataset: 'winequality_red_raw',
  target: 'quality',
  model_name: 'wine-quality',
  hyperparameters: { alpha: 0.05, l1_ratio: 0.2 },
  thresholds: { max_rmse: 0.9 },
};

beforeAll(async () => {
  [platform, fresh, browser] = await Promise.all([startConsolePlatform(), startConsolePlatform({ startup: false }), launchBrowser()]);
  // A second run (and version 2) to compare and to move between stages; the README's command.
  const run = spawnSync(
    process.execPath,
    [`${PROJECT_ROOT}bin/mlops.mjs`, 'run', 'training', '--input', JSON.stringify(TRAINING_INPUT), '--state-dir', platform.stateDir],
    { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 180_000 },
  );
  if (run.status !== 0) throw new Error(`mlops run training failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
}, 400_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all([platform?.stop(), fresh?.stop()]);
});

/** `expect.poll` with room for a loaded machine (the platform and Chromium share two cores). */
const poll = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 15_000 });

const gateway = () => platform.gatewayUrl.replace(/\/$/, '');

async function mlflow<T>(path: string): Promise<T> {
  const res = await fetch(`${gateway()}/api/2.0/mlflow/${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** The page settled (no request in flight), with nothing gone wrong and nothing inaccessible. */
async function expectClean(page: ConsolePage, name: string) {
  await page.page.waitForLoadState('networkidle');
  expect(page.problems(), name).toEqual([]);
  expect(await page.accessibility(), name).toEqual([]);
  screenshots.push(await page.screenshot(name));
  await page.page.setViewportSize({ width: 390, height: 800 });
  expect(await page.accessibility(), `${name} (narrow)`).toEqual([]);
  screenshots.push(await page.screenshot(`${name}-narrow`));
  await page.page.setViewportSize({ width: 1280, height: 800 });
  expect(page.problems(), name).toEqual([]);
}

describe('Experiments and runs', () => {
  it('lists the wine experiment, its runs with metrics and params as columns, sorted by MLflow', async () => {
    const p = await openConsole(browser, platform, '#/experiments');
    await p.page.getByRole('link', { name: 'wine-quality' }).click();
    const rows = p.page.locator('table.runs tbody tr');
    await poll(() => rows.count()).toBe(2);
    const headers = await p.page.locator('table.runs thead th').allTextContents();
    expect(headers.join('|')).toMatch(/metric holdout_rmse/);
    expect(headers.join('|')).toMatch(/param alpha/);
    // Sort by rmse through the header button (keyboard): the URL carries it, MLflow orders.
    await p.page.getByRole('button', { name: /metric holdout_rmse/ }).focus();
    await p.page.keyboard.press('Enter');
    await poll(() => p.page.evaluate(() => (globalThis as unknown as { location: { hash: string } }).location.hash)).toMatch(/sort=metric%3Aholdout_rmse/);
    const { runs } = await searchByRmse();
    await poll(() => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-run-id')))).toEqual(runs.map((r) => r.info.run_id));
    await expectClean(p, 'experiments-runs');
    await p.page.close();
  });

  it("shows a refused filter in MLflow's words, inline, and a valid one narrows the runs", async () => {
    const p = await openConsole(browser, platform, `#/experiments/${await experimentId()}`);
    await p.page.locator('table.runs tbody tr').first().waitFor();
    p.reset();
    await p.page.getByLabel('Filter (MLflow syntax)').fill('metrics.rmse <<< 1');
    await p.page.keyboard.press('Enter');
    const error = p.page.locator('#run-filter-error');
    await poll(() => error.textContent()).toMatch(/INVALID_PARAMETER_VALUE/);
    // The refused search is the only thing that went wrong (the browser logs the 400 as well).
    expect(p.problems().length).toBeGreaterThan(0);
    for (const x of p.problems()) expect(x).toMatch(/HTTP 400: POST .*runs\/search|console error: Failed to load resource: .* 400/);
    p.reset();
    await p.page.getByLabel('Filter (MLflow syntax)').fill("params.alpha = '0.05'");
    await p.page.keyboard.press('Enter');
    await poll(() => p.page.locator('table.runs tbody tr').count()).toBe(1);
    expect(await error.count()).toBe(0);
    await expectClean(p, 'experiments-filter');
    await p.page.close();
  });

  it("draws the run's metric history as a chart with its series", async () => {
    const id = await experimentId();
    const p = await openConsole(browser, platform, `#/experiments/${id}`);
    await p.page.locator('table.runs tbody tr a').first().click();
    const chart = p.page.locator('.metric-chart[data-metric="holdout_rmse"] figure.chart');
    await chart.waitFor();
    expect(await chart.getAttribute('data-series')).toBe('1');
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(1);
    // The series' colour is on the canvas: uPlot drew the point, not only the axes.
    await poll(() => seriesPixels(p, '.metric-chart[data-metric="holdout_rmse"] canvas')).toBeGreaterThan(0);
    await expectClean(p, 'experiments-run');
    await p.page.close();
  });

  it('compares two selected runs: a bar chart per metric with a bar per run, params side by side', async () => {
    const p = await openConsole(browser, platform, `#/experiments/${await experimentId()}`);
    const boxes = p.page.locator('table.runs tbody input[type=checkbox]');
    await poll(() => boxes.count()).toBe(2);
    await boxes.nth(0).check();
    await boxes.nth(1).check();
    await p.page.getByRole('button', { name: 'Compare 2 runs' }).click();
    const rmse = p.page.locator('.compare-chart[data-metric="holdout_rmse"] svg g.bar');
    await poll(() => rmse.count()).toBe(2);
    const values = await rmse.evaluateAll((gs) => gs.map((g) => Number(g.getAttribute('data-value'))));
    expect(values.every((v) => v > 0 && v < 2)).toBe(true);
    const alpha = await p.page.locator('table.compare-params tr', { hasText: 'alpha' }).locator('td').allTextContents();
    expect(alpha.sort()).toEqual(['0.05', '0.1']);
    await expectClean(p, 'experiments-compare');
    await p.page.close();
  });
});

describe('Models', () => {
  it('lists the trained wine model with its versions, stages and alias', async () => {
    const p = await openConsole(browser, platform, '#/models');
    await p.page.getByRole('link', { name: 'wine-quality', exact: true }).click();
    const v1 = p.page.locator('tr[data-version="1"]');
    await v1.waitFor();
    expect(await v1.textContent()).toMatch(/Production/);
    expect(await v1.locator('[data-alias="champion"]').count()).toBe(1);
    expect(await p.page.locator('tr[data-version="2"]').textContent()).toMatch(/None/);
    await expectClean(p, 'models');
    await p.page.close();
  });

  it("shows a version's lineage: its run, data version and the pipeline execution", async () => {
    const p = await openConsole(browser, platform, '#/models/wine-quality/versions/1');
    const lineage = p.page.locator('table.lineage');
    await poll(() => lineage.textContent()).toMatch(/Data version/);
    const runLink = lineage.locator('a').first();
    expect(await runLink.getAttribute('href')).toMatch(/^#\/experiments\/\d+\/runs\//);
    await expectClean(p, 'models-version');
    await p.page.close();
  });

  it('moves version 2 to Staging through the confirmation dialog, by keyboard, and the registry has it', async () => {
    // Version 2 back in None afterwards, whatever happened: the version list expects it there.
    onTestFinished(async () => {
      const res = await fetch(`${gateway()}/api/2.0/mlflow/model-versions/transition-stage`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'wine-quality', version: '2', stage: 'None', archive_existing_versions: false }),
      });
      expect(res.status).toBe(200);
    });
    const p = await openConsole(browser, platform, '#/models/wine-quality/versions/2');
    const select = p.page.getByLabel('Move to stage');
    await select.waitFor();
    await select.selectOption('Staging');
    await p.page.getByRole('button', { name: 'Transition…' }).focus();
    await p.page.keyboard.press('Enter');
    const dialog = p.page.getByRole('dialog', { name: 'Transition stage' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toMatch(/from None to Staging/);
    expect(await p.accessibility(), 'dialog').toEqual([]);
    // Escape cancels: nothing changes.
    await p.page.keyboard.press('Escape');
    await poll(() => dialog.isVisible()).toBe(false);
    expect((await mlflow<{ model_version: { current_stage: string } }>('model-versions/get?name=wine-quality&version=2')).model_version.current_stage).toBe('None');
    // Again, confirmed with the keyboard this time.
    await p.page.getByRole('button', { name: 'Transition…' }).focus();
    await p.page.keyboard.press('Enter');
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Transition' }).focus();
    await p.page.keyboard.press('Enter');
    await poll(() => p.page.locator('[role=status]').allTextContents()).toContainEqual(expect.stringMatching(/moved to Staging/));
    const { model_version } = await mlflow<{ model_version: { current_stage: string } }>('model-versions/get?name=wine-quality&version=2');
    expect(model_version.current_stage).toBe('Staging');
    await expectClean(p, 'models-transition');
    await p.page.close();
  });

  it('refuses an alias MLflow would refuse before asking, and sets a valid one after the confirmation', async () => {
    const p = await openConsole(browser, platform, '#/models/wine-quality/versions/2');
    const alias = p.page.getByLabel('Alias', { exact: true });
    await alias.waitFor();
    await alias.fill('v7');
    await p.page.getByRole('button', { name: 'Set alias…' }).click();
    expect(await p.page.locator('#alias-name-error').textContent()).toMatch(/must not look like a version/);
    expect(await p.page.getByRole('dialog').count()).toBe(0);
    await alias.fill('challenger');
    await p.page.getByRole('button', { name: 'Set alias…' }).click();
    await p.page.getByRole('dialog', { name: 'Set alias' }).getByRole('button', { name: 'Set alias' }).click();
    await poll(() => p.page.locator('[data-alias="challenger"]').count()).toBe(1);
    const { model_version } = await mlflow<{ model_version: { version: string } }>('registered-models/alias?name=wine-quality&alias=challenger');
    expect(model_version.version).toBe('2');
    await expectClean(p, 'models-alias');
    await p.page.close();
  });
});

describe('Models: baseline and drift reports', () => {
  it("links the version's baseline (tag mlops.baseline_uri) and the drift reports under drift/<model>/ in the curated bucket", async () => {
    // prepare: what the drift machine leaves behind, through the platform's public APIs
    const s3Endpoint = /^S3\s+(http:\/\/127\.0\.0\.1:\d+)/m.exec(platform.output())![1]!;
    const s3 = new S3Client({ endpoint: s3Endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    const buckets = (await s3.send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name!);
    const curated = buckets.find((b) => /curated/i.test(b))!;
    const report = 'drift/wine-quality/2026-12-04T00:00:00Z/exec-1/report.html';
    await s3.send(new PutObjectCommand({ Bucket: curated, Key: report, Body: '<html></html>', ContentType: 'text/html' }));
    const baseline = `s3://${curated}/models/wine-quality/1/baseline.json`;
    const tag = await fetch(`${gateway()}/api/2.0/mlflow/model-versions/set-tag`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'wine-quality', version: '1', key: 'mlops.baseline_uri', value: baseline }),
    });
    expect(tag.status).toBe(200);
    s3.destroy();
    // act
    const p = await openConsole(browser, platform, '#/models/wine-quality/versions/1');
    // assess
    const links = p.page.locator('ul.drift-reports a');
    await poll(() => links.count()).toBe(1);
    expect(await links.getAttribute('href')).toBe(`${s3Endpoint}/${curated}/${report.split('/').map(encodeURIComponent).join('/')}`);
    expect(await p.page.getByRole('link', { name: baseline }).getAttribute('href')).toBe(
      `${s3Endpoint}/${curated}/models/wine-quality/1/baseline.json`,
    );
    await expectClean(p, 'models-reports');
    await p.page.close();
  });
});

describe('Features', () => {
  it('shows the wine feature view with schema, TTL and the start-up materialization window', async () => {
    const p = await openConsole(browser, platform, '#/features');
    const view = p.page.locator('[data-view="wine_features"]');
    await view.waitFor();
    expect(await view.locator('[data-ttl]').textContent()).toBe('365 d');
    expect(await view.locator('[data-window]').getAttribute('data-window')).toMatch(/^\d{4}-.+\/\d{4}-/);
    await view.locator('summary').click();
    expect(await view.locator('tbody tr').count()).toBe(11);
    expect(await p.page.locator('[data-service="wine_quality_v1"]').count()).toBe(1);
    await expectClean(p, 'features');
    await p.page.close();
  });

  it('looks entities up through /get-online-features and shows values with statuses', async () => {
    const p = await openConsole(browser, platform, '#/features/wine_quality_v1');
    const input = p.page.getByLabel(/wine_id/);
    await input.waitFor();
    await input.fill('1, x');
    await p.page.getByRole('button', { name: 'Look up' }).click();
    expect(await p.page.locator('#lookup-wine_id-error').textContent()).toBe("wine_id must be an integer, but 'x' was provided");
    await input.fill('1, 99999');
    await p.page.keyboard.press('Enter');
    const alcohol = p.page.locator('table.lookup-result td[data-feature="alcohol"]');
    await poll(() => alcohol.count()).toBe(2);
    expect(await alcohol.nth(0).getAttribute('data-status')).toBe('PRESENT');
    expect(await alcohol.nth(0).textContent()).toMatch(/^9\.4 /);
    expect(await alcohol.nth(1).getAttribute('data-status')).toBe('NOT_FOUND');
    await expectClean(p, 'features-lookup');
    await p.page.close();
  });

  afterAll(() => {
    console.log(`console page screenshots:\n${screenshots.join('\n')}`);
  });
});

/** What each page shows on a fresh platform. */
const EMPTY: Record<string, RegExp> = {
  pipelines: /mlops-local-trainingpipeline-\S+\s+STANDARD\s+0\s+none yet/,
  serving: /No model is served yet\.[\s\S]*promoted to Production/,
};

describe('the console on a fresh platform', () => {
  it('is printed in the banner and served at the gateway root, its API routes unchanged', async () => {
    expect(fresh.consoleUrl).toBe(`${fresh.gatewayUrl.replace(/\/$/, '')}/`);
    const html = await fetch(fresh.consoleUrl);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    expect(html.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    const health = await fetch(`${fresh.gatewayUrl.replace(/\/$/, '')}/health`);
    expect(health.status).toBe(200);
    // Paths no route claims still get API Gateway's answer.
    const other = await fetch(`${fresh.gatewayUrl.replace(/\/$/, '')}/console/nope.js`);
    expect(other.status).toBe(403);
  });

  it('opens every page in the nav with no console error, no failed request, no serious axe violation', async () => {
    const home = await openConsole(browser, fresh);
    const nav = await home.page.locator('nav a').evaluateAll((links) =>
      links.map((a) => ({ href: a.getAttribute('href')!, title: a.textContent!.trim() })),
    );
    await home.page.close();
    expect(nav.map((n) => n.href)).toEqual(['#/pipelines', '#/experiments', '#/models', '#/features', '#/serving']);
    for (const { href, title } of nav) {
      const id = href.slice(2);
      const page = await openConsole(browser, fresh, href);
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
    const page = await openConsole(browser, fresh, '#/pipelines');
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
    const { stateMachines } = (await stepFunctions(fresh, 'ListStateMachines')) as { stateMachines: unknown[] };
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

describe('empty states on a fresh platform', () => {
  it.each([
    ['#/experiments', 'No model has been trained yet.'],
    ['#/models', 'No registered models yet.'],
  ])('%s says %s', async (hash, title) => {
    const p = await openConsole(browser, fresh, hash);
    await poll(() => p.page.locator('.empty-title').allTextContents()).toContain(title);
    await p.page.waitForLoadState('networkidle');
    expect(p.problems()).toEqual([]);
    expect(await p.accessibility()).toEqual([]);
    await p.page.close();
  });

  it('shows the feature views as defined, never materialized', async () => {
    const p = await openConsole(browser, fresh, '#/features');
    const window = p.page.locator('[data-view="wine_features"] [data-window]');
    await window.waitFor();
    expect(await window.getAttribute('data-window')).toBe('');
    expect(await window.textContent()).toMatch(/^never/);
    await p.page.waitForLoadState('networkidle');
    expect(p.problems()).toEqual([]);
    await p.page.close();
  });

  it("shows a missing model's registry error in MLflow's words", async () => {
    const p = await openConsole(browser, fresh, '#/models/nope');
    await poll(() => p.page.locator('.error-banner').textContent()).toMatch(/RESOURCE_DOES_NOT_EXIST/);
    // The 404s are the point here; nothing else went wrong.
    for (const x of p.problems()) expect(x).toMatch(/404/);
    await p.page.close();
  });
});

let experiment: string | undefined;
async function experimentId(): Promise<string> {
  experiment ??= (await mlflow<{ experiment: { experiment_id: string } }>('experiments/get-by-name?experiment_name=wine-quality')).experiment.experiment_id;
  return experiment;
}

/** The runs in MLflow's rmse order (runs/search is POST-only). */
async function searchByRmse(): Promise<{ runs: { info: { run_id: string } }[] }> {
  const res = await fetch(`${gateway()}/api/2.0/mlflow/runs/search`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ experiment_ids: [await experimentId()], order_by: ['metrics.`holdout_rmse` ASC'] }),
  });
  return (await res.json()) as { runs: { info: { run_id: string } }[] };
}

/** Pixels of the first series colour (#1f6feb) on a canvas. */
function seriesPixels(p: ConsolePage, selector: string): Promise<number> {
  return p.page.locator(selector).first().evaluate((c) => {
    // The root tsconfig has no DOM types; the canvas as far as this reads it.
    const canvas = c as unknown as {
      width: number;
      height: number;
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
    };
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (Math.abs(data[i]! - 0x1f) < 12 && Math.abs(data[i + 1]! - 0x6f) < 12 && Math.abs(data[i + 2]! - 0xeb) < 12 && data[i + 3]! > 200) n++;
    }
    return n;
  });
}
