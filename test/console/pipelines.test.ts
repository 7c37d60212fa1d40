/**
 * The Pipelines and Serving pages against one platform after its start-up training (one `mlops
 * up`, one Chromium). Pipelines: every state machine listed with its latest execution, the
 * training execution's graph with every state it ran green and the rest not run, a state's input
 * and output on click (and by keyboard), Step Functions' own validation message inline in the start
 * form, and a run started from the form followed live to SUCCEEDED. Serving: the wine-quality
 * deployment with its served version and traffic, live request rate and latency charts that move
 * when predictions arrive, and the try-it form answering the README's value in both protocols, and
 * the protocol's own error for a bad request.
 *
 * They share the platform in any order (`--sequence.shuffle`): the runs the Pipelines tests start
 * add executions (the list is checked against Step Functions' own latest) and register versions in
 * stage None, which Serving does not show (it shows Production or champion versions); the
 * predictions Serving sends only add to the server's counters, which nothing else reads.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Browser, type ConsolePage, type ConsolePlatform, launchBrowser, openConsole, startConsolePlatform, stepFunctions } from './harness';

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

/** The page settled (no request in flight), with nothing gone wrong and nothing inaccessible; then its screenshot. */
async function expectSettled(page: ConsolePage, name: string) {
  await page.page.waitForLoadState('networkidle');
  expect(page.problems(), name).toEqual([]);
  expect(await page.accessibility(), name).toEqual([]);
  await page.screenshot(name);
}

/** The states the start-up training passes through, in order (the gate passes, the model registers). */
const TRAINING_PATH = [
  'Validate data',
  'Build features',
  'Export training split',
  'Export holdout split',
  'Stage training data',
  'Train model',
  'Evaluate model',
  'Passes the gate?',
  'Count training values',
  'Write baseline',
  'Register model',
  'Record success',
  'Notify success',
  'Model registered',
];

describe('Pipelines', () => {
  it('lists every state machine with its latest execution', async () => {
    const page = await openConsole(browser, platform, '#/pipelines');
    const rows = page.page.locator('main tbody tr');
    const { stateMachines } = await stepFunctions(platform, 'ListStateMachines');
    await expect.poll(() => rows.count()).toBe(stateMachines.length);
    // The start-up's run until the form test below starts others: whichever Step Functions has last.
    const training = stateMachines.find((m: { name: string }) => /trainingpipeline/.test(m.name));
    const { executions } = await stepFunctions(platform, 'ListExecutions', { stateMachineArn: training.stateMachineArn });
    const latest = executions.sort((a: { startDate: number }, b: { startDate: number }) => b.startDate - a.startDate)[0];
    expect(latest.name).toMatch(/^(startup|console(-bad)?)-\d+$/);
    await expect.poll(() => rows.filter({ hasText: training.name }).innerText()).toMatch(
      new RegExp(`trainingpipeline[\\s\\S]*${latest.status.toLowerCase()}[\\s\\S]*${latest.name}`),
    );
    await expectSettled(page, 'pipelines');
    await page.page.close();
  });

  it('draws every state machine from its definition: a node per state, nested ones included', async () => {
    const sfn = (op: string, input: object) => stepFunctions(platform, op, input);
    const countStates = (m: any): number =>
      Object.values(m.States ?? {}).reduce<number>(
        (n, st: any) => n + 1 + [...(st.Branches ?? []), ...(st.ItemProcessor ?? st.Iterator ? [st.ItemProcessor ?? st.Iterator] : [])].reduce((k: number, b: any) => k + countStates(b), 0),
        0,
      );
    const { stateMachines } = await sfn('ListStateMachines', {});
    expect(stateMachines.length).toBeGreaterThanOrEqual(3);
    const page = await openConsole(browser, platform, '#/pipelines');
    for (const m of stateMachines) {
      const { definition } = await sfn('DescribeStateMachine', { stateMachineArn: m.stateMachineArn });
      await page.page.goto(`${platform.consoleUrl}#/pipelines/${encodeURIComponent(m.stateMachineArn)}`);
      const graph = page.page.getByTestId('state-graph');
      await expect.poll(() => graph.locator('[data-state]').count(), m.name).toBe(countStates(JSON.parse(definition)));
    }
    await expectSettled(page, 'pipelines-machine');
    await page.page.close();
  });

  it("draws the start-up training execution with every state it ran green, each with its time", async () => {
    const page = await openConsole(browser, platform, '#/pipelines');
    await page.page.getByRole('link', { name: /trainingpipeline/ }).first().click();
    await page.page.getByRole('link', { name: /^startup-\d+$/ }).click();
    await expect.poll(() => page.page.getByTestId('execution-status').getAttribute('data-status')).toBe('SUCCEEDED');
    const graph = page.page.getByTestId('state-graph');
    await graph.locator('[data-state]').first().waitFor();
    const states = await graph.locator('[data-state]').evaluateAll((nodes) =>
      nodes.map((n) => ({ state: n.getAttribute('data-state')!, status: n.getAttribute('data-status')!, text: n.textContent ?? '' })),
    );
    const ran = states.filter((s) => s.status !== 'NOT_RUN');
    expect(ran.map((s) => s.state).sort()).toEqual([...TRAINING_PATH].sort());
    for (const s of ran) {
      expect(s.status, s.state).toBe('SUCCEEDED');
      expect(s.text, s.state).toMatch(/\d+(\.\d+)? (ms|s)/);
    }
    // The failure and rejection paths are drawn too, not run: Catch edges and the Choice's default.
    expect(states.map((s) => s.state)).toEqual(expect.arrayContaining(['Record failure', 'Record rejection', 'Pipeline failed']));
    expect(await graph.locator('.edge.catch').count()).toBeGreaterThan(5);
    expect(await graph.locator('.edge.choice, .edge.default').count()).toBe(2);
    // The page's own green, not just an attribute.
    const fill = await graph.locator('[data-state="Train model"] rect').evaluate((r) => (globalThis as any).getComputedStyle(r).fill);
    expect(fill).toBe('rgb(218, 251, 225)');

    // A state's input and output on click; another by keyboard.
    await graph.locator('[data-state="Train model"]').click();
    const details = page.page.getByTestId('state-details');
    await expect.poll(() => details.innerText()).toMatch(/Train model[\s\S]*succeeded[\s\S]*Input[\s\S]*winequality_red_raw[\s\S]*Output[\s\S]*model_uri/);
    await graph.locator('[data-state="Evaluate model"]').focus();
    await page.page.keyboard.press('Enter');
    await expect.poll(() => details.locator('h2').innerText()).toBe('Evaluate model');

    await expectSettled(page, 'pipelines-training-execution');
    await page.page.setViewportSize({ width: 390, height: 800 });
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines-training-execution-narrow');
    await page.page.close();
  });

  it("shows Step Functions' validation message inline, then follows a started run to SUCCEEDED", async () => {
    const page = await openConsole(browser, platform, '#/pipelines');
    await page.page.getByRole('link', { name: /trainingpipeline/ }).first().click();
    const input = page.page.getByLabel('Input (JSON)');
    // Prefilled with the README's documented training input.
    await expect.poll(async () => JSON.parse(await input.inputValue())).toEqual({
      dataset: 'winequality_red_raw',
      target: 'quality',
      model_name: 'wine-quality',
      hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
      thresholds: { max_rmse: 0.8 },
    });
    const documented = await input.inputValue();

    await input.fill('{"dataset": ');
    await page.page.getByRole('button', { name: 'Start execution' }).click();
    const alert = page.page.locator('form [role="alert"]');
    await expect.poll(() => alert.innerText()).toMatch(/InvalidExecutionInput[\s\S]*Invalid State Machine Execution Input/);
    expect(await input.getAttribute('aria-invalid')).toBe('true');
    expect(page.problems().every((p) => /HTTP 400: POST/.test(p) || /status of 400/.test(p))).toBe(true);
    page.reset();

    await page.page.getByLabel('Name (optional)').fill('bad name!');
    await input.fill(documented);
    await page.page.getByRole('button', { name: 'Start execution' }).click();
    await expect.poll(() => alert.innerText()).toMatch(/InvalidName/);
    expect(await page.page.getByLabel('Name (optional)').getAttribute('aria-invalid')).toBe('true');
    page.reset();

    await page.page.getByLabel('Name (optional)').fill(`console-${Date.now()}`);
    await page.page.getByRole('button', { name: 'Start execution' }).click();
    const status = page.page.getByTestId('execution-status');
    await status.waitFor();
    // Live: the page polls while it runs and turns SUCCEEDED by itself.
    await expect.poll(() => status.getAttribute('data-status'), { timeout: 120_000 }).toBe('SUCCEEDED');
    const graph = page.page.getByTestId('state-graph');
    await expect.poll(() => graph.locator('[data-state="Register model"]').getAttribute('data-status')).toBe('SUCCEEDED');
    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    await page.screenshot('pipelines-started-run');

    // A run the pipeline refuses: FAILED on screen, the refusing state caught, its error readable.
    await page.page.getByRole('link', { name: /← mlops-local-trainingpipeline/ }).click();
    await page.page.getByLabel('Input (JSON)').fill('{"dataset": "nope", "target": "quality"}');
    await page.page.getByLabel('Name (optional)').fill(`console-bad-${Date.now()}`);
    await page.page.getByRole('button', { name: 'Start execution' }).click();
    await expect.poll(() => page.page.getByTestId('execution-status').getAttribute('data-status'), { timeout: 60_000 }).toBe('FAILED');
    await expect.poll(() => page.page.getByTestId('execution-error').innerText()).toMatch(/^PipelineInputError dataset must name a table of the lake/);
    const failed = page.page.getByTestId('state-graph');
    await expect.poll(() => failed.locator('[data-state="Validate data"]').getAttribute('data-status')).toBe('CAUGHT');
    expect(await failed.locator('[data-state="Pipeline failed"]').getAttribute('data-status')).toBe('FAILED');
    expect(await failed.locator('[data-state="Train model"]').getAttribute('data-status')).toBe('NOT_RUN');
    await failed.locator('[data-state="Validate data"]').click();
    await expect.poll(() => page.page.getByTestId('state-details').getByRole('alert').innerText()).toMatch(/PipelineInputError[\s\S]*"nope" was provided/);
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines-failed-run');

    // The executions list filters by status and name.
    await page.page.getByRole('link', { name: /← mlops-local-trainingpipeline/ }).click();
    await page.page.getByLabel('Name contains').fill('console-');
    await expect.poll(() => page.page.locator('main tbody tr').count()).toBe(2);
    await page.page.getByLabel('Status').selectOption('FAILED');
    await expect.poll(() => page.page.locator('main tbody tr').innerText()).toMatch(/console-bad-\d+\s+failed/);
    await page.page.getByLabel('Status').selectOption('ABORTED');
    await expect.poll(() => page.page.getByText('No execution matches the filter.').count()).toBe(1);
    expect(await page.accessibility()).toEqual([]);
    await page.page.close();
  }, 180_000);

  it("runs batch inference from its form, prefilled with this platform's model and buckets, its Map drawn and coloured", async () => {
    const page = await openConsole(browser, platform, '#/pipelines');
    await page.page.getByRole('link', { name: /batchinference/ }).first().click();
    const input = page.page.getByLabel('Input (JSON)');
    await expect.poll(async () => JSON.parse(await input.inputValue())).toMatchObject({
      model: { uri: expect.stringMatching(/^s3:\/\/.+\/model\.tar\.gz$/) },
      input: { table: 'winequality_red_raw' },
      output: expect.stringMatching(/^s3:\/\/[^/]*curated[^/]*\/predictions\/console\/$/),
    });
    // The Distributed Map path (a table alone would take the SQL path): edited in the form, as a user would.
    await input.fill(JSON.stringify({ ...JSON.parse(await input.inputValue()), engine: 'lambda' }, null, 2));
    await page.page.getByRole('button', { name: 'Start execution' }).click();
    await expect.poll(() => page.page.getByTestId('execution-status').getAttribute('data-status'), { timeout: 120_000 }).toBe('SUCCEEDED');
    const graph = page.page.getByTestId('state-graph');
    expect(await graph.locator('.cluster').textContent()).toBe('Predict each object: each item');
    await expect.poll(() => graph.locator('[data-state="Predict objects"]').getAttribute('data-status')).toBe('SUCCEEDED');
    expect(await graph.locator('[data-state="Write predictions"]').getAttribute('data-status')).toBe('SUCCEEDED');
    await expectSettled(page, 'pipelines-batch-run');
    await page.page.close();
  }, 180_000);
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

    await expectSettled(page, 'serving');
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
