/**
 * Shared test fixtures of the feature store: an in-process dynalite (the real local DynamoDB
 * engine) with the online table, Feast's `driver_hourly_stats` example repo from the conformance
 * notes, API Gateway events, and scratch directories inside the repo.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateTableCommand, DynamoDBClient, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEvent } from 'aws-lambda';
import { defineRepo, ONLINE_TABLE_SPEC } from '../../lib/features/definitions';

// dynalite ships no type declarations; a local typed require keeps the declaration out of the
// project-wide namespace other test suites share.
const dynalite = createRequire(import.meta.url)('dynalite') as (options: {
  createTableMs?: number;
}) => Server;

/** The repo root (this file is test/features/helpers.ts). */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

/** A running dynalite with a document client; `close` stops it. */
export interface LocalDynamo {
  readonly endpoint: string;
  readonly doc: DynamoDBDocumentClient;
  createOnlineTable(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startDynalite(): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const endpoint = `http://127.0.0.1:${port}`;
  const raw = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: CREDENTIALS });
  const doc = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  return {
    endpoint,
    doc,
    async createOnlineTable(name) {
      await raw.send(
        new CreateTableCommand({
          TableName: name,
          KeySchema: [{ AttributeName: ONLINE_TABLE_SPEC.partitionKey.name, KeyType: 'HASH' }],
          AttributeDefinitions: [
            {
              AttributeName: ONLINE_TABLE_SPEC.partitionKey.name,
              AttributeType: ONLINE_TABLE_SPEC.partitionKey.type,
            },
          ],
          BillingMode: ONLINE_TABLE_SPEC.billingMode,
        }),
      );
      // dynalite answers CreateTable while the table is CREATING and flips it to ACTIVE on a timer;
      // a write that arrives first (a loaded machine) gets ResourceNotFoundException.
      await waitUntilTableExists({ client: raw, maxWaitTime: 30, minDelay: 0.05, maxDelay: 0.2 }, { TableName: name });
    },
    async close() {
      raw.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const scratch: string[] = [];

/** A scratch directory under the repo's git-ignored `.mlops/` (tests never write outside the repo). */
export async function scratchDir(name: string): Promise<string> {
  const base = join(PROJECT_ROOT, '.mlops', 'tmp');
  await mkdir(base, { recursive: true });
  const dir = await mkdtemp(join(base, `features-${name}-`));
  scratch.push(dir);
  return dir;
}

/** Removes the scratch directories this test file created. */
export async function removeScratchDirs(): Promise<void> {
  await Promise.all(scratch.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/**
 * Feast's quickstart repo as the conformance notes describe it: entity `driver` (join key
 * `driver_id`, INT64), view `driver_hourly_stats` (conv_rate FLOAT, acc_rate FLOAT,
 * avg_daily_trips INT64, TTL one day), service `driver_activity`, push source
 * `driver_stats_push_source`.
 */
export const driverRepo = defineRepo({
  project: 'driver_demo',
  entities: [{ name: 'driver', joinKey: 'driver_id', valueType: 'INT64' }],
  featureViews: [
    {
      name: 'driver_hourly_stats',
      entities: ['driver'],
      ttlSeconds: 86_400,
      features: [
        { name: 'conv_rate', dtype: 'FLOAT' },
        { name: 'acc_rate', dtype: 'FLOAT' },
        { name: 'avg_daily_trips', dtype: 'INT64' },
      ],
      source: {
        database: 'lake',
        table: 'driver_stats',
        location: 'driver_stats',
        format: 'parquet',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
      },
      pushSource: 'driver_stats_push_source',
    },
  ],
  pushSources: [
    {
      name: 'driver_stats_push_source',
      batchSource: {
        database: 'lake',
        table: 'driver_stats_push',
        location: 'driver_stats_push',
        format: 'json',
        timestampField: 'event_timestamp',
        createdTimestampColumn: 'created',
      },
    },
  ],
  featureServices: [{ name: 'driver_activity', projections: [{ featureView: 'driver_hourly_stats' }] }],
});

/** An API Gateway REST (format 1.0) proxy event. */
export function apiEvent(
  method: string,
  path: string,
  body: string | null = null,
  extra: Partial<APIGatewayProxyEvent> = {},
): APIGatewayProxyEvent {
  return {
    httpMethod: method,
    path,
    resource: path,
    body,
    isBase64Encoded: false,
    headers: body === null ? {} : { 'Content-Type': 'application/json' },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: { stage: 'prod' } as APIGatewayProxyEvent['requestContext'],
    ...extra,
  };
}
