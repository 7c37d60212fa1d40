/**
 * The model head at scale (issue 19): it stays small however many versions move, its latest version
 * per stage is exact after any sequence of moves, tag filters read the tag index a page at a time
 * with page tokens that refuse forgery, and tables written before the head carried tags and latest
 * versions are read correctly and upgraded.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { createRegistryServices, MlflowError, ModelRegistry, RecordingPublisher } from '../../lib/registry';
import { COMPACT_AFTER, type Head, recordNewVersion } from '../../lib/registry/models/records';
import type { RecordRef, RecordStore, StoredRecord } from '../../lib/registry/store';
import { MemoryRecordStore } from './memory-store';
import { call, registryPerFile } from './support';

const api = registryPerFile();
const { post, get } = api;

/** A deterministic pseudo-random sequence (mulberry32), so a failure replays. */
function random(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const headOf = async (store: RecordStore, name: string): Promise<Head> => {
  const pointer = await store.get({ kind: 'modelName', name });
  return (await store.get({ kind: 'model', modelId: pointer!.modelId as string })) as Head;
};

describe('the model head', () => {
  it('fails if the latest version per stage drifts from the versions, or the head grows with moved versions', async () => {
    // prepare: 150 versions, then 400 random moves, deletes and creates
    const store = new MemoryRecordStore();
    const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
    await registry.createRegisteredModel({ name: 'm' });
    let versions = 0;
    const create = async () => (versions = Number((await registry.createModelVersion({ name: 'm', source: 's3://b/m' })).version));
    for (let i = 0; i < 150; i++) await create();
    const deleted = new Set<number>();
    const next = random(19);
    const pick = () => 1 + Math.floor(next() * versions);
    const stages = ['None', 'Staging', 'Production', 'Archived'];
    let largestHead = 0;
    // act + assess after every step
    for (let step = 0; step < 400; step++) {
      const roll = next();
      const version = pick();
      if (roll < 0.05) await create();
      else if (roll < 0.1 && !deleted.has(version)) {
        await registry.deleteModelVersion({ name: 'm', version });
        deleted.add(version);
      } else if (!deleted.has(version)) {
        const stage = stages[Math.floor(next() * 4)]!;
        await registry.transitionStage({
          name: 'm',
          version,
          stage,
          archiveExistingVersions: (stage === 'Staging' || stage === 'Production') && next() < 0.5,
        });
      }
      const all = (await registry.searchModelVersions({ filter: "name = 'm'" })).model_versions;
      const expected = new Map<string, string>();
      for (const v of all) if (Number(v.version) > Number(expected.get(v.current_stage) ?? 0)) expected.set(v.current_stage, v.version);
      const latest = await registry.getLatestVersions({ name: 'm' });
      expect(Object.fromEntries(latest.map((v) => [v.current_stage, v.version]))).toEqual(Object.fromEntries(expected));
      const head = await headOf(store, 'm');
      const active = Object.values(head.stages).filter((e) => e.stage === 'Staging' || e.stage === 'Production').length;
      expect(Object.keys(head.stages).length - active).toBeLessThanOrEqual(COMPACT_AFTER);
      largestHead = Math.max(largestHead, JSON.stringify(head).length);
    }
    expect(largestHead).toBeLessThan(20_000);
    expect(Object.keys((await headOf(store, 'm')).stages).length).toBeLessThan(150);
  });
});

describe('recording a new version in the head', () => {
  it('fails if a version whose creation lands after a higher version was moved is lost from the latest None', async () => {
    // prepare: writer B's version 3 landed and was moved to Staging before writer A's version 2 landed
    const store = new MemoryRecordStore();
    const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/1' });
    const { modelId } = await headOf(store, 'm');
    const version = (v: number) => ({ version: v, createdAt: v, updatedAt: v, source: `s3://b/${v}`, tags: {} });
    await store.put({ kind: 'modelVersion', modelId, version: 3 }, version(3));
    await registry.transitionStage({ name: 'm', version: 3, stage: 'Staging' });
    await store.put({ kind: 'modelVersion', modelId, version: 2 }, version(2));
    // act: A records its version
    await recordNewVersion(store, modelId, 2);
    // assess
    const latest = await registry.getLatestVersions({ name: 'm' });
    expect(latest.map((v) => `${v.current_stage}:${v.version}`)).toEqual(['None:2', 'Staging:3']);
  });

  it('fails if a version whose creator died before recording it stays out of the latest versions', async () => {
    const store = new MemoryRecordStore();
    const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
    await registry.createRegisteredModel({ name: 'm' });
    await registry.createModelVersion({ name: 'm', source: 's3://b/1' });
    const { modelId } = await headOf(store, 'm');
    await store.put({ kind: 'modelVersion', modelId, version: 2 }, { version: 2, createdAt: 2, updatedAt: 2, source: 's3://b/2', tags: {} });
    expect((await registry.getLatestVersions({ name: 'm' })).map((v) => v.version)).toEqual(['2']);
    expect((await headOf(store, 'm')).latest).toEqual({ None: 2 });
  });
});

describe('tag filters and page tokens (DynamoDB adapter on dynalite, through the handler)', () => {
  beforeAll(async () => {
    for (let i = 0; i < 23; i++) {
      await post('registered-models/create', {
        name: `tagged-${String(i).padStart(2, '0')}`,
        tags: [{ key: 'team', value: i % 2 === 0 ? 'risk' : 'growth' }],
      });
    }
  });

  it('fails if a tag filter misses a model or pages it twice', async () => {
    // act: page through tags.team = 'risk' five at a time
    const names: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const reply = await get('registered-models/search', {
        filter: "tags.team = 'risk'",
        max_results: '5',
        ...(token && { page_token: token }),
      });
      expect(reply.status).toBe(200);
      names.push(...reply.body.registered_models.map((m: { name: string }) => m.name));
      token = reply.body.next_page_token;
      pages++;
    } while (token);
    // assess: the 12 even models, in name order, each once
    expect(names).toEqual(Array.from({ length: 12 }, (_, i) => `tagged-${String(i * 2).padStart(2, '0')}`));
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('fails if a tag filter combined with a name filter or another order answers wrongly', async () => {
    const liked = await get('registered-models/search', { filter: "tags.team = 'growth' AND name LIKE 'tagged-1%'" });
    expect(liked.body.registered_models.map((m: { name: string }) => m.name)).toEqual([
      'tagged-11',
      'tagged-13',
      'tagged-15',
      'tagged-17',
      'tagged-19',
    ]);
    const newest = await get('registered-models/search', {
      filter: "tags.team = 'growth'",
      order_by: ['creation_timestamp DESC'],
      max_results: '2',
    });
    expect(newest.body.registered_models).toHaveLength(2);
    expect(newest.body.registered_models[0].tags).toEqual([{ key: 'team', value: 'growth' }]);
  });

  it('fails if a deleted tag, a renamed model or a deleted model is answered from a stale index entry', async () => {
    // act
    const replies = [
      await call(api.h.handler, 'DELETE', 'registered-models/delete-tag', { json: { name: 'tagged-00', key: 'team' } }),
      await post('registered-models/rename', { name: 'tagged-02', new_name: 'zz-renamed' }),
      await call(api.h.handler, 'DELETE', 'registered-models/delete', { json: { name: 'tagged-04' } }),
    ];
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    // assess
    const names = (await get('registered-models/search', { filter: "tags.team = 'risk'", max_results: '100' })).body.registered_models.map(
      (m: { name: string }) => m.name,
    );
    expect(names).not.toContain('tagged-00');
    expect(names).not.toContain('tagged-04');
    expect(names).not.toContain('tagged-02');
    expect(names.at(-1)).toBe('zz-renamed');
  });

  it.each([
    ['not base64 JSON', '%%%'],
    ['a token of another shape', Buffer.from(JSON.stringify({ offset: 3 })).toString('base64')],
    [
      'a forged key of another listing',
      Buffer.from(JSON.stringify({ after: { pk: 'RM#x', sk: '#HEAD', gsi1pk: 'EXP', gsi1sk: 'a' } })).toString('base64'),
    ],
    [
      'a key with a non-string attribute',
      Buffer.from(JSON.stringify({ after: { pk: 1, sk: '#HEAD', gsi1pk: 'RM', gsi1sk: 'a' } })).toString('base64'),
    ],
  ])('fails with INVALID_PARAMETER_VALUE on %s', async (_, token) => {
    for (const filter of ["tags.team = 'risk'", undefined]) {
      const reply = await get('registered-models/search', { ...(filter && { filter }), page_token: token });
      expect(reply.status).toBe(400);
      expect(reply.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    }
  });

  it("fails with INVALID_PARAMETER_VALUE when one tag filter's token is handed to another", async () => {
    const first = await get('registered-models/search', { filter: "tags.team = 'risk'", max_results: '2' });
    const reply = await get('registered-models/search', {
      filter: "tags.team = 'growth'",
      page_token: first.body.next_page_token,
    });
    expect(reply.status).toBe(400);
    expect(reply.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('model versions of one model, paged from its version list', () => {
  it('fails if a page of versions skips, repeats or shows a deleted version, or a forged token is taken', async () => {
    // prepare: 12 versions, version 7 deleted, version 3 tagged
    await post('registered-models/create', { name: 'paged' });
    for (let i = 0; i < 12; i++) await post('model-versions/create', { name: 'paged', source: `s3://b/paged/${i}` });
    await call(api.h.handler, 'DELETE', 'model-versions/delete', { json: { name: 'paged', version: '7' } });
    await post('model-versions/set-tag', { name: 'paged', version: '3', key: 'k', value: 'x' });
    // act
    const versions: string[] = [];
    let token: string | undefined;
    do {
      const reply = await get('model-versions/search', { filter: "name = 'paged'", max_results: '5', ...(token && { page_token: token }) });
      expect(reply.status).toBe(200);
      versions.push(...reply.body.model_versions.map((v: { version: string }) => v.version));
      token = reply.body.next_page_token;
    } while (token);
    // assess
    expect(versions).toEqual(['12', '11', '10', '9', '8', '6', '5', '4', '3', '2', '1']);
    const tagged = await get('model-versions/search', { filter: "name = 'paged' AND tags.k = 'x'" });
    expect(tagged.body.model_versions.map((v: { version: string }) => v.version)).toEqual(['3']);
    const forged = await get('model-versions/search', {
      filter: "name = 'paged'",
      page_token: Buffer.from(JSON.stringify({ after: { pk: 'RM#other', sk: 'V#0000000001' } })).toString('base64'),
    });
    expect(forged.status).toBe(400);
    expect(forged.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('a table written before the head carried tags and latest versions', () => {
  it('fails if a legacy model is read wrongly, missed by a tag filter, or left un-upgraded', async () => {
    // prepare: the records older code wrote, straight into a fresh table: a head naming every moved
    // version, tag records without the model's name, 40 versions
    const store = new DynamoRegistryStore(api.dynamo.client, await api.dynamo.newTable());
    const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
    const at = 1_700_000_000_000;
    const stages: Record<string, { stage: string; at: number }> = {
      '40': { stage: 'Staging', at },
      '38': { stage: 'Production', at },
      '12': { stage: 'Archived', at },
      '39': { stage: 'Deleted_Internal', at },
    };
    for (let v = 1; v <= 34; v++) if (v !== 12) stages[v] = { stage: 'Archived', at };
    const records: { ref: RecordRef; record: StoredRecord }[] = [
      { ref: { kind: 'modelName', name: 'legacy' }, record: { modelId: 'old1', createdAt: at } },
      {
        ref: { kind: 'model', modelId: 'old1' },
        record: { modelId: 'old1', name: 'legacy', createdAt: at, updatedAt: at, rev: 7, stages, aliases: { champion: 38 }, outbox: {} },
      },
      { ref: { kind: 'modelTag', modelId: 'old1', key: 'team' }, record: { key: 'team', value: 'fraud' } },
    ];
    for (let v = 1; v <= 40; v++) {
      records.push({
        ref: { kind: 'modelVersion', modelId: 'old1', version: v },
        record: { version: v, createdAt: at + v, updatedAt: at + v, source: `s3://b/legacy/${v}`, tags: {} },
      });
    }
    await store.putAll(records);
    // act + assess: a search page reads the legacy head as it is
    const page = await registry.searchRegisteredModels({});
    expect(page.registered_models[0]!.tags).toEqual([{ key: 'team', value: 'fraud' }]);
    expect(page.registered_models[0]!.latest_versions!.map((v) => `${v.current_stage}:${v.version}`).sort()).toEqual([
      'Archived:34',
      'None:37',
      'Production:38',
      'Staging:40',
    ]);
    expect((await store.get({ kind: 'model', modelId: 'old1' }))!.latest).toBeUndefined();
    // a tag filter upgrades the table's legacy models first, and finds the model
    const tagged = await registry.searchRegisteredModels({ filter: "tags.team = 'fraud'" });
    expect(tagged.registered_models.map((m) => m.name)).toEqual(['legacy']);
    const upgraded = (await store.get({ kind: 'model', modelId: 'old1' })) as Head;
    expect(upgraded.tags).toEqual({ team: 'fraud' });
    expect(upgraded.latest).toEqual({ None: 37, Staging: 40, Production: 38, Archived: 34 });
    expect(upgraded.maxVersion).toBe(40);
    // the 35 non-active entries were moved onto their versions; the head keeps the active two
    expect(Object.keys(upgraded.stages).sort()).toEqual(['38', '40']);
    expect((await store.get({ kind: 'modelVersion', modelId: 'old1', version: 12 }))!.stage).toBe('Archived');
    expect((await registry.getModelVersion({ name: 'legacy', version: 39 }).catch((e: MlflowError) => e.errorCode))).toBe(
      'RESOURCE_DOES_NOT_EXIST',
    );
    // and the upgraded model keeps working: moves, new versions, latest versions
    await registry.transitionStage({ name: 'legacy', version: 30, stage: 'Production', archiveExistingVersions: true });
    await registry.createModelVersion({ name: 'legacy', source: 's3://b/legacy/41' });
    const latest = await registry.getLatestVersions({ name: 'legacy' });
    expect(latest.map((v) => `${v.current_stage}:${v.version}`).sort()).toEqual([
      'Archived:38',
      'None:41',
      'Production:30',
      'Staging:40',
    ]);
  });
});

describe('runs searched through the metric index (DynamoDB adapter on dynalite)', () => {
  it('fails if a metric range search answers other runs than a search reading every run, or misses a legacy record', async () => {
    // prepare: 24 runs with rmse i % 8 / 4 (ties, a negative zero), 4 without it, one deleted; then
    // one run's latest metric rewritten as older code stored it (no experimentId)
    const store = new DynamoRegistryStore(api.dynamo.client, await api.dynamo.newTable());
    const { tracking } = createRegistryServices({ store, events: new RecordingPublisher(), artifactsBucket: 'a' });
    const experimentId = await tracking.createExperiment({ name: 'metric-index' });
    const values = new Map<string, number>();
    for (let i = 0; i < 28; i++) {
      const run = await tracking.createRun({ experimentId, startTime: 1000 + i });
      const runId = run.info.run_id;
      if (i < 24) {
        const value = i === 0 ? -0 : ((i % 8) - 2) / 4;
        await tracking.logMetric({ runId, key: 'rmse', value: value + 5, timestamp: 1, step: 0 });
        await tracking.logMetric({ runId, key: 'rmse', value, timestamp: 2, step: 1 });
        values.set(runId, value);
      }
      if (i === 5) await tracking.deleteRun(runId);
    }
    const deleted = [...values.keys()][5]!;
    const legacy = [...values.keys()][9]!;
    const latest = { kind: 'runLatestMetric', runId: legacy, key: 'rmse' } as const;
    const { experimentId: _dropped, ...asOlderCodeWrote } = (await store.get(latest))!;
    await store.put(latest, asOlderCodeWrote);
    // act + assess: every indexed operator at values on, between and beyond the stored ones
    for (const op of ['<', '<=', '>', '>=', '='] as const) {
      for (const at of [-1, -0.5, -0.3, 0, 0.25, 1.25, 2]) {
        const found = await tracking.searchRuns({ experimentIds: [experimentId], filter: `metrics.rmse ${op} ${at}` });
        const expected = [...values]
          .filter(([runId, v]) => runId !== deleted && { '<': v < at, '<=': v <= at, '>': v > at, '>=': v >= at, '=': v === at }[op])
          .map(([runId]) => runId)
          .sort();
        expect(found.runs.map((r) => r.info.run_id).sort(), `metrics.rmse ${op} ${at}`).toEqual(expected);
      }
    }
    // ordered by the metric, combined with another clause, paged with offset tokens
    const ordered = await tracking.searchRuns({
      experimentIds: [experimentId],
      filter: "metrics.rmse >= 0 AND attributes.status = 'RUNNING'",
      orderBy: ['metrics.rmse DESC'],
      maxResults: 5,
    });
    expect(ordered.runs).toHaveLength(5);
    expect(ordered.runs.map((r) => r.data.metrics!.find((m) => m.key === 'rmse')!.value)).toEqual([1.25, 1.25, 1.25, 1, 1]);
    expect(ordered.next_page_token).toBeDefined();
  });
});

describe('model versions searched through the version tag index (DynamoDB adapter on dynalite)', () => {
  it('fails if a version tag filter misses a version, answers a stale entry, or misses a legacy tag', async () => {
    // prepare: two models; tags set at creation and later; one deleted, one changed; one legacy
    // version whose tag has no index entry (as older code wrote it)
    const store = new DynamoRegistryStore(api.dynamo.client, await api.dynamo.newTable());
    const registry = new ModelRegistry({ store, events: new RecordingPublisher() });
    for (const name of ['alpha', 'beta']) {
      await registry.createRegisteredModel({ name });
      for (let i = 1; i <= 4; i++) {
        await registry.createModelVersion({ name, source: `s3://b/${name}/${i}`, tags: i % 2 ? [{ key: 'qa', value: 'passed' }] : [] });
      }
    }
    await registry.setModelVersionTag({ name: 'alpha', version: 2, key: 'qa', value: 'passed' });
    await registry.setModelVersionTag({ name: 'beta', version: 3, key: 'qa', value: 'failed' });
    await registry.deleteModelVersion({ name: 'alpha', version: 3 });
    await registry.deleteModelVersionTag({ name: 'beta', version: 1, key: 'qa' });
    await registry.createRegisteredModel({ name: 'gamma' });
    const { modelId } = await headOf(store, 'gamma');
    await store.put({ kind: 'modelVersion', modelId, version: 1 }, { version: 1, createdAt: 1, updatedAt: 1, source: 's3://b/g/1', tags: { qa: 'passed' } });
    // act
    const found = await registry.searchModelVersions({ filter: "tags.qa = 'passed'" });
    // assess: name ascending, version descending, as MLflow orders them
    expect(found.model_versions.map((v) => `${v.name}:${v.version}`)).toEqual(['alpha:2', 'alpha:1', 'gamma:1']);
    const paged = await registry.searchModelVersions({ filter: "tags.qa = 'passed'", maxResults: 2 });
    expect(paged.model_versions).toHaveLength(2);
    const rest = await registry.searchModelVersions({ filter: "tags.qa = 'passed'", maxResults: 2, pageToken: paged.next_page_token });
    expect(rest.model_versions.map((v) => `${v.name}:${v.version}`)).toEqual(['gamma:1']);
  });
});
