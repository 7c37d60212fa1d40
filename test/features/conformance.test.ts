/**
 * Feast feature-server conformance cases (/work/shared/specs/feast-feature-server.md §7) through
 * the API Gateway handler, against dynalite. Definitions mirror Feast's `driver_hourly_stats`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFeatureHttpHandler, type ProxyHandler } from '../../lib/features/http';
import { DirectoryOfflineWriter } from '../../lib/features/offline-writer';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { createFeatureServer, type GetOnlineFeaturesResponse } from '../../lib/features/serving';
import {
  apiEvent,
  driverRepo,
  type LocalDynamo,
  removeScratchDirs,
  scratchDir,
  startDynalite,
} from './helpers';

const NOW = Date.parse('2022-01-01T00:00:00Z');
const SEEDED = {
  1001: [0.70372635, 0.87247068, 308],
  1002: [0.0381696, 0.4853453, 332],
  1003: [0.9665873, 0.779377, 779],
};

let dynamo: LocalDynamo;
let handle: ProxyHandler;

const post = async (path: string, body: unknown) => {
  const res = await handle(apiEvent('POST', path, typeof body === 'string' ? body : JSON.stringify(body)));
  return { status: res.statusCode, body: res.body, json: () => JSON.parse(res.body) };
};
const vector = (res: GetOnlineFeaturesResponse, name: string) => {
  const i = res.metadata.feature_names.indexOf(name);
  expect(i, `${name} in ${res.metadata.feature_names}`).toBeGreaterThanOrEqual(0);
  return res.results[i]!;
};
/** Feast's FeastError body: a JSON string holding JSON. */
const feastError = (body: string) => JSON.parse(JSON.parse(body) as string) as Record<string, string>;

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createOnlineTable('online');
  const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'online' });
  const server = createFeatureServer({
    repo: driverRepo,
    store,
    offline: new DirectoryOfflineWriter({ root: await scratchDir('conformance') }),
    now: () => NOW,
  });
  handle = createFeatureHttpHandler(server);
  // Seed through the public push route, as Feast's materialization would have loaded them.
  const ids = Object.keys(SEEDED).map(Number);
  const rows = Object.values(SEEDED);
  const seeded = await post('/push', {
    push_source_name: 'driver_stats_push_source',
    df: {
      driver_id: ids,
      event_timestamp: ids.map(() => '2021-12-31 23:00:00+00:00'),
      created: ids.map(() => '2021-12-31 23:00:00+00:00'),
      conv_rate: rows.map((r) => r[0]),
      acc_rate: rows.map((r) => r[1]),
      avg_daily_trips: rows.map((r) => r[2]),
    },
  });
  expect(seeded.status).toBe(200);
});

afterAll(async () => {
  await removeScratchDirs();
  await dynamo?.close();
});

describe('Feast conformance', () => {
  it('1. basic lookup: entity column first, column-oriented vectors', async () => {
    // act
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate'],
      entities: { driver_id: [1001, 1002] },
    });
    // assess
    expect(res.status).toBe(200);
    const body = res.json() as GetOnlineFeaturesResponse;
    expect(body.metadata.feature_names[0]).toBe('driver_id');
    expect(new Set(body.metadata.feature_names)).toEqual(new Set(['driver_id', 'conv_rate', 'acc_rate']));
    expect(body.results).toHaveLength(3);
    for (const r of body.results) {
      expect(r.values).toHaveLength(2);
      expect(r.statuses).toHaveLength(2);
    }
    expect(vector(body, 'driver_id')).toEqual({
      values: [1001, 1002],
      statuses: ['PRESENT', 'PRESENT'],
      event_timestamps: ['1970-01-01T00:00:00Z', '1970-01-01T00:00:00Z'],
    });
    expect(vector(body, 'conv_rate')).toEqual({
      values: [SEEDED[1001][0], SEEDED[1002][0]],
      statuses: ['PRESENT', 'PRESENT'],
      event_timestamps: ['2021-12-31T23:00:00Z', '2021-12-31T23:00:00Z'],
    });
    expect(vector(body, 'acc_rate').values).toEqual([SEEDED[1001][1], SEEDED[1002][1]]);
  });

  it('2. feature service: join key and all three features, one row', async () => {
    const res = await post('/get-online-features', {
      feature_service: 'driver_activity',
      entities: { driver_id: [1001] },
    });
    expect(res.status).toBe(200);
    const body = res.json() as GetOnlineFeaturesResponse;
    expect(body.metadata.feature_names).toEqual(['driver_id', 'conv_rate', 'acc_rate', 'avg_daily_trips']);
    expect(body.results).toHaveLength(4);
    for (const r of body.results) expect(r.values).toHaveLength(1);
    expect(vector(body, 'avg_daily_trips').values).toEqual([308]);
  });

  it('3. full feature names: view__feature, join key unprefixed', async () => {
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate'],
      entities: { driver_id: [1001, 1002] },
      full_feature_names: true,
    });
    expect(res.status).toBe(200);
    expect(new Set((res.json() as GetOnlineFeaturesResponse).metadata.feature_names)).toEqual(
      new Set(['driver_id', 'driver_hourly_stats__conv_rate', 'driver_hourly_stats__acc_rate']),
    );
  });

  it('4. entity not found: null, NOT_FOUND, zero timestamp', async () => {
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1001, 999999] },
    });
    expect(res.status).toBe(200);
    const body = res.json() as GetOnlineFeaturesResponse;
    const conv = vector(body, 'conv_rate');
    expect(conv.values).toEqual([SEEDED[1001][0], null]);
    expect(conv.statuses).toEqual(['PRESENT', 'NOT_FOUND']);
    expect(conv.event_timestamps[1]).toBe('1970-01-01T00:00:00Z');
    expect(vector(body, 'driver_id')).toMatchObject({
      values: [1001, 999999],
      statuses: ['PRESENT', 'PRESENT'],
    });
  });

  it('5. feature view not found: 404, FeatureViewNotFoundException as a JSON string', async () => {
    const res = await post('/get-online-features', {
      features: ['nope:conv_rate'],
      entities: { driver_id: [1001] },
    });
    expect(res.status).toBe(404);
    expect(typeof JSON.parse(res.body)).toBe('string');
    expect(feastError(res.body)).toEqual({
      module: 'feast.errors',
      class: 'FeatureViewNotFoundException',
      message: 'Feature view nope does not exist in project driver_demo',
    });
    // Python's json.dumps spacing, so byte-level comparisons with Feast match too.
    expect(JSON.parse(res.body)).toMatch(/^\{"module": "feast\.errors", "class": /);
  });

  it('6. feature service not found: 404', async () => {
    const res = await post('/get-online-features', {
      feature_service: 'nope',
      entities: { driver_id: [1001] },
    });
    expect(res.status).toBe(404);
    expect(feastError(res.body)).toMatchObject({
      class: 'FeatureServiceNotFoundException',
      message: 'Feature service nope does not exist in project driver_demo',
    });
  });

  it('7. no features: 500 with the JSON string Feast gives', async () => {
    const res = await post('/get-online-features', { entities: { driver_id: [1001] } });
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toBe('No features specified for retrieval');
  });

  it('8. bad JSON and a missing entities field: 422 detail', async () => {
    const broken = await post('/get-online-features', '{"features": [');
    expect(broken.status).toBe(422);
    expect(broken.json().detail).toBeInstanceOf(Array);
    const missing = await post('/get-online-features', { features: ['driver_hourly_stats:conv_rate'] });
    expect(missing.status).toBe(422);
    expect(missing.json().detail[0].loc.at(-1)).toBe('entities');
  });

  it('9. wrong types: 422', async () => {
    const res = await post('/get-online-features', {
      features: 'driver_hourly_stats:conv_rate',
      entities: { driver_id: 1001 },
    });
    expect(res.status).toBe(422);
    const locs = (res.json().detail as { loc: string[] }[]).map((d) => d.loc.join('.'));
    expect(locs).toEqual(expect.arrayContaining(['body.features', 'body.entities.driver_id']));
  });

  it('10. empty batch: 200 with empty vectors', async () => {
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [] },
    });
    expect(res.status).toBe(200);
    const body = res.json() as GetOnlineFeaturesResponse;
    expect(body.metadata.feature_names).toEqual(['driver_id', 'conv_rate']);
    for (const r of body.results) expect(r.values).toEqual([]);
  });

  it('11. large batch: 5,000 ids in request order, duplicates repeated', async () => {
    // prepare: a mix of seeded ids, missing ids and repeats
    const ids = Array.from({ length: 5000 }, (_, i) => (i % 5 === 0 ? 1001 + (i % 3) : 2_000_000 + i));
    // act
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: ids },
    });
    // assess
    expect(res.status).toBe(200);
    const body = res.json() as GetOnlineFeaturesResponse;
    for (const r of body.results) expect(r.values).toHaveLength(5000);
    const conv = vector(body, 'conv_rate');
    expect(new Set(conv.statuses)).toEqual(new Set(['PRESENT', 'NOT_FOUND']));
    ids.forEach((id, j) => {
      const seeded = SEEDED[id as keyof typeof SEEDED];
      expect(conv.values[j]).toBe(seeded ? seeded[0] : null);
      expect(conv.statuses[j]).toBe(seeded ? 'PRESENT' : 'NOT_FOUND');
    });
    expect(vector(body, 'driver_id').values).toEqual(ids);
  });

  it('12. mixed entity types: 422 naming the bad value, never a silent mis-join', async () => {
    const res = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1001, '1002'] },
    });
    expect(res.status).toBe(422);
    expect(res.json().detail).toEqual([
      {
        type: 'int_type',
        loc: ['body', 'entities', 'driver_id', 1],
        msg: 'Input should be a valid integer',
        input: '1002',
      },
    ]);
  });

  it('13. push then read: the pushed row is served', async () => {
    const pushed = await post('/push', {
      push_source_name: 'driver_stats_push_source',
      df: {
        driver_id: [1004],
        event_timestamp: ['2021-12-31 10:59:42+00:00'],
        created: ['2021-12-31 10:59:42+00:00'],
        conv_rate: [0.5],
        acc_rate: [0.25],
        avg_daily_trips: [10],
      },
      to: 'online',
    });
    expect(pushed.status).toBe(200);
    expect(pushed.body).toBe('');
    const read = await post('/get-online-features', {
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1004] },
    });
    expect(vector(read.json(), 'conv_rate')).toEqual({
      values: [0.5],
      statuses: ['PRESENT'],
      event_timestamps: ['2021-12-31T10:59:42Z'],
    });
  });

  it('14. push errors: unknown source 422, unsupported `to` 422 (Feast: 500; see serving.ts)', async () => {
    const unknown = await post('/push', { push_source_name: 'nope', df: { driver_id: [1] }, to: 'online' });
    expect(unknown.status).toBe(422);
    expect(feastError(unknown.body)).toMatchObject({
      class: 'PushSourceNotFoundException',
      message: "Unable to find push source 'nope'.",
    });
    const badTo = await post('/push', {
      push_source_name: 'driver_stats_push_source',
      df: { driver_id: [1] },
      to: 'somewhere',
    });
    expect(badTo.status).toBe(422);
    expect(JSON.parse(badTo.body).detail[0]).toMatchObject({ type: 'literal_error', loc: ['body', 'to'], input: 'somewhere' });
  });

  it('15. health: 200, empty body', async () => {
    const res = await handle(apiEvent('GET', '/health'));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });
});
