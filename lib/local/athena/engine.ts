/**
 * The local Athena: the Athena API the kit calls (`StartQueryExecution`, `GetQueryExecution`,
 * `GetQueryResults`) answered by DuckDB over the files the S3 engine keeps on disk.
 *
 * - Glue databases are DuckDB schemas and Glue tables are views, so `SELECT … FROM db.table` runs
 *   as written. Views are rebuilt before each query whose tables' file sets changed, so objects
 *   written after start are seen, and an empty prefix is an empty table instead of an error.
 * - Results are written as `<QueryExecutionId>.csv` (+ `.csv.metadata`) under the output location,
 *   in Athena's CSV dialect (every value quoted, NULL as an empty field).
 * - The workgroup's `BytesScannedCutoffPerQuery` is enforced before the query runs, on an estimate:
 *   the total size of the files of every Glue table the query names plus the files its `s3://`
 *   literals name. Athena counts bytes actually read (less with Parquet column pruning), so the
 *   local check is stricter, never looser.
 * - A query DuckDB rejects ends FAILED with a reason naming who ran it and DuckDB's message; the
 *   engine itself never throws for bad SQL.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBResultReader } from '@duckdb/node-api';
import { layout } from '../layout';
import { type AthenaCatalog, dataFiles, type GlueTable, ident, localPathOf, viewSelect } from './catalog';
import { translateQuery } from './sql';

export type QueryState = 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface StartQueryExecutionInput {
  QueryString: string;
  QueryExecutionContext?: { Database?: string; Catalog?: string };
  ResultConfiguration?: { OutputLocation?: string };
  WorkGroup?: string;
  ClientRequestToken?: string;
  ExecutionParameters?: string[];
}

/** Who asked, for failure messages (e.g. `state CountByQuality of state machine training`). */
export interface QueryOrigin {
  readonly label?: string;
}

export interface QueryExecution {
  QueryExecutionId: string;
  Query: string;
  StatementType: 'DML' | 'DDL' | 'UTILITY';
  ResultConfiguration: { OutputLocation: string };
  QueryExecutionContext: { Database?: string; Catalog: string };
  Status: {
    State: QueryState;
    StateChangeReason?: string;
    SubmissionDateTime: Date;
    CompletionDateTime?: Date;
    AthenaError?: { ErrorCategory: number; ErrorType: number; Retryable: boolean; ErrorMessage: string };
  };
  Statistics: {
    EngineExecutionTimeInMillis: number;
    DataScannedInBytes: number;
    TotalExecutionTimeInMillis: number;
    QueryQueueTimeInMillis: number;
    QueryPlanningTimeInMillis: number;
    ServiceProcessingTimeInMillis: number;
    ResultReuseInformation: { ReusedPreviousResult: boolean };
  };
  WorkGroup: string;
  EngineVersion: { SelectedEngineVersion: string; EffectiveEngineVersion: string };
  SubstatementType?: string;
}

export interface ColumnInfo {
  CatalogName: string;
  SchemaName: string;
  TableName: string;
  Name: string;
  Label: string;
  Type: string;
  Precision: number;
  Scale: number;
  Nullable: 'UNKNOWN';
  CaseSensitive: boolean;
}

export interface GetQueryResultsOutput {
  UpdateCount: number;
  ResultSet: {
    Rows: { Data: { VarCharValue?: string }[] }[];
    ResultSetMetadata: { ColumnInfo: ColumnInfo[] };
  };
  NextToken?: string;
}

/** An Athena API error (the SDK's `InvalidRequestException` and friends). */
export class AthenaError extends Error {
  constructor(
    readonly code: 'InvalidRequestException' | 'ResourceNotFoundException',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export interface AthenaEngineOptions {
  readonly stateDir: string;
  readonly catalog: AthenaCatalog;
}

interface Stored {
  execution: QueryExecution;
  done: Promise<void>;
  columns: ColumnInfo[];
  rows: (string | null)[][];
  updateCount: number;
}

const MAX_PAGE = 1000;
const PRIMARY = 'primary';

/**
 * @example
 * const athena = await AthenaEngine.start({ stateDir, catalog: catalogFromAssembly(stage) });
 * const { QueryExecutionId } = await athena.startQueryExecution({ QueryString: 'SELECT 1', WorkGroup: 'wg' });
 * await athena.waitForQuery(QueryExecutionId);
 * const page = await athena.getQueryResults({ QueryExecutionId });
 */
export class AthenaEngine {
  private readonly executions = new Map<string, Stored>();
  private readonly viewFiles = new Map<GlueTable, string>();
  /** Serializes view rebuilds: concurrent queries would otherwise race on CREATE OR REPLACE. */
  private viewLock: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: DuckDBInstance,
    private readonly options: AthenaEngineOptions,
  ) {}

  /** Starts DuckDB (in memory, spilling to `<stateDir>/athena`) and creates one schema per Glue database. */
  static async start(options: AthenaEngineOptions): Promise<AthenaEngine> {
    const scratch = layout(options.stateDir).athena;
    mkdirSync(scratch, { recursive: true });
    const db = await DuckDBInstance.create(':memory:', { temp_directory: join(scratch, 'tmp') });
    const engine = new AthenaEngine(db, options);
    const conn = await db.connect();
    try {
      for (const d of options.catalog.databases) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${ident(d)}`);
    } finally {
      conn.closeSync();
    }
    await engine.refreshViews(options.catalog.tables);
    return engine;
  }

  close(): void {
    this.db.closeSync();
  }

  /**
   * Starts a query; it runs in the background. Unknown workgroups fail like Athena's
   * `InvalidRequestException`.
   */
  async startQueryExecution(
    input: StartQueryExecutionInput,
    origin: QueryOrigin = {},
  ): Promise<{ QueryExecutionId: string }> {
    if (!input.QueryString?.trim())
      throw new AthenaError('InvalidRequestException', 'QueryString must not be empty');
    const wgName = input.WorkGroup ?? PRIMARY;
    const wg = this.options.catalog.workGroups.find((w) => w.name === wgName);
    if (!wg && wgName !== PRIMARY) {
      throw new AthenaError('InvalidRequestException', `WorkGroup ${wgName} is not found.`);
    }
    const requested = input.ResultConfiguration?.OutputLocation;
    const base =
      (wg?.enforce ? (wg.outputLocation ?? requested) : (requested ?? wg?.outputLocation)) ?? undefined;
    if (!base) {
      throw new AthenaError(
        'InvalidRequestException',
        `No output location provided. An output location is required either through the Workgroup result configuration setting or as an API input (workgroup ${wgName}).`,
      );
    }
    const id = randomUUID();
    const execution: QueryExecution = {
      QueryExecutionId: id,
      Query: input.QueryString,
      StatementType: 'DML',
      ResultConfiguration: { OutputLocation: `${base.replace(/\/+$/, '')}/${id}.csv` },
      QueryExecutionContext: { Database: input.QueryExecutionContext?.Database, Catalog: 'AwsDataCatalog' },
      Status: { State: 'QUEUED', SubmissionDateTime: new Date() },
      Statistics: {
        EngineExecutionTimeInMillis: 0,
        DataScannedInBytes: 0,
        TotalExecutionTimeInMillis: 0,
        QueryQueueTimeInMillis: 0,
        QueryPlanningTimeInMillis: 0,
        ServiceProcessingTimeInMillis: 0,
        ResultReuseInformation: { ReusedPreviousResult: false },
      },
      WorkGroup: wgName,
      EngineVersion: { SelectedEngineVersion: 'AUTO', EffectiveEngineVersion: 'Athena engine version 3' },
    };
    const stored: Stored = { execution, done: Promise.resolve(), columns: [], rows: [], updateCount: 0 };
    this.executions.set(id, stored);
    stored.done = this.run(stored, input, wg?.bytesScannedCutoffPerQuery, origin);
    return { QueryExecutionId: id };
  }

  async getQueryExecution(input: { QueryExecutionId: string }): Promise<{ QueryExecution: QueryExecution }> {
    return { QueryExecution: structuredClone(this.stored(input.QueryExecutionId).execution) };
  }

  /** Resolves when the query has left QUEUED/RUNNING (what a `.sync` integration waits for). */
  async waitForQuery(queryExecutionId: string): Promise<QueryExecution> {
    const s = this.stored(queryExecutionId);
    await s.done;
    return structuredClone(s.execution);
  }

  /**
   * Results in Athena's shape: the header row first (first page only), every value a string in
   * `VarCharValue` (NULL → `{}`), at most 1000 rows a page with `NextToken` for the rest.
   */
  async getQueryResults(input: {
    QueryExecutionId: string;
    NextToken?: string;
    MaxResults?: number;
  }): Promise<GetQueryResultsOutput> {
    const s = this.stored(input.QueryExecutionId);
    const state = s.execution.Status.State;
    if (state !== 'SUCCEEDED') {
      const why = state === 'FAILED' ? `: ${s.execution.Status.StateChangeReason}` : '';
      throw new AthenaError(
        'InvalidRequestException',
        `Query has not yet finished. Current state: ${state}${why}`,
      );
    }
    const max = input.MaxResults ?? MAX_PAGE;
    if (!Number.isInteger(max) || max < 1 || max > MAX_PAGE) {
      throw new AthenaError(
        'InvalidRequestException',
        `MaxResults must be 1-${MAX_PAGE}, but ${max} was provided`,
      );
    }
    const all =
      s.execution.StatementType === 'DML' && s.columns.length > 0
        ? [s.columns.map((c) => c.Name), ...s.rows]
        : s.rows;
    const start = input.NextToken ? decodeToken(input.NextToken, input.QueryExecutionId) : 0;
    const page = all.slice(start, start + max);
    const next = start + max < all.length ? encodeToken(input.QueryExecutionId, start + max) : undefined;
    return {
      UpdateCount: s.updateCount,
      ResultSet: {
        Rows: page.map((r) => ({ Data: r.map((v) => (v === null ? {} : { VarCharValue: v })) })),
        ResultSetMetadata: { ColumnInfo: structuredClone(s.columns) },
      },
      ...(next ? { NextToken: next } : {}),
    };
  }

  /** Lists executions, newest first (for the CLI). */
  listQueryExecutions(): QueryExecution[] {
    return [...this.executions.values()]
      .map((s) => structuredClone(s.execution))
      .sort((a, b) => b.Status.SubmissionDateTime.getTime() - a.Status.SubmissionDateTime.getTime());
  }

  private stored(id: string): Stored {
    const s = this.executions.get(id);
    if (!s) throw new AthenaError('InvalidRequestException', `QueryExecution ${id} was not found`);
    return s;
  }

  private async run(
    s: Stored,
    input: StartQueryExecutionInput,
    cutoff: number | undefined,
    origin: QueryOrigin,
  ): Promise<void> {
    // Let startQueryExecution return first, as Athena's does.
    await Promise.resolve();
    const ex = s.execution;
    const started = Date.now();
    ex.Status.State = 'RUNNING';
    const who = `${origin.label ? `${origin.label}, ` : ''}workgroup ${ex.WorkGroup}`;
    const fail = (reason: string) => {
      ex.Status.State = 'FAILED';
      ex.Status.StateChangeReason = reason;
      ex.Status.AthenaError = { ErrorCategory: 2, ErrorType: 1006, Retryable: false, ErrorMessage: reason };
    };
    let conn: DuckDBConnection | undefined;
    try {
      const t = translateQuery(input.QueryString, this.options.stateDir, ex.QueryExecutionId);
      ex.StatementType = t.statementType;
      const tables = this.tablesNamed(input.QueryString, input.QueryExecutionContext?.Database);
      await this.refreshViews(tables);
      const scanned =
        tables.reduce((n, tb) => n + dataFiles(localPathOf(this.options.stateDir, tb.location)).bytes, 0) +
        t.localPaths.reduce((n, p) => n + sizeOf(p), 0);
      ex.Statistics.DataScannedInBytes = scanned;
      if (cutoff !== undefined && scanned > cutoff) {
        fail(
          `Query cancelled! : Bytes scanned limit was exceeded (${who}: about ${scanned} bytes to scan, cutoff ${cutoff})`,
        );
        return;
      }
      if (t.unloadFile) mkdirSync(dirname(t.unloadFile), { recursive: true });
      conn = await this.db.connect();
      const database = input.QueryExecutionContext?.Database;
      if (database && this.options.catalog.databases.includes(database)) {
        await conn.run(`SET schema = '${database.replace(/'/g, "''")}'`);
      }
      const reader = await conn.runAndReadAll(t.sql);
      this.capture(s, reader, t.unloadFile !== undefined);
      this.writeResults(s);
      ex.Status.State = 'SUCCEEDED';
    } catch (err) {
      fail(`Local Athena (DuckDB) could not run the query of ${who}: ${(err as Error).message.trim()}`);
    } finally {
      conn?.closeSync();
      const took = Date.now() - started;
      ex.Status.CompletionDateTime = new Date();
      ex.Statistics.EngineExecutionTimeInMillis = took;
      ex.Statistics.TotalExecutionTimeInMillis = took;
      ex.Statistics.ServiceProcessingTimeInMillis = 0;
    }
  }

  private capture(s: Stored, reader: DuckDBResultReader, isUnload: boolean): void {
    if (isUnload || s.execution.StatementType !== 'DML') {
      // UNLOAD and DDL return no result set, only the count of rows written.
      s.updateCount = isUnload ? reader.rowsChanged : 0;
      s.columns = [];
      s.rows = [];
      return;
    }
    const names = reader.columnNames();
    const types = reader.columnTypes().map((t) => t.toString());
    s.columns = names.map((name, i) => columnInfo(name, types[i]!));
    s.rows = reader.getRows().map((row) => row.map((v, i) => formatValue(v, types[i]!)));
  }

  /** `<id>.csv` and `<id>.csv.metadata` next to each other, as Athena writes them. */
  private writeResults(s: Stored): void {
    const target = localPathOf(this.options.stateDir, s.execution.ResultConfiguration.OutputLocation);
    mkdirSync(dirname(target), { recursive: true });
    const csvLine = (r: (string | null)[]) =>
      r.map((v) => (v === null ? '' : `"${v.replace(/"/g, '""')}"`)).join(',');
    const body =
      s.columns.length > 0
        ? [csvLine(s.columns.map((c) => c.Name)), ...s.rows.map(csvLine)].join('\n') + '\n'
        : '';
    atomicWrite(this.options.stateDir, target, body);
    atomicWrite(this.options.stateDir, `${target}.metadata`, JSON.stringify({ ColumnInfo: s.columns }));
  }

  /** Glue tables a query names (word match on the table name; approximate by design). */
  private tablesNamed(query: string, database?: string): GlueTable[] {
    const text = query.toLowerCase();
    return this.options.catalog.tables.filter((t) => {
      const name = t.name.toLowerCase();
      const re = new RegExp(`(^|[^\\w])"?${escapeRe(name)}"?($|[^\\w])`);
      return re.test(text) && (t.database === database || text.includes(t.database.toLowerCase()));
    });
  }

  private async refreshViews(tables: readonly GlueTable[]): Promise<void> {
    const run = this.viewLock.then(async () => {
      const conn = await this.db.connect();
      try {
        for (const t of tables) {
          const { files } = dataFiles(localPathOf(this.options.stateDir, t.location));
          const signature = files.join('\n');
          if (this.viewFiles.get(t) === signature) continue;
          await conn.run(
            `CREATE OR REPLACE VIEW ${ident(t.database)}.${ident(t.name)} AS ${viewSelect(t, files)}`,
          );
          this.viewFiles.set(t, signature);
        }
      } finally {
        conn.closeSync();
      }
    });
    this.viewLock = run.catch(() => undefined);
    await run;
  }
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function sizeOf(path: string): number {
  if (path.endsWith('/**')) return dataFiles(path.slice(0, -3)).bytes;
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function atomicWrite(stateDir: string, target: string, body: string): void {
  const tmpDir = join(layout(stateDir).athena, 'tmp');
  mkdirSync(tmpDir, { recursive: true });
  const tmp = join(tmpDir, `${randomUUID()}.part`);
  writeFileSync(tmp, body);
  renameSync(tmp, target);
}

/** DuckDB type → Athena (Trino) type name, with Athena's precision conventions. */
export function athenaTypeOf(duckType: string): { type: string; precision: number; scale: number } {
  const t = duckType.toUpperCase();
  const dec = /^DECIMAL\((\d+),(\d+)\)$/.exec(t);
  if (dec) return { type: 'decimal', precision: Number(dec[1]), scale: Number(dec[2]) };
  if (t.endsWith('[]')) return { type: 'array', precision: 0, scale: 0 };
  if (t.startsWith('STRUCT')) return { type: 'row', precision: 0, scale: 0 };
  if (t.startsWith('MAP')) return { type: 'map', precision: 0, scale: 0 };
  const table: Record<string, [string, number]> = {
    VARCHAR: ['varchar', 2147483647],
    INTEGER: ['integer', 10],
    BIGINT: ['bigint', 19],
    HUGEINT: ['decimal', 38],
    UBIGINT: ['decimal', 20],
    UINTEGER: ['bigint', 19],
    USMALLINT: ['integer', 10],
    UTINYINT: ['smallint', 5],
    SMALLINT: ['smallint', 5],
    TINYINT: ['tinyint', 3],
    DOUBLE: ['double', 17],
    FLOAT: ['float', 17],
    BOOLEAN: ['boolean', 0],
    DATE: ['date', 0],
    TIMESTAMP: ['timestamp', 3],
    'TIMESTAMP WITH TIME ZONE': ['timestamp with time zone', 3],
    TIME: ['time', 3],
    BLOB: ['varbinary', 1073741824],
    UUID: ['uuid', 0],
    INTERVAL: ['interval day to second', 0],
  };
  const [type, precision] = table[t] ?? ['varchar', 2147483647];
  return { type, precision, scale: 0 };
}

function columnInfo(name: string, duckType: string): ColumnInfo {
  const { type, precision, scale } = athenaTypeOf(duckType);
  return {
    CatalogName: 'hive',
    SchemaName: '',
    TableName: '',
    Name: name,
    Label: name,
    Type: type,
    Precision: precision,
    Scale: scale,
    Nullable: 'UNKNOWN',
    CaseSensitive: type === 'varchar',
  };
}

/** A DuckDB value as Athena prints it: doubles keep a `.0`, timestamps carry milliseconds. */
function formatValue(v: unknown, duckType: string): string | null {
  if (v === null || v === undefined) return null;
  const t = duckType.toUpperCase();
  if (typeof v === 'number') {
    if ((t === 'DOUBLE' || t === 'FLOAT') && Number.isInteger(v)) return `${v}.0`;
    return String(v);
  }
  if (typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (typeof v === 'string') return v;
  const s = String(v);
  if (t === 'TIMESTAMP' && /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(s)) return `${s}.000`;
  return s;
}

function encodeToken(id: string, offset: number): string {
  return Buffer.from(JSON.stringify({ id, offset })).toString('base64url');
}

function decodeToken(token: string, id: string): number {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { id: string; offset: number };
    if (t.id === id && Number.isInteger(t.offset) && t.offset >= 0) return t.offset;
  } catch {
    // fall through to the Athena-shaped error
  }
  throw new AthenaError('InvalidRequestException', `NextToken is invalid for QueryExecution ${id}`);
}
