/**
 * The experiment and run lifecycle endpoints MLflow clients call (`experiments/update|delete|
 * restore|set-experiment-tag`, `runs/delete|restore|delete-tag`) and `artifacts/list`, through the
 * real handler over dynalite and the local S3 engine: MLflow's shapes, its error codes, and
 * concurrent callers that cannot both win.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, S3Store, startS3Server } from '../../lib/local/s3';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { s3ArtifactLister } from '../../lib/adapters/s3/artifact-lister';
import { artifactRoot, createRegistryServices, RecordingPublisher } from '../../lib/registry';
import { call, type Handler, type LocalDynamo, startDynamo, useLocalAwsEnv } from './support';

const BUCKET = 'artifacts-bucket';
let dynamo: LocalDynamo;
let s3server: S3Server;
let s3: S3Client;
let stateDir: string;
let handler: Handler;

beforeAll(async () => {
  useLocalAwsEnv();
  dynamo = await startDynamo();
  stateDir = await mkdtemp(join(tmpdir(), 'mlops-registry-artifacts-'));
  s3server = await startS3Server({ store: await S3Store.open(stateDir, [BUCKET, 'elsewhere']) });
  s3 = new S3Client({
    endpoint: s3server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  process.env.REGISTRY_TABLE_NAME ??= 'unused';
  process.env.ARTIFACTS_BUCKET ??= BUCKET;
  process.env.EVENT_BUS_NAME ??= 'unused-bus';
  const { createHandler } = await import('../../lambdas/registry');
  const services = createRegistryServices({
    store: new DynamoRegistryStore(dynamo.client, await dynamo.newTable()),
    artifactsBucket: BUCKET,
    events: new RecordingPublisher(),
    artifacts: s3ArtifactLister(s3, artifactRoot(BUCKET)),
  });
  handler = createHandler(services);
});

afterAll(async () => {
  s3?.destroy();
  await s3server?.close();
  await dynamo?.stop();
  await rm(stateDir, { recursive: true, force: true });
});

const post = (path: string, json: unknown) => call(handler, 'POST', path, { json });
const get = (path: string, query: Record<string, string>) => call(handler, 'GET', path, { query });
const experiment = async (name: string) => (await post('experiments/create', { name })).body.experiment_id as string;
const stageOf = async (id: string) =>
  (await get('experiments/get', { experiment_id: id })).body.experiment.lifecycle_stage;
const runIn = async (experimentId: string) =>
  (await post('runs/create', { experiment_id: experimentId })).body.run.info.run_id as string;

describe('experiments/update (rename)', () => {
  it('renames, frees the old name and keeps the new one taken', async () => {
    const id = await experiment('rename-me');
    expect(await post('experiments/update', { experiment_id: id, new_name: 'renamed' })).toEqual(
      expect.objectContaining({ status: 200, body: {} }),
    );
    expect((await get('experiments/get-by-name', { experiment_name: 'renamed' })).body.experiment.experiment_id).toBe(id);
    expect((await get('experiments/get-by-name', { experiment_name: 'rename-me' })).status).toBe(404);
    expect((await post('experiments/create', { name: 'rename-me' })).status).toBe(200); // freed
    const taken = await post('experiments/create', { name: 'renamed' });
    expect(taken.body.error_code).toBe('RESOURCE_ALREADY_EXISTS');
  });

  it('fails if the new name is taken (RESOURCE_ALREADY_EXISTS) or the experiment is deleted (INVALID_STATE)', async () => {
    const a = await experiment('taken-a');
    await experiment('taken-b');
    expect((await post('experiments/update', { experiment_id: a, new_name: 'taken-b' })).body).toEqual({
      error_code: 'RESOURCE_ALREADY_EXISTS',
      message: 'Experiment(name=taken-b) already exists.',
    });
    await post('experiments/delete', { experiment_id: a });
    const res = await post('experiments/update', { experiment_id: a, new_name: 'fresh' });
    expect(res).toMatchObject({ status: 400, body: { error_code: 'INVALID_STATE', message: 'Cannot rename a non-active experiment.' } });
    expect((await get('experiments/get-by-name', { experiment_name: 'fresh' })).status).toBe(404); // not claimed
  });

  it('answers RESOURCE_DOES_NOT_EXIST for an unknown id and the missing-parameter message without one', async () => {
    expect((await post('experiments/update', { experiment_id: '9999', new_name: 'x' })).body).toEqual({
      error_code: 'RESOURCE_DOES_NOT_EXIST',
      message: 'No Experiment with id=9999 exists',
    });
    expect((await post('experiments/update', { new_name: 'x' })).body.message).toBe(
      "Missing value for required parameter 'experiment_id'. See the API docs for more information about request parameters.",
    );
  });

  it('lets exactly one of ten concurrent renames to one name win', async () => {
    const ids = await Promise.all(Array.from({ length: 10 }, (_, i) => experiment(`racer-${i}`)));
    const results = await Promise.all(ids.map((id) => post('experiments/update', { experiment_id: id, new_name: 'podium' })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status !== 200).map((r) => r.body.error_code)).toEqual(
      Array(9).fill('RESOURCE_ALREADY_EXISTS'),
    );
    const winner = ids[results.findIndex((r) => r.status === 200)];
    expect((await get('experiments/get-by-name', { experiment_name: 'podium' })).body.experiment.experiment_id).toBe(winner);
  });
});

describe('experiments/delete and experiments/restore', () => {
  it('deletes an experiment with its runs and restores both', async () => {
    const id = await experiment('lifecycle');
    const run = await runIn(id);
    expect((await post('experiments/delete', { experiment_id: id })).body).toEqual({});
    expect(await stageOf(id)).toBe('deleted');
    expect((await get('runs/get', { run_id: run })).body.run.info.lifecycle_stage).toBe('deleted');
    expect((await post('runs/create', { experiment_id: id })).body.error_code).toBe('INVALID_PARAMETER_VALUE');
    const active = (await post('experiments/search', { view_type: 'ACTIVE_ONLY' })).body.experiments ?? [];
    expect(active.map((e: { experiment_id: string }) => e.experiment_id)).not.toContain(id);

    expect((await post('experiments/restore', { experiment_id: id })).body).toEqual({});
    expect(await stageOf(id)).toBe('active');
    expect((await get('runs/get', { run_id: run })).body.run.info.lifecycle_stage).toBe('active');
  });

  it('answers as MLflow for the default experiment, a second delete and restoring an active one', async () => {
    expect((await post('experiments/delete', { experiment_id: '0' })).body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: "Cannot delete the default experiment '0'. This is an internally reserved experiment.",
    });
    const id = await experiment('twice');
    await post('experiments/delete', { experiment_id: id });
    expect(await post('experiments/delete', { experiment_id: id })).toMatchObject({
      status: 404,
      body: { error_code: 'RESOURCE_DOES_NOT_EXIST' },
    });
    await post('experiments/restore', { experiment_id: id });
    expect((await post('experiments/restore', { experiment_id: id })).body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('lets one of a concurrent delete and delete win, and leaves the experiment deleted', async () => {
    const id = await experiment('double-delete');
    const results = await Promise.all([1, 2, 3].map(() => post('experiments/delete', { experiment_id: id })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 404, 404]);
    expect(await stageOf(id)).toBe('deleted');
  });
});

describe('experiments/set-experiment-tag', () => {
  it('sets and overwrites a tag; concurrent writers of different keys all land', async () => {
    const id = await experiment('tagged');
    await post('experiments/set-experiment-tag', { experiment_id: id, key: 'team', value: 'a' });
    await Promise.all(
      Array.from({ length: 8 }, (_, i) => post('experiments/set-experiment-tag', { experiment_id: id, key: `k${i}`, value: `${i}` })),
    );
    expect((await post('experiments/set-experiment-tag', { experiment_id: id, key: 'team', value: 'b' })).body).toEqual({});
    const tags = (await get('experiments/get', { experiment_id: id })).body.experiment.tags as { key: string; value: string }[];
    expect(Object.fromEntries(tags.map((t) => [t.key, t.value]))).toEqual({
      team: 'b',
      ...Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`k${i}`, `${i}`])),
    });
  });

  it('fails on a deleted experiment, a missing key and an overlong key', async () => {
    const id = await experiment('tag-deleted');
    await post('experiments/delete', { experiment_id: id });
    expect((await post('experiments/set-experiment-tag', { experiment_id: id, key: 'k', value: 'v' })).body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: `The experiment ${id} must be in the 'active' state. Current state is deleted.`,
    });
    expect((await post('experiments/set-experiment-tag', { experiment_id: '0', value: 'v' })).body.message).toMatch(
      /Missing value for required parameter 'key'/,
    );
    expect((await post('experiments/set-experiment-tag', { experiment_id: '0', key: 'k'.repeat(300), value: 'v' })).status).toBe(400);
  });
});

describe('runs/delete, runs/restore, runs/delete-tag', () => {
  it('deletes and restores a run, and refuses to restore an active one', async () => {
    const run = await runIn(await experiment('runs-lifecycle'));
    expect((await post('runs/delete', { run_id: run })).body).toEqual({});
    expect((await get('runs/get', { run_id: run })).body.run.info.lifecycle_stage).toBe('deleted');
    expect((await post('runs/restore', { run_id: run })).body).toEqual({});
    expect((await get('runs/get', { run_id: run })).body.run.info.lifecycle_stage).toBe('active');
    expect((await post('runs/restore', { run_id: run })).body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: `The run ${run} must be in the 'deleted' state. Current state is active.`,
    });
    expect((await post('runs/restore', { run_id: 'nope' })).status).toBe(404);
  });

  it('deletes a tag, answers RESOURCE_DOES_NOT_EXIST for a missing one and refuses on a deleted run', async () => {
    const run = await runIn(await experiment('run-tags'));
    await post('runs/set-tag', { run_id: run, key: 'owner', value: 'me' });
    expect((await post('runs/delete-tag', { run_id: run, key: 'owner' })).body).toEqual({});
    const tags = (await get('runs/get', { run_id: run })).body.run.data.tags as { key: string }[];
    expect(tags.map((t) => t.key)).not.toContain('owner');
    expect(await post('runs/delete-tag', { run_id: run, key: 'owner' })).toMatchObject({
      status: 404,
      body: { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `No tag with name: owner in run with id ${run}` },
    });
    await post('runs/delete', { run_id: run });
    expect((await post('runs/delete-tag', { run_id: run, key: 'mlflow.runName' })).body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('artifacts/list', () => {
  it("lists a run's artifact directory as MLflow's S3 repository does: dirs and files, sorted, relative paths", async () => {
    // prepare: a run and what a client uploaded under its artifact URI
    const run = (await post('runs/create', { experiment_id: await experiment('with-artifacts') })).body.run.info;
    const root: string = run.artifact_uri;
    const [, bucket, prefix] = /^s3:\/\/([^/]+)\/(.*)$/.exec(root)!;
    expect(bucket).toBe(BUCKET);
    for (const [key, body] of [
      ['model/MLmodel', 'flavors: {}\n'],
      ['model/data/model.pkl', 'xxxx'],
      ['metrics.json', '{}'],
    ]) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/${key}`, Body: body }));
    }
    // act + assess: the root
    expect((await get('artifacts/list', { run_id: run.run_id })).body).toEqual({
      root_uri: root,
      files: [
        { path: 'metrics.json', is_dir: false, file_size: 2 },
        { path: 'model', is_dir: true },
      ],
    });
    // a sub-directory, with the deprecated run_uuid the npm client sends
    expect((await get('artifacts/list', { run_uuid: run.run_id, path: 'model' })).body).toEqual({
      root_uri: root,
      files: [
        { path: 'model/MLmodel', is_dir: false, file_size: 12 },
        { path: 'model/data', is_dir: true },
      ],
    });
    // an empty directory has no `files`, as MLflow's proto JSON omits empty lists
    expect((await get('artifacts/list', { run_id: run.run_id, path: 'nothing-here' })).body).toEqual({ root_uri: root });
  });

  it('refuses unsafe paths, unknown runs and runs whose artifacts live outside the registry store', async () => {
    const exp = await experiment('odd-artifacts');
    const run = await runIn(exp);
    expect((await get('artifacts/list', { run_id: run, path: '../other' })).body).toEqual({
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Invalid path: ../other',
    });
    expect((await get('artifacts/list', { run_id: 'nope' })).status).toBe(404);
    expect((await get('artifacts/list', {})).body.message).toMatch(/Missing value for required parameter 'run_id'/);
    const outside = (await post('experiments/create', { name: 'outside', artifact_location: 's3://elsewhere/x' })).body.experiment_id;
    const res = await get('artifacts/list', { run_id: await runIn(outside) });
    expect(res).toMatchObject({ status: 400, body: { error_code: 'INVALID_PARAMETER_VALUE' } });
  });
});
