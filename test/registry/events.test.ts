/**
 * Promotion events: which writes emit `ModelVersionPromoted`, with what detail, and what happens when
 * publishing fails after the write (the outbox on the model head).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, type Harness, harness, type LocalDynamo, startDynamo } from './support';

let dynamo: LocalDynamo;
let h: Harness;
let now = 1_700_000_000_000;

beforeAll(async () => {
  dynamo = await startDynamo();
  // A controllable clock: the outbox re-sends only events older than 30 s.
  h = await harness(dynamo, { clock: () => now });
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  h.events.published.length = 0;
  h.events.failing = false;
  now += 1000;
});

async function modelWithVersions(
  name: string,
  count: number,
  source = (i: number) => `s3://art/${name}/${i}`,
) {
  await call(h.handler, 'POST', 'registered-models/create', { json: { name } });
  for (let i = 1; i <= count; i++) {
    await call(h.handler, 'POST', 'model-versions/create', { json: { name, source: source(i) } });
  }
}

const transition = (name: string, version: string, stage: string, archive = false) =>
  call(h.handler, 'POST', 'model-versions/transition-stage', {
    json: { name, version, stage, archive_existing_versions: archive },
  });

const setAlias = (name: string, alias: string, version: string) =>
  call(h.handler, 'POST', 'registered-models/alias', { json: { name, alias, version } });

describe('stage promotions', () => {
  it('emits one event per entry into Staging or Production, naming the previous holder', async () => {
    // prepare
    await modelWithVersions('ev-stage', 2);
    // act
    await transition('ev-stage', '1', 'staging');
    await transition('ev-stage', '1', 'Production');
    await transition('ev-stage', '2', 'Production', true);
    // assess
    expect(h.events.published).toEqual([
      expect.objectContaining({
        modelName: 'ev-stage',
        version: '1',
        stage: 'Staging',
        previousVersion: null,
      }),
      expect.objectContaining({
        modelName: 'ev-stage',
        version: '1',
        stage: 'Production',
        previousVersion: null,
      }),
      expect.objectContaining({
        modelName: 'ev-stage',
        version: '2',
        stage: 'Production',
        previousVersion: '1',
      }),
    ]);
    const last = h.events.published[2]!;
    expect(last).toEqual({
      eventId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      modelName: 'ev-stage',
      version: '2',
      source: 's3://art/ev-stage/2',
      artifactUri: 's3://art/ev-stage/2',
      stage: 'Production',
      previousVersion: '1',
      timestamp: now,
    });
    expect(new Set(h.events.published.map((e) => e.eventId)).size).toBe(3);
  });

  it('emits nothing for None, Archived, or a version already in the stage', async () => {
    await modelWithVersions('ev-quiet', 2);
    await transition('ev-quiet', '1', 'Production');
    h.events.published.length = 0;
    await transition('ev-quiet', '1', 'Production');
    await transition('ev-quiet', '1', 'Archived');
    await transition('ev-quiet', '2', 'None');
    expect(h.events.published).toEqual([]);
  });

  it("carries the version's registered digest and S3 object version for the deployer to pin", async () => {
    // prepare: a version registered as the training pipeline registers it
    const sha = 'c'.repeat(64);
    await call(h.handler, 'POST', 'registered-models/create', { json: { name: 'ev-pinned' } });
    await call(h.handler, 'POST', 'model-versions/create', {
      json: {
        name: 'ev-pinned',
        source: 's3://art/models/ev-pinned/e-1/job/output/model.tar.gz',
        tags: [
          { key: 'mlops.artifact_sha256', value: sha },
          { key: 'mlops.artifact_version_id', value: 'v-123' },
        ],
      },
    });
    // act
    await transition('ev-pinned', '1', 'Production');
    // assess
    expect(h.events.published[0]).toMatchObject({ artifactSha256: sha, artifactVersionId: 'v-123' });
  });

  it('resolves a runs:/ source to the run artifact location', async () => {
    // prepare: a run in the Default experiment
    const run = await call(h.handler, 'POST', 'runs/create', { json: {} });
    const runId: string = run.body.run.info.run_id;
    await modelWithVersions('ev-runs', 1, () => `runs:/${runId}/model`);
    // act
    await transition('ev-runs', '1', 'Staging');
    // assess
    expect(h.events.published[0]).toMatchObject({
      source: `runs:/${runId}/model`,
      artifactUri: `s3://artifacts-bucket/mlflow/0/${runId}/artifacts/model`,
    });
    const uri = await call(h.handler, 'GET', 'model-versions/get-download-uri', {
      query: { name: 'ev-runs', version: '1' },
    });
    expect(uri.body).toEqual({ artifact_uri: `s3://artifacts-bucket/mlflow/0/${runId}/artifacts/model` });
  });
});

describe('champion alias', () => {
  it('emits when champion is set or moves, not when it stays or for other aliases', async () => {
    await modelWithVersions('ev-alias', 2);
    await setAlias('ev-alias', 'champion', '1');
    await setAlias('ev-alias', 'champion', '1');
    await setAlias('ev-alias', 'challenger', '2');
    await setAlias('ev-alias', 'champion', '2');
    expect(h.events.published).toEqual([
      expect.objectContaining({ version: '1', alias: 'champion', previousVersion: null }),
      expect.objectContaining({ version: '2', alias: 'champion', previousVersion: '1' }),
    ]);
    expect(h.events.published.every((e) => e.stage === undefined)).toBe(true);
  });
});

describe('publishing failures', () => {
  it('keeps the promotion and re-sends the event from the outbox later', async () => {
    // prepare
    await modelWithVersions('ev-outbox', 2);
    h.events.failing = true;
    // act: the promotion succeeds although the bus is down
    const res = await transition('ev-outbox', '1', 'Production');
    // assess
    expect(res.status).toBe(200);
    expect(res.body.model_version.current_stage).toBe('Production');
    expect(h.events.published).toEqual([]);
    // act: the bus is back; a later write to the model, once the event is stale, sends it along
    h.events.failing = false;
    now += 31_000;
    await setAlias('ev-outbox', 'champion', '2');
    // assess: both events went out, the failed one first in time, and the outbox is empty again
    expect(h.events.published.map((e) => [e.version, e.stage ?? e.alias])).toEqual([
      ['2', 'champion'],
      ['1', 'Production'],
    ]);
    expect(await h.services.registry.flushPendingEvents('ev-outbox')).toBe(0);
  });

  it('flushPendingEvents sends what a failed publish left behind', async () => {
    await modelWithVersions('ev-flush', 1);
    h.events.failing = true;
    await transition('ev-flush', '1', 'Staging');
    h.events.failing = false;
    expect(await h.services.registry.flushPendingEvents('ev-flush')).toBe(1);
    expect(h.events.published).toEqual([
      expect.objectContaining({ modelName: 'ev-flush', stage: 'Staging' }),
    ]);
    expect(await h.services.registry.flushPendingEvents('ev-flush')).toBe(0);
  });
});
