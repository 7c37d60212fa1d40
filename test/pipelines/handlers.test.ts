/**
 * The eleven Lambda handlers (lambdas/*.ts) driven as Lambda drives them: the real module, its
 * environment read once at import, then events. For each: a missing or malformed variable fails
 * the cold start naming it; a malformed, empty or wrong-typed event fails with the handler's own
 * error (or the protocol's error response for the HTTP handlers) naming the problem, and nothing
 * is written: the buckets, tables, registry and cluster the handler was pointed at are unchanged.
 * The engines are the local ones (S3 engine, dynalite); the registry and the Kubernetes API are
 * loopback servers that count the requests they receive.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { apiEvent, type LocalDynamo, startDynalite } from '../features/helpers';
import { type LocalDynamo as RegistryDynamo, startDynamo } from '../registry/support';
import type { AthenaEngine } from '../../lib/local/athena';
import { type AwsEndpoint, startAwsEndpoint } from '../../lib/local/aws-endpoint';
import { BUCKETS, type LocalS3, startLocalS3, startTestAthena, textTwinGlueTable, WINE_TABLE } from './helpers';

let s3: LocalS3;
let s3Endpoint: string;
let dynamo: LocalDynamo;
let registryDynamo: RegistryDynamo;
let registryTable: string;
/** Stands in for the MLflow registry and the Kubernetes API: answers 500 and counts. */
let recorder: Server;
let recorderUrl: string;
const recorded: string[] = [];
let athena: AthenaEngine;
let athenaEndpoint: AwsEndpoint;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await startLocalS3();
  athena = await startTestAthena(s3, 'mlops_test', [textTwinGlueTable('mlops_test', WINE_TABLE)]);
  athenaEndpoint = await startAwsEndpoint({
    services: {
      AmazonAthena: {
        StartQueryExecution: (i) => athena.startQueryExecution(i as never),
        GetQueryExecution: (i) => athena.getQueryExecution(i as never),
        GetQueryResults: (i) => athena.getQueryResults(i as never),
      },
    },
  });
  const { protocol, hostname, port } = await s3.client.config.endpoint!();
  s3Endpoint = `${protocol}//${hostname}:${port}`;
  await s3.objects.put(
    BUCKETS.raw,
    `${WINE_RAW_PREFIX}winequality-red.csv`,
    readFileSync(WINE_CSV_PATH),
    'text/csv',
  );
  dynamo = await startDynalite();
  await dynamo.createOnlineTable('online');
  registryDynamo = await startDynamo();
  registryTable = await registryDynamo.newTable();
  recorder = createServer((req, res) => {
    recorded.push(`${req.method} ${req.url}`);
    res.writeHead(500, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
  recorderUrl = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  process.env = saved;
  await athenaEndpoint.close();
  athena.close();
  await s3.close();
  await dynamo.close();
  await registryDynamo.stop();
  await new Promise<void>((r) => recorder.close(() => r()));
});

type Handler = (event: unknown) => Promise<unknown>;

/** Each handler, how to import it afresh, and a complete environment for it. */
const HANDLERS: Record<string, { load: () => Promise<{ handler: unknown }>; env: () => Record<string, string> }> = {
  'pipeline-validate': {
    load: () => import('../../lambdas/pipeline-validate'),
    env: () => ({
      LAKE_TABLES: JSON.stringify([WINE_TABLE]),
      LAKE_DATABASE: 'mlops_test',
      RAW_BUCKET: BUCKETS.raw,
      ARTIFACTS_BUCKET: BUCKETS.artifacts,
      FEATURES_LOCATION: `s3://${BUCKETS.curated}/features/`,
      FEATURE_STORE_LOCATION: `s3://${BUCKETS.curated}/features/`,
      TRAINING_LIMITS: JSON.stringify({ defaultInstanceType: 'm5.large', instanceTypes: ['m5.large', 'm5.xlarge'], maxInstanceCount: 1, maxVolumeSizeGb: 50 }),
      ATHENA_WORKGROUP: 'wg',
      // The validation aggregate: the local Athena engine behind the platform's AWS endpoint.
      AWS_ENDPOINT_URL_ATHENA: athenaEndpoint.url,
    }),
  },
  'pipeline-stage-data': {
    load: () => import('../../lambdas/pipeline-stage-data'),
    env: () => ({ SPLITS_BUCKET: BUCKETS.curated, ARTIFACTS_BUCKET: BUCKETS.artifacts }),
  },
  'pipeline-evaluate': {
    load: () => import('../../lambdas/pipeline-evaluate'),
    env: () => ({ ARTIFACTS_BUCKET: BUCKETS.artifacts, REGISTRY_URL: recorderUrl, REGISTRY_AUTH: 'none' }),
  },
  'pipeline-register': {
    load: () => import('../../lambdas/pipeline-register'),
    env: () => ({ REGISTRY_URL: recorderUrl, REGISTRY_AUTH: 'none', ARTIFACTS_BUCKET: BUCKETS.artifacts }),
  },
  'pipeline-batch-plan': {
    load: () => import('../../lambdas/pipeline-batch-plan'),
    env: () => ({
      LAKE_TABLES: JSON.stringify([WINE_TABLE]),
      LAKE_DATABASE: 'mlops_test',
      RAW_BUCKET: BUCKETS.raw,
      CURATED_BUCKET: BUCKETS.curated,
      ARTIFACTS_BUCKET: BUCKETS.artifacts,
      STAGING_TABLE: 'batch_staging',
      STAGING_LOCATION: `s3://${BUCKETS.curated}/staging/`,
      OUTPUT_PREFIX: 'predictions/',
    }),
  },
  'pipeline-batch-predict': {
    load: () => import('../../lambdas/pipeline-batch-predict'),
    env: () => ({ RAW_BUCKET: BUCKETS.raw, CURATED_BUCKET: BUCKETS.curated, ARTIFACTS_BUCKET: BUCKETS.artifacts }),
  },
  'materialize-plan': {
    load: () => import('../../lambdas/materialize-plan'),
    env: () => ({ ONLINE_TABLE_NAME: 'online' }),
  },
  'materialize-write': {
    load: () => import('../../lambdas/materialize-write'),
    env: () => ({ ONLINE_TABLE_NAME: 'online', UNLOAD_BUCKET: BUCKETS.curated }),
  },
  features: {
    load: () => import('../../lambdas/features'),
    env: () => ({ ONLINE_TABLE_NAME: 'online', OFFLINE_BUCKET: BUCKETS.curated, OFFLINE_PREFIX: 'features' }),
  },
  registry: {
    load: () => import('../../lambdas/registry'),
    env: () => ({
      REGISTRY_TABLE_NAME: registryTable,
      ARTIFACTS_BUCKET: BUCKETS.artifacts,
      EVENT_BUS_NAME: 'bus',
      AWS_ENDPOINT_URL_DYNAMODB: registryDynamo.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: recorderUrl,
    }),
  },
  'serving-deployer': {
    load: () => import('../../lambdas/serving-deployer'),
    env: () => ({
      CLUSTER_NAME: 'models',
      CLUSTER_ENDPOINT: recorderUrl,
      CLUSTER_CA: Buffer.from('not a real CA').toString('base64'),
      MODEL_NAMESPACE: 'seldon',
      MODEL_IMAGE: 'model-server:1',
      MODEL_REPLICAS: '1',
      CANARY_TRAFFIC_PERCENT: '10',
    }),
  },
};

/** Imports a handler afresh (its cold start) with exactly this environment on top of the SDK's. */
async function coldStart(name: string, env: Record<string, string | undefined>): Promise<Handler> {
  vi.resetModules();
  process.env = {
    ...saved,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_ENDPOINT_URL_S3: s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    POWERTOOLS_LOG_LEVEL: 'SILENT',
  };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  return (await HANDLERS[name]!.load()).handler as Handler;
}

/** Everything a handler could have written: every bucket's keys, both tables, the recorders. */
async function everything() {
  const keys = await Promise.all(Object.values(BUCKETS).map((b) => s3.keys(b)));
  const count = async (client: { send: (c: ScanCommand) => Promise<{ Count?: number }> }, table: string) =>
    (await client.send(new ScanCommand({ TableName: table, Select: 'COUNT' }))).Count;
  return {
    keys,
    online: await count(dynamo.doc as never, 'online'),
    registry: await count(registryDynamo.client, registryTable),
    requests: recorded.length,
  };
}

describe('every handler fails its cold start on a bad environment, naming the variable', () => {
  const missing: [string, string][] = [
    ['pipeline-validate', 'LAKE_DATABASE'],
    ['pipeline-validate', 'FEATURE_STORE_LOCATION'],
    ['pipeline-validate', 'TRAINING_LIMITS'],
    ['pipeline-stage-data', 'SPLITS_BUCKET'],
    ['pipeline-validate', 'ATHENA_WORKGROUP'],
    ['pipeline-evaluate', 'ARTIFACTS_BUCKET'],
    ['pipeline-register', 'REGISTRY_URL'],
    ['pipeline-register', 'ARTIFACTS_BUCKET'],
    ['pipeline-batch-plan', 'STAGING_LOCATION'],
    ['pipeline-batch-predict', 'CURATED_BUCKET'],
    ['materialize-write', 'ONLINE_TABLE_NAME'],
    ['materialize-write', 'UNLOAD_BUCKET'],
    ['materialize-plan', 'ONLINE_TABLE_NAME'],
    ['features', 'OFFLINE_BUCKET'],
    ['registry', 'REGISTRY_TABLE_NAME'],
    ['serving-deployer', 'CLUSTER_ENDPOINT'],
  ];
  it.each(missing)('%s without %s', async (name, variable) => {
    await expect(coldStart(name, { ...HANDLERS[name]!.env(), [variable]: undefined })).rejects.toThrow(
      new RegExp(`${variable} must be set`),
    );
  });

  it.each(missing)('%s with %s empty (counts as unset)', async (name, variable) => {
    await expect(coldStart(name, { ...HANDLERS[name]!.env(), [variable]: '' })).rejects.toThrow(
      new RegExp(`${variable} must be set`),
    );
  });

  const malformed: [string, string, string, RegExp][] = [
    ['pipeline-validate', 'LAKE_TABLES', '[{"name":', /LAKE_TABLES must be JSON/],
    ['pipeline-validate', 'TRAINING_LIMITS', '{"instanceTypes":[]}', /TRAINING_LIMITS must be JSON training limits/],
    ['pipeline-batch-plan', 'LAKE_TABLES', '[{"name":"t"}]', /LAKE_TABLES must be a list of lake tables \(0\.location/],
    ['pipeline-stage-data', 'AWS_ENDPOINT_URL_S3', 'not a url', /AWS_ENDPOINT_URL_S3 is invalid .*, but "not a url" was provided/],
    ['pipeline-evaluate', 'REGISTRY_AUTH', 'basic', /REGISTRY_AUTH is invalid .*, but "basic" was provided/],
    ['pipeline-register', 'REGISTRY_AUTH', 'basic', /REGISTRY_AUTH is invalid/],
    ['materialize-write', 'AWS_ENDPOINT_URL_S3', 's3', /AWS_ENDPOINT_URL_S3 is invalid/],
    ['features', 'AWS_ENDPOINT_URL_DYNAMODB', '127.0.0.1:8000', /AWS_ENDPOINT_URL_DYNAMODB is invalid/],
    ['serving-deployer', 'MODEL_REPLICAS', 'two', /MODEL_REPLICAS must be a number, but "two" was provided/],
    ['serving-deployer', 'CANARY_TRAFFIC_PERCENT', '150', /CANARY_TRAFFIC_PERCENT is invalid/],
  ];
  it.each(malformed)('%s with %s=%j', async (name, variable, value, message) => {
    await expect(coldStart(name, { ...HANDLERS[name]!.env(), [variable]: value })).rejects.toThrow(message);
  });
});

/** The constants the materialization machine passes its plan step. */
const PLAN_CONSTANTS = {
  executionStartTime: '2026-01-01T00:00:00Z',
  execution: 'run-1',
  database: 'lake',
  unloadLocation: `s3://${BUCKETS.curated}/materialize/unload/`,
};
const WRITE_INPUT = { featureView: 'wine_features', bucket: BUCKETS.curated };

// Shapes every step handler refuses: no event, the wrong JSON type, an empty object.
const NOT_AN_OBJECT: [string, unknown][] = [
  ['no event', undefined],
  ['null', null],
  ['a string', 'plan'],
  ['a number', 42],
  ['an array', []],
];

describe('step handlers refuse malformed events with their own error, writing nothing', () => {
  const cases: { name: string; error: string; events: [string, unknown, RegExp][] }[] = [
    {
      name: 'pipeline-validate',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /input must be set, but nothing was provided/],
        ['no execution', { input: {} }, /execution must be a string, but nothing was provided/],
        ['a wrong-typed execution', { input: { dataset: 'winequality_red_raw', target: 'quality' }, execution: 7 }, /execution must be a string, but 7 was provided/],
        ['input as a string', { input: 'winequality_red_raw', execution: 'h-2' }, /input/],
      ],
    },
    {
      name: 'pipeline-batch-plan',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /input must be set, but nothing was provided/],
        ['an empty execution', { input: {}, execution: '' }, /execution name must be .*, but "" was provided/],
        ['input as an array', { input: [], execution: 'b-1' }, /input/],
      ],
    },
    {
      name: 'pipeline-stage-data',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /train must be an object, but nothing was provided/],
        [
          'an UNLOAD location that is not an s3 prefix',
          {
            train: { unloaded: 'splits/t/x/train/', channel: `s3://${BUCKETS.artifacts}/data/m/x/train/` },
            holdout: { unloaded: `s3://${BUCKETS.curated}/splits/t/x/holdout/`, channel: `s3://${BUCKETS.artifacts}/data/m/x/holdout/` },
          },
          /train\.unloaded must be an s3:\/\/bucket\/prefix\/ URI ending in \/, but "splits\/t\/x\/train\/" was provided/,
        ],
        [
          'a channel that names an object, not a prefix',
          {
            train: { unloaded: `s3://${BUCKETS.curated}/splits/t/x/train/`, channel: `s3://${BUCKETS.artifacts}/data/m/x/train/train.csv` },
            holdout: { unloaded: `s3://${BUCKETS.curated}/splits/t/x/holdout/`, channel: `s3://${BUCKETS.artifacts}/data/m/x/holdout/` },
          },
          /train\.channel must be an s3:\/\/bucket\/prefix\/ URI ending in \//,
        ],
        ['a wrong-typed check', { train: {}, holdout: {}, check: 'yes' }, /train\.unloaded/],
      ],
    },
    {
      name: 'pipeline-evaluate',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /model_uri/],
        [
          'wrong-typed thresholds',
          {
            model_uri: `s3://${BUCKETS.artifacts}/m/model.tar.gz`,
            holdout_uri: `s3://${BUCKETS.artifacts}/h.csv`,
            thresholds: { max_rmse: 'low' },
            model_name: 'wine',
          },
          /thresholds\.max_rmse must be a number, but "low" was provided/,
        ],
      ],
    },
    {
      name: 'pipeline-register',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /malformed event/],
        ['a rollback without its execution', { rollback: true, model_name: 'wine' }, /malformed event/],
        ['metrics as a string', { model_name: 'wine', execution: 'e-1', metrics: 'good' }, /malformed event/],
      ],
    },
    {
      name: 'pipeline-batch-predict',
      error: 'PipelineInputError',
      events: [
        ['an empty object', {}, /model_uri/],
        [
          'a wrong-typed index',
          {
            model_uri: `s3://${BUCKETS.artifacts}/m/model.tar.gz`,
            items: [{ bucket: BUCKETS.raw, key: 'x.csv', index: '0' }],
            staging_prefix: `s3://${BUCKETS.curated}/staging/`,
          },
          /items\.0\.index must be a number, but "0" was provided/,
        ],
        [
          'an empty batch',
          { model_uri: `s3://${BUCKETS.artifacts}/m/model.tar.gz`, items: [], staging_prefix: `s3://${BUCKETS.curated}/staging/` },
          /items/,
        ],
      ],
    },
    {
      name: 'materialize-plan',
      error: 'InvalidMaterializationInput',
      events: [
        ['an empty object', {}, /input must be set, but nothing was provided/],
        ['no start time', { input: {}, database: 'lake' }, /executionStartTime must be a string, but nothing was provided/],
        ['a bad database', { input: {}, ...PLAN_CONSTANTS, database: 'x; DROP' }, /database/],
        ['a wrong-typed execution name', { input: {}, ...PLAN_CONSTANTS, execution: 7 }, /execution must be a string, but 7 was provided/],
        ['an oversized UNLOAD location', { input: {}, ...PLAN_CONSTANTS, unloadLocation: `s3://b/${'x'.repeat(2000)}/` }, /unloadLocation/],
        ['a start that is no time', { input: { start: 'yesterday' }, ...PLAN_CONSTANTS }, /start/],
      ],
    },
    {
      name: 'materialize-write',
      error: 'InvalidMaterializationInput',
      events: [
        ['an empty object', {}, /BatchInput must be an object, but nothing was provided/],
        ['an empty batch', { BatchInput: WRITE_INPUT, Items: [] }, /Items/],
        [
          'an oversized batch',
          { BatchInput: WRITE_INPUT, Items: Array.from({ length: 101 }, (_, i) => ({ Key: `materialize/unload/r/v/${i}` })) },
          /Items/,
        ],
        [
          'a part outside materialize/',
          { BatchInput: WRITE_INPUT, Items: [{ Key: 'features/wine_features/x.parquet' }] },
          /Items\.0\.Key must be a key under materialize\/, but "features\/wine_features\/x.parquet" was provided/,
        ],
        [
          'another bucket',
          { BatchInput: { ...WRITE_INPUT, bucket: BUCKETS.raw }, Items: [{ Key: 'materialize/unload/r/v/0' }] },
          /BatchInput\.bucket must be the UNLOAD bucket/,
        ],
        ['a wrong-typed count request', { summarize: { featureView: 1 } }, /summarize\.featureView must be a string, but 1 was provided/],
      ],
    },
    {
      name: 'serving-deployer',
      error: 'DeployerRequestError',
      events: [
        ['an empty object', {}, /action/],
        ['an unknown action', { action: 'deploy' }, /action/],
        ['a wrong-typed deployment', { action: 'status', deployment: 5 }, /deployment/],
      ],
    },
  ];

  for (const c of cases) {
    it(`${c.name}`, async () => {
      const handler = await coldStart(c.name, HANDLERS[c.name]!.env());
      const before = await everything();
      const events: [string, unknown, RegExp][] = [
        ...NOT_AN_OBJECT.map(([what, e]): [string, unknown, RegExp] => [what, e, /./]),
        ...c.events,
      ];
      for (const [what, event, message] of events) {
        const err = await handler(event).then(
          () => new Error(`${c.name} accepted ${what}`),
          (e: Error) => e,
        );
        expect(err.name, `${c.name} given ${what}: ${err.message}`).toBe(c.error);
        expect(err.message, `${c.name} given ${what}`).toMatch(message);
      }
      expect(await everything()).toEqual(before);
    });
  }
});

describe('HTTP handlers answer malformed requests in their protocol, writing nothing', () => {
  it('features: FastAPI 422 {detail} for empty, malformed and wrong-typed bodies', async () => {
    const handler = await coldStart('features', HANDLERS['features']!.env());
    const before = await everything();
    for (const [path, body] of [
      ['/push', ''],
      ['/push', '{"push_source_name":'],
      ['/push', '[]'],
      ['/push', JSON.stringify({ push_source_name: 'wine_push', df: { wine_id: 'three' } })],
      ['/get-online-features', JSON.stringify({ feature_service: 5, entities: { wine_id: [1] } })],
      ['/get-online-features', JSON.stringify({ features: ['wine_features:alcohol'], entities: [] })],
    ] as const) {
      const res = (await handler(apiEvent('POST', path, body))) as { statusCode: number; body: string };
      expect(res.statusCode, `${path} ${body}`).toBe(422);
      expect(JSON.parse(res.body).detail, `${path} ${body}`).toEqual(expect.any(Array));
    }
    expect(await everything()).toEqual(before);
  });

  it('registry: MLflow 400 {error_code, message} for empty, malformed and wrong-typed bodies', async () => {
    const handler = await coldStart('registry', HANDLERS['registry']!.env());
    const before = await everything();
    for (const body of ['', '{"name":', '[]', JSON.stringify({ name: 5 })]) {
      const res = (await handler(apiEvent('POST', '/api/2.0/mlflow/registered-models/create', body))) as {
        statusCode: number;
        body: string;
      };
      expect(res.statusCode, body).toBe(400);
      expect(JSON.parse(res.body), body).toMatchObject({
        error_code: expect.stringMatching(/^(INVALID_PARAMETER_VALUE|MALFORMED_REQUEST|BAD_REQUEST)$/),
        message: expect.any(String),
      });
    }
    expect(await everything()).toEqual(before);
  });
});

describe('pipeline handlers', () => {
  it('pipeline-validate plans a run from its environment and the event', async () => {
    const handler = await coldStart('pipeline-validate', HANDLERS['pipeline-validate']!.env());
    const plan = await handler({
      input: { dataset: 'winequality_red_raw', target: 'quality' },
      execution: 'h-1',
    });
    expect(plan).toMatchObject({
      execution: 'h-1',
      model_name: 'winequality-red',
      rows: 1599,
      resources: { instance_type: 'ml.m5.large', instance_count: 1, volume_size_gb: 10 },
    });
    expect(await s3.keys(BUCKETS.artifacts)).toContain('runs/winequality-red/h-1/profile.json');
  });
});
