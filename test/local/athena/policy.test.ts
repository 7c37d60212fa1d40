/**
 * The local Athena's statement policy and DuckDB lock-down, in process: the classifier on its own,
 * then the engine's DuckDB, which must keep to the lake even for the kit's own check queries.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AthenaCatalog,
  AthenaEngine,
  checkSelect,
  glueTableFromInput,
  parseStatement,
  QueryRefused,
  QueryRejected,
} from '../../../lib/local/athena';

const DB = 'lake_db';
const catalog: AthenaCatalog = {
  databases: [DB],
  tables: [
    glueTableFromInput(DB, {
      Name: 'wine',
      StorageDescriptor: {
        Location: 's3://lake/raw/wine/',
        SerdeInfo: {
          SerializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
          Parameters: { 'field.delim': ',' },
        },
        Columns: [
          { Name: 'id', Type: 'int' },
          { Name: 'quality', Type: 'int' },
        ],
      },
    }),
  ],
  workGroups: [{ name: 'wg', outputLocation: 's3://lake/results/', enforce: true }],
};

describe('parseStatement', () => {
  it('classifies the statements Athena runs', () => {
    expect(parseStatement('  -- why\n/* c */ SELECT 1')).toEqual({ kind: 'select', sql: 'SELECT 1' });
    expect(parseStatement("UNLOAD (SELECT 1) TO 's3://b/p/' WITH (format = 'TEXTFILE', field_delimiter = ';');")).toEqual({
      kind: 'unload',
      select: 'SELECT 1',
      target: 's3://b/p/',
      format: { kind: 'textfile', delimiter: ';' },
    });
    expect(
      parseStatement(`CREATE TABLE IF NOT EXISTS "Db".t WITH (format = 'JSON', external_location = 's3://b/t/') AS SELECT 1 WITH NO DATA`),
    ).toEqual({
      kind: 'ctas',
      name: { database: 'db', table: 't' },
      ifNotExists: true,
      select: 'SELECT 1',
      location: 's3://b/t/',
      format: { kind: 'json', delimiter: '\u0001' },
      withData: false,
    });
    expect(parseStatement('SHOW TABLES IN lake_db')).toEqual({ kind: 'show-tables', database: 'lake_db', like: undefined });
    expect(parseStatement('DESCRIBE awsdatacatalog.lake_db.wine')).toEqual({
      kind: 'describe',
      name: { database: 'lake_db', table: 'wine' },
    });
    expect(parseStatement('DROP TABLE IF EXISTS `t`')).toEqual({
      kind: 'drop',
      what: 'table',
      ifExists: true,
      name: { table: 't' },
    });
  });

  it.each([
    "COPY (SELECT 1) TO '/tmp/x'",
    "ATTACH ':memory:'",
    'SET threads = 1',
    'PRAGMA version',
    'INSTALL httpfs',
    'CREATE TABLE t (a INT)',
    "UNLOAD (SELECT 1) TO 's3://b/' WITH (partitioned_by = ARRAY['a'])",
    "UNLOAD (SELECT 1) TO 's3://b/' WITH (format = 'ORC')",
    "UNLOAD (SELECT 1) TO 's3://b/' WITH (format = 'PARQUET') garbage",
    'SHOW CREATE TABLE wine',
    'DESCRIBE wine; DROP TABLE wine',
    '',
  ])('fails if the statement is not one Athena runs: %s', (sql) => {
    expect(() => parseStatement(sql)).toThrow(QueryRejected);
  });
});

describe('checkSelect on DuckDB parse trees', () => {
  let db: DuckDBInstance;
  const check = async (sql: string, dialect: 'athena' | 'duckdb' = 'athena') => {
    const conn = await db.connect();
    try {
      return await checkSelect(conn, sql, { catalog, database: DB, dialect });
    } finally {
      conn.closeSync();
    }
  };
  beforeAll(async () => {
    db = await DuckDBInstance.create(':memory:');
  });
  afterAll(() => db.closeSync());

  it('accepts catalog tables, WITH names in scope and UNNEST; reports the tables read', async () => {
    const checked = await check(
      'WITH w AS (SELECT * FROM wine) SELECT w.id, x FROM w JOIN lake_db.wine v ON v.id = w.id CROSS JOIN UNNEST([1]) AS t(x)',
    );
    expect(checked.tables).toEqual([
      { database: DB, table: 'wine' },
      { table: 'w' },
      { database: DB, table: 'wine' },
    ]);
  });

  it('fails if a WITH name is used outside its scope', async () => {
    await expect(check('SELECT * FROM (WITH w AS (SELECT 1) SELECT * FROM w), w')).rejects.toThrow(
      /TABLE_NOT_FOUND: line 1:55: Table 'awsdatacatalog.lake_db.w' does not exist/,
    );
  });

  it.each([
    ['SELECT 1; SELECT 2', QueryRejected, /Only one sql statement/],
    ["SELECT 1; COPY (SELECT 1) TO '/tmp/x'", QueryRejected, /Only one sql statement/],
    ['DROP VIEW wine', QueryRejected, /only a SELECT can stand here/],
    ["SELECT * FROM read_csv('/etc/passwd')", QueryRejected, /read_csv\(…\) is not a table/],
    ['SELECT * FROM wine, (SELECT * FROM glob(\'/*\'))', QueryRejected, /glob\(…\) is not a table/],
    ["SELECT * FROM '/etc/passwd'", QueryRefused, /TABLE_NOT_FOUND/],
    ['SELECT * FROM other_db.wine', QueryRefused, /TABLE_NOT_FOUND/],
    ["SELECT main.getenv('HOME')", QueryRefused, /Function 'getenv' not registered/],
    ['SELECT * FROM wine WHERE id IN (SELECT duckdb_secrets())', QueryRefused, /duckdb_secrets/],
  ])('fails %s', async (sql, type, why) => {
    const err = await check(sql).catch((e: Error) => e);
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(why);
  });

  it("lets the kit's own check queries read files (the engine's lock-down keeps them in the lake)", async () => {
    await expect(check("SELECT * FROM read_parquet('/x/*.parquet')", 'duckdb')).resolves.toEqual({ tables: [] });
    await expect(check("SELECT * FROM read_text('/etc/passwd')", 'duckdb')).rejects.toThrow(QueryRejected);
  });
});

describe('the engine behind it', () => {
  let stateDir: string;
  let outside: string;
  let athena: AthenaEngine;
  const run = async (sql: string, dialect: 'athena' | 'duckdb' = 'athena') => {
    const { QueryExecutionId } = await athena.startQueryExecution(
      { QueryString: sql, WorkGroup: 'wg', QueryExecutionContext: { Database: DB } },
      { label: 'test', dialect },
    );
    return athena.waitForQuery(QueryExecutionId);
  };

  beforeAll(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'mlops-athena-policy-'));
    outside = mkdtempSync(join(tmpdir(), 'mlops-athena-policy-outside-'));
    writeFileSync(join(outside, 'secret.csv'), 'a,b\n1,2\n');
    mkdirSync(join(stateDir, 's3', 'lake', 'raw', 'wine'), { recursive: true });
    writeFileSync(join(stateDir, 's3', 'lake', 'raw', 'wine', 'part-0.csv'), '1,5\n2,6\n');
    athena = await AthenaEngine.start({ stateDir, catalog });
  });
  afterAll(() => {
    athena?.close();
    rmSync(stateDir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('keeps even a check query in the lake: DuckDB itself refuses host files', async () => {
    const q = await run(`SELECT * FROM read_csv('${join(outside, 'secret.csv')}')`, 'duckdb');
    expect(q.Status.State).toBe('FAILED');
    expect(q.Status.StateChangeReason).toMatch(/Permission Error: Cannot access file/);
    const up = await run(`SELECT * FROM read_csv('${join(stateDir, 's3', 'lake', 'raw', 'wine', '..', '..', '..', '..', '..')}/x')`, 'duckdb');
    expect(up.Status.State).toBe('FAILED');
  });

  it('restores a catalog view that has gone missing before the next query that names it', async () => {
    // prepare: drop the view behind the engine's back (no query may do this)
    const db = (athena as unknown as { db: DuckDBInstance }).db;
    const conn = await db.connect();
    await conn.run(`DROP VIEW ${DB}.wine`);
    conn.closeSync();
    // act
    const q = await run('SELECT count(*) AS n FROM wine');
    // assess
    expect(q.Status.State, q.Status.StateChangeReason).toBe('SUCCEEDED');
    const res = await athena.getQueryResults({ QueryExecutionId: q.QueryExecutionId });
    expect(res.ResultSet.Rows[1]?.Data[0]?.VarCharValue).toBe('2');
  });

  it('has its configuration locked: nothing can widen the lock-down', async () => {
    const db = (athena as unknown as { db: DuckDBInstance }).db;
    const conn = await db.connect();
    try {
      await expect(conn.run('SET enable_external_access = true')).rejects.toThrow(/locked/);
      await expect(conn.run("SET allowed_directories = ['/']")).rejects.toThrow(/locked/);
      await expect(conn.run('LOAD httpfs')).rejects.toThrow();
    } finally {
      conn.closeSync();
    }
  });

  it('writes UNLOAD files under the lake only, named by the query id', async () => {
    const q = await run("UNLOAD (SELECT id FROM wine) TO 's3://lake/out/' WITH (format = 'JSON')");
    expect(q.Status.State, q.Status.StateChangeReason).toBe('SUCCEEDED');
    expect(readdirSync(join(stateDir, 's3', 'lake', 'out'))).toEqual([`${q.QueryExecutionId}.json`]);
    const off = await run("UNLOAD (SELECT 1) TO 's3://lake/../../x/'");
    expect(off.Status.StateChangeReason).toMatch(/a key segment is '\.' or '\.\.'/);
    expect(existsSync(join(stateDir, 'x'))).toBe(false);
  });
});
