/**
 * The serving core beyond the conformance cases: TTL and null statuses, the wine repo, offline
 * pushes through the local-directory OfflineWriter, and the 4xx answers for client mistakes.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineRepo } from '../../lib/features/definitions';
import { FeastError, FeatureServerError, RequestValidationError } from '../../lib/features/errors';
import { DirectoryOfflineWriter } from '../../lib/features/offline-writer';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import {
  createFeatureServer,
  type FeatureServer,
  type GetOnlineFeaturesResponse,
  MAX_PUSH_ROWS,
} from '../../lib/features/serving';
import type { FeatureRepo } from '../../lib/features/types';
import { MAX_JOIN_KEY_BYTES } from '../../lib/features/values';
import { WINE_FEATURE_NAMES, wineRepo } from '../../lib/features/wine';
import { driverRepo, type LocalDynamo, removeScratchDirs, scratchDir, startDynalite } from './helpers';

const DAY = 86_400_000;
const T0 = Date.parse('2024-05-01T00:00:00Z');

let dynamo: LocalDynamo;
let tables = 0;
let clock = T0;

async function serverFor(repo: FeatureRepo): Promise<{ server: FeatureServer; lake: string }> {
  const tableName = `serving_${++tables}`;
  await dynamo.createOnlineTable(tableName);
  const lake = await scratchDir('lake');
  const server = createFeatureServer({
    repo,
    store: new DynamoDbOnlineStore({ client: dynamo.doc, tableName }),
    offline: new DirectoryOfflineWriter({ root: lake, prefix: 'features', now: () => new Date(clock) }),
    now: () => clock,
  });
  return { server, lake };
}

const column = (res: GetOnlineFeaturesResponse, name: string) =>
  res.results[res.metadata.feature_names.indexOf(name)]!;

/** Runs `act` and returns the FeatureServerError it throws. */
async function failure(act: () => Promise<unknown>): Promise<FeatureServerError> {
  try {
    await act();
  } catch (err) {
    if (err instanceof FeatureServerError) return err;
    throw err;
  }
  throw new Error('expected a FeatureServerError, but the call succeeded');
}

const driverPush = (over: Record<string, unknown[]> = {}, to = 'online') => ({
  push_source_name: 'driver_stats_push_source',
  to,
  df: {
    driver_id: [1],
    event_timestamp: [new Date(T0).toISOString()],
    conv_rate: [0.5],
    acc_rate: [0.25],
    avg_daily_trips: [10],
    ...over,
  },
});

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await removeScratchDirs();
  await dynamo?.close();
});

describe('statuses', () => {
  it('reports OUTSIDE_MAX_AGE once the TTL has passed, keeping value and timestamp (as Feast does)', async () => {
    // prepare: a row pushed at T0; the view's TTL is one day
    clock = T0;
    const { server } = await serverFor(driverRepo);
    await server.push(driverPush());
    const request = { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1] } };
    // act
    clock = T0 + DAY; // exactly at the TTL: still valid
    const fresh = await server.getOnlineFeatures(request);
    clock = T0 + DAY + 1;
    const stale = await server.getOnlineFeatures(request);
    // assess
    expect(column(fresh, 'conv_rate').statuses).toEqual(['PRESENT']);
    expect(column(stale, 'conv_rate')).toEqual({
      values: [0.5],
      statuses: ['OUTSIDE_MAX_AGE'],
      event_timestamps: ['2024-05-01T00:00:00Z'],
    });
  });

  it('reports NULL_VALUE for a pushed null, with the row timestamp', async () => {
    // prepare
    clock = T0;
    const { server } = await serverFor(driverRepo);
    await server.push(driverPush({ acc_rate: [null], event_timestamp: ['2024-04-30T12:00:00.250Z'] }));
    // act
    const res = await server.getOnlineFeatures({
      features: ['driver_hourly_stats:acc_rate', 'driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1] },
    });
    // assess
    expect(column(res, 'acc_rate')).toEqual({
      values: [null],
      statuses: ['NULL_VALUE'],
      event_timestamps: ['2024-04-30T12:00:00.250Z'],
    });
    expect(column(res, 'conv_rate').statuses).toEqual(['PRESENT']);
  });
});

describe('wine repo', () => {
  it('serves wine_quality_v1: wine_id then the 11 features, NOT_FOUND for unknown wines', async () => {
    // prepare: the first wine of the dataset, pushed
    clock = T0;
    const { server } = await serverFor(wineRepo);
    const first = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];
    await server.push({
      push_source_name: 'wine_push',
      df: {
        wine_id: [1],
        event_timestamp: ['2024-04-01 00:00:00'],
        ...Object.fromEntries(WINE_FEATURE_NAMES.map((f, i) => [f, [first[i]]])),
      },
    });
    // act
    const res = await server.getOnlineFeatures({
      feature_service: 'wine_quality_v1',
      entities: { wine_id: [1, 2] },
    });
    // assess
    expect(res.metadata.feature_names).toEqual(['wine_id', ...WINE_FEATURE_NAMES]);
    expect(res.results.slice(1).map((r) => r.values[0])).toEqual(first);
    expect(new Set(res.results.slice(1).map((r) => r.statuses[1]))).toEqual(new Set(['NOT_FOUND']));
  });
});

describe('push to offline', () => {
  it('appends JSON lines with lake timestamps to the push source batch table, and not online', async () => {
    // prepare
    clock = Date.parse('2024-05-02T03:04:05.678Z');
    const { server, lake } = await serverFor(driverRepo);
    // act
    const result = await server.push(
      driverPush(
        {
          driver_id: [1, 2],
          event_timestamp: ['2024-05-01 10:00:00+02:00', '2024-05-01T09:00:00Z'],
          conv_rate: [0.1, 0.2],
          acc_rate: [0.3, null],
          avg_daily_trips: [4, 5],
          ignored_column: ['x', 'y'],
        },
        'offline',
      ),
    );
    // assess
    // Both rows' event day (UTC) is 2024-05-01: one object in that dt= partition.
    expect(await readdir(join(lake, 'features', 'driver_stats_push'))).toEqual(['dt=2024-05-01']);
    const dir = join(lake, 'features', 'driver_stats_push', 'dt=2024-05-01');
    const files = await readdir(dir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^20240502T030405678Z-[0-9a-f-]{36}\.json$/);
    const lines = (await readFile(join(dir, files[0]!), 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toEqual([
      {
        driver_id: 1,
        conv_rate: 0.1,
        acc_rate: 0.3,
        avg_daily_trips: 4,
        event_timestamp: '2024-05-01 08:00:00.000',
        created: '2024-05-02 03:04:05.678',
      },
      {
        driver_id: 2,
        conv_rate: 0.2,
        acc_rate: null,
        avg_daily_trips: 5,
        event_timestamp: '2024-05-01 09:00:00.000',
        created: '2024-05-02 03:04:05.678',
      },
    ]);
    expect(result.onlineWritten).toBe(0);
    const online = await server.getOnlineFeatures({
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1] },
    });
    expect(column(online, 'conv_rate').statuses).toEqual(['NOT_FOUND']);
  });

  it('online_and_offline writes both', async () => {
    // prepare
    clock = T0;
    const { server, lake } = await serverFor(driverRepo);
    // act
    const result = await server.push(driverPush({}, 'online_and_offline'));
    // assess
    expect(result.onlineWritten).toBe(1);
    expect(await readdir(join(lake, 'features', 'driver_stats_push'))).toHaveLength(1);
  });
});

describe('client mistakes', () => {
  const twoViews = defineRepo({
    project: 'p',
    entities: [{ name: 'driver', joinKey: 'driver_id', valueType: 'INT64' }],
    featureViews: ['a', 'b'].map((name) => ({
      name,
      entities: ['driver'],
      ttlSeconds: 0,
      features: [{ name: 'rate', dtype: 'FLOAT' as const }],
      source: {
        database: 'lake',
        table: name,
        location: name,
        format: 'parquet' as const,
        timestampField: 'ts',
      },
    })),
  });

  it('rejects bare feature names colliding across views with FeatureNameCollisionError (400)', async () => {
    const { server } = await serverFor(twoViews);
    const err = await failure(() =>
      server.getOnlineFeatures({ features: ['a:rate', 'b:rate'], entities: { driver_id: [1] } }),
    );
    expect(err).toBeInstanceOf(FeastError);
    expect(err.status).toBe(400);
    expect((err as FeastError).className).toBe('FeatureNameCollisionError');
    // full names resolve it
    const res = await server.getOnlineFeatures({
      features: ['a:rate', 'b:rate'],
      entities: { driver_id: [1] },
      full_feature_names: true,
    });
    expect(res.metadata.feature_names).toEqual(['driver_id', 'a__rate', 'b__rate']);
  });

  it.each([
    [
      'unknown feature of a known view',
      { features: ['driver_hourly_stats:nope'], entities: { driver_id: [1] } },
      404,
      'FeastObjectNotFoundException',
    ],
    [
      'malformed feature ref',
      { features: ['conv_rate'], entities: { driver_id: [1] } },
      422,
      'body.features.0',
    ],
    [
      'missing join key',
      { features: ['driver_hourly_stats:conv_rate'], entities: { other: [1] } },
      422,
      'body.entities.driver_id',
    ],
    [
      'ragged entity columns',
      { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1, 2], other: [1] } },
      422,
      'body.entities.other',
    ],
    [
      'null join key',
      { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [null] } },
      422,
      'body.entities.driver_id.0',
    ],
    [
      'float join key',
      { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1.5] } },
      422,
      'body.entities.driver_id.0',
    ],
  ])('lookup: %s → %i', async (_name, request, status, where) => {
    const { server } = await serverFor(driverRepo);
    const err = await failure(() => server.getOnlineFeatures(request as never));
    expect(err.status).toBe(status);
    if (err instanceof RequestValidationError)
      expect(err.issues.map((i) => i.loc.join('.'))).toContain(where);
    else expect((err as FeastError).className).toBe(where);
  });

  it.each([
    ['missing feature column', { avg_daily_trips: undefined as never }, 'body.df.avg_daily_trips'],
    ['unparseable timestamp', { event_timestamp: ['yesterday'] }, 'body.df.event_timestamp.0'],
    ['string in a FLOAT column', { conv_rate: ['0.5'] }, 'body.df.conv_rate.0'],
    ['ragged columns', { conv_rate: [0.5, 0.6] }, 'body.df.conv_rate'],
  ])('push: %s → 422', async (_name, over, where) => {
    const { server } = await serverFor(driverRepo);
    const request = driverPush(over as Record<string, unknown[]>);
    request.df = Object.fromEntries(
      Object.entries(request.df).filter(([, v]) => v !== undefined),
    ) as typeof request.df;
    const err = await failure(() => server.push(request));
    expect(err.status).toBe(422);
    expect((err as RequestValidationError).issues.map((i) => i.loc.join('.'))).toContain(where);
  });
});

describe('push limits: all rows or none', () => {
  const rows = (n: number, over: Partial<Record<string, (i: number) => unknown>> = {}) => {
    const make = (name: string, f: (i: number) => unknown) => Array.from({ length: n }, (_, i) => (over[name] ?? f)(i));
    return {
      push_source_name: 'driver_stats_push_source',
      to: 'online_and_offline',
      df: {
        driver_id: make('driver_id', (i) => i + 1),
        event_timestamp: make('event_timestamp', () => new Date(T0).toISOString()),
        conv_rate: make('conv_rate', () => 0.5),
        acc_rate: make('acc_rate', () => 0.25),
        avg_daily_trips: make('avg_daily_trips', () => 10),
      },
    };
  };

  it(`writes a push of exactly MAX_PUSH_ROWS (${MAX_PUSH_ROWS}) rows whole`, async () => {
    // prepare
    clock = T0;
    const { server } = await serverFor(driverRepo);
    // act
    const result = await server.push(rows(MAX_PUSH_ROWS));
    // assess
    expect(result.onlineWritten).toBe(MAX_PUSH_ROWS);
  });

  it('refuses one row more with 413 in FastAPI’s shape, and writes nothing online or offline', async () => {
    // prepare
    clock = T0;
    const { server, lake } = await serverFor(driverRepo);
    // act
    const err = await failure(() => server.push(rows(MAX_PUSH_ROWS + 1)));
    // assess
    expect(err.status).toBe(413);
    expect((err as RequestValidationError).issues[0]).toMatchObject({
      type: 'too_long',
      loc: ['body', 'df', 'driver_id'],
      msg: expect.stringMatching(/^List should have at most 1000 items after validation, not 1001/),
    });
    const lookup = await server.getOnlineFeatures({
      features: ['driver_hourly_stats:conv_rate'],
      entities: { driver_id: [1, 1001] },
    });
    expect(column(lookup, 'conv_rate').statuses).toEqual(['NOT_FOUND', 'NOT_FOUND']);
    await expect(readdir(join(lake, 'features'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses an offline push older than the first partition day with 422, writing nothing online or offline', async () => {
    // prepare
    clock = T0;
    const { server, lake } = await serverFor(driverRepo);
    // act
    const err = await failure(() =>
      server.push(
        driverPush(
          {
            driver_id: [1, 2],
            event_timestamp: ['2024-05-01T09:00:00Z', '1999-12-31T23:00:00Z'],
            conv_rate: [0.1, 0.2],
            acc_rate: [0.3, 0.4],
            avg_daily_trips: [4, 5],
          },
          'online_and_offline',
        ),
      ),
    );
    // assess
    expect(err.status).toBe(422);
    expect((err as RequestValidationError).issues).toMatchObject([
      { loc: ['body', 'df', 'event_timestamp', 1], msg: expect.stringMatching(/on or after 2000-01-01 for the offline store/) },
    ]);
    const lookup = await server.getOnlineFeatures({ features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1] } });
    expect(column(lookup, 'conv_rate').statuses).toEqual(['NOT_FOUND']);
    await expect(readdir(join(lake, 'features'))).rejects.toThrow(/ENOENT/);
  });

  it('refuses an unsupported `to` with 422 literal_error before anything else', async () => {
    const { server } = await serverFor(driverRepo);
    const err = await failure(() => server.push({ ...driverPush(), to: 'junk' }));
    expect(err.status).toBe(422);
    expect(JSON.parse(err.body())).toEqual({
      detail: [
        {
          type: 'literal_error',
          loc: ['body', 'to'],
          msg: "Input should be 'online', 'offline' or 'online_and_offline'",
          input: 'junk',
          ctx: { expected: "'online', 'offline' or 'online_and_offline'" },
        },
      ],
    });
  });
});

describe('string join keys: the online store key limit', () => {
  const userRepo = defineRepo({
    project: 'users',
    entities: [{ name: 'user', joinKey: 'user_id', valueType: 'STRING' }],
    featureViews: [
      {
        name: 'user_stats',
        entities: ['user'],
        ttlSeconds: 0,
        features: [{ name: 'score', dtype: 'FLOAT' }],
        source: { database: 'lake', table: 'u', location: 'u', format: 'json', timestampField: 'ts' },
        pushSource: 'user_push',
      },
    ],
    pushSources: [
      {
        name: 'user_push',
        batchSource: { database: 'lake', table: 'u_push', location: 'u_push', format: 'json', timestampField: 'ts' },
      },
    ],
  });
  const long = 'u'.repeat(3000);

  it('refuses a lookup with a join key over MAX_JOIN_KEY_BYTES with 422, not a DynamoDB 500', async () => {
    const { server } = await serverFor(userRepo);
    const err = await failure(() =>
      server.getOnlineFeatures({ features: ['user_stats:score'], entities: { user_id: ['ok', long] } }),
    );
    expect(err.status).toBe(422);
    expect((err as RequestValidationError).issues).toMatchObject([
      { type: 'string_too_long', loc: ['body', 'entities', 'user_id', 1] },
    ]);
  });

  it('refuses such a push with 422 and writes none of its rows', async () => {
    const { server } = await serverFor(userRepo);
    const at = new Date(T0).toISOString();
    const err = await failure(() =>
      server.push({ push_source_name: 'user_push', df: { user_id: ['ok', long], ts: [at, at], score: [1, 2] } }),
    );
    expect(err.status).toBe(422);
    const lookup = await server.getOnlineFeatures({ features: ['user_stats:score'], entities: { user_id: ['ok'] } });
    expect(column(lookup, 'score').statuses).toEqual(['NOT_FOUND']);
    // a key right at the limit is served
    const edge = 'e'.repeat(MAX_JOIN_KEY_BYTES);
    await server.push({ push_source_name: 'user_push', df: { user_id: [edge], ts: [at], score: [3] } });
    const found = await server.getOnlineFeatures({ features: ['user_stats:score'], entities: { user_id: [edge] } });
    expect(column(found, 'score').statuses).toEqual(['PRESENT']);
  });
});
