/**
 * Bad input on every route, table-driven: malformed, empty, oversized and wrong-typed requests, wrong
 * methods and unknown paths all answer 4xx in MLflow's error shape, never 5xx. Also: a real internal
 * failure answers 500 INTERNAL_ERROR without leaking a stack.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { createRegistryServices, MLFLOW_ENDPOINTS, RecordingPublisher } from '../../lib/registry';
import { call, type Harness, harness, type LocalDynamo, type Reply, startDynamo } from './support';

let dynamo: LocalDynamo;
let h: Harness;

beforeAll(async () => {
  dynamo = await startDynamo();
  h = await harness(dynamo);
  // Real entities, so that a request failing here fails for its input, not for a missing model.
  await call(h.handler, 'POST', 'registered-models/create', { json: { name: 'm' } });
  await call(h.handler, 'POST', 'model-versions/create', { json: { name: 'm', source: 's3://b/m/1' } });
});

afterAll(async () => {
  await dynamo?.stop();
});

const ERROR_CODES_4XX = [
  'INVALID_PARAMETER_VALUE',
  'RESOURCE_DOES_NOT_EXIST',
  'ENDPOINT_NOT_FOUND',
  'BAD_REQUEST',
];

function expectClientError(res: Reply, label: string): void {
  expect(res.status, label).toBeGreaterThanOrEqual(400);
  expect(res.status, label).toBeLessThan(500);
  expect(Object.keys(res.body).sort(), label).toEqual(['error_code', 'message']);
  expect(ERROR_CODES_4XX, label).toContain(res.body.error_code);
  expect(typeof res.body.message, label).toBe('string');
}

const routes = Object.entries(MLFLOW_ENDPOINTS).flatMap(([path, methods]) =>
  methods.map((method) => ({ path: path.replace(/^\/mlflow\//, ''), method })),
);
const bodyRoutes = routes.filter((r) => r.method !== 'GET');
const getRoutes = routes.filter((r) => r.method === 'GET');

/** Routes where an empty request is valid, as in MLflow: every field is optional. */
const NO_REQUIRED_FIELDS = new Set([
  'POST registered-models/search',
  'GET registered-models/search',
  'GET model-versions/search',
  'POST experiments/search',
  'GET experiments/search',
  'POST runs/create',
  'POST runs/search',
]);

/** Values no field of any route accepts: strings, numbers, booleans and lists are all taken somewhere. */
const WRONG = { nested: { object: true } };

/** Every parameter name any route reads, each set to a wrong-typed value. */
const ALL_PARAMS = [
  'name',
  'new_name',
  'version',
  'alias',
  'key',
  'value',
  'source',
  'run_id',
  'stage',
  'archive_existing_versions',
  'description',
  'tags',
  'metrics',
  'params',
  'experiment_id',
  'experiment_ids',
  'run_name',
  'start_time',
  'end_time',
  'status',
  'timestamp',
  'step',
  'filter',
  'max_results',
  'order_by',
  'page_token',
  'view_type',
  'run_view_type',
  'artifact_location',
  'user_id',
  'run_link',
  'stages',
  'experiment_name',
  'metric_key',
];
const wrongTyped = Object.fromEntries(ALL_PARAMS.map((p) => [p, WRONG]));

it('covers every served route', () => {
  // The tables below are only as good as this list: it must be the real routing table.
  expect(routes.length).toBeGreaterThanOrEqual(33);
  expect(routes).toContainEqual({ path: 'runs/log-batch', method: 'POST' });
  expect(routes).toContainEqual({ path: 'registered-models/alias', method: 'DELETE' });
});

describe.each(bodyRoutes)('$method $path', ({ method, path }) => {
  const json = { 'Content-Type': 'application/json' };

  it('rejects a malformed JSON body', async () => {
    const res = await call(h.handler, method, path, { rawBody: '{"name": "m", ', headers: json });
    expectClientError(res, 'malformed');
  });

  it('rejects a body that is JSON but not an object', async () => {
    const res = await call(h.handler, method, path, { rawBody: '[1, 2]', headers: json });
    expectClientError(res, 'array body');
  });

  it('rejects an empty body unless every field is optional', async () => {
    const res = await call(h.handler, method, path, { rawBody: '', headers: json });
    if (NO_REQUIRED_FIELDS.has(`${method} ${path}`)) expect(res.status).toBe(200);
    else {
      expectClientError(res, 'empty');
      expect(res.body.message).toMatch(/^Missing value for required parameter '\w+'\./);
    }
  });

  it('rejects an oversized body', async () => {
    const res = await call(h.handler, method, path, {
      json: { name: 'm', description: 'x'.repeat(1_000_001) },
    });
    expectClientError(res, 'oversized');
    expect(res.body.message).toMatch(/at most 1000000 bytes, got a request of size \d+/);
  });

  it('rejects wrong-typed fields with MLflow message', async () => {
    const res = await call(h.handler, method, path, { json: wrongTyped });
    expectClientError(res, 'wrong types');
    expect(res.body.message).toMatch(
      /^Invalid value \{"nested": \{"object": true\}\} for parameter '\w+' supplied: Hint: Value was of type 'dict'\./,
    );
  });

  if (method === 'POST') {
    it('rejects a missing Content-Type', async () => {
      const res = await call(h.handler, method, path, { rawBody: '{}' });
      expectClientError(res, 'no content type');
    });
  }
});

/**
 * Query strings are text, so the type errors they can carry are non-numeric numbers, non-integer
 * versions, unknown enum names and unparsable filters. Routes whose parameters are all free text have
 * none; the test below pins that list so a new route cannot slip out of the table unnoticed.
 */
const WRONG_QUERY: Record<string, Record<string, string>> = {
  'registered-models/search': { max_results: 'ten' },
  'registered-models/get-latest-versions': { name: 'm', stages: 'Canary' },
  'model-versions/get': { name: 'm', version: 'one' },
  'model-versions/search': { filter: "name = 'm' OR name = 'n'" },
  'model-versions/get-download-uri': { name: 'm', version: '1.5' },
  'experiments/search': { view_type: 'SOME' },
  'metrics/get-history': { run_id: 'r', metric_key: 'k', max_results: 'x' },
  'artifacts/list': { run_id: 'r', path: '../outside' },
};

it('has a wrong-typed query for every GET route with a typed parameter', () => {
  const untyped = getRoutes.filter((r) => !WRONG_QUERY[r.path]).map((r) => r.path);
  expect(untyped.sort()).toEqual([
    'experiments/get',
    'experiments/get-by-name',
    'registered-models/alias',
    'registered-models/get',
    'runs/get',
  ]);
});

describe.each(getRoutes)('$method $path', ({ method, path }) => {
  it('rejects a request without its required parameters', async () => {
    const res = await call(h.handler, method, path);
    if (NO_REQUIRED_FIELDS.has(`${method} ${path}`)) expect(res.status).toBe(200);
    else expectClientError(res, 'no params');
  });

  it('rejects an oversized body', async () => {
    const res = await call(h.handler, method, path, { rawBody: 'x'.repeat(1_000_001) });
    expectClientError(res, 'oversized');
  });

  const wrongQuery = WRONG_QUERY[path];
  it.skipIf(!wrongQuery)('rejects wrong-typed parameters', async () => {
    const res = await call(h.handler, method, path, { query: wrongQuery });
    expectClientError(res, 'wrong query types');
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
  });
});

describe('routing', () => {
  it('answers an unknown endpoint with 404 ENDPOINT_NOT_FOUND', async () => {
    for (const path of ['/api/2.0/mlflow/nope', '/api/2.0/mlflow/registered-models/nope', '/health', '/']) {
      const res = await call(h.handler, 'GET', path);
      expect(res.status, path).toBe(404);
      expect(res.body.error_code, path).toBe('ENDPOINT_NOT_FOUND');
    }
  });

  it.each(routes)('answers a wrong method on $path ($method) with 405 and Allow', async ({ path }) => {
    const allowed = MLFLOW_ENDPOINTS[`/mlflow/${path}`]!;
    const wrong = ['GET', 'POST', 'PATCH', 'DELETE', 'PUT'].find((m) => !allowed.includes(m))!;
    const res = await call(h.handler, wrong, path, { json: {} });
    expect(res.status).toBe(405);
    expect(res.headers.Allow).toBe(allowed.join(', '));
    expectClientError(res, 'wrong method');
  });
});

describe('accepted encodings', () => {
  it('decodes a base64-encoded body', async () => {
    const res = await call(h.handler, 'POST', 'registered-models/create', {
      json: { name: 'b64' },
      base64: true,
    });
    expect(res.status).toBe(200);
    expect(res.body.registered_model.name).toBe('b64');
  });

  it('decodes a double-encoded JSON body, as MLflow does for older clients', async () => {
    const res = await call(h.handler, 'POST', 'registered-models/create', {
      rawBody: JSON.stringify(JSON.stringify({ name: 'double' })),
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(res.body.registered_model.name).toBe('double');
  });

  it('ignores unknown fields', async () => {
    const res = await call(h.handler, 'POST', 'registered-models/create', {
      json: { name: 'extra', surprise: 1 },
    });
    expect(res.status).toBe(200);
  });
});

describe('identifier lengths (DynamoDB keys)', () => {
  const long = (n: number) => 'n'.repeat(n);

  it.each([
    ['POST', 'registered-models/create', { json: { name: long(2048) } }],
    ['POST', 'registered-models/create', { json: { name: long(257) } }],
    ['GET', 'registered-models/get', { query: { name: long(10_000) } }],
    ['POST', 'registered-models/rename', { json: { name: 'm', new_name: long(3000) } }],
    ['POST', 'model-versions/create', { json: { name: long(2048), source: 's3://b/m/1' } }],
    ['POST', 'experiments/create', { json: { name: long(5000) } }],
    ['GET', 'experiments/get-by-name', { query: { experiment_name: long(5000) } }],
    ['GET', 'runs/get', { query: { run_id: long(3000) } }],
  ] as const)('answers %s %s with a too-long identifier with 400 INVALID_PARAMETER_VALUE', async (method, path, options) => {
    // act
    const res = await call(h.handler, method, path, options as never);
    // assess
    expect(res.status).toBe(400);
    expect(res.body.error_code).toBe('INVALID_PARAMETER_VALUE');
    expect(res.body.message).toMatch(/had length \d+, which exceeded length limit of 256/);
  });

  it('accepts a name of exactly 256 characters, and nothing was half-created by the refused ones', async () => {
    const created = await call(h.handler, 'POST', 'registered-models/create', { json: { name: long(256) } });
    expect(created.status).toBe(200);
    const listed = await call(h.handler, 'GET', 'registered-models/search', { query: { max_results: '1000' } });
    const names = (listed.body.registered_models as { name: string }[]).map((m) => m.name.length);
    expect(names.filter((n) => n > 256)).toEqual([]);
    const experiments = await call(h.handler, 'POST', 'experiments/search', { json: { max_results: 1000 } });
    expect((experiments.body.experiments as { name: string }[]).every((e) => e.name.length <= 256)).toBe(true);
  });
});

describe('internal errors', () => {
  it('answers 500 INTERNAL_ERROR without a stack when the store fails', async () => {
    // prepare: services over a table that does not exist
    const seen: unknown[] = [];
    const { createHandler } = await import('../../lambdas/registry');
    const broken = createHandler({
      ...createRegistryServices({
        store: new DynamoRegistryStore(dynamo.client, 'no-such-table'),
        artifactsBucket: 'b',
        events: new RecordingPublisher(),
      }),
      onInternalError: (error) => seen.push(error),
    });
    // act
    const res = await call(broken, 'GET', 'registered-models/get', { query: { name: 'm' } });
    // assess
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      error_code: 'INTERNAL_ERROR',
      message: 'Internal error. The request id is in the logs.',
    });
    expect(seen).toHaveLength(1);
    expect((seen[0] as Error).name).toBe('ResourceNotFoundException');
  });
});
