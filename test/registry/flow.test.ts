/**
 * The MLflow client flow end to end through the handler, the way `mlflow` drives a tracking server:
 * experiment, runs, params/metrics/batches, search; then register, version, stage with archive,
 * aliases, and read everything back.
 */
import { describe, expect, it } from 'vitest';
import { registryPerFile } from './support';

const api = registryPerFile();
const { post, get } = api;

describe('MLflow client flow', () => {
  it('tracks two runs, registers the better model and promotes it', async () => {
    // prepare: an experiment with two training runs
    const experimentId: string = (
      await post('experiments/create', { name: 'wine', tags: [{ key: 'team', value: 'ml' }] })
    ).body.experiment_id;
    const runs: string[] = [];
    for (const [alpha, rmse] of [
      ['0.5', 0.72],
      ['0.1', 0.61],
    ] as const) {
      const run = await post('runs/create', {
        experiment_id: experimentId,
        start_time: Date.now(),
        tags: [],
      });
      const runId: string = run.body.run.info.run_id;
      runs.push(runId);
      await post('runs/log-batch', {
        run_id: runId,
        params: [
          { key: 'alpha', value: alpha },
          { key: 'model', value: 'ElasticNet' },
        ],
        metrics: [1, 2, 3].map((step) => ({
          key: 'rmse',
          value: rmse + (3 - step) / 10,
          timestamp: 1000 + step,
          step,
        })),
        tags: [{ key: 'stage', value: 'train' }],
      });
      await post('runs/log-metric', { run_id: runId, key: 'r2', value: 1 - rmse, timestamp: 2000 });
      await post('runs/set-tag', { run_id: runId, key: 'mlflow.source.type', value: 'JOB' });
      const done = await post('runs/update', { run_id: runId, status: 'FINISHED', end_time: Date.now() });
      expect(done.body.run_info.status).toBe('FINISHED');
    }

    // act: find the best run the way a pipeline would
    const best = await post('runs/search', {
      experiment_ids: [experimentId],
      filter: "params.model = 'ElasticNet' AND attributes.status = 'FINISHED' AND metrics.rmse < 0.7",
      order_by: ['metrics.rmse ASC'],
    });
    const ranked = await post('runs/search', {
      experiment_ids: [experimentId],
      order_by: ['metrics.rmse ASC'],
      max_results: 1,
    });

    // assess: only the second run qualifies, and it is first by rmse; paging hands out a token
    expect(best.body.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runs[1]]);
    const bestRun = best.body.runs[0];
    expect(bestRun.data.metrics).toContainEqual({ key: 'rmse', value: 0.61, timestamp: 1003, step: 3 });
    expect(bestRun.data.params).toEqual([
      { key: 'alpha', value: '0.1' },
      { key: 'model', value: 'ElasticNet' },
    ]);
    expect(bestRun.data.tags).toContainEqual({ key: 'stage', value: 'train' });
    expect(bestRun.info.artifact_uri).toBe(
      `s3://artifacts-bucket/mlflow/${experimentId}/${runs[1]}/artifacts`,
    );
    expect(ranked.body.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runs[1]]);
    expect(typeof ranked.body.next_page_token).toBe('string');
    const page2 = await post('runs/search', {
      experiment_ids: [experimentId],
      order_by: ['metrics.rmse ASC'],
      max_results: 1,
      page_token: ranked.body.next_page_token,
    });
    expect(page2.body.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runs[0]]);
    expect(page2.body.next_page_token).toBeUndefined();

    const history = await get('metrics/get-history', { run_id: runs[1]!, metric_key: 'rmse' });
    expect(history.body.metrics.map((m: { step: number }) => m.step)).toEqual([1, 2, 3]);
    // History pages by item: one point per page here, three pages in all.
    let token: string | undefined;
    const paged: number[] = [];
    do {
      const page = await get('metrics/get-history', {
        run_id: runs[1]!,
        metric_key: 'rmse',
        max_results: '1',
        ...(token && { page_token: token }),
      });
      paged.push(...page.body.metrics.map((m: { step: number }) => m.step));
      token = page.body.next_page_token;
    } while (token);
    expect(paged).toEqual([1, 2, 3]);

    // act: register the best run's model twice over, promote with archive, alias the champion
    await post('registered-models/create', { name: 'wine-quality' });
    const v1 = await post('model-versions/create', {
      name: 'wine-quality',
      source: `runs:/${runs[0]}/model`,
      run_id: runs[0],
    });
    const v2 = await post('model-versions/create', {
      name: 'wine-quality',
      source: `runs:/${runs[1]}/model`,
      run_id: runs[1],
      description: 'best rmse',
      tags: [{ key: 'validated', value: 'yes' }],
    });
    await post('model-versions/transition-stage', {
      name: 'wine-quality',
      version: v1.body.model_version.version,
      stage: 'Production',
      archive_existing_versions: false,
    });
    await post('model-versions/transition-stage', {
      name: 'wine-quality',
      version: v2.body.model_version.version,
      stage: 'Production',
      archive_existing_versions: true,
    });
    await post('registered-models/alias', { name: 'wine-quality', alias: 'champion', version: '2' });
    await post('model-versions/set-tag', {
      name: 'wine-quality',
      version: '2',
      key: 'approved_by',
      value: 'lead',
    });

    // assess: read everything back
    const model = (await get('registered-models/get', { name: 'wine-quality' })).body.registered_model;
    expect(model.aliases).toEqual([{ alias: 'champion', version: '2' }]);
    expect(
      model.latest_versions.map((v: { version: string; current_stage: string }) => [
        v.version,
        v.current_stage,
      ]),
    ).toEqual([
      ['2', 'Production'],
      ['1', 'Archived'],
    ]);
    const champion = (await get('registered-models/alias', { name: 'wine-quality', alias: 'champion' })).body
      .model_version;
    expect(champion).toMatchObject({
      name: 'wine-quality',
      version: '2',
      current_stage: 'Production',
      description: 'best rmse',
      run_id: runs[1],
      aliases: ['champion'],
      status: 'READY',
    });
    expect(champion.tags).toEqual([
      { key: 'approved_by', value: 'lead' },
      { key: 'validated', value: 'yes' },
    ]);
    const byRun = await get('model-versions/search', { filter: `run_id = '${runs[1]}'` });
    expect(byRun.body.model_versions.map((v: { version: string }) => v.version)).toEqual(['2']);
    const download = await get('model-versions/get-download-uri', { name: 'wine-quality', version: '2' });
    expect(download.body.artifact_uri).toBe(
      `s3://artifacts-bucket/mlflow/${experimentId}/${runs[1]}/artifacts/model`,
    );
    expect(api.h.events.published.map((e) => [e.version, e.stage ?? e.alias])).toEqual([
      ['1', 'Production'],
      ['2', 'Production'],
      ['2', 'champion'],
    ]);
    const experiments = await post('experiments/search', { filter: "name LIKE 'wi%'" });
    expect(experiments.body.experiments.map((e: { name: string }) => e.name)).toEqual(['wine']);
  });

  it('searches registered models by tag and orders them', async () => {
    for (const [name, team] of [
      ['b-model', 'risk'],
      ['a-model', 'risk'],
      ['c-model', 'ops'],
    ]) {
      await post('registered-models/create', { name, tags: [{ key: 'team', value: team }] });
    }
    const risk = await get('registered-models/search', { filter: "tags.team = 'risk'" });
    expect(risk.body.registered_models.map((m: { name: string }) => m.name)).toEqual(['a-model', 'b-model']);
    const desc = await get('registered-models/search', {
      filter: "name ILIKE '%-MODEL'",
      order_by: ['name DESC'],
      max_results: '2',
    });
    expect(desc.body.registered_models.map((m: { name: string }) => m.name)).toEqual(['c-model', 'b-model']);
    const next = await get('registered-models/search', {
      filter: "name ILIKE '%-MODEL'",
      order_by: ['name DESC'],
      max_results: '2',
      page_token: desc.body.next_page_token,
    });
    expect(next.body.registered_models.map((m: { name: string }) => m.name)).toEqual(['a-model']);
  });

  it('refuses to log into a deleted run', async () => {
    const runId: string = (await post('runs/create', {})).body.run.info.run_id;
    await post('runs/delete', { run_id: runId });
    const res = await post('runs/log-metric', { run_id: runId, key: 'x', value: 1, timestamp: 1 });
    expect(res.status).toBe(400);
    expect(res.body.message).toBe(
      `The run ${runId} must be in the 'active' state. Current state is deleted.`,
    );
  });
});

// `experiments/delete` and `experiments/restore` (MLflow's soft delete): what "Register model" uses
// to roll back an experiment it created. A second delete and restoring an active experiment are in
// test/registry/lifecycle.test.ts.
const byName = (name: string) => get('experiments/get-by-name', { experiment_name: name });

describe('experiments/delete and experiments/restore', () => {
  it('moves an experiment to deleted and back; its name stays taken; runs need it active', async () => {
    const id: string = (await post('experiments/create', { name: 'lifecycle' })).body.experiment_id;
    expect((await post('experiments/delete', { experiment_id: id })).status).toBe(200);
    expect((await byName('lifecycle')).body.experiment.lifecycle_stage).toBe('deleted');
    expect((await post('experiments/create', { name: 'lifecycle' })).body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await post('runs/create', { experiment_id: id })).body.error_code).toBe('INVALID_PARAMETER_VALUE');

    expect((await post('experiments/restore', { experiment_id: id })).status).toBe(200);
    expect((await byName('lifecycle')).body.experiment.lifecycle_stage).toBe('active');
    expect((await post('runs/create', { experiment_id: id })).status).toBe(200);
  });

  it.each([
    ['deleting the default experiment', 'experiments/delete', '0', 400, 'INVALID_PARAMETER_VALUE'],
    ['deleting an unknown experiment', 'experiments/delete', '987654', 404, 'RESOURCE_DOES_NOT_EXIST'],
    ['a missing experiment_id', 'experiments/delete', undefined, 400, 'INVALID_PARAMETER_VALUE'],
  ])('fails with MLflow\'s error for %s', async (_, path, id, status, code) => {
    const r = await post(path, id === undefined ? {} : { experiment_id: id });
    expect(r.status).toBe(status);
    expect(r.body.error_code).toBe(code);
  });
});
