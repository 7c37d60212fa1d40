import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConditionalCheckFailedException, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDynamoDb, type TemplateResource, tableSpecFromResource } from '../../../lib/local/dynamodb';

const registryTable: TemplateResource = {
  Type: 'AWS::DynamoDB::Table',
  Properties: {
    TableName: { 'Fn::Join': ['-', ['local', 'model-registry']] },
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
      { AttributeName: 'stage', AttributeType: 'S' },
    ],
    BillingMode: 'PAY_PER_REQUEST',
    GlobalSecondaryIndexes: [
      {
        IndexName: 'byStage',
        KeySchema: [{ AttributeName: 'stage', KeyType: 'HASH' }],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
    TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
  },
};
// A stand-in for the intrinsic resolver: only what this template uses.
const resolve = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(resolve);
  if (v && typeof v === 'object') {
    const join = (v as Record<string, unknown>)['Fn::Join'] as [string, unknown[]] | undefined;
    if (join) return join[1].map(resolve).join(join[0]);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  }
  return v;
};

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
const docClient = (endpoint: string) =>
  DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint, region: 'us-east-1', credentials }));

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'mlops-ddb-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('tableSpecFromResource', () => {
  it('builds an on-demand CreateTable input with resolved name and GSIs, noting TTL', () => {
    const spec = tableSpecFromResource('Registry', registryTable, resolve);
    expect(spec.input).toMatchObject({ TableName: 'local-model-registry', BillingMode: 'PAY_PER_REQUEST' });
    expect(spec.input.ProvisionedThroughput).toBeUndefined();
    expect(spec.input.GlobalSecondaryIndexes?.[0]).toEqual({
      IndexName: 'byStage',
      KeySchema: [{ AttributeName: 'stage', KeyType: 'HASH' }],
      Projection: { ProjectionType: 'ALL' },
    });
    expect(spec.ignored.join()).toMatch(/TimeToLive/);
  });

  it('gives provisioned tables and their indexes throughput, and GlobalTables default to on-demand', () => {
    const provisioned = tableSpecFromResource(
      'T',
      {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          ProvisionedThroughput: { ReadCapacityUnits: 3, WriteCapacityUnits: 2 },
        },
      },
      resolve,
      'Stack-T-ABC123',
    );
    expect(provisioned.input.TableName).toBe('Stack-T-ABC123');
    expect(provisioned.input.ProvisionedThroughput).toEqual({ ReadCapacityUnits: 3, WriteCapacityUnits: 2 });

    const global = tableSpecFromResource('G', {
      Type: 'AWS::DynamoDB::GlobalTable',
      Properties: {
        TableName: 'features',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        Replicas: [{ Region: 'eu-west-1' }],
      },
    });
    expect(global.input.BillingMode).toBe('PAY_PER_REQUEST');
  });

  it('fails if the resource is not a table', () => {
    expect(() => tableSpecFromResource('B', { Type: 'AWS::S3::Bucket' })).toThrow(
      /must be an AWS::DynamoDB::Table/,
    );
  });
});

describe('startDynamoDb', () => {
  it('keeps tables and items across a stop and start, and enforces condition expressions', async () => {
    // prepare
    const spec = tableSpecFromResource('Registry', registryTable, resolve);
    const first = await startDynamoDb({ stateDir });
    expect((await first.ensureTables([spec]))[0]!.action).toBe('created');
    const db = docClient(first.endpoint);
    await db.send(
      new PutCommand({
        TableName: 'local-model-registry',
        Item: { pk: 'model#wine', sk: 'v1', stage: 'prod', auc: 0.91 },
      }),
    );
    const putIfAbsent = () =>
      db.send(
        new PutCommand({
          TableName: 'local-model-registry',
          Item: { pk: 'model#wine', sk: 'v1', stage: 'dev' },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    await expect(putIfAbsent()).rejects.toBeInstanceOf(ConditionalCheckFailedException);
    db.destroy();
    await first.close();

    // act
    const second = await startDynamoDb({ stateDir });
    const ensured = await second.ensureTables([spec]);
    const again = docClient(second.endpoint);

    // assess
    expect(ensured[0]!.action).toBe('kept');
    const { Item } = await again.send(
      new GetCommand({ TableName: 'local-model-registry', Key: { pk: 'model#wine', sk: 'v1' } }),
    );
    expect(Item).toEqual({ pk: 'model#wine', sk: 'v1', stage: 'prod', auc: 0.91 });
    const byStage = await again.send(
      new QueryCommand({
        TableName: 'local-model-registry',
        IndexName: 'byStage',
        KeyConditionExpression: 'stage = :s',
        ExpressionAttributeValues: { ':s': 'prod' },
      }),
    );
    expect(byStage.Items?.map((i) => i['sk'])).toEqual(['v1']);
    again.destroy();
    await second.close();
  });

  it('fails if an existing table has a different key schema, naming the table and mlops reset', async () => {
    const engine = await startDynamoDb({ stateDir });
    try {
      await engine.ensureTables([tableSpecFromResource('Registry', registryTable, resolve)]);
      const changed: TemplateResource = {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          ...registryTable.Properties,
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        },
      };
      await expect(
        engine.ensureTables([tableSpecFromResource('Registry', changed, resolve)]),
      ).rejects.toThrow(/Table local-model-registry \(Registry\).*key schema.*mlops reset/);
    } finally {
      await engine.close();
    }
  });

  it('frees its port on close even with a pooled client connection', async () => {
    const engine = await startDynamoDb({ stateDir });
    await engine.ensureTables([tableSpecFromResource('Registry', registryTable, resolve)]);
    const db = docClient(engine.endpoint);
    await db.send(new ScanCommand({ TableName: 'local-model-registry' }));
    const started = Date.now();
    await engine.close();
    expect(Date.now() - started).toBeLessThan(5000);
    const probe = createServer();
    await new Promise<void>((res, rej) => probe.once('error', rej).listen(engine.port, '127.0.0.1', res));
    await new Promise<void>((res) => probe.close(() => res()));
    db.destroy();
  });

  it('reopens the store after the process writing to it is killed with SIGKILL', async () => {
    // prepare: a child process runs the engine and writes items as fast as it can
    const child = new URL('./kill-writer.ts', import.meta.url).pathname;
    const resource: TemplateResource = {
      Type: 'AWS::DynamoDB::Table',
      Properties: { ...registryTable.Properties, TableName: 'registry', TimeToLiveSpecification: undefined },
    };
    const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(resource), stateDir], {
      cwd: new URL('../../..', import.meta.url).pathname,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // act: kill it once it has acknowledged 200 writes
    const acknowledged = await new Promise<number>((resolveCount, reject) => {
      let last = -1;
      proc.stdout.on('data', (d: Buffer) => {
        const lines = d.toString().trim().split('\n');
        last = Number(lines[lines.length - 1]);
        if (last >= 200 && !proc.killed) {
          proc.kill('SIGKILL');
          resolveCount(last);
        }
      });
      proc.once('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
    });
    await new Promise((r) => proc.once('close', r));

    // assess: the store opens, and every acknowledged write is there
    const engine = await startDynamoDb({ stateDir });
    try {
      expect((await engine.ensureTables([tableSpecFromResource('Registry', resource)]))[0]!.action).toBe(
        'kept',
      );
      const db = docClient(engine.endpoint);
      const { Count } = await db.send(new ScanCommand({ TableName: 'registry', Select: 'COUNT' }));
      expect(Count).toBeGreaterThanOrEqual(acknowledged + 1);
      db.destroy();
    } finally {
      await engine.close();
    }
  });
});
