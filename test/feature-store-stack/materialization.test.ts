/**
 * End to end, locally: the synthesized materialization machine, read from the cloud assembly and
 * run by the local Step Functions runner, with the real Athena engine (DuckDB over the feature
 * tables' files), dynalite for the online table, the real plan handler, and a write step that runs
 * materialize-write's core against the engine's GetQueryResults pages (the handler itself needs an
 * Athena HTTP endpoint, which the lead's platform provides).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ddb from '@aws-sdk/client-dynamodb';
import { DuckDBInstance } from '@duckdb/node-api';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { type AthenaResultSet, materializeResults } from '../../lib/features/materialize';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { handler as plan } from '../../lambdas/materialize-plan';
import { WINE_FEATURE_NAMES, wineRepo } from '../../lib/features/wine';
import { readAssembly } from '../../lib/local/assembly';
import { AthenaEngine, catalogFromAssembly, localPathOf } from '../../lib/local/athena';
import {
  athenaIntegrations,
  dynamoDbIntegrations,
  IntegrationRegistry,
  LocalStepFunctions,
  lambdaIntegrations,
  loadStateMachines,
  type StateMachineSpec,
} from '../../lib/local/sfn';
import { startDynalite, type LocalDynamo } from '../features/helpers';
import { FunctionError, standInLambdas } from '../local/sfn/helpers';
import { buildStage } from './synth';

const FEATURES = WINE_FEATURE_NAMES.map((_, i) => i + 1); // wine 1's feature values: 1, 2, … 11
const ts = (iso: string) => iso.replace('T', ' ').replace('Z', '');

describe('materialization run locally', () => {
  let stateDir: string;
  let athena: AthenaEngine;
  let dynamo: LocalDynamo;
  let sfn: LocalStepFunctions;
  let machine: StateMachineSpec;
  let tableName: string;
  let lambdas: ReturnType<typeof standInLambdas>;

  beforeAll(async () => {
    // Prepare: the local stage's assembly, the feature tables' files, the engines.
    stateDir = mkdtempSync(join(tmpdir(), 'mlops-materialize-'));
    const app = new App({ outdir: join(stateDir, 'assembly'), context: FEATURE_FLAGS });
    buildStage(app, resolveEnvironment('local', { env: {} }));
    app.synth();
    const stage = readAssembly(join(stateDir, 'assembly'), { stage: 'mlops-local' });
    const catalog = catalogFromAssembly(stage);
    const location = (table: string) =>
      localPathOf(stateDir, catalog.tables.find((t) => t.name === table)!.location);

    mkdirSync(location('wine_features'), { recursive: true });
    const duck = await DuckDBInstance.create(':memory:');
    const conn = await duck.connect();
    const cols = WINE_FEATURE_NAMES.map((f, i) => `CAST(${i + 1} AS FLOAT) AS ${f}`).join(', ');
    // Wine 1 in the window; wine 2 after it; wine 3 older than the TTL at the window end.
    await conn.run(
      `COPY (
        SELECT CAST(1 AS BIGINT) AS wine_id, ${cols}, TIMESTAMP '2024-05-01 00:00:00' AS event_timestamp, TIMESTAMP '2024-05-01 00:00:00' AS created
        UNION ALL SELECT 2, ${cols}, TIMESTAMP '2024-07-01 00:00:00', TIMESTAMP '2024-07-01 00:00:00'
        UNION ALL SELECT 3, ${cols}, TIMESTAMP '2022-01-01 00:00:00', TIMESTAMP '2022-01-01 00:00:00'
      ) TO '${join(location('wine_features'), 'part-0.parquet')}' (FORMAT PARQUET)`,
    );
    conn.closeSync();
    // An offline push for wine 4, as the feature server writes it (JSON lines, lake timestamps).
    mkdirSync(location('wine_features_push'), { recursive: true });
    const pushed = Object.fromEntries(WINE_FEATURE_NAMES.map((f) => [f, 0.5]));
    writeFileSync(
      join(location('wine_features_push'), '20240502T000000000Z-x.json'),
      `${JSON.stringify({ wine_id: 4, ...pushed, event_timestamp: ts('2024-05-02T00:00:00.000Z'), created: ts('2024-05-02T00:00:00.000Z') })}\n`,
    );

    athena = await AthenaEngine.start({ stateDir, catalog });
    dynamo = await startDynalite();
    const tableResource = stage.resourcesOfType('AWS::DynamoDB::Table')[0]!;
    tableName = stage.physicalName(tableResource);
    await dynamo.createOnlineTable(tableName);
    const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName });

    const fnName = (path: string) =>
      stage.physicalName(stage.resourceAt(`mlops-local/FeatureStore/${path}/Function`)!);
    lambdas = standInLambdas({
      [fnName('MaterializePlan')]: async (payload) => {
        try {
          return await plan(payload);
        } catch (err) {
          throw new FunctionError((err as Error).name, (err as Error).message);
        }
      },
      [fnName('MaterializeWrite')]: async (payload) => {
        const { featureView, queryExecutionId } = payload as {
          featureView: string;
          queryExecutionId: string;
        };
        async function* pages(): AsyncGenerator<AthenaResultSet> {
          let NextToken: string | undefined;
          do {
            const page = (await athena.getQueryResults({
              QueryExecutionId: queryExecutionId,
              NextToken,
            })) as {
              ResultSet: AthenaResultSet;
              NextToken?: string;
            };
            yield page.ResultSet;
            NextToken = page.NextToken;
          } while (NextToken);
        }
        return materializeResults({ repo: wineRepo, featureView, pages: pages(), store });
      },
    });
    const client = new ddb.DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    const machines = loadStateMachines(stage);
    machine = machines[0]!;
    sfn = new LocalStepFunctions({
      stateDir,
      machines,
      integrations: new IntegrationRegistry()
        .use(lambdaIntegrations(lambdas))
        .use(athenaIntegrations(athena))
        .use(
          dynamoDbIntegrations((operation, input) => {
            const Command = (ddb as unknown as Record<string, (new (i: unknown) => never) | undefined>)[
              `${operation}Command`
            ];
            if (!Command) throw new Error(`${operation} is not a DynamoDB operation`);
            return client.send(new Command(input));
          }),
        ),
    });
  });

  afterAll(async () => {
    await athena?.close();
    await dynamo?.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const run = async (name: string, input: unknown) => {
    const { executionArn } = await sfn.startExecution({
      stateMachineArn: machine.arn,
      name,
      input: JSON.stringify(input),
    });
    return sfn.waitForExecution(executionArn);
  };

  it('loads the rows of the window from both tables into the online table and records the window', async () => {
    // Act
    const result = await run('window', { start: '2024-04-01T00:00:00Z', end: '2024-06-01T00:00:00Z' });

    // Assess
    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(JSON.parse(result.output!)).toEqual({
      start: '2024-04-01T00:00:00.000Z',
      end: '2024-06-01T00:00:00.000Z',
      views: [
        {
          featureView: 'wine_features',
          start: '2024-04-01T00:00:00.000Z',
          end: '2024-06-01T00:00:00.000Z',
          queryExecutionId: expect.any(String),
          rowsRead: 2,
          written: 2,
          skippedStale: 0,
          windowRecorded: true,
        },
      ],
    });
    const online = await new DynamoDbOnlineStore({ client: dynamo.doc, tableName }).readMany([
      'wine_features#wine_id=1',
      'wine_features#wine_id=2',
      'wine_features#wine_id=3',
      'wine_features#wine_id=4',
    ]);
    expect([...online.keys()].sort()).toEqual(['wine_features#wine_id=1', 'wine_features#wine_id=4']);
    expect(Object.values(online.get('wine_features#wine_id=1')!.features)).toEqual(FEATURES);
    const record = await dynamo.doc.send(
      new (await import('@aws-sdk/lib-dynamodb')).GetCommand({
        TableName: tableName,
        Key: { pk: 'MATERIALIZATION#wine_features' },
      }),
    );
    expect(record.Item).toMatchObject({
      view: 'wine_features',
      window_start: '2024-04-01T00:00:00.000Z',
      window_end: '2024-06-01T00:00:00.000Z',
      rows_read: 2,
      written: 2,
    });
  });

  it('keeps the newer record when an older window is backfilled', async () => {
    const result = await run('backfill', { start: '2024-01-01T00:00:00Z', end: '2024-02-01T00:00:00Z' });

    expect(result.status, result.cause).toBe('SUCCEEDED');
    expect(JSON.parse(result.output!).views[0]).toMatchObject({ rowsRead: 0, windowRecorded: false });
    const record = await dynamo.doc.send(
      new (await import('@aws-sdk/lib-dynamodb')).GetCommand({
        TableName: tableName,
        Key: { pk: 'MATERIALIZATION#wine_features' },
      }),
    );
    expect(record.Item?.['window_end']).toBe('2024-06-01T00:00:00.000Z');
  });

  it('fails the execution with InvalidMaterializationInput for a window that is not a timestamp', async () => {
    const result = await run('injection', { start: "2024-01-01' OR 1=1 --" });

    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('InvalidMaterializationInput');
    expect(result.cause).toContain('start must be an ISO 8601 timestamp');
    expect(lambdas.calls.filter((c) => (c.payload as { featureView?: string }).featureView)).toHaveLength(2);
  });
});
