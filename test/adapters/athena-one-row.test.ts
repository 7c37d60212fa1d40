/**
 * "Validate data"'s Athena port (`athenaOneRow`) through the Athena SDK client, against the local
 * Athena engine (DuckDB) behind the kit's AWS endpoint: the row it answers, the failure it raises,
 * and how often it looks at a running query (its pauses are recorded, not slept).
 */
import { readFileSync } from 'node:fs';
import { AthenaClient } from '@aws-sdk/client-athena';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AthenaQueryFailedError, athenaOneRow } from '../../lib/adapters/athena/one-row';
import type { AthenaEngine } from '../../lib/local/athena';
import { type AwsEndpoint, startAwsEndpoint } from '../../lib/local/aws-endpoint';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { BUCKETS, type LocalS3, startLocalS3, startTestAthena, textTwinGlueTable, WINE_TABLE } from '../pipelines/helpers';

const DATABASE = 'mlops_test';
let s3: LocalS3;
let athena: AthenaEngine;
let endpoint: AwsEndpoint;
let client: AthenaClient;
/** GetQueryExecution answers RUNNING this many more times before it gives the query's end state. */
let holdRunning = 0;

beforeAll(async () => {
  s3 = await startLocalS3();
  await s3.objects.put(BUCKETS.raw, `${WINE_RAW_PREFIX}winequality-red.csv`, readFileSync(WINE_CSV_PATH), 'text/csv');
  athena = await startTestAthena(s3, DATABASE, [textTwinGlueTable(DATABASE, WINE_TABLE)]);
  endpoint = await startAwsEndpoint({
    services: {
      AmazonAthena: {
        StartQueryExecution: (i) => athena.startQueryExecution(i as never),
        // Answered once the query has ended, so that the RUNNING answers are only the held ones
        // (the pauses are not slept: on a busy machine the real query would still be running).
        GetQueryExecution: async (i) => {
          await athena.waitForQuery((i as { QueryExecutionId: string }).QueryExecutionId);
          const answer = await athena.getQueryExecution(i as never);
          if (holdRunning <= 0) return answer;
          holdRunning--;
          return { QueryExecution: { ...answer.QueryExecution, Status: { ...answer.QueryExecution.Status, State: 'RUNNING' } } };
        },
        GetQueryResults: (i) => athena.getQueryResults(i as never),
      },
    },
  });
  client = new AthenaClient({ endpoint: endpoint.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
});

afterAll(async () => {
  client?.destroy();
  await endpoint?.close();
  athena?.close();
  await s3?.close();
});

const twin = `"${DATABASE}"."${textTwinGlueTable(DATABASE, WINE_TABLE).name}"`;

function query(pauses: number[]) {
  return athenaOneRow(client, { workGroup: 'wg', database: DATABASE }, {
    sleep: async (ms) => {
      pauses.push(ms);
    },
  });
}

describe('athenaOneRow', () => {
  it('answers the aggregate row by column name', async () => {
    const pauses: number[] = [];
    const row = await query(pauses)(`SELECT count(*) AS "rows", max(CAST("quality" AS INTEGER)) AS "top" FROM ${twin}`);
    expect(row).toEqual({ rows: '1599', top: '8' });
  });

  it('looks again after 100 ms, then doubles the pause up to 5 s', async () => {
    const pauses: number[] = [];
    holdRunning = 9;
    const row = await query(pauses)(`SELECT count(*) AS "rows" FROM ${twin}`);
    expect(holdRunning).toBe(0);
    expect(row).toEqual({ rows: '1599' });
    expect(pauses).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
  });

  it("raises the engine's reason when the query fails", async () => {
    const err = await query([])(`SELECT count(*) AS "rows" FROM "${DATABASE}"."no_such_table"`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AthenaQueryFailedError);
    expect((err as Error).message).toMatch(/^the validation query [\w-]+ failed: .*no_such_table/);
  });
});
