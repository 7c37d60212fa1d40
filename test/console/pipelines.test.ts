/**
 * The Pipelines page against a platform after its start-up training (one `mlops up`): every state
 * machine listed, the training execution's graph with every state it ran green and the rest not
 * run, a state's input and output on click (and by keyboard), Step Functions' own validation
 * message inline in the start form, and a run started from the form followed live to SUCCEEDED.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Browser, type ConsolePlatform, launchBrowser, openConsole, startConsolePlatform, stepFunctions } from './harness';

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
    await expect.poll(() => rows.count()).toBe((await stepFunctions(platform, 'ListStateMachines')).stateMachines.length);
    await expect.poll(() => page.page.locator('main tbody').innerText()).toMatch(/trainingpipeline[\s\S]*succeeded[\s\S]*startup-/);
    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines');
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
    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines-machine');
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

    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines-training-execution');
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
    await page.page.waitForLoadState('networkidle');
    expect(page.problems()).toEqual([]);
    expect(await page.accessibility()).toEqual([]);
    await page.screenshot('pipelines-batch-run');
    await page.page.close();
  }, 180_000);
});
