/**
 * The HTTP adapter: every route answers malformed, empty, oversized and wrong-typed input with a
 * 4xx in Feast's (FastAPI's) error shape, never a 5xx; and the Lambda module wires it to real
 * clients from its environment.
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { s3Objects } from '../../lib/adapters/s3/objects';
import { createFeatureHttpHandler, MAX_BODY_BYTES, type ProxyHandler } from '../../lib/features/http';
import { DirectoryOfflineWriter, S3OfflineWriter } from '../../lib/features/offline-writer';
import { createFeatureServer } from '../../lib/features/serving';
import { WINE_FEATURE_NAMES, winePush } from '../../lib/features/wine';
import {
  apiEvent,
  CREDENTIALS,
  driverRepo,
  type LocalDynamo,
  removeScratchDirs,
  scratchDir,
  startDynalite,
} from './helpers';

let dynamo: LocalDynamo;
let handle: ProxyHandler;
const internalErrors: unknown[] = [];

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createOnlineTable('online');
  handle = createFeatureHttpHandler(
    createFeatureServer({
      repo: driverRepo,
      store: new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'online' }),
      offline: new DirectoryOfflineWriter({ root: await scratchDir('http') }),
    }),
    { onInternalError: (err) => internalErrors.push(err) },
  );
});
afterAll(async () => {
  await removeScratchDirs();
  await dynamo?.close();
});

/**
 * Feast's error bodies: FastAPI's `{"detail": [issues]}` / `{"detail": "Not Found"}`, or a
 * FeastError's JSON string holding `{module, class, message}`.
 */
function expectFeastErrorShape(body: string) {
  const parsed = JSON.parse(body);
  if (typeof parsed === 'string') {
    expect(Object.keys(JSON.parse(parsed))).toEqual(['module', 'class', 'message']);
    return;
  }
  expect(Object.keys(parsed)).toEqual(['detail']);
  if (Array.isArray(parsed.detail)) {
    expect(parsed.detail.length).toBeGreaterThan(0);
    for (const issue of parsed.detail) {
      expect(issue).toEqual(
        expect.objectContaining({
          type: expect.any(String),
          loc: expect.any(Array),
          msg: expect.any(String),
        }),
      );
      expect(issue.loc[0]).toBe('body');
    }
  } else {
    expect(typeof parsed.detail).toBe('string');
  }
}

const oversized = JSON.stringify({ entities: { driver_id: [1] }, features: ['x'.repeat(MAX_BODY_BYTES)] });

describe.each(['/get-online-features', '/push'])('POST %s with bad input', (path) => {
  it.each([
    ['malformed JSON', 422, '{"features": ['],
    ['truncated JSON', 422, '{'],
    ['empty body', 422, ''],
    ['whitespace body', 422, '   '],
    ['no body', 422, null],
    ['oversized body', 413, oversized],
    ['JSON array', 422, '[1, 2]'],
    ['JSON string', 422, '"hello"'],
    ['JSON null', 422, 'null'],
    ['number', 422, '42'],
    ['empty object', 422, '{}'],
    ['wrong-typed fields', 422, '{"entities": "x", "features": 1, "push_source_name": 3, "df": [], "to": 7}'],
    ['nested wrong types', 422, '{"entities": {"driver_id": "1"}, "push_source_name": "p", "df": {"a": 1}}'],
  ])('%s → %i in the Feast error shape', async (_name, status, body) => {
    // act
    const res = await handle(apiEvent('POST', path, body));
    // assess
    expect(res.statusCode).toBe(status);
    expectFeastErrorShape(res.body);
  });

  it('accepts a base64-encoded body (binary media types)', async () => {
    const body =
      path === '/push'
        ? {
            push_source_name: 'driver_stats_push_source',
            df: { driver_id: [], event_timestamp: [], conv_rate: [], acc_rate: [], avg_daily_trips: [] },
            to: 'online',
          }
        : { features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1] } };
    const res = await handle(
      apiEvent('POST', path, Buffer.from(JSON.stringify(body)).toString('base64'), { isBase64Encoded: true }),
    );
    expect(res.statusCode).toBe(200);
  });

  it('answers a wrong method with 405 {"detail": "Method Not Allowed"}', async () => {
    const res = await handle(apiEvent('GET', path));
    expect(res.statusCode).toBe(405);
    expect(JSON.parse(res.body)).toEqual({ detail: 'Method Not Allowed' });
  });
});

describe('GET /health with bad input', () => {
  it.each([
    ['POST with a body', 405, 'POST', '{"x":'],
    ['PUT', 405, 'PUT', null],
    ['DELETE', 405, 'DELETE', null],
  ])('%s → %i in the Feast error shape', async (_name, status, method, body) => {
    const res = await handle(apiEvent(method, '/health', body));
    expect(res.statusCode).toBe(status);
    expectFeastErrorShape(res.body);
  });

  it('ignores a body on GET (health takes none)', async () => {
    const res = await handle(apiEvent('GET', '/health', '{"x":'));
    expect(res.statusCode).toBe(200);
  });

  it('routes with the stage in the path and a trailing slash', async () => {
    const res = await handle(apiEvent('GET', '/prod/health/'));
    expect(res.statusCode).toBe(200);
  });
});

describe('unknown routes and internal errors', () => {
  it('answers an unknown path with 404 {"detail": "Not Found"}', async () => {
    const res = await handle(apiEvent('POST', '/materialize', '{}'));
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body)).toEqual({ detail: 'Not Found' });
  });

  it('answers a failing dependency with 500 (a JSON string, as Feast) and reports it', async () => {
    // prepare: a table that does not exist is a server fault, not the client's
    const broken = createFeatureHttpHandler(
      createFeatureServer({
        repo: driverRepo,
        store: new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'missing', maxAttempts: 1 }),
        offline: new DirectoryOfflineWriter({ root: await scratchDir('http-broken') }),
      }),
      { onInternalError: (err) => internalErrors.push(err) },
    );
    const before = internalErrors.length;
    // act
    const res = await broken(
      apiEvent(
        'POST',
        '/get-online-features',
        JSON.stringify({ features: ['driver_hourly_stats:conv_rate'], entities: { driver_id: [1] } }),
      ),
    );
    // assess
    expect(res.statusCode).toBe(500);
    expect(typeof JSON.parse(res.body)).toBe('string');
    expect(internalErrors.length).toBe(before + 1);
  });
});

describe('S3OfflineWriter', () => {
  it('puts one JSON-lines object per event day under <prefix>/<location>/dt=<day>/', async () => {
    // prepare: no local S3 engine in this suite, so the client is stubbed at its edge (send)
    const sent: PutObjectCommand[] = [];
    const client = { send: async (c: PutObjectCommand) => (sent.push(c), {}) } as unknown as S3Client;
    const writer = new S3OfflineWriter({
      objects: s3Objects(client),
      bucket: 'lake',
      prefix: 'features/',
      now: () => new Date(0),
    });
    const at = (day: string) => `${day} 12:00:00.000`;
    // act
    const result = await writer.append(winePush.batchSource, [
      { wine_id: 1, event_timestamp: at('2024-05-02') },
      { wine_id: 2, event_timestamp: at('2024-05-01') },
      { wine_id: 3, event_timestamp: at('2024-05-02') },
    ]);
    // assess
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBeInstanceOf(PutObjectCommand);
    const [first, second] = sent.map((c) => c.input);
    expect(first!.Bucket).toBe('lake');
    expect(first!.Key).toMatch(/^features\/wine_features_push\/dt=2024-05-01\/19700101T000000000Z-[0-9a-f-]{36}\.json$/);
    expect(second!.Key).toMatch(/^features\/wine_features_push\/dt=2024-05-02\/19700101T000000000Z-[0-9a-f-]{36}\.json$/);
    expect(first!.Body).toBe(`{"wine_id":2,"event_timestamp":"${at('2024-05-01')}"}\n`);
    expect(second!.Body).toBe(
      `{"wine_id":1,"event_timestamp":"${at('2024-05-02')}"}\n{"wine_id":3,"event_timestamp":"${at('2024-05-02')}"}\n`,
    );
    expect(result).toEqual({
      uri: `s3://lake/${first!.Key}`,
      uris: [`s3://lake/${first!.Key}`, `s3://lake/${second!.Key}`],
      rows: 3,
    });
  });

  it.each([
    ['without a timestamp', { wine_id: 1 }, /row 2 of an append to wine_features_push: event_timestamp undefined is not a timestamp/],
    ['before the first partition day', { wine_id: 1, event_timestamp: '1999-12-31 23:59:59.000' }, /is before 2000-01-01/],
  ])('fails if a row is %s, writing nothing', async (_, row, message) => {
    const sent: PutObjectCommand[] = [];
    const client = { send: async (c: PutObjectCommand) => (sent.push(c), {}) } as unknown as S3Client;
    const writer = new S3OfflineWriter({ objects: s3Objects(client), bucket: 'lake' });
    await expect(writer.append(winePush.batchSource, [{ wine_id: 2, event_timestamp: '2024-05-01 00:00:00.000' }, row])).rejects.toThrow(message);
    expect(sent).toHaveLength(0);
  });
});

describe('lambdas/features.ts', () => {
  it('fails at import when ONLINE_TABLE_NAME is missing', async () => {
    vi.resetModules();
    vi.stubEnv('ONLINE_TABLE_NAME', '');
    vi.stubEnv('OFFLINE_BUCKET', 'lake');
    await expect(import('../../lambdas/features')).rejects.toThrow(/ONLINE_TABLE_NAME/);
    vi.unstubAllEnvs();
  });

  it('serves the wine repo from the table named in its environment, via AWS_ENDPOINT_URL_DYNAMODB', async () => {
    // prepare
    await dynamo.createOnlineTable('wine_online');
    vi.resetModules();
    vi.stubEnv('ONLINE_TABLE_NAME', 'wine_online');
    vi.stubEnv('OFFLINE_BUCKET', 'lake');
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    try {
      const { handler } = await import('../../lambdas/features');
      const features = WINE_FEATURE_NAMES;
      // act
      const pushed = await handler(
        apiEvent(
          'POST',
          '/push',
          JSON.stringify({
            push_source_name: 'wine_push',
            df: {
              wine_id: [3],
              event_timestamp: [new Date().toISOString()],
              ...Object.fromEntries(features.map((f, i) => [f, [i]])),
            },
          }),
        ),
      );
      const read = await handler(
        apiEvent(
          'POST',
          '/get-online-features',
          JSON.stringify({ feature_service: 'wine_quality_v1', entities: { wine_id: [3] } }),
        ),
      );
      // assess
      expect(pushed.statusCode).toBe(200);
      expect(read.statusCode).toBe(200);
      const body = JSON.parse(read.body);
      expect(body.results[body.metadata.feature_names.indexOf('alcohol')]).toMatchObject({
        values: [10],
        statuses: ['PRESENT'],
      });
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
