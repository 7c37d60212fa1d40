/**
 * The local Athena through its real door: the AWS SDK v3 Athena client against a started platform.
 * Every way the DuckDB behind it could reach the host (files, databases, settings, extensions) or
 * break the catalog the pipelines read is tried; none may work, and the platform keeps answering.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  type QueryExecution,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../../lib/constructs/mlops-function';
import { type LocalPlatform, startPlatform } from '../../../lib/local/platform';
import { sessionFor } from '../../../lib/local/session';
import { FIXTURE_STAGE, synthFixture } from '../platform/fixture';

const assemblyDir = synthFixture();
const stateDir = mkdtempSync(join(tmpdir(), 'mlops-athena-escape-'));
// Where an escape would write: outside the state dir, and checked empty after each attempt.
const outside = mkdtempSync(join(tmpdir(), 'mlops-athena-outside-'));
const WG = 'fixture-wg';
const DB = 'fixture_db';
let platform: LocalPlatform;
let athena: AthenaClient;
let dataBucket: string;
let resultsBucket: string;

const bucketOf = (p: LocalPlatform, id: string) =>
  p.stage.physicalName(
    p.stage.resourcesOfType('AWS::S3::Bucket').find((b) => b.constructPath?.includes(`/${id}/`))!,
  );

/** Starts a query; resolves with the finished execution, or rejects with the API error. */
async function query(sql: string, database: string | undefined = DB): Promise<QueryExecution> {
  const { QueryExecutionId } = await athena.send(
    new StartQueryExecutionCommand({
      QueryString: sql,
      WorkGroup: WG,
      ...(database ? { QueryExecutionContext: { Database: database } } : {}),
    }),
  );
  for (;;) {
    const { QueryExecution } = await athena.send(new GetQueryExecutionCommand({ QueryExecutionId }));
    if (!['QUEUED', 'RUNNING'].includes(QueryExecution!.Status!.State!)) return QueryExecution!;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function rows(sql: string): Promise<string[][]> {
  const q = await query(sql);
  expect(q.Status?.State, q.Status?.StateChangeReason).toBe('SUCCEEDED');
  const page = await athena.send(new GetQueryResultsCommand({ QueryExecutionId: q.QueryExecutionId }));
  return (page.ResultSet?.Rows ?? []).map((r) => (r.Data ?? []).map((d) => d.VarCharValue ?? ''));
}

/** The API error a query is refused with at StartQueryExecution (fails the test if it is accepted). */
async function rejected(sql: string): Promise<{ name: string; message: string; status?: number }> {
  try {
    const q = await query(sql);
    throw new Error(`expected StartQueryExecution to refuse ${sql}, but it ran and ended ${q.Status?.State}`);
  } catch (err) {
    const e = err as Error & { $metadata?: { httpStatusCode?: number } };
    if (!e.$metadata) throw err;
    return { name: e.name, message: e.message, status: e.$metadata.httpStatusCode };
  }
}

async function failed(sql: string): Promise<string> {
  const q = await query(sql);
  expect(q.Status?.State, `${sql} must fail`).toBe('FAILED');
  return q.Status!.StateChangeReason!;
}

beforeAll(async () => {
  // prepare: the platform from the fixture assembly, three rows in the lake's table
  platform = await startPlatform({ stateDir, assemblyDir, stageName: FIXTURE_STAGE });
  athena = sessionFor(platform.info, false).athena;
  dataBucket = bucketOf(platform, 'Data');
  resultsBucket = bucketOf(platform, 'Results');
  const s3 = new S3Client({
    endpoint: platform.info.s3Endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(
    new PutObjectCommand({ Bucket: dataBucket, Key: 'data/rows.csv', Body: 'id,score\n1,0.5\n2,1.5\n3,2\n' }),
  );
  s3.destroy();
}, 180_000);

afterAll(async () => {
  await platform?.close();
  for (const dir of [stateDir, assemblyDir, outside]) rmSync(dir, { recursive: true, force: true });
});

describe('the local Athena refuses what Athena refuses', () => {
  it.each([
    [`COPY (SELECT 42) TO '${join(outside, 'pwn.csv')}'`, /mismatched input 'COPY'/],
    [`EXPORT DATABASE '${outside}'`, /mismatched input 'EXPORT'/],
    [`IMPORT DATABASE '${outside}'`, /mismatched input 'IMPORT'/],
    ["ATTACH ':memory:' AS m", /mismatched input 'ATTACH'/],
    [`ATTACH '${join(outside, 'x.db')}' AS f`, /mismatched input 'ATTACH'/],
    ['DETACH m', /mismatched input 'DETACH'/],
    ['SET threads = 1', /mismatched input 'SET'/],
    ['SET enable_external_access = true', /mismatched input 'SET'/],
    ['RESET allowed_directories', /mismatched input 'RESET'/],
    ['PRAGMA enable_profiling', /mismatched input 'PRAGMA'/],
    ['INSTALL httpfs', /mismatched input 'INSTALL'/],
    ['LOAD httpfs', /mismatched input 'LOAD'/],
    ['CALL pragma_version()', /mismatched input 'CALL'/],
    ['CHECKPOINT', /mismatched input 'CHECKPOINT'/],
    ['USE main', /mismatched input 'USE'/],
    [`INSERT INTO ${DB}.rows VALUES (4, 1.0)`, /not supported by the local Athena: INSERT/],
    [`DELETE FROM ${DB}.rows`, /not supported by the local Athena: DELETE/],
    ['CREATE TABLE t (a INT)', /only CREATE it runs is CREATE TABLE … AS SELECT/],
    ['CREATE VIEW v AS SELECT 1', /only CREATE it runs is CREATE TABLE … AS SELECT/],
    ['CREATE MACRO m(x) AS x', /only CREATE it runs is CREATE TABLE … AS SELECT/],
    ["CREATE SECRET s (TYPE s3, KEY_ID 'x', SECRET 'y')", /only CREATE it runs/],
    [`SELECT 1; DROP VIEW ${DB}.rows`, /Only one sql statement is allowed/],
    ['SELECT 1; SELECT 2', /Only one sql statement is allowed/],
    [`SELECT 1 -- a comment\n; COPY (SELECT 1) TO '${join(outside, 'c.csv')}'`, /Only one sql statement/],
    [`/* SELECT */ ATTACH ':memory:' AS m`, /mismatched input 'ATTACH'/],
    [`-- SELECT\nPRAGMA enable_profiling`, /mismatched input 'PRAGMA'/],
    ["SELECT * FROM read_csv('/etc/passwd')", /read_csv\(…\) is not a table of the catalog/],
    ["SELECT * FROM read_csv_auto('/etc/passwd')", /read_csv_auto\(…\) is not a table/],
    ["SELECT * FROM read_text('/etc/passwd')", /read_text\(…\) is not a table/],
    ["SELECT * FROM read_blob('/etc/passwd')", /read_blob\(…\) is not a table/],
    ["SELECT * FROM read_json('/etc/passwd')", /read_json\(…\) is not a table/],
    ["SELECT * FROM parquet_scan('/etc/passwd')", /parquet_scan\(…\) is not a table/],
    ["SELECT * FROM glob('/etc/*')", /glob\(…\) is not a table/],
    ["SELECT * FROM sniff_csv('/etc/passwd')", /sniff_csv\(…\) is not a table/],
    ["SELECT * FROM query('SELECT 1')", /query\(…\) is not a table/],
    ['SELECT * FROM duckdb_settings()', /duckdb_settings\(…\) is not a table/],
    [`SELECT * FROM ${DB}.rows, read_text('/etc/hostname')`, /read_text\(…\) is not a table/],
    [`WITH x AS (SELECT * FROM read_text('/etc/hostname')) SELECT * FROM x`, /read_text\(…\) is not a table/],
    [`SELECT (SELECT content FROM read_text('/etc/hostname'))`, /read_text\(…\) is not a table/],
    ['SELECT * FROM (DESCRIBE SELECT 1)', /not Athena SQL/],
    ['SUMMARIZE SELECT 1', /mismatched input 'SUMMARIZE'/],
    ['SELEC 1', /mismatched input 'SELEC' \(syntax error\)/],
    ['SELECT FROM WHERE', /syntax error/],
  ])('refuses %s with InvalidRequestException (400), touching nothing', async (sql, why) => {
    const e = await rejected(sql);
    expect(e).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    expect(e.message).toMatch(why);
    expect(readdirSync(outside)).toEqual([]);
  });

  it.each([
    ["SELECT * FROM '/etc/passwd'", /TABLE_NOT_FOUND: .*Table 'awsdatacatalog\.fixture_db\.\/etc\/passwd' does not exist/],
    ['SELECT * FROM "/etc/passwd"', /TABLE_NOT_FOUND/],
    ['SELECT * FROM information_schema.tables', /TABLE_NOT_FOUND/],
    ['SELECT * FROM system.main.duckdb_settings', /TABLE_NOT_FOUND/],
    ['SELECT * FROM duckdb_settings', /TABLE_NOT_FOUND/],
    ['SELECT * FROM sqlite_master', /TABLE_NOT_FOUND/],
    ['SELECT * FROM memory.main.anything', /TABLE_NOT_FOUND/],
    ["SELECT getenv('HOME')", /FUNCTION_NOT_FOUND: line 1:8: Function 'getenv' not registered/],
    ["SELECT current_setting('allowed_directories')", /FUNCTION_NOT_FOUND.*current_setting/],
    ["SELECT upper(current_setting('temp_directory'))", /FUNCTION_NOT_FOUND.*current_setting/],
    ['SELECT pg_sleep(100)', /FUNCTION_NOT_FOUND.*pg_sleep/],
    ["SELECT write_log('x')", /FUNCTION_NOT_FOUND.*write_log/],
  ])('fails %s as Athena does (FAILED, a reason)', async (sql, why) => {
    expect(await failed(sql)).toMatch(why);
  });

  it('keeps strings strings: a statement inside a literal is only text', async () => {
    const target = join(outside, 'in-string.csv');
    expect(await rows(`SELECT '; COPY (SELECT 1) TO ''${target}''' AS s`)).toEqual([
      ['s'],
      [`; COPY (SELECT 1) TO '${target}'`],
    ]);
    expect(existsSync(target)).toBe(false);
  });

  it('writes UNLOAD and CTAS output only to s3:// prefixes of the lake', async () => {
    const escapes = [
      `UNLOAD (SELECT 1) TO '${outside}/' WITH (format = 'TEXTFILE')`,
      `UNLOAD (SELECT 1) TO 'file://${outside}/' WITH (format = 'TEXTFILE')`,
      `UNLOAD (SELECT 1) TO 's3://${resultsBucket}/../../../../../../..${outside}/'`,
      `UNLOAD (SELECT 1) TO 's3://no-such-bucket/x/'`,
      `CREATE TABLE ${DB}.escaped WITH (external_location = '${outside}/') AS SELECT 1 AS a`,
      `CREATE TABLE ${DB}.escaped WITH (external_location = 's3://${dataBucket}/x/../../../../..${outside}/') AS SELECT 1 AS a`,
    ];
    for (const sql of escapes) expect(await failed(sql)).toMatch(/location must be an s3:\/\/bucket\/prefix\//);
    // A second statement smuggled after an UNLOAD is caught by the parser, not run.
    const smuggled = await rejected(
      `UNLOAD (SELECT 1) TO 's3://${resultsBucket}/u/' WITH (format = 'PARQUET'); COPY (SELECT 1) TO '${join(outside, 'u.csv')}'`,
    );
    expect(smuggled).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    expect(smuggled.message).toMatch(/Only one sql statement|syntax error/);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("refuses to drop the kit's catalog, which the pipelines keep reading", async () => {
    for (const sql of [`DROP VIEW ${DB}.rows`, `DROP TABLE ${DB}.rows`, 'DROP TABLE rows', `DROP DATABASE ${DB}`]) {
      expect(await failed(sql)).toMatch(/AccessDeniedException: .*belongs to the kit's catalog/);
    }
    expect(await rows(`SELECT count(*) AS n, sum(score) AS total FROM ${DB}.rows`)).toEqual([
      ['n', 'total'],
      ['3', '4.0'],
    ]);
  });
});

describe('the local Athena runs what Athena runs', () => {
  it('SELECT, WITH and VALUES on catalog tables, with or without the database context', async () => {
    expect(await rows('SELECT id FROM rows WHERE score > 1 ORDER BY id')).toEqual([['id'], ['2'], ['3']]);
    expect(
      await rows(`WITH top AS (SELECT * FROM "awsdatacatalog"."${DB}"."rows" WHERE id > 1) SELECT count(*) AS n FROM top`),
    ).toEqual([['n'], ['2']]);
    const q = await query(`SELECT max(id) AS m FROM ${DB}.rows CROSS JOIN UNNEST(ARRAY[1, 2]) AS t(x)`, undefined);
    expect(q.Status?.State, q.Status?.StateChangeReason).toBe('SUCCEEDED');
    expect(await rows('VALUES (1, 2)')).toHaveLength(2);
  });

  it('SHOW and DESCRIBE from the catalog', async () => {
    expect(await rows('SHOW DATABASES')).toEqual([[DB]]);
    expect(await rows(`SHOW TABLES IN ${DB}`)).toEqual([['rows']]);
    expect(await rows("SHOW TABLES 'r*'")).toEqual([['rows']]);
    expect(await rows('SHOW COLUMNS IN rows')).toEqual([['id'], ['score']]);
    expect(await rows(`DESCRIBE ${DB}.rows`)).toEqual([['id\tint\t'], ['score\tdouble\t']]);
    expect(await failed('DESCRIBE nope')).toMatch(/TABLE_NOT_FOUND/);
  });

  it('UNLOAD into the lake, CTAS to a new table that can be queried and dropped', async () => {
    const unload = await query(
      `UNLOAD (SELECT id, score FROM ${DB}.rows) TO 's3://${resultsBucket}/unloaded/' WITH (format = 'PARQUET')`,
    );
    expect(unload.Status?.State, unload.Status?.StateChangeReason).toBe('SUCCEEDED');
    expect(readdirSync(join(stateDir, 's3', resultsBucket, 'unloaded'))).toEqual([
      `${unload.QueryExecutionId}_0.parquet`,
    ]);
    const ctas = await query(
      `CREATE TABLE ${DB}.doubled WITH (format = 'TEXTFILE', field_delimiter = ',') AS SELECT id, score * 2 AS twice FROM rows`,
    );
    expect(ctas.Status?.State, ctas.Status?.StateChangeReason).toBe('SUCCEEDED');
    expect(ctas.StatementType).toBe('DDL');
    expect(await rows('SELECT sum(twice) AS s FROM doubled')).toEqual([['s'], ['8.0']]);
    expect(await failed(`CREATE TABLE ${DB}.doubled AS SELECT 1 AS a`)).toMatch(/TABLE_ALREADY_EXISTS/);
    expect((await query(`DROP TABLE ${DB}.doubled`)).Status?.State).toBe('SUCCEEDED');
    expect(await failed('SELECT * FROM doubled')).toMatch(/TABLE_NOT_FOUND/);
  });

  it('answers a QueryString that is not a string with InvalidRequestException, not a 500', async () => {
    const e = await rejected(5 as never);
    expect(e).toMatchObject({ name: 'InvalidRequestException', status: 400 });
    expect(e.message).toMatch(/QueryString must be a string, but 5 was provided/);
  });

  it('serves `mlops query` as before', async () => {
    await platform.publish();
    const out = await new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          `${PROJECT_ROOT}bin/mlops.mjs`,
          'query',
          'SELECT id, count(*) AS n FROM rows GROUP BY 1 ORDER BY 1',
          '--database',
          DB,
          '--work-group',
          WG,
          '--json',
          '--state-dir',
          stateDir,
        ],
        { timeout: 120_000 },
        (err, stdout, stderr) =>
          resolve({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(out.status, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual([
      { id: '1', n: '1' },
      { id: '2', n: '1' },
      { id: '3', n: '1' },
    ]);
  });
});
