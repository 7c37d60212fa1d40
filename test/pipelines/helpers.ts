/**
 * Test helpers: the local S3 engine behind a real endpoint, an S3 client for it, and the wine
 * table as the lake catalog describes it.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { expect } from 'vitest';
import { AthenaEngine, type GlueTable, glueTableFromInput, type QueryOrigin } from '../../lib/local/athena';
import { WINE_COLUMNS, WINE_RAW_PREFIX } from '../../lib/datasets/wine';
import { type S3Server, S3Store, startS3Server } from '../../lib/local/s3';
import type { LakeTable } from '../../lib/pipelines/catalog';
import type { DataVersion } from '../../lib/pipelines/data-version';
import { textTwinName } from '../../lib/pipelines/validate-sql';
import { type S3Objects, s3Objects } from '../../lib/adapters/s3/objects';

export const BUCKETS = {
  raw: 'lake-raw',
  curated: 'lake-curated',
  artifacts: 'lake-artifacts',
  results: 'lake-results',
};

export const WINE_TABLE: LakeTable = {
  name: 'winequality_red_raw',
  location: `s3://${BUCKETS.raw}/${WINE_RAW_PREFIX}`,
  format: 'csv',
  delimiter: ';',
  skipHeader: 1,
  columns: WINE_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
};

export interface LocalS3 {
  readonly stateDir: string;
  readonly client: S3Client;
  readonly objects: S3Objects;
  /** The engine's store itself: fixtures written through it skip the HTTP round trip. */
  readonly store: S3Store;
  /** Every key in a bucket. */
  keys(bucket: string): Promise<string[]>;
  close(): Promise<void>;
}

export async function startLocalS3(): Promise<LocalS3> {
  const stateDir = await mkdtemp(join(tmpdir(), 'mlops-pipelines-'));
  const store = await S3Store.open(stateDir, Object.values(BUCKETS));
  const server: S3Server = await startS3Server({ store });
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    stateDir,
    client,
    objects: s3Objects(client),
    store,
    async keys(bucket) {
      const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
      return (out.Contents ?? []).map((o) => o.Key!).sort();
    },
    async close() {
      client.destroy();
      await server.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A test's own check query: DuckDB's dialect, reading s3:// literals from the lake. */
export const CHECK_QUERY: QueryOrigin = { label: 'a test check query', dialect: 'duckdb' };

/**
 * Runs a query on the local Athena engine and asserts it succeeded; returns the execution. Pass
 * {@link CHECK_QUERY} for a test's own check in DuckDB's dialect (e.g. `read_parquet('s3://…')`).
 */
export async function runQuery(
  athena: AthenaEngine,
  sql: string,
  database: string,
  workGroup = 'wg',
  origin?: QueryOrigin,
) {
  const { QueryExecutionId } = await athena.startQueryExecution(
    {
      QueryString: sql,
      WorkGroup: workGroup,
      QueryExecutionContext: { Database: database },
    },
    origin,
  );
  const execution = await athena.waitForQuery(QueryExecutionId);
  expect(execution.Status.StateChangeReason ?? '').toBe('');
  expect(execution.Status.State).toBe('SUCCEEDED');
  return execution;
}

/** The error a promise rejects with; fails the test if it resolves. */
export async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the step to fail');
}

/** A CSV lake table (one header line) as the Glue table the local Athena engine reads. */
export function csvGlueTable(database: string, table: LakeTable): GlueTable {
  return glueTableFromInput(database, {
    Name: table.name,
    Parameters: { classification: 'csv', 'skip.header.line.count': String(table.skipHeader) },
    StorageDescriptor: {
      Location: table.location,
      Columns: table.columns.map((c) => ({ Name: c.name, Type: c.type })),
      InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
      SerdeInfo: {
        SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
        Parameters: { 'field.delim': table.delimiter ?? ',' },
      },
    },
  });
}

/**
 * The data version a plan names (`plan.data_version.uri`), read from the local S3 engine, after
 * checking its bytes against the plan's `sha256`.
 */
export async function readDataVersion(
  s3: LocalS3,
  ref: { readonly uri: string; readonly sha256: string },
): Promise<DataVersion> {
  const m = /^s3:\/\/([^/]+)\/(.+)$/.exec(ref.uri)!;
  const { body } = await s3.objects.get(m[1]!, m[2]!);
  expect(createHash('sha256').update(body).digest('hex')).toBe(ref.sha256);
  return JSON.parse(Buffer.from(body).toString('utf8')) as DataVersion;
}

/** "Validate data"'s aggregate port over the local Athena engine (as the Athena SDK client gives it on AWS). */
export function engineAggregate(athena: AthenaEngine, database: string, workGroup = 'wg') {
  return async (sql: string): Promise<Record<string, string | null>> => {
    const { QueryExecutionId } = await athena.startQueryExecution({
      QueryString: sql,
      WorkGroup: workGroup,
      QueryExecutionContext: { Database: database },
    });
    const execution = await athena.waitForQuery(QueryExecutionId);
    if (execution.Status.State !== 'SUCCEEDED') throw new Error(`query failed: ${execution.Status.StateChangeReason}`);
    const page = await athena.getQueryResults({ QueryExecutionId });
    const [names, values] = page.ResultSet.Rows.map((r) => r.Data.map((d) => d.VarCharValue ?? null));
    return Object.fromEntries(names!.map((n, i) => [String(n), values![i] ?? null]));
  };
}

/** A CSV lake table's text twin (every column a string), as the data lake registers it beside it. */
export function textTwinGlueTable(database: string, table: LakeTable): GlueTable {
  return csvGlueTable(database, {
    ...table,
    name: textTwinName(table.name),
    columns: table.columns.map((c) => ({ name: c.name, type: 'string' })),
  });
}

/** The local Athena engine over the test's S3 state with the given Glue tables and workgroup `wg`. */
export function startTestAthena(s3: LocalS3, database: string, tables: readonly GlueTable[]): Promise<AthenaEngine> {
  return AthenaEngine.start({
    stateDir: s3.stateDir,
    catalog: {
      databases: [database],
      tables,
      workGroups: [{ name: 'wg', outputLocation: `s3://${BUCKETS.results}/results/`, enforce: true }],
    },
  });
}

/** The rows of a DuckDB SELECT as the bytes of a Parquet file (what an UNLOAD part holds). */
export async function parquetOf(select: string): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-parquet-'));
  try {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const conn = await (await DuckDBInstance.create(':memory:')).connect();
    const file = join(dir, 'part.parquet');
    await conn.run(`COPY (${select}) TO '${file}' (FORMAT PARQUET)`);
    conn.closeSync();
    return await readFile(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
