/**
 * lambdas/materialize-write.ts end to end: the real Athena SDK client and its paginator, pointed by
 * AWS_ENDPOINT_URL_ATHENA at a minimal in-process server that answers GetQueryResults (Athena's
 * JSON 1.1 protocol) from canned pages — the kit's DuckDB-backed Athena engine is another
 * module's; this checks the Lambda's paging (NextToken), header handling and writes to dynalite.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AthenaResultSet } from '../../lib/features/materialize';
import { DynamoDbOnlineStore } from '../../lib/adapters/dynamodb/online-store';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import { CREDENTIALS, type LocalDynamo, startDynalite } from './helpers';

const COLUMNS = ['wine_id', ...WINE_FEATURE_NAMES, 'event_timestamp', 'created_timestamp'];
const row = (values: (string | undefined)[]) => ({
  Data: values.map((v) => (v === undefined ? {} : { VarCharValue: v })),
});
const wine = (id: number, alcohol: string | undefined) =>
  row([
    String(id),
    ...WINE_FEATURE_NAMES.map((f) => (f === 'alcohol' ? alcohol : '0.5')),
    '2024-05-31 12:00:00.000',
    undefined,
  ]);

/** Three pages as Athena returns them: the header repeated as the first row of the first page only. */
const PAGES: AthenaResultSet[] = [
  {
    ResultSetMetadata: { ColumnInfo: COLUMNS.map((Name) => ({ Name })) },
    Rows: [row(COLUMNS), wine(1, '9.5'), wine(2, '10')],
  },
  {
    ResultSetMetadata: { ColumnInfo: COLUMNS.map((Name) => ({ Name })) },
    Rows: [wine(3, undefined), wine(4, '11.25')],
  },
  { ResultSetMetadata: { ColumnInfo: COLUMNS.map((Name) => ({ Name })) }, Rows: [wine(5, '12')] },
];

let dynamo: LocalDynamo;
let athena: Server;
const requests: { target: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  dynamo = await startDynalite();
  await dynamo.createOnlineTable('online');
  athena = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const body = JSON.parse(text) as { QueryExecutionId: string; NextToken?: string };
      requests.push({ target: String(req.headers['x-amz-target']), body });
      const page = body.NextToken ? Number(body.NextToken) : 0;
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      res.end(
        JSON.stringify({
          ResultSet: PAGES[page],
          ...(page + 1 < PAGES.length ? { NextToken: String(page + 1) } : {}),
        }),
      );
    });
  });
  await new Promise<void>((resolve) => athena.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  vi.unstubAllEnvs();
  await new Promise<void>((resolve) => athena?.close(() => resolve()));
  await dynamo?.close();
});

describe('materialize-write handler', () => {
  it('pages through GetQueryResults and writes every row to the online table', async () => {
    // prepare
    const { port } = athena.address() as { port: number };
    vi.resetModules();
    vi.stubEnv('ONLINE_TABLE_NAME', 'online');
    vi.stubEnv('AWS_ENDPOINT_URL_ATHENA', `http://127.0.0.1:${port}`);
    vi.stubEnv('AWS_ENDPOINT_URL_DYNAMODB', dynamo.endpoint);
    vi.stubEnv('AWS_REGION', 'us-east-1');
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey);
    vi.stubEnv('POWERTOOLS_LOG_LEVEL', 'SILENT');
    const { handler } = await import('../../lambdas/materialize-write');
    // act
    const result = await handler({ featureView: 'wine_features', queryExecutionId: 'q-1' });
    // assess
    expect(result).toEqual({ featureView: 'wine_features', rowsRead: 5, written: 5, skippedStale: 0 });
    expect(requests.map((r) => [r.target, r.body['QueryExecutionId'], r.body['NextToken']])).toEqual([
      ['AmazonAthena.GetQueryResults', 'q-1', undefined],
      ['AmazonAthena.GetQueryResults', 'q-1', '1'],
      ['AmazonAthena.GetQueryResults', 'q-1', '2'],
    ]);
    const store = new DynamoDbOnlineStore({ client: dynamo.doc, tableName: 'online' });
    const rows = await store.readMany([1, 3, 4].map((id) => `wine_features#wine_id=${id}`));
    expect(rows.get('wine_features#wine_id=1')?.features['alcohol']).toBe(9.5);
    expect(rows.get('wine_features#wine_id=3')?.features['alcohol']).toBeNull();
    expect(rows.get('wine_features#wine_id=4')).toMatchObject({
      features: { alcohol: 11.25 },
      eventTimeMs: Date.parse('2024-05-31T12:00:00Z'),
      createdTimeMs: 0,
    });
  });

  it('rejects an input without a query id', async () => {
    const { handler } = await import('../../lambdas/materialize-write');
    await expect(handler({ featureView: 'wine_features' })).rejects.toThrow(/queryExecutionId/);
  });
});
