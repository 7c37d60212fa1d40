/**
 * The registry and tracking cores as MLflow rules, in process, over the in-memory storage double
 * (`memory-store.ts`, held to the DynamoDB adapter's behaviour by `store-contract.test.ts`): version
 * numbering, the one-Production rule, aliases, the outbox, unique names, idempotent registration,
 * search and paging, and tracking's param and metric rules. The same rules run through the real
 * handler on dynalite in the other files of this folder.
 */
import { describe, expect, it } from 'vitest';
import { createRegistryServices, MlflowError, ModelRegistry, RecordingPublisher, TrackingStore } from '../../lib/registry';
import { MemoryRecordStore } from './memory-store';

/** A registry over a fresh in-memory store, with a clock the test moves. */
function fixture() {
  const store = new MemoryRecordStore();
  const events = new RecordingPublisher();
  const clock = { now: 1_000_000 };
  let id = 0;
  const services = createRegistryServices({
    store,
    events,
    artifactsBucket: 'artifacts',
    clock: () => clock.now,
    ids: () => `id-${++id}`,
  });
  return { store, events, clock, registry: services.registry, tracking: services.tracking };
}

const rejection = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MlflowError);
  return error as MlflowError;
};

describe('model versions', () => {
  it('numbers 30 concurrent registrations exactly 1..30, and never reuses a deleted number', async () => {
    // prepare
    const { registry, store } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    // act
    const created = await Promise.all(
      Array.from({ length: 30 }, (_, i) => registry.createModelVersion({ name: 'm', source: `s3://b/m/${i}` })),
    );
    // assess: the racing writers lost some puts, and still no duplicate and no gap
    expect(created.map((v) => Number(v.version)).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(store.refused).toBeGreaterThan(0);
    await registry.deleteModelVersion({ name: 'm', version: '30' });
    expect((await registry.createModelVersion({ name: 'm', source: 's3://b/m/x' })).version).toBe('31');
    expect((await rejection(registry.getModelVersion({ name: 'm', version: 30 }))).errorCode).toBe('RESOURCE_DOES_NOT_EXIST');
  });

  it('returns the same version for a retried idempotent registration, even when both run at once', async () => {
    const { registry } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    const input = { name: 'm', source: 's3://b/m/1', runId: 'run-1' };
    const [a, b] = await Promise.all([
      registry.createModelVersion(input, { idempotent: true }),
      registry.createModelVersion(input, { idempotent: true }),
    ]);
    expect(a.version).toBe(b.version);
    expect((await registry.createModelVersion(input, { idempotent: true })).version).toBe(a.version);
    // without the option, MLflow's behaviour: a new version every time
    expect((await registry.createModelVersion(input)).version).toBe('2');
  });
});

describe('stages and aliases', () => {
  it('keeps one Production version when two archiving transitions race, with one event each', async () => {
    // prepare: v1..v3, v3 in Production
    const { registry, events } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    for (let i = 0; i < 3; i++) await registry.createModelVersion({ name: 'm', source: `s3://b/${i}` });
    await registry.transitionStage({ name: 'm', version: '3', stage: 'production' });
    // act
    await Promise.all(
      ['1', '2'].map((version) =>
        registry.transitionStage({ name: 'm', version, stage: 'Production', archiveExistingVersions: true }),
      ),
    );
    // assess
    const stages = (await registry.searchModelVersions({ filter: "name='m'" })).model_versions.map((v) => v.current_stage);
    expect(stages.filter((s) => s === 'Production')).toHaveLength(1);
    expect(stages.filter((s) => s === 'Archived')).toHaveLength(2);
    expect(events.published.map((e) => [e.version, e.stage])).toEqual(
      expect.arrayContaining([
        ['3', 'Production'],
        ['1', 'Production'],
        ['2', 'Production'],
      ]),
    );
    const latest = await registry.getLatestVersions({ name: 'm', stages: ['Production'] });
    expect(latest).toHaveLength(1);
  });

  it('refuses to archive when entering a stage that is not active, as MLflow', async () => {
    const { registry } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/1' });
    const error = await rejection(
      registry.transitionStage({ name: 'm', version: '1', stage: 'Archived', archiveExistingVersions: true }),
    );
    expect(error.errorCode).toBe('INTERNAL_ERROR');
    expect((await rejection(registry.transitionStage({ name: 'm', version: '1', stage: 'Live' }))).errorCode).toBe(
      'INVALID_PARAMETER_VALUE',
    );
  });

  it('moves champion with an event naming the previous holder; deleting the version drops the alias', async () => {
    const { registry, events } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/1' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/2' });
    await registry.setAlias({ name: 'm', alias: 'champion', version: '1' });
    await registry.setAlias({ name: 'm', alias: 'champion', version: '2' });
    await registry.setAlias({ name: 'm', alias: 'champion', version: '2' });
    await registry.setAlias({ name: 'm', alias: 'challenger', version: '1' });
    expect(events.published.map((e) => [e.alias, e.version, e.previousVersion])).toEqual([
      ['champion', '1', null],
      ['champion', '2', '1'],
    ]);
    expect((await registry.getByAlias({ name: 'm', alias: 'champion' })).aliases).toEqual(['champion']);
    await registry.deleteModelVersion({ name: 'm', version: '2' });
    expect((await rejection(registry.getByAlias({ name: 'm', alias: 'champion' }))).message).toBe(
      'Registered model alias champion not found.',
    );
    expect((await rejection(registry.setAlias({ name: 'm', alias: 'v1', version: '1' }))).message).toBe(
      "Version alias name 'v1' is reserved.",
    );
  });

  it('keeps an event whose publish failed in the outbox and sends it with a later write', async () => {
    const { registry, events, clock } = fixture();
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/1' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/2' });
    events.failing = true;
    await registry.transitionStage({ name: 'm', version: '1', stage: 'Staging' });
    expect(events.published).toEqual([]);
    events.failing = false;
    clock.now += 31_000; // older than the retry delay: in flight no more
    await registry.transitionStage({ name: 'm', version: '2', stage: 'Production' });
    expect(events.published.map((e) => e.stage)).toEqual(['Production', 'Staging']);
    expect(await registry.flushPendingEvents('m')).toBe(0);
  });
});

describe('unique names', () => {
  it('lets one of ten concurrent creates of a name win, and a rename frees the old name', async () => {
    const { registry } = fixture();
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => registry.createRegisteredModel({ name: 'm' })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await registry.renameRegisteredModel({ name: 'm', newName: 'n' });
    await registry.createRegisteredModel({ name: 'm' });
    expect((await rejection(registry.createRegisteredModel({ name: 'n' }))).errorCode).toBe('RESOURCE_ALREADY_EXISTS');
  });

  it('takes over a name left by a crashed create only once it is older than the orphan window', async () => {
    // prepare: a name record pointing at a model and an experiment that never appeared
    const { registry, tracking, store, clock } = fixture();
    await store.put({ kind: 'modelName', name: 'm' }, { modelId: 'crashed', createdAt: clock.now });
    await store.put({ kind: 'experimentName', name: 'e' }, { experimentId: '99', createdAt: clock.now });
    // act and assess: young pointers hold, old ones are taken over
    expect((await rejection(registry.createRegisteredModel({ name: 'm' }))).errorCode).toBe('RESOURCE_ALREADY_EXISTS');
    expect((await rejection(tracking.createExperiment({ name: 'e' }))).errorCode).toBe('RESOURCE_ALREADY_EXISTS');
    clock.now += 10_001;
    expect((await registry.createRegisteredModel({ name: 'm' })).name).toBe('m');
    const id = await tracking.createExperiment({ name: 'e' });
    expect((await tracking.getExperimentByName('e')).experiment_id).toBe(id);
  });

  it('keeps an experiment name taken while the experiment is deleted, as MLflow', async () => {
    const { tracking } = fixture();
    const id = await tracking.createExperiment({ name: 'e' });
    await tracking.deleteExperiment(id);
    expect((await rejection(tracking.createExperiment({ name: 'e' }))).errorCode).toBe('RESOURCE_ALREADY_EXISTS');
    await tracking.restoreExperiment(id);
    await tracking.renameExperiment({ experimentId: id, newName: 'f' });
    expect(await tracking.createExperiment({ name: 'e' })).not.toBe(id);
  });
});

describe('search', () => {
  it('filters by name pattern and tag, orders, and pages with offset tokens', async () => {
    const { registry } = fixture();
    for (const [name, team] of [['alpha', 'risk'], ['beta', 'risk'], ['gamma', 'ops'], ['delta', 'risk']]) {
      await registry.createRegisteredModel({ name: name!, tags: [{ key: 'team', value: team! }] });
    }
    const first = await registry.searchRegisteredModels({ filter: "tags.team = 'risk'", maxResults: 2 });
    expect(first.registered_models.map((m) => m.name)).toEqual(['alpha', 'beta']);
    const second = await registry.searchRegisteredModels({
      filter: "tags.team = 'risk'",
      maxResults: 2,
      pageToken: first.next_page_token,
    });
    expect(second.registered_models.map((m) => m.name)).toEqual(['delta']);
    expect(second.next_page_token).toBeUndefined();
    const like = await registry.searchRegisteredModels({ filter: "name LIKE '%a'", orderBy: ['name DESC'] });
    expect(like.registered_models.map((m) => m.name)).toEqual(['gamma', 'delta', 'beta', 'alpha']);
    expect((await rejection(registry.searchRegisteredModels({ filter: "run_id = 'x'" }))).errorCode).toBe(
      'INVALID_PARAMETER_VALUE',
    );
  });

  it('finds the versions of a run across models', async () => {
    const { registry } = fixture();
    for (const name of ['a', 'b']) {
      await registry.createRegisteredModel({ name });
      await registry.createModelVersion({ name, source: `s3://b/${name}`, runId: 'r1' });
      await registry.createModelVersion({ name, source: `s3://b/${name}/2`, runId: 'r2' });
    }
    const found = await registry.searchModelVersions({ filter: "run_id = 'r1'" });
    expect(found.model_versions.map((v) => [v.name, v.version])).toEqual([
      ['a', '1'],
      ['b', '1'],
    ]);
  });
});

describe('tracking', () => {
  it('refuses to change a param, and keeps the latest metric the newest by step, timestamp, value', async () => {
    const { tracking } = fixture();
    const run = (await tracking.createRun({ runName: 'r' })).info.run_id;
    await tracking.logParam({ runId: run, key: 'alpha', value: '0.5' });
    await tracking.logParam({ runId: run, key: 'alpha', value: '0.5' });
    expect((await rejection(tracking.logParam({ runId: run, key: 'alpha', value: '0.6' }))).message).toContain(
      'Changing param values is not allowed',
    );
    await tracking.logMetric({ runId: run, key: 'rmse', value: 0.7, timestamp: 5, step: 2 });
    await tracking.logMetric({ runId: run, key: 'rmse', value: 0.1, timestamp: 9, step: 1 });
    const got = await tracking.getRun(run);
    expect(got.data.metrics).toEqual([{ key: 'rmse', value: 0.7, timestamp: 5, step: 2 }]);
    const history = await tracking.getMetricHistory({ runId: run, metricKey: 'rmse', maxResults: 1 });
    expect(history.metrics.map((m) => m.timestamp)).toEqual([5]);
    const rest = await tracking.getMetricHistory({ runId: run, metricKey: 'rmse', maxResults: 1, pageToken: history.next_page_token });
    expect(rest.metrics.map((m) => m.timestamp)).toEqual([9]);
  });

  it('resolves a runs:/ source to the run artifact location in promotion events', async () => {
    const { registry, tracking, events } = fixture();
    const run = (await tracking.createRun({})).info;
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: `runs:/${run.run_id}/model` });
    await registry.transitionStage({ name: 'm', version: '1', stage: 'Production' });
    expect(run.artifact_uri).toBe(`s3://artifacts/mlflow/0/${run.run_id}/artifacts`);
    expect(events.published[0]!.artifactUri).toBe(`${run.artifact_uri}/model`);
  });

  it('works on a store of its own, without the registry', async () => {
    const tracking = new TrackingStore({ store: new MemoryRecordStore(), defaultArtifactRoot: 's3://b/mlflow/' });
    expect((await tracking.getExperiment('0')).artifact_location).toBe('s3://b/mlflow/0');
    expect(new ModelRegistry({ store: new MemoryRecordStore(), events: new RecordingPublisher() })).toBeDefined();
  });
});
