/**
 * Hostile input at every listener of a started local platform — the front door (and through it the
 * API gateway and a model server), the model server itself, the AWS control-plane endpoint, S3 and
 * DynamoDB — over raw TCP: random bytes, methods, malformed and huge paths, odd headers, broken
 * framing and bodies, from a seeded generator (MLOPS_FUZZ_SEED to replay, MLOPS_FUZZ_CASES for
 * more). No listener may answer 5xx to them (S3's 501 NotImplemented aside), and afterwards every
 * listener still answers a valid request. Then the limits at the door: 413 before the body is read
 * (declared, chunked, with and without `Expect: 100-continue`), 414 and 431 instead of a reset.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { FIXTURE_STAGE, synthFixture } from './platform/fixture';
import { TINY } from '../serving/helpers';

const SEED = Number(process.env['MLOPS_FUZZ_SEED'] ?? 20261204);
const CASES_PER_LISTENER = Number(process.env['MLOPS_FUZZ_CASES'] ?? 60);
/** The whole fuzz run stops generating new cases after this long (the loop is bounded in time too). */
const FUZZ_BUDGET_MS = 60_000;

const assemblyDir = synthFixture();
const stateDir = mkdtempSync(join(tmpdir(), 'mlops-fuzz-'));
let platform: LocalPlatform;
let modelServerUrl: string;
const logged: string[] = [];

beforeAll(async () => {
  // prepare: the fixture platform, serving a tiny model so the front door has a model server behind it
  platform = await startPlatform({ stateDir, assemblyDir, stageName: FIXTURE_STAGE, log: (l) => logged.push(l) });
  const bucket = platform.stage.physicalName(
    platform.stage.resourcesOfType('AWS::S3::Bucket').find((b) => b.constructPath?.includes('/Data/'))!,
  );
  const s3 = new S3Client({
    endpoint: platform.info.s3Endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'models/tiny/model.json', Body: JSON.stringify(TINY) }),
  );
  s3.destroy();
  const deployment = await platform.serving.deploy({
    namespace: 'seldon',
    deployment: 'tiny',
    modelUri: `s3://${bucket}/models/tiny/model.json`,
    version: '1',
  });
  modelServerUrl = deployment.url;
});

afterAll(async () => {
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(assemblyDir, { recursive: true, force: true });
});

// ---- raw HTTP ----------------------------------------------------------------------------------

interface Exchange {
  /** The status of the first response, or undefined when the connection closed without one. */
  readonly status?: number;
  readonly head: string;
  readonly body: string;
  /** A client-side socket error (EPIPE, ECONNRESET) seen before the answer. */
  readonly error?: string;
}

/**
 * Writes `parts` to a fresh connection (pausing between them when asked) and reads until the
 * server closes or `timeoutMs` passes.
 */
function exchange(
  url: string,
  parts: readonly (Buffer | string)[],
  options: { timeoutMs?: number; endAfterWrite?: boolean } = {},
): Promise<Exchange> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    const socket = connect(Number(port), '127.0.0.1');
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      // Interim `100 Continue` answers are not the answer.
      const text = Buffer.concat(chunks)
        .toString('latin1')
        .replace(/^(HTTP\/1\.1 100 Continue\r\n\r\n)+/, '');
      const split = text.indexOf('\r\n\r\n');
      const head = split === -1 ? text : text.slice(0, split);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({
        ...(status ? { status: Number(status) } : {}),
        head,
        body: split === -1 ? '' : text.slice(split + 4),
        ...(error ? { error } : {}),
      });
    };
    const timer = setTimeout(finish, options.timeoutMs ?? 3000);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      error ??= err.code ?? err.message;
    });
    socket.on('close', finish);
    socket.on('connect', async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        await new Promise<void>((r) => (socket.write(part) ? r() : socket.once('drain', () => r())));
      }
      if (options.endAfterWrite) socket.end();
    });
  });
}

/** mulberry32: a small seeded PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => int(256)));
  return { next, int, pick, bytes };
}
type Rng = ReturnType<typeof prng>;

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'PROPFIND', 'G@T', 'get', ''];
const TARGETS = [
  'AWSStepFunctions.StartExecution',
  'AWSStepFunctions.DescribeExecution',
  'AWSStepFunctions.DescribeStateMachine',
  'AWSStepFunctions.GetExecutionHistory',
  'AWSStepFunctions.ListExecutions',
  'AWSStepFunctions.StopExecution',
  'AmazonAthena.StartQueryExecution',
  'AmazonAthena.GetQueryExecution',
  'AmazonAthena.GetQueryResults',
  'AWSEvents.PutEvents',
  'DynamoDB_20120810.GetItem',
  'DynamoDB_20120810.PutItem',
  'DynamoDB_20120810.Query',
  'DynamoDB_20120810.CreateTable',
  'Nope.Nothing',
  '.',
  '',
];
const BAD_SEGMENTS = [
  '%',
  '%E0%A4%A',
  '%zz',
  '%00',
  '%C0%AF',
  '..',
  '..%2f..%2fetc%2fpasswd',
  '%2e%2e',
  'ü',
  '\u{1F600}',
  '\u0000',
  '%FF%FE',
  'a;b',
  '{proxy+}',
  '~',
];
const PREFIXES = [
  '/v2/models/',
  '/v2/models/tiny/',
  '/v2/',
  '/seldon/seldon/tiny/api/v1.0/',
  '/seldon/',
  '/hello/',
  '/api/2.0/mlflow/registered-models/',
  '/2015-03-31/functions/',
  '/',
];

function randomPath(rng: Rng, bucket: string): string {
  const roll = rng.int(12);
  if (roll === 0) return rng.pick(['*', '//evil.example/x', 'http://127.0.0.1/x', '/\\x', '//', '//[']);
  if (roll === 1) return `/${'a'.repeat(1000 + rng.int(80_000))}`;
  if (roll === 2) return `/hello/x?q=${'b'.repeat(1000 + rng.int(80_000))}`;
  const prefix = rng.pick([...PREFIXES, `/${bucket}/`]);
  const segments = Array.from({ length: 1 + rng.int(4) }, () =>
    rng.next() < 0.6 ? rng.pick(BAD_SEGMENTS) : rng.pick(['ready', 'infer', 'invocations', 'predictions', 'x', 'tiny']),
  );
  const query = rng.next() < 0.3 ? `?${rng.pick(['json=%', 'a=%zz&b', 'list-type=2&max-keys=-1', 'versionId=%', 'uploads', 'x=ü'])}` : '';
  return `${prefix}${segments.join('/')}${query}`;
}

function randomBody(rng: Rng): Buffer {
  switch (rng.int(7)) {
    case 0:
      return Buffer.alloc(0);
    case 1:
      return rng.bytes(rng.int(2000));
    case 2:
      return Buffer.from('['.repeat(5000 + rng.int(20_000)));
    case 3:
      return Buffer.from(
        JSON.stringify(
          rng.pick([
            { QueryString: 5 },
            { QueryString: 'SELECT 1', WorkGroup: {} },
            { stateMachineArn: {}, input: 5 },
            { executionArn: ['x'] },
            { Entries: 'nope' },
            { Entries: [{ Detail: 5 }] },
            { QueryExecutionId: null },
            { TableName: 5 },
            { inputs: [{ name: 'x', datatype: 'FP64', shape: [1, 2], data: 'nope' }] },
            { data: { ndarray: [['a', {}]] } },
            { name: 'x'.repeat(3000) },
            null,
            [1, 2],
            'str',
          ]),
        ),
      );
    case 4:
      return Buffer.from('{"a":');
    case 5:
      return Buffer.from('\uFEFF{}');
    default:
      return Buffer.from(JSON.stringify({ x: 'y'.repeat(rng.int(5000)) }));
  }
}

/** One random request, as the bytes to send. */
function randomRequest(rng: Rng, bucket: string): { parts: Buffer[]; description: string } {
  if (rng.next() < 0.08) {
    const junk = rng.bytes(1 + rng.int(3000));
    return { parts: [junk], description: `${junk.length} random bytes` };
  }
  const method = rng.pick(METHODS);
  const path = randomPath(rng, bucket);
  const body = randomBody(rng);
  const headers: string[] = [`Host: 127.0.0.1`];
  if (rng.next() < 0.5) headers.push(`X-Amz-Target: ${rng.pick(TARGETS)}`);
  if (rng.next() < 0.5) {
    headers.push(
      `Content-Type: ${rng.pick(['application/json', 'application/x-amz-json-1.0', 'application/x-amz-json-1.1', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain', '\u00ff'])}`,
    );
  }
  if (rng.next() < 0.1) headers.push(`X-Big: ${'h'.repeat(5000 + rng.int(60_000))}`);
  if (rng.next() < 0.1) for (let i = 0; i < 150; i++) headers.push(`X-Many-${i}: ${i}`);
  if (rng.next() < 0.1) headers.push(rng.pick(['Bad Header: x', 'X-Latin: \u00e9\u00ff', ': empty', 'X-Ctl: a\u0001b']));
  if (rng.next() < 0.1) headers.push('Expect: 100-continue');
  if (rng.next() < 0.1) headers.push(`Range: bytes=${rng.pick(['5-1', 'x', '-0', '0-'])}`);
  const framing = rng.int(10);
  let payload: Buffer;
  if (framing === 0) {
    headers.push('Transfer-Encoding: chunked');
    payload = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
  } else if (framing === 1) {
    headers.push('Transfer-Encoding: chunked');
    payload = Buffer.from(rng.pick(['zz\r\nabc\r\n0\r\n\r\n', '5\r\nab\r\n0\r\n\r\n', '1;' + 'e'.repeat(20_000) + '\r\na\r\n0\r\n\r\n']));
  } else if (framing === 2) {
    headers.push(rng.pick(['Content-Length: abc', 'Content-Length: -1', 'Content-Length: 1\r\nContent-Length: 2', 'Content-Length: 99999999999999999999']));
    payload = body;
  } else {
    headers.push(`Content-Length: ${body.length}`);
    payload = body;
  }
  headers.push('Connection: close');
  const head = Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'utf8');
  return {
    parts: [head, payload],
    description: `${method} ${path.slice(0, 80)}${path.length > 80 ? `…(${path.length})` : ''} framing=${framing}`,
  };
}

// ---- the fuzz run ------------------------------------------------------------------------------

describe('every listener under random hostile input', () => {
  it(`answers no 5xx and keeps running (seed ${SEED}, ${CASES_PER_LISTENER} cases per listener)`, async () => {
    // prepare
    const bucket = platform.stage.physicalName(platform.stage.resourcesOfType('AWS::S3::Bucket')[0]!);
    const listeners: Record<string, string> = {
      'front door': platform.gatewayUrl,
      'model server': modelServerUrl,
      'AWS endpoint': platform.info.awsEndpoint,
      S3: platform.info.s3Endpoint,
      DynamoDB: platform.info.dynamodbEndpoint,
    };
    const rng = prng(SEED);
    const started = Date.now();
    const summary: Record<string, Record<string, number>> = {};
    const fivexx: string[] = [];

    // act
    for (const [name, url] of Object.entries(listeners)) {
      const counts: Record<string, number> = {};
      summary[name] = counts;
      const cases = Array.from({ length: CASES_PER_LISTENER }, () => randomRequest(rng, bucket));
      // A few at a time: bounded load on a two-core machine, and a hang costs one timeout, not many.
      for (let i = 0; i < cases.length && Date.now() - started < FUZZ_BUDGET_MS; i += 6) {
        const batch = cases.slice(i, i + 6);
        const results = await Promise.all(
          batch.map((c) => exchange(url, c.parts, { timeoutMs: 3000 })),
        );
        results.forEach((r, j) => {
          const key = r.status === undefined ? `none${r.error ? `:${r.error}` : ''}` : String(r.status);
          counts[key] = (counts[key] ?? 0) + 1;
          if (process.env['MLOPS_FUZZ_VERBOSE']) console.log(name, key, batch[j]!.description);
          const s3NotImplemented = name === 'S3' && r.status === 501;
          if (r.status !== undefined && r.status >= 500 && !s3NotImplemented) {
            fivexx.push(`${name}: ${r.status} for ${batch[j]!.description}: ${r.body.slice(0, 200)}`);
          }
        });
      }
    }
    console.log(`fuzz summary (seed ${SEED}, ${Date.now() - started} ms):\n${JSON.stringify(summary, null, 1)}`);

    // assess: nothing answered 5xx for input a client got wrong …
    expect(fivexx).toEqual([]);
    // … and every listener still answers a valid request.
    const health = await fetch(`${platform.gatewayUrl}/v2/health/live`);
    expect(health.status).toBe(200);
    const hello = await fetch(`${platform.gatewayUrl}/hello/after-the-fuzz`);
    expect(await hello.json()).toEqual({ path: '/hello/after-the-fuzz' });
    const infer = await fetch(`${platform.gatewayUrl}/v2/models/tiny/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [{ name: 'predict', datatype: 'FP64', shape: [1, 2], data: [1, 1] }] }),
    });
    expect(infer.status).toBe(200);
    expect(((await infer.json()) as { outputs: { data: number[] }[] }).outputs[0]!.data).toEqual([6]);
    const machines = await fetch(platform.info.awsEndpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AWSStepFunctions.ListStateMachines', 'content-type': 'application/x-amz-json-1.0' },
      body: '{}',
    });
    expect(machines.status).toBe(200);
    expect((await fetch(`${platform.info.s3Endpoint}/${bucket}?list-type=2`)).status).toBe(200);
    const tables = await fetch(platform.info.dynamodbEndpoint, {
      method: 'POST',
      headers: {
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        'content-type': 'application/x-amz-json-1.0',
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20261204/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
        'x-amz-date': '20261204T000000Z',
      },
      body: '{}',
    });
    expect(tables.status).toBe(200);
  }, 180_000);
});

// ---- every control-plane operation, every member wrong-typed -------------------------------------

/** The operations the local AWS endpoint serves (add new ones here, so the sweep covers them). */
const OPERATIONS = {
  AWSStepFunctions: [
    'ListStateMachines',
    'DescribeStateMachine',
    'StartExecution',
    'DescribeExecution',
    'ListExecutions',
    'GetExecutionHistory',
    'StopExecution',
    'SendTaskSuccess',
    'SendTaskFailure',
    'SendTaskHeartbeat',
  ],
  AmazonAthena: ['StartQueryExecution', 'GetQueryExecution', 'GetQueryResults'],
  AWSEvents: ['PutEvents'],
} as const;
const MEMBERS = [
  'stateMachineArn',
  'executionArn',
  'input',
  'name',
  'statusFilter',
  'maxResults',
  'nextToken',
  'reverseOrder',
  'error',
  'cause',
  'taskToken',
  'output',
  'QueryString',
  'QueryExecutionId',
  'WorkGroup',
  'QueryExecutionContext',
  'ResultConfiguration',
  'ClientRequestToken',
  'MaxResults',
  'NextToken',
  'Entries',
];
const WRONG_VALUES: unknown[] = [5, -1, 1e300, true, null, {}, [], [5], [null], [{}], 'x'.repeat(5000), { nested: { a: [1] } }, ''];

describe('every control-plane operation', () => {
  it('answers wrong-typed members with 4xx, never 5xx', async () => {
    // prepare: for each operation, an empty body, then each member alone and all members together with each wrong value
    const bodies: Record<string, unknown>[] = [{}];
    for (const value of WRONG_VALUES) {
      bodies.push(Object.fromEntries(MEMBERS.map((m) => [m, value])));
      for (const m of MEMBERS) bodies.push({ [m]: value });
    }
    const fivexx: string[] = [];
    const statuses: Record<string, number> = {};
    // act
    for (const [service, operations] of Object.entries(OPERATIONS)) {
      for (const operation of operations) {
        for (let i = 0; i < bodies.length; i += 16) {
          await Promise.all(
            bodies.slice(i, i + 16).map(async (body) => {
              const res = await fetch(platform.info.awsEndpoint, {
                method: 'POST',
                headers: { 'x-amz-target': `${service}.${operation}`, 'content-type': 'application/x-amz-json-1.0' },
                body: JSON.stringify(body),
              });
              const text = await res.text();
              statuses[res.status] = (statuses[res.status] ?? 0) + 1;
              if (res.status >= 500) fivexx.push(`${operation} ${JSON.stringify(body).slice(0, 120)} → ${res.status} ${text.slice(0, 160)}`);
            }),
          );
        }
      }
    }
    console.log(`control-plane sweep: ${JSON.stringify(statuses)}`);
    // assess
    expect(fivexx).toEqual([]);
  }, 120_000);
});

// ---- named cases and limits --------------------------------------------------------------------

describe('the front door', () => {
  const get = (path: string) =>
    exchange(platform.gatewayUrl, [`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`]);

  it('answers a malformed percent-encoding in a model name with OIP 400, and keeps serving', async () => {
    // act
    const bad = await get('/v2/models/%E0%A4%A/ready');
    const good = await get('/v2/models/tiny/ready');
    // assess
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: expect.stringMatching(/must be a valid percent-encoded/) });
    expect(good.status).toBe(200);
  });

  it('never resolves a path as another host', async () => {
    const r = await get('//example.com/hello/x');
    expect(r.status).toBeLessThan(500);
    expect(r.status).not.toBe(200);
  });

  it('answers 414 to a 70 KB query string, not a reset', async () => {
    const r = await get(`/hello/x?q=${'a'.repeat(70_000)}`);
    expect(r.status).toBe(414);
    expect(JSON.parse(r.body).message).toMatch(/URL must be at most 10240 characters, but 70\d+ were provided/);
  });

  it('answers 414 above the parser ceiling too (2 MB URL)', async () => {
    const r = await get(`/hello/${'a'.repeat(2_000_000)}`);
    expect(r.status).toBe(414);
  });

  it('answers 431 to headers over 10,240 bytes', async () => {
    const r = await exchange(platform.gatewayUrl, [
      `GET /hello/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'h'.repeat(20_000)}\r\nConnection: close\r\n\r\n`,
    ]);
    expect(r.status).toBe(431);
    expect(JSON.parse(r.body).message).toMatch(/headers must be at most 10240 bytes/);
  });

  it('lets a URL just under the limit through to its route', async () => {
    const r = await get(`/hello/${'a'.repeat(10_000)}`);
    expect(r.status).toBe(200);
  });

  const big = (n: number) => Buffer.alloc(n, 0x61);

  it.each([
    ['a model server route (8 MiB)', '/v2/models/tiny/infer', 8 * 1024 * 1024, 'error'],
    ['a gateway route (10 MiB)', '/hello/x', 10 * 1024 * 1024, 'message'],
  ])('refuses a declared body over the limit of %s with 413 before reading it', async (_, path, limit, field) => {
    // act: a client that sends everything without asking first (no Expect), like Python's http.client
    const size = limit + 1024 * 1024;
    const t0 = Date.now();
    const r = await exchange(
      platform.gatewayUrl,
      [`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${size}\r\n\r\n`, big(size)],
      { timeoutMs: 15_000 },
    );
    // assess: the 413 arrives, in the route's protocol, with the connection closed, and no EPIPE under the client
    expect(r.status).toBe(413);
    expect(r.head.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(r.body)[field]).toMatch(/must be at most/);
    expect(r.error).toBeUndefined();
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  it('refuses with 413 before `100 Continue`, so the body is never sent', async () => {
    const r = await exchange(platform.gatewayUrl, [
      `POST /hello/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${20 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
    ]);
    expect(r.status).toBe(413);
    expect(r.head).not.toContain('100 Continue');
  });

  it('stops reading a chunked body at the limit and answers 413', async () => {
    const chunk = big(1024 * 1024);
    const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
    const parts = [
      'POST /v2/models/tiny/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n',
      ...Array.from({ length: 12 }, () => framed),
      '0\r\n\r\n',
    ];
    const r = await exchange(platform.gatewayUrl, parts, { timeoutMs: 15_000 });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body)).toEqual({ error: expect.stringMatching(/must be at most 8388608 bytes/) });
  });

  it('still serves after all of the above', async () => {
    expect((await get('/v2/health/ready')).status).toBe(200);
  });
});

describe('the AWS endpoint', () => {
  it('answers a malformed function name in Lambda Invoke with 400 ValidationException', async () => {
    const r = await fetch(`${platform.info.awsEndpoint}/2015-03-31/functions/%E0%A4%A/invocations`, {
      method: 'POST',
      body: '{}',
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('x-amzn-errortype')).toBe('ValidationException');
  });

  it('answers Athena StartQueryExecution with a non-string QueryString with InvalidRequestException', async () => {
    const r = await fetch(platform.info.awsEndpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AmazonAthena.StartQueryExecution', 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ QueryString: 5 }),
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({
      __type: 'InvalidRequestException',
      message: expect.stringMatching(/QueryString must be a string, but 5 was provided/),
    });
  });

  it('answers a query string over Athena\'s 262,144 bytes with InvalidRequestException', async () => {
    const r = await fetch(platform.info.awsEndpoint, {
      method: 'POST',
      headers: { 'x-amz-target': 'AmazonAthena.StartQueryExecution', 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify({ QueryString: `SELECT '${'x'.repeat(262_144)}'`, WorkGroup: 'fixture-wg' }),
    });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({
      __type: 'InvalidRequestException',
      message: 'QueryString must be at most 262144 bytes long, but 262153 were provided',
    });
  });

  it('refuses a declared body over 6 MiB with 413 RequestEntityTooLargeException', async () => {
    const r = await exchange(platform.info.awsEndpoint, [
      `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AWSEvents.PutEvents\r\nContent-Length: ${7 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n`,
    ]);
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).__type).toBe('RequestEntityTooLargeException');
  });

  it('logged nothing as an internal error during these tests', () => {
    expect(logged.filter((l) => /internal error|\[front door\]/i.test(l))).toEqual([]);
  });
});
