/**
 * Test support for the registry: an in-process dynalite (the real local DynamoDB engine), a stand-in
 * EventBridge endpoint that records PutEvents calls, and API Gateway proxy events (payload 1.0).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { afterAll, beforeAll } from 'vitest';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { createRegistryTable } from '../../lib/adapters/dynamodb/registry-table';
import { type ApiServices, createRegistryServices, RecordingPublisher } from '../../lib/registry';

// dynalite ships no types; load it through require with the one signature the tests use.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
}) => Server;

const listen = (server: Server): Promise<string> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
  });

const close = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

export interface LocalDynamo {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  /** Creates a fresh registry table and returns its name. */
  newTable(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts dynalite in memory on an ephemeral port. */
export async function startDynamo(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const endpoint = await listen(server);
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    // Contention tests hammer one partition; the SDK's own retries are not what is under test.
    maxAttempts: 10,
  });
  return {
    endpoint,
    client,
    async newTable() {
      const name = `registry-${randomUUID().slice(0, 8)}`;
      await createRegistryTable(client, name);
      return name;
    },
    async stop() {
      client.destroy();
      await close(server);
    },
  };
}

export interface PutEventsEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName: string;
}

/**
 * A stand-in for the EventBridge endpoint: answers PutEvents (JSON 1.1 protocol) and keeps the entries,
 * so the real `EventBridgePublisher` and SDK client are exercised end to end.
 */
export async function startFakeEventBridge(): Promise<{
  endpoint: string;
  entries: PutEventsEntry[];
  stop(): Promise<void>;
}> {
  const entries: PutEventsEntry[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const target = req.headers['x-amz-target'];
      if (target !== 'AWSEvents.PutEvents') {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException' }));
        return;
      }
      const request = JSON.parse(body) as { Entries: PutEventsEntry[] };
      entries.push(...request.Entries);
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(
        JSON.stringify({
          FailedEntryCount: 0,
          Entries: request.Entries.map(() => ({ EventId: randomUUID() })),
        }),
      );
    });
  });
  const endpoint = await listen(server);
  return { endpoint, entries, stop: () => close(server) };
}

export interface CallOptions {
  /** Serialised as the JSON body, with `Content-Type: application/json`. */
  readonly json?: unknown;
  /** A raw body, sent as is. */
  readonly rawBody?: string;
  readonly query?: Record<string, string | string[]>;
  readonly headers?: Record<string, string>;
  readonly base64?: boolean;
}

/** Builds the API Gateway REST proxy event (payload 1.0) a `{proxy+}` resource delivers. */
export function apiEvent(method: string, path: string, options: CallOptions = {}): APIGatewayProxyEvent {
  const headers: Record<string, string> = {
    ...(options.json !== undefined && { 'Content-Type': 'application/json' }),
    ...options.headers,
  };
  const multi: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(options.query ?? {})) multi[k] = Array.isArray(v) ? v : [v];
  const single = Object.fromEntries(Object.entries(multi).map(([k, v]) => [k, v[v.length - 1]!]));
  let body = options.rawBody ?? (options.json === undefined ? null : JSON.stringify(options.json));
  if (body !== null && options.base64) body = Buffer.from(body, 'utf8').toString('base64');
  const hasQuery = Object.keys(multi).length > 0;
  return {
    resource: '/{proxy+}',
    path,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    // API Gateway sends null, not {}, when there is no query string.
    queryStringParameters: hasQuery ? single : null,
    multiValueQueryStringParameters: hasQuery ? multi : null,
    pathParameters: { proxy: path.replace(/^\//, '') },
    stageVariables: null,
    body,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'test',
      authorizer: null,
      protocol: 'HTTP/1.1',
      httpMethod: method,
      identity: {} as APIGatewayProxyEvent['requestContext']['identity'],
      path: `/prod${path}`,
      stage: 'prod',
      requestId: randomUUID(),
      requestTimeEpoch: Date.now(),
      resourceId: 'abc',
      resourcePath: '/{proxy+}',
    },
  };
}

export type Handler = (event: APIGatewayProxyEvent) => Promise<APIGatewayProxyResult>;

export interface Reply {
  status: number;
  // Tests read arbitrary response JSON; each assertion states the shape it expects.
  body: any;
  headers: Record<string, unknown>;
}

/** Calls a handler with a proxy event and parses the JSON reply. */
export async function call(
  handler: Handler,
  method: string,
  path: string,
  options: CallOptions = {},
): Promise<Reply> {
  const result = await handler(
    apiEvent(method, path.startsWith('/') ? path : `/api/2.0/mlflow/${path}`, options),
  );
  return { status: result.statusCode, body: JSON.parse(result.body), headers: result.headers ?? {} };
}

/** Sets the AWS variables an SDK client needs to talk to local engines. */
export function useLocalAwsEnv(): void {
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_ACCESS_KEY_ID = 'test';
  process.env.AWS_SECRET_ACCESS_KEY = 'test';
  delete process.env.AWS_PROFILE;
}

export interface Harness {
  readonly dynamo: LocalDynamo;
  readonly events: RecordingPublisher;
  readonly services: ApiServices;
  readonly handler: Handler;
}

/**
 * A fresh table on `dynamo` and the real handler over it, with a recording publisher in place of
 * EventBridge. The handler module's own environment points at the same dynalite.
 */
export async function harness(dynamo: LocalDynamo, options: { clock?: () => number } = {}): Promise<Harness> {
  useLocalAwsEnv();
  const tableName = await dynamo.newTable();
  process.env.REGISTRY_TABLE_NAME ??= tableName;
  process.env.ARTIFACTS_BUCKET ??= 'artifacts-bucket';
  process.env.EVENT_BUS_NAME ??= 'unused-bus';
  process.env.AWS_ENDPOINT_URL_DYNAMODB ??= dynamo.endpoint;
  const { createHandler } = await import('../../lambdas/registry');
  const events = new RecordingPublisher();
  const services = createRegistryServices({
    store: new DynamoRegistryStore(dynamo.client, tableName),
    artifactsBucket: 'artifacts-bucket',
    events,
    clock: options.clock,
  });
  return { dynamo, events, services, handler: createHandler(services) };
}

/** A file's registry: its dynalite and harness, and JSON calls to the handler. */
export interface FileRegistry {
  readonly dynamo: LocalDynamo;
  readonly h: Harness;
  post(path: string, json: unknown): Promise<Reply>;
  get(path: string, query: Record<string, string | string[]>): Promise<Reply>;
}

/**
 * One dynalite and one {@link harness} over it for the whole test file (started in `beforeAll`,
 * stopped in `afterAll`); call at the top level of the file.
 */
export function registryPerFile(): FileRegistry {
  let dynamo: LocalDynamo | undefined;
  let current: Harness | undefined;
  beforeAll(async () => {
    dynamo = await startDynamo();
    current = await harness(dynamo);
  });
  afterAll(async () => {
    await dynamo?.stop();
  });
  const started = (): Harness => {
    if (!current) throw new Error('the registry harness starts in beforeAll: use it inside a test');
    return current;
  };
  return {
    get dynamo() {
      return started().dynamo;
    },
    get h() {
      return started();
    },
    post: (path, json) => call(started().handler, 'POST', path, { json }),
    get: (path, query) => call(started().handler, 'GET', path, { query }),
  };
}
