/**
 * "Register model" all or nothing, on the real registry handler over dynalite: a registration that
 * fails before its version exists leaves no registered model, experiment or RUNNING run, and the
 * next one registers version 1 in the restored experiment. The MlflowClient reaches the handler
 * through its `fetch` option, so every call is the REST request the Lambda would make.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { HttpMlflowClient } from '../../lib/adapters/sigv4-http/mlflow-client';
import { EXECUTION_TAG, type RegisterRequest, registerModel, rollbackRegistration } from '../../lib/pipelines/register';
import { apiEvent, type Harness, harness, type LocalDynamo, startDynamo } from '../registry/support';

let dynamo: LocalDynamo;
let h: Harness;
/** Fails the first request whose endpoint matches, once. */
let failOn: RegExp | undefined;

beforeAll(async () => {
  dynamo = await startDynamo();
});
afterAll(async () => {
  await dynamo?.stop();
});
beforeEach(async () => {
  h = await harness(dynamo);
  failOn = undefined;
});

const handlerFetch: typeof fetch = async (input, init) => {
  const url = new URL(String(input));
  if (failOn?.test(url.pathname)) {
    failOn = undefined;
    return new Response(JSON.stringify({ error_code: 'INVALID_STATE', message: 'injected' }), { status: 409 });
  }
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  const headers = Object.fromEntries(new Headers(init?.headers).entries());
  const result = await h.handler(
    apiEvent(init?.method ?? 'GET', url.pathname, {
      query,
      headers,
      ...(init?.body ? { rawBody: String(init.body) } : {}),
    }),
  );
  return new Response(result.body, { status: result.statusCode });
};

const client = () => new HttpMlflowClient({ baseUrl: 'http://registry.local/', fetch: handlerFetch });
const request = (execution: string): RegisterRequest => ({
  model_name: 'wine',
  execution,
  model_uri: `s3://artifacts/${execution}/model.tar.gz`,
  training_job_name: `train-${execution}`,
  hyperparameters: { alpha: '0.1' },
  metrics: { rmse: 0.6, mae: 0.5, r2: 0.3, rows: 100 },
  dataset: { table: 'wine_raw', location: 's3://raw/wine/' },
  data_version: { uri: `s3://artifacts/runs/wine/${execution}/data-version.json`, sha256: 'e'.repeat(64), objects: 1 },
});

async function registryState() {
  const c = client();
  const model = await c.get('registered-models/get', { name: 'wine' }).then(
    () => true,
    () => false,
  );
  const experiment = await c
    .get<{ experiment: { experiment_id: string; lifecycle_stage: string } }>('experiments/get-by-name', {
      experiment_name: 'wine',
    })
    .then((r) => r.experiment, () => undefined);
  const runs = experiment
    ? ((
        await c.post<{ runs?: { info: { status: string; lifecycle_stage: string } }[] }>('runs/search', {
          experiment_ids: [experiment.experiment_id],
          run_view_type: 'ALL',
        })
      ).runs ?? [])
    : [];
  return { model, experiment: experiment?.lifecycle_stage, runs: runs.map((r) => `${r.info.status}/${r.info.lifecycle_stage}`) };
}

describe('registerModel rolls back a failed registration', () => {
  it.each([
    ['experiments/create', /experiments\/create$/],
    ['runs/create', /runs\/create$/],
    ['runs/log-batch', /runs\/log-batch$/],
    ['runs/update', /runs\/update$/],
    ['model-versions/create', /model-versions\/create$/],
  ])('fails at %s: no model, no active experiment, no active run; the retry registers version 1', async (_, at) => {
    // prepare
    failOn = at;
    // act
    await expect(registerModel(client(), request('exec-1'))).rejects.toThrow(/injected/);
    // assess
    const after = await registryState();
    expect(after.model).toBe(false);
    expect(after.experiment ?? 'deleted').toBe('deleted');
    for (const r of after.runs) expect(r).toMatch(/^(FAILED|FINISHED)\/deleted$/);

    const retried = await registerModel(client(), request('exec-2'));
    expect(retried.version).toBe('1');
    const now = await registryState();
    expect(now).toMatchObject({ model: true, experiment: 'active' });
    // The retry restores the experiment, and MLflow's restore brings its runs back with it: the
    // rolled-back attempt's run may reappear, FAILED (never RUNNING), beside the one FINISHED run.
    const active = now.runs.filter((r) => r.endsWith('/active'));
    expect(active.filter((r) => r === 'FINISHED/active')).toHaveLength(1);
    expect(active.filter((r) => r !== 'FINISHED/active').every((r) => r === 'FAILED/active')).toBe(true);
    expect(active.length).toBeLessThanOrEqual(2);
  });
});

describe('rollbackRegistration', () => {
  it('removes what a cut-off registration created: the RUNNING run (FAILED, deleted), the experiment and the model', async () => {
    // prepare: what a kill right after runs/create leaves
    const c = client();
    await c.post('registered-models/create', { name: 'wine', tags: [{ key: EXECUTION_TAG, value: 'cut' }] });
    const { experiment_id } = await c.post<{ experiment_id: string }>('experiments/create', {
      name: 'wine',
      tags: [{ key: EXECUTION_TAG, value: 'cut' }],
    });
    await c.post('runs/create', { experiment_id, tags: [{ key: EXECUTION_TAG, value: 'cut' }] });
    // act
    const r = await rollbackRegistration(c, { model_name: 'wine', execution: 'cut' });
    // assess
    expect(r).toMatchObject({ rolledBack: true, experiment: experiment_id, registeredModel: 'wine' });
    expect(r.runs).toHaveLength(1);
    expect(await registryState()).toEqual({ model: false, experiment: 'deleted', runs: ['FAILED/deleted'] });
    // a second rollback finds nothing more to do
    expect(await rollbackRegistration(c, { model_name: 'wine', execution: 'cut' })).toMatchObject({ runs: [] });
  });

  it('leaves a completed registration, and a model or experiment that others use', async () => {
    const c = client();
    const done = await registerModel(c, request('done'));
    expect(await rollbackRegistration(c, { model_name: 'wine', execution: 'done' })).toEqual({
      rolledBack: false,
      runs: [],
    });
    // another execution cut off after its run: only its run goes
    await c.post('runs/create', { experiment_id: done.experiment_id, tags: [{ key: EXECUTION_TAG, value: 'later' }] });
    const r = await rollbackRegistration(c, { model_name: 'wine', execution: 'later' });
    expect(r).toMatchObject({ rolledBack: true });
    expect(r.runs).toHaveLength(1);
    expect(r.experiment).toBeUndefined();
    expect(r.registeredModel).toBeUndefined();
    const state = await registryState();
    expect(state).toMatchObject({ model: true, experiment: 'active' });
  });
});
