/**
 * The read-only registry routes (`GET /api/v1/...`, Feast's registry REST shape) through the HTTP
 * adapter, with the materialization window read from the online table on dynalite as the
 * materialization machine's RecordWindow task writes it.
 */
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { createFeatureHttpHandler, type ProxyHandler } from '../../lib/features/http';
import { DirectoryOfflineWriter } from '../../lib/features/offline-writer';
import { createFeatureServer } from '../../lib/features/serving';
import { materializationRecordKey } from '../../lib/features/stack-support';
import { apiEvent, driverRepo, type LocalDynamo, removeScratchDirs, scratchDir, startDynalite } from './helpers';

let dynamo: LocalDynamo;
let handle: ProxyHandler;
let bare: ProxyHandler;

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createOnlineTable('online');
  const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'online' });
  const server = createFeatureServer({
    repo: driverRepo,
    store,
    offline: new DirectoryOfflineWriter({ root: await scratchDir('registry') }),
  });
  handle = createFeatureHttpHandler(server, { registry: { repo: driverRepo, log: store } });
  bare = createFeatureHttpHandler(server);
});
afterAll(async () => {
  await removeScratchDirs();
  await dynamo?.close();
});

const get = async (path: string, query: Record<string, string> | null = null, h = () => handle) => {
  const res = await h()(apiEvent('GET', path, null, { queryStringParameters: query }));
  return { status: res.statusCode, body: JSON.parse(res.body || 'null') };
};

describe('GET /api/v1 registry listings', () => {
  it('lists the project', async () => {
    const res = await get('/api/v1/projects');
    expect(res).toEqual({ status: 200, body: { projects: [{ spec: { name: 'driver_demo' }, meta: {} }], pagination: {} } });
  });

  it('lists entities with their join key and type', async () => {
    const res = await get('/api/v1/entities', { project: 'driver_demo' });
    expect(res.status).toBe(200);
    expect(res.body.entities).toEqual([
      { spec: { name: 'driver', valueType: 'INT64', joinKey: 'driver_id', project: 'driver_demo' }, meta: {} },
    ]);
  });

  it('lists a feature view with schema and TTL, and no interval before any materialization', async () => {
    const res = await get('/api/v1/feature_views', { project: 'driver_demo' });
    expect(res.status).toBe(200);
    const [{ featureView }] = res.body.featureViews;
    expect(featureView.spec).toMatchObject({
      name: 'driver_hourly_stats',
      entities: ['driver'],
      ttl: '86400s',
      online: true,
      entityColumns: [{ name: 'driver_id', valueType: 'INT64' }],
      features: [
        { name: 'conv_rate', valueType: 'FLOAT' },
        { name: 'acc_rate', valueType: 'FLOAT' },
        { name: 'avg_daily_trips', valueType: 'INT64' },
      ],
      batchSource: { name: 'driver_stats', timestampField: 'event_timestamp', createdTimestampColumn: 'created' },
    });
    expect(featureView.meta).toEqual({});
  });

  it("reports the view's last recorded materialization window", async () => {
    // prepare: the item RecordWindow writes (lib/constructs/materialization-steps.ts)
    await dynamo.doc.send(
      new PutCommand({
        TableName: 'online',
        Item: {
          pk: materializationRecordKey('driver_hourly_stats'),
          view: 'driver_hourly_stats',
          window_start: '2024-04-01T00:00:00.000Z',
          window_end: '2024-04-02T00:00:00.000Z',
          query_execution_id: 'q-1',
          rows_read: 3,
          written: 3,
        },
      }),
    );
    // act
    const res = await get('/api/v1/feature_views', { project: 'driver_demo' });
    // assess
    expect(res.body.featureViews[0].featureView.meta).toEqual({
      materializationIntervals: [{ startTime: '2024-04-01T00:00:00.000Z', endTime: '2024-04-02T00:00:00.000Z' }],
    });
  });

  it('lists feature services with the projected columns', async () => {
    const res = await get('/api/v1/feature_services', { project: 'driver_demo' });
    expect(res.status).toBe(200);
    expect(res.body.featureServices).toEqual([
      {
        spec: {
          name: 'driver_activity',
          project: 'driver_demo',
          features: [
            {
              featureViewName: 'driver_hourly_stats',
              featureColumns: [
                { name: 'conv_rate', valueType: 'FLOAT' },
                { name: 'acc_rate', valueType: 'FLOAT' },
                { name: 'avg_daily_trips', valueType: 'INT64' },
              ],
            },
          ],
        },
        meta: {},
      },
    ]);
  });

  it('lists nothing for an unknown project, as Feast does', async () => {
    for (const path of ['/api/v1/entities', '/api/v1/feature_views', '/api/v1/feature_services']) {
      const res = await get(path, { project: 'nope' });
      expect(res.status).toBe(200);
      expect(Object.values(res.body)[0]).toEqual([]);
    }
  });

  it.each(['/api/v1/entities', '/api/v1/feature_views', '/api/v1/feature_services'])(
    'fails with FastAPI 422 when %s lacks project',
    async (path) => {
      const res = await get(path);
      expect(res).toEqual({
        status: 422,
        body: { detail: [{ type: 'missing', loc: ['query', 'project'], msg: 'Field required', input: null }] },
      });
    },
  );

  it('answers 405 in FastAPI shape for a POST', async () => {
    const res = await handle(apiEvent('POST', '/api/v1/feature_views', '{}'));
    expect(res.statusCode).toBe(405);
    expect(JSON.parse(res.body)).toEqual({ detail: 'Method Not Allowed' });
  });

  it('is absent (404) when the handler is built without a registry', async () => {
    const res = await get('/api/v1/projects', null, () => bare);
    expect(res).toEqual({ status: 404, body: { detail: 'Not Found' } });
  });
});
