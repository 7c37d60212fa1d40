/**
 * Drift on the local platform, through the doors: `node bin/mlops.mjs up` in a child process (it
 * trains wine-quality — the training pipeline now writes its baseline — and serves it), wine rows
 * sent over real HTTP to the Seldon route, then `node bin/mlops.mjs drift` in child processes.
 *
 * Each traffic batch gets its own window (`--start`/`--end` around the requests), so one platform
 * serves every case:
 * - the dataset's own rows flag no feature;
 * - the README's body (every row with alcohol + 2) flags exactly `alcohol`, and the prediction;
 * - rows with every feature shifted are dataset drift: the machine puts `DriftDetected` on the bus;
 * - an empty window says "no traffic in window";
 * - an unknown model or a malformed window fails with a sentence, and nothing is written.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetExecutionHistoryCommand, SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WINE_FEATURES } from '../../lib/datasets/wine';
import { localPathOf } from '../../lib/local/athena/catalog';
import { DRIFT_STATES } from '../../lib/pipelines/drift-states';
import { VERSION_TAGS } from '../../lib/shared/operations';
import { ALCOHOL_PLUS_2, seldonBody, wineRows } from '../fixtures/drift/generate';
import { type CliRun, runCli, startUp } from '../local/mlops-process';
import { copyTrainedState } from '../local/trained-state';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-drift-e2e-'));
const children: ChildProcess[] = [];
let gateway: string;
let awsEndpoint: string;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGINT');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('close', r)) : undefined)));
  rmSync(stateDir, { recursive: true, force: true });
}, 60_000);

/** `node bin/mlops.mjs <args> --state-dir <stateDir>` as a child process. */
const mlops = (...args: string[]): Promise<CliRun> => runCli([...args, '--state-dir', stateDir], { children });

/** Every file below `dir` (none when it does not exist). */
const filesUnder = (dir: string): string[] =>
  existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)) : [];

/** Lines of the request log written so far. */
const loggedLines = () =>
  filesUnder(join(stateDir, 's3'))
    .filter((f) => /\/predictions\/deployment=wine-quality\/dt=/.test(f))
    .reduce((n, f) => n + readFileSync(f, 'utf8').split('\n').filter(Boolean).length, 0);

/** Drift reports written so far (any bucket's `drift/`). */
const reports = () => filesUnder(join(stateDir, 's3')).filter((f) => f.includes('/drift/'));

/** Sends `rows` to the Seldon route in a window of its own; resolves once the log has them all. */
async function sendInWindow(rows: readonly number[][]): Promise<{ start: string; end: string }> {
  const before = loggedLines();
  const start = new Date();
  for (let i = 0; i < rows.length; i += 400) {
    const res = await fetch(`${gateway}/seldon/seldon/wine-quality/api/v1.0/predictions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: seldonBody(rows.slice(i, i + 400)),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    await res.arrayBuffer();
  }
  const deadline = Date.now() + 20_000;
  while (loggedLines() < before + rows.length) {
    if (Date.now() > deadline) throw new Error(`the request log holds ${loggedLines() - before} of ${rows.length} rows after 20 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  // Ends once the log holds every row: the server stamps a logged row after it answers, so a
  // window ending at the last response could miss the last request's rows by a millisecond.
  const end = new Date(Date.now() + 1);
  return { start: start.toISOString(), end: end.toISOString() };
}

interface DriftJson {
  status: string;
  executionArn: string;
  outcome: {
    status: string;
    summary: string;
    rows: number;
    dataset_drift: boolean;
    drifted_features: string[];
    prediction_drift: boolean | null;
    features: { name: string; drifted: boolean }[];
    event?: { model: string; driftedFeatures: string[]; reportUri: string };
  };
  report: { html: string; json: string };
}

async function driftJson(window: { start: string; end: string }): Promise<DriftJson> {
  const run = await mlops('drift', '--model', 'wine-quality', '--start', window.start, '--end', window.end, '--json');
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as DriftJson;
}

beforeAll(async () => {
  // The run's first start (wine-quality v1 trained with its baseline), restarted logging every request.
  const platform = await startUp(await copyTrainedState(stateDir), ['--request-log-sample-rate', '1']);
  children.push(platform.child);
  const stdout = platform.output();
  gateway = platform.url('gateway')!;
  awsEndpoint = platform.url('AWS endpoint')!;
  expect(stdout).toMatch(/wine-quality v1/);
  expect(stdout).toMatch(/^\s+mlops-local-drift-/m); // the drift machine is listed
}, 600_000);

describe('mlops drift on the local platform', () => {
  const rows = wineRows();

  it("names the version's baseline in the registry, written by the training pipeline under baselines/ on its model's path", async () => {
    const res = await fetch(`${gateway}/api/2.0/mlflow/model-versions/get?name=wine-quality&version=1`);
    expect(res.status).toBe(200);
    const { model_version: v } = (await res.json()) as { model_version: { source: string; tags?: { key: string; value: string }[] } };
    const baselineUri = v.tags?.find((t) => t.key === VERSION_TAGS.baselineUri)?.value;
    expect(v.source).toMatch(/\/models\/wine-quality\/[^/]+\/[^/]+\/output\/model\.tar\.gz$/);
    expect(baselineUri).toBe(v.source.replace('/models/', '/baselines/').replace(/[^/]+$/, 'baseline.json'));
    const baseline = JSON.parse(readFileSync(localPathOf(stateDir, baselineUri!), 'utf8')) as {
      schema: string;
      features: { name: string; count: number }[];
      prediction: { count: number };
    };
    expect(baseline.schema).toBe('mlops-kit/baseline@1');
    expect(baseline.features.map((f) => f.name)).toEqual([...WINE_FEATURES]);
    // Every row trains or is held out (holdout_every 5, by a hash of the row: about one in five);
    // the prediction reference is the holdout.
    expect(baseline.features[0]!.count + baseline.prediction.count).toBe(rows.length);
    const expected = rows.length / 5;
    const sd = Math.sqrt(rows.length * 0.2 * 0.8);
    expect(Math.abs(baseline.prediction.count - expected)).toBeLessThan(4 * sd);
  });

  it("flags no feature on the dataset's own rows", async () => {
    const window = await sendInWindow(rows);
    const result = await driftJson(window);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.outcome.rows).toBe(rows.length);
    expect(result.outcome.drifted_features).toEqual([]);
    expect(result.outcome.dataset_drift).toBe(false);
    expect(result.outcome.features.map((f) => f.name)).toEqual([...WINE_FEATURES, 'prediction']);
    expect(existsSync(result.report.html) && existsSync(result.report.json)).toBe(true);
  }, 120_000);

  it("flags exactly alcohol on the README's shifted rows (alcohol + 2), and the prediction", async () => {
    const body = JSON.parse(readFileSync(ALCOHOL_PLUS_2, 'utf8')) as { data: { ndarray: number[][] } };
    const a = WINE_FEATURES.indexOf('alcohol');
    expect(body.data.ndarray.map((r) => r[a])).toEqual(rows.map((r) => Number((r[a]! + 2).toFixed(6))));
    const window = await sendInWindow(body.data.ndarray);

    const text = await mlops('drift', '--model', 'wine-quality', '--start', window.start, '--end', window.end);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^wine-quality version 1, window /);
    expect(text.stdout).toMatch(/^alcohol .*DRIFT$/m);
    const htmlPath = /^report: (\S+\.html)$/m.exec(text.stdout)?.[1];
    expect(htmlPath, text.stdout).toBeDefined();
    expect(text.stdout).toMatch(/alcohol/);
    expect(text.stderr).toMatch(/✓ Compute report/);

    const result = await driftJson(window);
    expect(result.outcome.drifted_features).toEqual(['alcohol']);
    expect(result.outcome.prediction_drift).toBe(true);
    expect(result.outcome.dataset_drift).toBe(false);
    const html = readFileSync(result.report.html, 'utf8');
    expect(html).toMatch(/<svg/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);
    const report = JSON.parse(readFileSync(result.report.json, 'utf8')) as { features: { name: string; drifted: boolean }[] };
    expect(report.features.filter((f) => f.drifted).map((f) => f.name)).toEqual(['alcohol']);
  }, 120_000);

  it('finds dataset drift when every feature moves, and puts DriftDetected on the bus', async () => {
    const window = await sendInWindow(rows.map((r) => r.map((v) => Number((v * 1.5 + 1).toFixed(6)))));
    const result = await driftJson(window);
    expect(result.outcome.dataset_drift).toBe(true);
    expect(result.outcome.drifted_features.length).toBeGreaterThanOrEqual(WINE_FEATURES.length / 2);
    expect(result.outcome.event).toMatchObject({ model: 'wine-quality', driftedFeatures: result.outcome.drifted_features });
    const sfn = new SFNClient({ endpoint: awsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const { events = [] } = await sfn.send(new GetExecutionHistoryCommand({ executionArn: result.executionArn, maxResults: 1000 }));
    const published = events.find((e) => e.type === 'TaskStateExited' && e.stateExitedEventDetails?.name === DRIFT_STATES.publish);
    expect(published, 'the publish state ran').toBeDefined();
    expect(JSON.parse(published!.stateExitedEventDetails!.output!).published).toMatchObject({ FailedEntryCount: 0 });
  }, 120_000);

  it('answers an empty window with "no traffic in window", not an error', async () => {
    const run = await mlops('drift', '--model', 'wine-quality', '--start', '2020-01-01', '--end', '2020-01-02');
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/No traffic in window/);
  }, 60_000);

  it.each([
    [['--model', 'no-such-model'], /model must be a registered model, but "no-such-model" is not registered/],
    [['--model', 'wine-quality', '--version', '99'], /wine-quality has no version 99/],
    [['--model', 'wine-quality', '--start', '2026-12-02', '--end', '2026-12-01'], /end must be after start/],
    [['--model', 'wine-quality', '--start', '2026-01-01', '--end', '2026-06-01'], /the window must be at most 31 days/],
    [['--model', 'wine-quality', '--end', 'yesterday'], /end must be an ISO 8601 date or UTC timestamp/],
  ])('fails %j with a sentence, writing nothing', async (args, message) => {
    const before = reports();
    const run = await mlops('drift', ...args);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/DriftInputError/);
    expect(run.stderr).toMatch(message);
    expect(reports()).toEqual(before);
  }, 60_000);
});
