import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AthenaCatalog, AthenaEngine, glueTableFromInput, localPathOf } from '../../../lib/local/athena';

const BUCKET = 'lake';
const DB = 'mlops_local';

// CSV in the kit's wine layout (';'-separated, one header line, Hive partitions) plus a Parquet
// table over a prefix nothing has been written to yet.
const catalog: AthenaCatalog = {
  databases: [DB],
  tables: [
    glueTableFromInput(DB, {
      Name: 'wine',
      Parameters: { 'skip.header.line.count': '1' },
      PartitionKeys: [{ Name: 'batch', Type: 'string' }],
      StorageDescriptor: {
        Location: `s3://${BUCKET}/raw/wine/`,
        InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        SerdeInfo: {
          SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
          Parameters: { 'field.delim': ';' },
        },
        Columns: [
          { Name: 'alcohol', Type: 'double' },
          { Name: 'quality', Type: 'int' },
        ],
      },
    }),
    glueTableFromInput(DB, {
      Name: 'features',
      StorageDescriptor: {
        Location: `s3://${BUCKET}/curated/features/`,
        SerdeInfo: { SerializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        Columns: [
          { Name: 'id', Type: 'bigint' },
          { Name: 'score', Type: 'double' },
        ],
      },
    }),
  ],
  workGroups: [
    {
      name: 'wg',
      outputLocation: `s3://${BUCKET}/athena-results/`,
      enforce: true,
      bytesScannedCutoffPerQuery: 1_000_000,
    },
    {
      name: 'tiny',
      outputLocation: `s3://${BUCKET}/athena-results/`,
      enforce: true,
      bytesScannedCutoffPerQuery: 10,
    },
  ],
};

describe('AthenaEngine on DuckDB', () => {
  let stateDir: string;
  let athena: AthenaEngine;

  const run = async (QueryString: string, WorkGroup = 'wg') => {
    const { QueryExecutionId } = await athena.startQueryExecution(
      { QueryString, WorkGroup, QueryExecutionContext: { Database: DB } },
      { label: 'test query' },
    );
    return athena.waitForQuery(QueryExecutionId);
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'mlops-athena-'));
    // The engine starts while no data exists: views over missing prefixes must not fail it.
    athena = await AthenaEngine.start({ stateDir, catalog });
    const wine = join(stateDir, 's3', BUCKET, 'raw', 'wine');
    mkdirSync(join(wine, 'batch=1'), { recursive: true });
    mkdirSync(join(wine, 'batch=2'), { recursive: true });
    // 1 500 rows so results need two pages.
    const rows = (from: number, n: number) =>
      Array.from(
        { length: n },
        (_, i) => `${(9 + ((from + i) % 30) / 10).toFixed(1)};${3 + ((from + i) % 6)}`,
      );
    writeFileSync(
      join(wine, 'batch=1', 'part-0.csv'),
      ['alcohol;quality', ...rows(0, 1000)].join('\n') + '\n',
    );
    writeFileSync(
      join(wine, 'batch=2', 'part-0.csv'),
      ['alcohol;quality', ...rows(1000, 500)].join('\n') + '\n',
    );
    writeFileSync(join(wine, 'batch=2', '_SUCCESS'), 'not data');
  });

  afterAll(() => athena?.close());

  it('reads an empty result from a table whose prefix has no files', async () => {
    const q = await run(`SELECT count(*) AS n FROM ${DB}.features`);
    expect(q.Status.State).toBe('SUCCEEDED');
    const res = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId });
    expect(res.ResultSet.Rows[1]?.Data[0]?.VarCharValue).toBe('0');
  });

  it("answers in Athena's result shape: header row first, typed column info, strings", async () => {
    const q = await run(
      `SELECT quality, count(*) AS n, max(alcohol) AS top, min(batch) AS b FROM ${DB}.wine WHERE quality = 5 GROUP BY quality`,
    );
    expect(q.Status.State).toBe('SUCCEEDED');
    expect(q.Statistics.DataScannedInBytes).toBeGreaterThan(0);
    expect(q.ResultConfiguration.OutputLocation).toBe(
      `s3://${BUCKET}/athena-results/${q.QueryExecutionId}.csv`,
    );
    const res = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId });
    expect(res.ResultSet.ResultSetMetadata.ColumnInfo.map((c) => [c.Name, c.Type])).toEqual([
      ['quality', 'integer'],
      ['n', 'bigint'],
      ['top', 'double'],
      ['b', 'varchar'],
    ]);
    expect(res.ResultSet.Rows[0]).toEqual({
      Data: [
        { VarCharValue: 'quality' },
        { VarCharValue: 'n' },
        { VarCharValue: 'top' },
        { VarCharValue: 'b' },
      ],
    });
    // Quality 5 ⇔ row index i ≡ 2 (mod 6): 250 of 1 500 rows, in both batches; their i mod 30 is
    // 2, 8, 14, 20 or 26, so the top alcohol is 9 + 26/10.
    expect(res.ResultSet.Rows[1]).toEqual({
      Data: [{ VarCharValue: '5' }, { VarCharValue: '250' }, { VarCharValue: '11.6' }, { VarCharValue: '1' }],
    });
    expect(res.NextToken).toBeUndefined();
  });

  it('writes the result CSV (every value quoted) and its metadata under the output location', async () => {
    const q = await run(`SELECT 'a"b' AS s, NULL AS n, 1.0::DOUBLE AS d`);
    const file = localPathOf(stateDir, q.ResultConfiguration.OutputLocation);
    expect(readFileSync(file, 'utf8')).toBe('"s","n","d"\n"a""b",,"1.0"\n');
    expect(existsSync(`${file}.metadata`)).toBe(true);
    const res = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId });
    expect(res.ResultSet.Rows[1]?.Data[1]).toEqual({});
  });

  it('paginates at 1000 rows with NextToken, the header only on the first page', async () => {
    const q = await run(`SELECT alcohol, batch FROM ${DB}.wine`);
    const first = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId });
    expect(first.ResultSet.Rows).toHaveLength(1000);
    expect(first.ResultSet.Rows[0]?.Data[0]?.VarCharValue).toBe('alcohol');
    const second = await athena.getQueryResults({
      QueryExecutionId: q.QueryExecutionId,
      NextToken: first.NextToken,
    });
    // 1 500 data rows + 1 header = 1 501 rows in all.
    expect(second.ResultSet.Rows).toHaveLength(501);
    expect(second.NextToken).toBeUndefined();
    const small = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId, MaxResults: 10 });
    expect(small.ResultSet.Rows).toHaveLength(10);
    expect(small.NextToken).toBeDefined();
    await expect(
      athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId, MaxResults: 1001 }),
    ).rejects.toThrow(/MaxResults must be 1-1000/);
  });

  it('fails a query DuckDB rejects with a reason naming the origin, workgroup and DuckDB message', async () => {
    const q = await run(`SELECT approx_percentile(alcohol, 0.5) FROM ${DB}.wine`);
    expect(q.Status.State).toBe('FAILED');
    expect(q.Status.StateChangeReason).toMatch(/test query, workgroup wg: .*approx_percentile/);
    await expect(athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId })).rejects.toThrow(
      /Current state: FAILED/,
    );
  });

  it('enforces the workgroup scan cutoff on the size of the files the query reads', async () => {
    const q = await run(`SELECT count(*) FROM ${DB}.wine`, 'tiny');
    expect(q.Status.State).toBe('FAILED');
    expect(q.Status.StateChangeReason).toMatch(/Bytes scanned limit was exceeded.*cutoff 10/);
  });

  it('fails if the workgroup does not exist', async () => {
    await expect(athena.startQueryExecution({ QueryString: 'SELECT 1', WorkGroup: 'nope' })).rejects.toThrow(
      /WorkGroup nope is not found/,
    );
  });

  it('runs UNLOAD … WITH (format = PARQUET) into the table prefix, readable back through Glue', async () => {
    const q = await run(
      `UNLOAD (SELECT CAST(quality AS BIGINT) AS id, avg(alcohol) AS score FROM ${DB}.wine GROUP BY quality) ` +
        `TO 's3://${BUCKET}/curated/features/' WITH (format = 'PARQUET')`,
    );
    expect(q.Status.State, q.Status.StateChangeReason).toBe('SUCCEEDED');
    const written = join(stateDir, 's3', BUCKET, 'curated', 'features', `${q.QueryExecutionId}_0.parquet`);
    expect(existsSync(written)).toBe(true);
    const back = await run(`SELECT count(*) AS n, min(id) AS lo FROM ${DB}.features`);
    const res = await athena.getQueryResults({ QueryExecutionId: back.QueryExecutionId });
    expect(res.ResultSet.Rows[1]).toEqual({ Data: [{ VarCharValue: '6' }, { VarCharValue: '3' }] });
    // Athena reads tables, not files: a file reader is refused at the door; the kit's own check
    // queries (dialect duckdb) may read s3:// literals from the local store.
    const direct = `SELECT count(*) FROM read_parquet('s3://${BUCKET}/curated/features/')`;
    await expect(run(direct)).rejects.toThrow(/read_parquet\(…\) is not a table of the catalog/);
    const { QueryExecutionId } = await athena.startQueryExecution(
      { QueryString: direct, WorkGroup: 'wg' },
      { label: 'check', dialect: 'duckdb' },
    );
    const checked = await athena.waitForQuery(QueryExecutionId);
    expect(checked.Status.State, checked.Status.StateChangeReason).toBe('SUCCEEDED');
  });

  it('fails an UNLOAD into a location that holds any object with HIVE_PATH_ALREADY_EXISTS, writing nothing', async () => {
    // prepare: a first UNLOAD fills attempt-a/; a stray object sits deep under attempt-b/
    const unloadTo = (location: string) =>
      run(`UNLOAD (SELECT CAST(quality AS BIGINT) AS q FROM ${DB}.wine) TO '${location}' WITH (format = 'PARQUET')`);
    const a = `s3://${BUCKET}/unload-twice/attempt-a/`;
    const first = await unloadTo(a);
    expect(first.Status.State, first.Status.StateChangeReason).toBe('SUCCEEDED');
    const strayDir = join(stateDir, 's3', BUCKET, 'unload-twice', 'attempt-b', 'deep');
    mkdirSync(strayDir, { recursive: true });
    writeFileSync(join(strayDir, '.hidden'), 'x');
    const dirA = join(stateDir, 's3', BUCKET, 'unload-twice', 'attempt-a');
    const before = readdirSync(dirA).sort();
    // act
    const again = await unloadTo(a);
    const stray = await unloadTo(`s3://${BUCKET}/unload-twice/attempt-b/`);
    const fresh = await unloadTo(`s3://${BUCKET}/unload-twice/attempt-c/`);
    // assess
    expect(again.Status.State).toBe('FAILED');
    expect(again.Status.StateChangeReason).toMatch(
      new RegExp(`^HIVE_PATH_ALREADY_EXISTS: Target directory for UNLOAD already exists: ${a} \\(it holds ${first.QueryExecutionId}_0\\.parquet\\)\\. You may need to manually clean the data at location '${a}' before retrying\\. Athena will not delete data in your account\\. \\(test query, workgroup wg\\)$`),
    );
    expect(readdirSync(dirA).sort()).toEqual(before);
    expect(stray.Status.State).toBe('FAILED');
    expect(stray.Status.StateChangeReason).toContain('(it holds deep/.hidden)');
    expect(fresh.Status.State, fresh.Status.StateChangeReason).toBe('SUCCEEDED');
  });
});
