/**
 * The MLflow REST conformance cases (shared/specs/mlflow-rest.md §5), run in the spec's order through
 * the real Lambda handler, wired only through its environment: DynamoDB via
 * `AWS_ENDPOINT_URL_DYNAMODB` (dynalite) and EventBridge via `AWS_ENDPOINT_URL_EVENTBRIDGE` (a recorder).
 * Later cases build on earlier ones, as the spec's script does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  call,
  type Handler,
  type LocalDynamo,
  type PutEventsEntry,
  startDynamo,
  startFakeEventBridge,
  useLocalAwsEnv,
} from './support';

let dynamo: LocalDynamo;
let bus: Awaited<ReturnType<typeof startFakeEventBridge>>;
let handler: Handler;

beforeAll(async () => {
  useLocalAwsEnv();
  dynamo = await startDynamo();
  bus = await startFakeEventBridge();
  process.env.REGISTRY_TABLE_NAME = await dynamo.newTable();
  process.env.ARTIFACTS_BUCKET = 'artifacts-bucket';
  process.env.EVENT_BUS_NAME = 'mlops-bus';
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
  // Imported only now: the handler reads its environment once, at module scope.
  ({ handler } = await import('../../lambdas/registry'));
});

afterAll(async () => {
  await dynamo?.stop();
  await bus?.stop();
});

const missingName =
  "Missing value for required parameter 'name'. See the API docs for more information about request parameters.";

describe('MLflow registry conformance', () => {
  it('1. creates a registered model with description and tags, timestamps as numbers', async () => {
    // act
    const res = await call(handler, 'POST', 'registered-models/create', {
      json: { name: 'fraud', description: 'd', tags: [{ key: 'team', value: 'risk' }] },
    });
    // assess
    expect(res.status).toBe(200);
    expect(res.headers['Content-Type']).toBe('application/json');
    const model = res.body.registered_model;
    expect(model).toEqual({
      name: 'fraud',
      creation_timestamp: expect.any(Number),
      last_updated_timestamp: expect.any(Number),
      description: 'd',
      tags: [{ key: 'team', value: 'risk' }],
    });
    expect(Math.abs(model.creation_timestamp - Date.now())).toBeLessThan(60_000);
  });

  it('2. refuses a duplicate registration with 400 RESOURCE_ALREADY_EXISTS', async () => {
    const res = await call(handler, 'POST', 'registered-models/create', {
      json: { name: 'fraud', description: 'd', tags: [{ key: 'team', value: 'risk' }] },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error_code: 'RESOURCE_ALREADY_EXISTS',
      message: 'Registered Model (name=fraud) already exists.',
    });
  });

  it('3. answers 404 RESOURCE_DOES_NOT_EXIST for an unknown model', async () => {
    const res = await call(handler, 'GET', 'registered-models/get', { query: { name: 'nope' } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({
      error_code: 'RESOURCE_DOES_NOT_EXIST',
      message: 'Registered Model with name=nope not found',
    });
  });

  it('4. reads invalid JSON and {} alike: missing name', async () => {
    for (const rawBody of ['{"name":', '{}']) {
      const res = await call(handler, 'POST', 'registered-models/create', {
        rawBody,
        headers: { 'Content-Type': 'application/json' },
      });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error_code: 'INVALID_PARAMETER_VALUE', message: missingName });
    }
  });

  it('5. rejects a missing or non-JSON Content-Type on POST', async () => {
    const missing = await call(handler, 'POST', 'registered-models/create', { rawBody: '{"name":"x"}' });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Bad Request. Content-Type header is missing.',
    });
    const text = await call(handler, 'POST', 'registered-models/create', {
      rawBody: '{"name":"x"}',
      headers: { 'content-type': 'text/plain' },
    });
    expect(text.status).toBe(400);
    expect(text.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: "Bad Request. Content-Type must be one of ['application/json'].",
    });
    // A charset parameter is stripped before the comparison.
    const charset = await call(handler, 'POST', 'registered-models/create', {
      rawBody: '{"name":"charset-ok"}',
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
    });
    expect(charset.status).toBe(200);
  });

  it('6. numbers versions "1", "2" as strings, READY in stage None; 404 on an unknown model', async () => {
    const body = { name: 'fraud', source: 's3://bucket/fraud/1', run_id: 'abc123' };
    const first = await call(handler, 'POST', 'model-versions/create', { json: body });
    const second = await call(handler, 'POST', 'model-versions/create', { json: body });
    for (const [res, version] of [
      [first, '1'],
      [second, '2'],
    ] as const) {
      expect(res.status).toBe(200);
      expect(res.body.model_version).toMatchObject({
        name: 'fraud',
        version,
        current_stage: 'None',
        status: 'READY',
        source: 's3://bucket/fraud/1',
        run_id: 'abc123',
      });
    }
    const unknown = await call(handler, 'POST', 'model-versions/create', { json: { ...body, name: 'nope' } });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('7. transitions with a canonicalised stage and archives the previous holder', async () => {
    const toProd = await call(handler, 'POST', 'model-versions/transition-stage', {
      json: { name: 'fraud', version: '1', stage: 'production', archive_existing_versions: false },
    });
    expect(toProd.status).toBe(200);
    expect(toProd.body.model_version.current_stage).toBe('Production');
    const archive = await call(handler, 'POST', 'model-versions/transition-stage', {
      json: { name: 'fraud', version: '2', stage: 'Production', archive_existing_versions: true },
    });
    expect(archive.status).toBe(200);
    expect(archive.body.model_version.current_stage).toBe('Production');
    const v1 = await call(handler, 'GET', 'model-versions/get', { query: { name: 'fraud', version: '1' } });
    expect(v1.body.model_version.current_stage).toBe('Archived');
  });

  it('7b. sent a ModelVersionPromoted event per promotion through EventBridge', () => {
    const details = bus.entries.map((e: PutEventsEntry) => ({ ...e, Detail: JSON.parse(e.Detail) }));
    expect(details).toHaveLength(2);
    expect(details[1]).toMatchObject({
      Source: 'mlops-kit.registry',
      DetailType: 'ModelVersionPromoted',
      EventBusName: 'mlops-bus',
      Detail: { modelName: 'fraud', version: '2', stage: 'Production', previousVersion: '1' },
    });
  });

  it('8. rejects an unknown stage with MLflow message', async () => {
    const res = await call(handler, 'POST', 'model-versions/transition-stage', {
      json: { name: 'fraud', version: '1', stage: 'Canary', archive_existing_versions: false },
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message:
        'Invalid Model Version stage: Canary. Value must be one of None, Staging, Production, Archived.',
    });
  });

  it('9. gets the latest version per stage, by POST and by GET', async () => {
    const post = await call(handler, 'POST', 'registered-models/get-latest-versions', {
      json: { name: 'fraud', stages: ['Production'] },
    });
    expect(post.status).toBe(200);
    expect(post.body.model_versions.map((v: { version: string }) => v.version)).toEqual(['2']);
    const get = await call(handler, 'GET', 'registered-models/get-latest-versions', {
      query: { name: 'fraud', stages: 'Production' },
    });
    expect(get.body).toEqual(post.body);
    const all = await call(handler, 'POST', 'registered-models/get-latest-versions', {
      json: { name: 'fraud' },
    });
    expect(
      all.body.model_versions.map((v: { current_stage: string; version: string }) => [
        v.current_stage,
        v.version,
      ]),
    ).toEqual([
      ['Production', '2'],
      ['Archived', '1'],
    ]);
  });

  it('10. sets, reads and deletes an alias', async () => {
    const set = await call(handler, 'POST', 'registered-models/alias', {
      json: { name: 'fraud', alias: 'champion', version: '2' },
    });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({});
    const byAlias = await call(handler, 'GET', 'registered-models/alias', {
      query: { name: 'fraud', alias: 'champion' },
    });
    expect(byAlias.status).toBe(200);
    expect(byAlias.body.model_version.version).toBe('2');
    expect(byAlias.body.model_version.aliases).toContain('champion');
    const model = await call(handler, 'GET', 'registered-models/get', { query: { name: 'fraud' } });
    expect(model.body.registered_model.aliases).toEqual([{ alias: 'champion', version: '2' }]);
    const del = await call(handler, 'DELETE', 'registered-models/alias', {
      json: { name: 'fraud', alias: 'champion' },
    });
    expect(del.status).toBe(200);
    expect(del.body).toEqual({});
    const gone = await call(handler, 'GET', 'registered-models/alias', {
      query: { name: 'fraud', alias: 'champion' },
    });
    expect(gone.status).toBe(400);
    expect(gone.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Registered model alias champion not found.',
    });
  });

  it('11. rejects reserved and malformed aliases', async () => {
    const cases = [
      ['latest', "'latest' alias name (case insensitive) is reserved."],
      ['LaTeSt', "'latest' alias name (case insensitive) is reserved."],
      ['v3', "Version alias name 'v3' is reserved."],
      [
        'a b',
        "Invalid alias name: 'a b'. Names may only contain alphanumerics, underscores (_), and dashes (-).",
      ],
    ];
    for (const [alias, message] of cases) {
      const res = await call(handler, 'POST', 'registered-models/alias', {
        json: { name: 'fraud', alias, version: '2' },
      });
      expect(res.status, alias).toBe(400);
      expect(res.body, alias).toEqual({ error_code: 'INVALID_PARAMETER_VALUE', message });
    }
  });

  it('12. searches models with LIKE and versions by name; max_results above 1000 is refused', async () => {
    const models = await call(handler, 'GET', 'registered-models/search', {
      query: { filter: "name LIKE 'fra%'", max_results: '10' },
    });
    expect(models.status).toBe(200);
    expect(models.body.registered_models.map((m: { name: string }) => m.name)).toEqual(['fraud']);
    expect(models.body.next_page_token).toBeUndefined();
    const tooMany = await call(handler, 'GET', 'registered-models/search', {
      query: { max_results: '1001' },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    const versions = await call(handler, 'GET', 'model-versions/search', {
      query: { filter: "name='fraud'" },
    });
    expect(versions.status).toBe(200);
    expect(versions.body.model_versions.map((v: { version: string }) => v.version).sort()).toEqual([
      '1',
      '2',
    ]);
  });

  it('13. updates, renames (versions follow), deletes a version and the model', async () => {
    const update = await call(handler, 'PATCH', 'registered-models/update', {
      json: { name: 'fraud', description: 'new' },
    });
    expect(update.status).toBe(200);
    expect(update.body.registered_model.description).toBe('new');
    const rename = await call(handler, 'POST', 'registered-models/rename', {
      json: { name: 'fraud', new_name: 'fraud2' },
    });
    expect(rename.status).toBe(200);
    expect(rename.body.registered_model.name).toBe('fraud2');
    const moved = await call(handler, 'GET', 'model-versions/get', {
      query: { name: 'fraud2', version: '2' },
    });
    expect(moved.body.model_version).toMatchObject({
      name: 'fraud2',
      version: '2',
      current_stage: 'Production',
    });
    const old = await call(handler, 'GET', 'registered-models/get', { query: { name: 'fraud' } });
    expect(old.status).toBe(404);
    const delVersion = await call(handler, 'DELETE', 'model-versions/delete', {
      json: { name: 'fraud2', version: '1' },
    });
    expect(delVersion.status).toBe(200);
    expect(delVersion.body).toEqual({});
    const v1 = await call(handler, 'GET', 'model-versions/get', { query: { name: 'fraud2', version: '1' } });
    expect(v1.status).toBe(404);
    expect(v1.body).toEqual({
      error_code: 'RESOURCE_DOES_NOT_EXIST',
      message: 'Model Version (name=fraud2, version=1) not found',
    });
    const delModel = await call(handler, 'DELETE', 'registered-models/delete', { json: { name: 'fraud2' } });
    expect(delModel.status).toBe(200);
    expect(delModel.body).toEqual({});
    const gone = await call(handler, 'GET', 'registered-models/get', { query: { name: 'fraud2' } });
    expect(gone.status).toBe(404);
    // The name is free again, and numbering starts over for the new model.
    await call(handler, 'POST', 'registered-models/create', { json: { name: 'fraud2' } });
    const fresh = await call(handler, 'POST', 'model-versions/create', {
      json: { name: 'fraud2', source: 's3://b/x' },
    });
    expect(fresh.body.model_version.version).toBe('1');
  });
});

describe('MLflow tracking conformance', () => {
  let experimentId: string;
  let runId: string;

  it('14. runs the tracking happy path', async () => {
    // act + assess, step by step as the spec lists them
    const created = await call(handler, 'POST', 'experiments/create', { json: { name: 'exp1' } });
    expect(created.status).toBe(200);
    experimentId = created.body.experiment_id;
    expect(typeof experimentId).toBe('string');
    const byName = await call(handler, 'GET', 'experiments/get-by-name', {
      query: { experiment_name: 'exp1' },
    });
    expect(byName.body.experiment).toMatchObject({
      experiment_id: experimentId,
      name: 'exp1',
      lifecycle_stage: 'active',
      artifact_location: `s3://artifacts-bucket/mlflow/${experimentId}`,
    });
    const run = await call(handler, 'POST', 'runs/create', {
      json: { experiment_id: experimentId, run_name: 'r1', start_time: 1700000000000 },
    });
    expect(run.status).toBe(200);
    expect(run.body.run.info.status).toBe('RUNNING');
    runId = run.body.run.info.run_id;
    expect(runId).toMatch(/^[0-9a-f]{32}$/);
    const metric = await call(handler, 'POST', 'runs/log-metric', {
      json: { run_id: runId, key: 'auc', value: 0.91, timestamp: 1700000000001, step: 1 },
    });
    expect(metric.status).toBe(200);
    expect(metric.body).toEqual({});
    const param = await call(handler, 'POST', 'runs/log-parameter', {
      json: { run_id: runId, key: 'lr', value: '0.1' },
    });
    expect(param.status).toBe(200);
    expect(param.body).toEqual({});
    const got = await call(handler, 'GET', 'runs/get', { query: { run_id: runId } });
    expect(got.body.run.data.metrics).toContainEqual({
      key: 'auc',
      value: 0.91,
      timestamp: 1700000000001,
      step: 1,
    });
    expect(got.body.run.data.params).toContainEqual({ key: 'lr', value: '0.1' });
    const search = await call(handler, 'POST', 'runs/search', {
      json: { experiment_ids: [experimentId], filter: 'metrics.auc > 0.9' },
    });
    expect(search.body.runs.map((r: { info: { run_id: string } }) => r.info.run_id)).toEqual([runId]);
    const none = await call(handler, 'POST', 'runs/search', {
      json: { experiment_ids: [experimentId], filter: 'metrics.auc > 0.95' },
    });
    expect(none.body).toEqual({ runs: [] });
  });

  it('15. answers tracking errors as MLflow', async () => {
    const duplicate = await call(handler, 'POST', 'experiments/create', { json: { name: 'exp1' } });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
    const unknown = await call(handler, 'GET', 'experiments/get-by-name', {
      query: { experiment_name: 'nope' },
    });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({
      error_code: 'RESOURCE_DOES_NOT_EXIST',
      message: "Could not find experiment with name 'nope'",
    });
    const noTimestamp = await call(handler, 'POST', 'runs/log-metric', {
      json: { run_id: runId, key: 'auc', value: 1 },
    });
    expect(noTimestamp.status).toBe(400);
    expect(noTimestamp.body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message:
        "Missing value for required parameter 'timestamp'. See the API docs for more information about request parameters.",
    });
    const changed = await call(handler, 'POST', 'runs/log-parameter', {
      json: { run_id: runId, key: 'lr', value: '0.2' },
    });
    expect(changed.status).toBe(400);
    expect(changed.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(changed.body.message).toMatch(/^Changing param values is not allowed\./);
    const same = await call(handler, 'POST', 'runs/log-parameter', {
      json: { run_id: runId, key: 'lr', value: '0.1' },
    });
    expect(same.status).toBe(200);
    const metrics = Array.from({ length: 1001 }, (_, i) => ({
      key: `m${i}`,
      value: i,
      timestamp: 1,
      step: 0,
    }));
    const batch = await call(handler, 'POST', 'runs/log-batch', { json: { run_id: runId, metrics } });
    expect(batch.status).toBe(400);
    expect(batch.body.message).toMatch(
      /^A batch logging request can contain at most 1000 metrics\. Got 1001 metrics\./,
    );
    const noRun = await call(handler, 'GET', 'runs/get', { query: { run_id: 'doesnotexist' } });
    expect(noRun.status).toBe(404);
    expect(noRun.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('serves the Default experiment as id "0"', async () => {
    const res = await call(handler, 'GET', 'experiments/get', { query: { experiment_id: '0' } });
    expect(res.status).toBe(200);
    expect(res.body.experiment).toMatchObject({
      experiment_id: '0',
      name: 'Default',
      lifecycle_stage: 'active',
    });
  });

  it('serves the same endpoints under /ajax-api/2.0', async () => {
    const res = await call(handler, 'GET', '/ajax-api/2.0/mlflow/experiments/get-by-name', {
      query: { experiment_name: 'exp1' },
    });
    expect(res.status).toBe(200);
    expect(res.body.experiment.experiment_id).toBe(experimentId);
  });
});
