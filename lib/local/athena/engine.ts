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
 * - Only what Athena accepts runs (see `policy.ts`): one statement, SELECT/WITH/VALUES, UNLOAD,
 *   CTAS, SHOW, DESCRIBE and DROP TABLE of a CTAS table, reading the catalog's tables only. DuckDB
 *   itself is locked down as well: no external access except the lake directories, no extension
 *   loading, configuration locked after start, so nothing a query says reaches a host file.
 * - The catalog's views are recreated before a query that names them if they have gone missing.
 */
import { randomUUID } from 'node:crypto';
import { type Dirent, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBResultReader } from '@duckdb/node-api';
import { layout } from '../layout';
import { type AthenaCatalog, dataFiles, type GlueTable, ident, localPathOf, viewSelect } from './catalog';
import {
  type AthenaStatement,
  checkSelect,
  parseStatement,
  QueryRefused,
  QueryRejected,
  type TableName,
  type WriteFormat,
} from './policy';
import {
  copyStatement,
  dropCatalogPrefix,
  lakeDirectoryOf,
  lakeFileOf,
  rewriteLakeLiterals,
  translateFunctions,
  unloadStatement,
} from './sql';

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
  /**
   * `'duckdb'` only for the kit's own in-process check queries: DuckDB's SQL, with `s3://` literals
   * read from the lake through `read_parquet`/`read_csv`/`read_json`. The AWS endpoint and the state
   * machines always use Athena's. Either way DuckDB's lock-down keeps every file access in the lake.
   * @default 'athena'
   */
  readonly dialect?: 'athena' | 'duckdb';
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
  /**
   * Rows per Parquet file an UNLOAD writes (rounded up to DuckDB's 2,048-row vectors): Athena writes
   * an UNLOAD as many files, so its readers must take many; this makes the local engine do so too.
   * @default 1,000,000
   */
  readonly unloadFileRows?: number;
}

/** See {@link AthenaEngineOptions.unloadFileRows}. */
export const DEFAULT_UNLOAD_FILE_ROWS = 1_000_000;

/** A query classified and checked at StartQueryExecution, run in the background. */
interface Prepared {
  readonly statement: AthenaStatement;
  /** The checked SELECT as DuckDB runs it (SELECT, UNLOAD, CTAS). */
  readonly select?: string;
  /** Glue tables the query reads (their views are refreshed and their files count as scanned). */
  readonly tables: readonly GlueTable[];
  /** Lake paths named by `s3://` literals (dialect `duckdb`). */
  readonly localPaths: readonly string[];
  /** Set when Athena's analyzer would fail the query: it ends FAILED with this reason. */
  readonly refused?: string;
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
/** Athena's limit on `QueryString` (262 144 bytes). */
const MAX_QUERY_BYTES = 262_144;

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
  /** Tables created by CTAS queries (kept in memory: a restart forgets them, their files stay). */
  private readonly userTables: GlueTable[] = [];
  /** Serializes view changes (see withViewLock). */
  private viewLock: Promise<void> = Promise.resolve();

  private constructor(
    private readonly db: DuckDBInstance,
    private readonly options: AthenaEngineOptions,
  ) {}

  /**
   * Starts DuckDB (in memory, spilling to `<stateDir>/athena`) locked down to the lake: files only
   * under `<stateDir>/s3/`, no extensions installed or loaded, and the configuration locked once the
   * schemas (one per Glue database) and views exist, so no query can widen any of it. `catalog`
   * may still be coming (read from an assembly being synthesized): DuckDB starts meanwhile.
   */
  static async start(
    options: Omit<AthenaEngineOptions, 'catalog'> & { readonly catalog: AthenaCatalog | Promise<AthenaCatalog> },
  ): Promise<AthenaEngine> {
    const paths = layout(options.stateDir);
    mkdirSync(join(paths.athena, 'tmp'), { recursive: true });
    mkdirSync(paths.s3, { recursive: true });
    const db = await DuckDBInstance.create(':memory:', {
      temp_directory: join(paths.athena, 'tmp'),
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
    });
    let catalog: AthenaCatalog;
    try {
      catalog = await options.catalog;
    } catch (err) {
      db.closeSync();
      throw err;
    }
    const engine = new AthenaEngine(db, { ...options, catalog });
    try {
      const conn = await db.connect();
      try {
        await conn.run(`SET allowed_directories = [${sqlString(`${paths.s3}/`)}]`);
        await conn.run('SET enable_external_access = false');
        for (const d of catalog.databases) await conn.run(`CREATE SCHEMA IF NOT EXISTS ${ident(d)}`);
        await engine.refreshViews(catalog.tables);
        await conn.run('SET lock_configuration = true');
      } finally {
        conn.closeSync();
      }
    } catch (err) {
      db.closeSync();
      throw err;
    }
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
    const query: unknown = input.QueryString;
    if (typeof query !== 'string') {
      throw new AthenaError(
        'InvalidRequestException',
        `QueryString must be a string, but ${query === undefined ? 'nothing' : JSON.stringify(query)} was provided`,
      );
    }
    if (!query.trim()) throw new AthenaError('InvalidRequestException', 'QueryString must not be empty');
    const bytes = Buffer.byteLength(query);
    if (bytes > MAX_QUERY_BYTES) {
      throw new AthenaError(
        'InvalidRequestException',
        `QueryString must be at most ${MAX_QUERY_BYTES} bytes long, but ${bytes} were provided`,
      );
    }
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
    const prepared = await this.prepare(query, input.QueryExecutionContext?.Database, origin.dialect ?? 'athena');
    const id = randomUUID();
    const execution: QueryExecution = {
      QueryExecutionId: id,
      Query: query,
      StatementType: statementTypeOf(prepared.statement),
      SubstatementType: substatementTypeOf(prepared.statement),
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
    stored.done = this.run(stored, prepared, input, wg?.bytesScannedCutoffPerQuery, origin);
    return { QueryExecutionId: id };
  }

  /**
   * Classifies and checks a query before it is accepted: what Athena's parser refuses is thrown as
   * `InvalidRequestException`; what its analyzer refuses is returned as `refused`, to fail the query.
   */
  private async prepare(
    query: string,
    database: string | undefined,
    dialect: 'athena' | 'duckdb',
  ): Promise<Prepared> {
    let statement: AthenaStatement;
    try {
      statement = parseStatement(query);
    } catch (err) {
      throw asAthenaError(err);
    }
    const refused = (err: unknown): Prepared => {
      if (err instanceof QueryRefused) return { statement, tables: [], localPaths: [], refused: err.message };
      throw asAthenaError(err);
    };
    if (statement.kind !== 'select' && statement.kind !== 'unload' && statement.kind !== 'ctas') {
      return { statement, tables: [], localPaths: [] };
    }
    const paths: string[] = [];
    let select = translateFunctions(dropCatalogPrefix(statement.kind === 'select' ? statement.sql : statement.select));
    if (dialect === 'duckdb') select = rewriteLakeLiterals(select, this.options.stateDir, paths);
    const conn = await this.db.connect();
    try {
      const checked = await checkSelect(conn, select, { catalog: this.catalog(), database, dialect });
      const tables = dialect === 'athena' ? this.tablesOf(checked.tables) : this.tablesNamed(select, database);
      return { statement, select, tables, localPaths: paths };
    } catch (err) {
      return refused(err);
    } finally {
      conn.closeSync();
    }
  }

  /** The kit's catalog and the tables CTAS queries added. */
  private catalog(): AthenaCatalog {
    return { ...this.options.catalog, tables: [...this.options.catalog.tables, ...this.userTables] };
  }

  private findTable(name: TableName, database: string | undefined): GlueTable | undefined {
    const db = (name.database ?? database ?? 'default').toLowerCase();
    return this.catalog().tables.find(
      (t) => t.database.toLowerCase() === db && t.name.toLowerCase() === name.table.toLowerCase(),
    );
  }

  private tablesOf(names: readonly TableName[]): GlueTable[] {
    const out = new Set<GlueTable>();
    for (const n of names) {
      const t = n.database === undefined ? undefined : this.findTable(n, undefined);
      if (t) out.add(t);
    }
    return [...out];
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
    prepared: Prepared,
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
      if (prepared.refused !== undefined) throw new QueryRefused(prepared.refused);
      const { statement } = prepared;
      const database = input.QueryExecutionContext?.Database;
      if (statement.kind === 'select' || statement.kind === 'unload' || statement.kind === 'ctas') {
        await this.refreshViews(prepared.tables);
        const scanned =
          prepared.tables.reduce(
            (n, tb) => n + dataFiles(localPathOf(this.options.stateDir, tb.location)).bytes,
            0,
          ) + prepared.localPaths.reduce((n, p) => n + sizeOf(p), 0);
        ex.Statistics.DataScannedInBytes = scanned;
        if (cutoff !== undefined && scanned > cutoff) {
          fail(
            `Query cancelled! : Bytes scanned limit was exceeded (${who}: about ${scanned} bytes to scan, cutoff ${cutoff})`,
          );
          return;
        }
        conn = await this.db.connect();
        if (database && this.options.catalog.databases.includes(database)) {
          await conn.run(`SET schema = ${sqlString(database)}`);
        }
        const select = prepared.select!;
        if (statement.kind === 'select') this.capture(s, await conn.runAndReadAll(select));
        else if (statement.kind === 'unload') {
          const dir = lakeDirectoryOf(this.options.stateDir, statement.target, 'UNLOAD');
          refuseNonEmpty(dir, statement.target);
          const fileRows = this.options.unloadFileRows ?? DEFAULT_UNLOAD_FILE_ROWS;
          s.updateCount = await this.write(conn, unloadStatement(select, dir, ex.QueryExecutionId, statement.format, fileRows), dir);
        } else {
          s.updateCount = await this.createTableAs(conn, statement, select, ex, database);
        }
      } else if (statement.kind === 'drop') {
        await this.drop(statement, database);
      } else {
        const { columns, rows } = this.show(statement, database);
        s.columns = columns;
        s.rows = rows;
      }
      this.writeResults(s);
      ex.Status.State = 'SUCCEEDED';
    } catch (err) {
      if (err instanceof QueryRefused) fail(`${err.message} (${who})`);
      else fail(`Local Athena (DuckDB) could not run the query of ${who}: ${(err as Error).message.trim()}`);
    } finally {
      conn?.closeSync();
      const took = Date.now() - started;
      ex.Status.CompletionDateTime = new Date();
      ex.Statistics.EngineExecutionTimeInMillis = took;
      ex.Statistics.TotalExecutionTimeInMillis = took;
      ex.Statistics.ServiceProcessingTimeInMillis = 0;
    }
  }

  /** Writes a checked SELECT to one lake file (UNLOAD, CTAS); answers the number of rows written. */
  private async copy(conn: DuckDBConnection, select: string, file: string, format: WriteFormat): Promise<number> {
    return this.write(conn, copyStatement(select, file, format), dirname(file));
  }

  /** Runs a COPY into `dir` (made first); answers the number of rows written. */
  private async write(conn: DuckDBConnection, sql: string, dir: string): Promise<number> {
    // The SELECT was checked alone; checked again wrapped, it still has to be the one statement.
    if ((await conn.extractStatements(sql)).count !== 1) {
      throw new QueryRejected('Only one sql statement is allowed');
    }
    mkdirSync(dir, { recursive: true });
    return (await conn.runAndReadAll(sql)).rowsChanged;
  }

  /**
   * CTAS as Athena runs it: the rows written under `external_location` (default
   * `<result location>/tables/<query id>/`, which must be empty), then a Glue table over them.
   */
  private async createTableAs(
    conn: DuckDBConnection,
    st: Extract<AthenaStatement, { kind: 'ctas' }>,
    select: string,
    ex: QueryExecution,
    context: string | undefined,
  ): Promise<number> {
    const db = (st.name.database ?? context ?? 'default').toLowerCase();
    const database = this.options.catalog.databases.find((d) => d.toLowerCase() === db);
    if (!database) throw new QueryRefused(`SCHEMA_NOT_FOUND: Schema '${db}' does not exist`);
    if (this.findTable({ database, table: st.name.table }, undefined)) {
      if (st.ifNotExists) return 0;
      throw new QueryRefused(`TABLE_ALREADY_EXISTS: Table 'awsdatacatalog.${db}.${st.name.table}' already exists`);
    }
    const results = ex.ResultConfiguration.OutputLocation.replace(/[^/]+$/, '');
    const location = `${(st.location ?? `${results}tables/${ex.QueryExecutionId}`).replace(/\/+$/, '')}/`;
    const dir = lakeDirectoryOf(this.options.stateDir, location, 'CREATE TABLE AS');
    if (dataFiles(dir).files.length > 0) {
      throw new QueryRefused(
        `HIVE_PATH_ALREADY_EXISTS: Target directory for table '${db}.${st.name.table}' already exists: ${location}`,
      );
    }
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM (\n${select}\n)`);
    const columns = described.getRows().map((r) => ({ name: String(r[0]), type: hiveTypeOf(String(r[1])) }));
    const written = st.withData
      ? await this.copy(conn, select, lakeFileOf(dir, ex.QueryExecutionId, st.format), st.format)
      : 0;
    const table: GlueTable = {
      database,
      name: st.name.table,
      columns,
      partitionKeys: [],
      location,
      format:
        st.format.kind === 'textfile'
          ? { kind: 'csv', delimiter: st.format.delimiter, quote: '', escape: '', skipHeader: 0 }
          : { kind: st.format.kind },
    };
    this.userTables.push(table);
    await this.refreshViews([table]);
    return written;
  }

  /**
   * DROP TABLE of a CTAS table (its files stay, as for any external table). The kit's own tables,
   * databases and views are refused: the catalog is the CDK app's, and the pipelines read it.
   */
  private async drop(st: Extract<AthenaStatement, { kind: 'drop' }>, context: string | undefined): Promise<void> {
    const kit = this.options.catalog;
    const db = (st.name.database ?? (st.what === 'database' ? st.name.table : context) ?? 'default').toLowerCase();
    const denied = (what: string) =>
      new QueryRefused(
        `AccessDeniedException: ${what} belongs to the kit's catalog, defined by the CDK app (DataLake) and read by the pipelines; ` +
          `a query cannot drop it (on AWS the lake's roles have no glue:Delete* either). Change it in the app and restart`,
      );
    if (st.what === 'database') {
      if (kit.databases.some((d) => d.toLowerCase() === db)) throw denied(`database ${db}`);
      if (st.ifExists) return;
      throw new QueryRefused(`SCHEMA_NOT_FOUND: Schema '${db}' does not exist`);
    }
    const name = `${db}.${st.name.table}`;
    const named = (t: GlueTable) => t.database.toLowerCase() === db && t.name.toLowerCase() === st.name.table;
    if (kit.tables.some(named)) throw denied(`table ${name}`);
    const index = this.userTables.findIndex(named);
    if (index < 0 || st.what === 'view') {
      if (st.ifExists) return;
      const [code, noun] = st.what === 'view' ? ['VIEW', 'View'] : ['TABLE', 'Table'];
      throw new QueryRefused(`${code}_NOT_FOUND: ${noun} 'awsdatacatalog.${name}' does not exist`);
    }
    const [table] = this.userTables.splice(index, 1);
    this.viewFiles.delete(table!);
    await this.withViewLock(async (conn) => {
      await conn.run(`DROP VIEW IF EXISTS ${ident(table!.database)}.${ident(table!.name)}`);
    });
  }

  /** SHOW and DESCRIBE, answered from the catalog (Athena's UTILITY statements: no header row). */
  private show(
    st: Extract<AthenaStatement, { kind: 'show-databases' | 'show-tables' | 'show-columns' | 'describe' }>,
    context: string | undefined,
  ): { columns: ColumnInfo[]; rows: string[][] } {
    const catalog = this.catalog();
    const one = (name: string, values: string[]) => ({
      columns: [columnInfo(name, 'VARCHAR')],
      rows: values.map((v) => [v]),
    });
    if (st.kind === 'show-databases') return one('database_name', matching(catalog.databases, st.like));
    if (st.kind === 'show-tables') {
      const db = (st.database ?? context ?? 'default').toLowerCase();
      if (!catalog.databases.some((d) => d.toLowerCase() === db)) {
        throw new QueryRefused(`SCHEMA_NOT_FOUND: Schema '${db}' does not exist`);
      }
      const names = catalog.tables.filter((t) => t.database.toLowerCase() === db).map((t) => t.name);
      return one('tab_name', matching(names, st.like));
    }
    const table = this.findTable(st.name, context);
    if (!table) {
      const db = (st.name.database ?? context ?? 'default').toLowerCase();
      throw new QueryRefused(`TABLE_NOT_FOUND: Table 'awsdatacatalog.${db}.${st.name.table}' does not exist`);
    }
    const all = [...table.columns, ...table.partitionKeys];
    if (st.kind === 'show-columns') return one('field', all.map((c) => c.name));
    return one('col_name', all.map((c) => `${c.name}\t${c.type}\t`));
  }

  private capture(s: Stored, reader: DuckDBResultReader): void {
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
    return this.catalog().tables.filter((t) => {
      const name = t.name.toLowerCase();
      const re = new RegExp(`(^|[^\\w])"?${escapeRe(name)}"?($|[^\\w])`);
      return re.test(text) && (t.database === database || text.includes(t.database.toLowerCase()));
    });
  }

  /**
   * Rebuilds the views of `tables` whose file sets changed, and any that has gone missing: nothing a
   * query may run drops one, but a view lost for any reason must not break every later query.
   */
  private async refreshViews(tables: readonly GlueTable[]): Promise<void> {
    if (tables.length === 0) return;
    await this.withViewLock(async (conn) => {
      const present = new Set(
        (await conn.runAndReadAll('SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal'))
          .getRows()
          .map(([schema, view]) => `${String(schema)}.${String(view)}`),
      );
      for (const t of tables) {
        const locationDir = localPathOf(this.options.stateDir, t.location);
        const { files } = dataFiles(locationDir);
        const signature = files.join('\n');
        if (this.viewFiles.get(t) === signature && present.has(`${t.database}.${t.name}`)) continue;
        await conn.run(
          `CREATE OR REPLACE VIEW ${ident(t.database)}.${ident(t.name)} AS ${viewSelect(t, files, locationDir)}`,
        );
        this.viewFiles.set(t, signature);
      }
    });
  }

  /** Serializes view changes: concurrent queries would otherwise race on CREATE OR REPLACE. */
  private async withViewLock(work: (conn: DuckDBConnection) => Promise<void>): Promise<void> {
    const run = this.viewLock.then(async () => {
      const conn = await this.db.connect();
      try {
        await work(conn);
      } finally {
        conn.closeSync();
      }
    });
    this.viewLock = run.catch(() => undefined);
    await run;
  }
}

/** A policy error as the Athena API answers it. */
function asAthenaError(err: unknown): Error {
  if (err instanceof QueryRejected) return new AthenaError('InvalidRequestException', err.message);
  return err as Error;
}

function statementTypeOf(st: AthenaStatement): QueryExecution['StatementType'] {
  if (st.kind === 'select' || st.kind === 'unload') return 'DML';
  if (st.kind === 'ctas' || st.kind === 'drop') return 'DDL';
  return 'UTILITY';
}

function substatementTypeOf(st: AthenaStatement): string {
  const names: Record<AthenaStatement['kind'], string> = {
    select: 'SELECT',
    unload: 'UNLOAD',
    ctas: 'CREATE_TABLE_AS_SELECT',
    'show-databases': 'SHOW_DATABASES',
    'show-tables': 'SHOW_TABLES',
    'show-columns': 'SHOW_COLUMNS',
    describe: 'DESCRIBE_TABLE',
    drop: st.kind === 'drop' ? `DROP_${st.what.toUpperCase()}` : 'DROP_TABLE',
  };
  return names[st.kind];
}

/** Hive's SHOW pattern: `*` any characters, `|` alternatives, case-insensitive. */
function matching(names: readonly string[], pattern: string | undefined): string[] {
  if (!pattern) return [...names].sort();
  const alternatives = pattern
    .split('|')
    .map((p) => p.trim().split('*').map(escapeRe).join('.*'))
    .join('|');
  const re = new RegExp(`^(?:${alternatives})$`, 'i');
  return names.filter((n) => re.test(n)).sort();
}

/** A DuckDB result type → the Glue (Hive) column type of a CTAS table. */
function hiveTypeOf(duckType: string): string {
  const { type, precision, scale } = athenaTypeOf(duckType);
  if (type === 'decimal') return `decimal(${precision},${scale})`;
  const hive: Record<string, string> = { varchar: 'string', integer: 'int', varbinary: 'binary' };
  if (['array', 'row', 'map', 'uuid', 'interval day to second', 'time', 'timestamp with time zone'].includes(type))
    return 'string';
  return hive[type] ?? type;
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`;

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

/**
 * Athena's UNLOAD writes only into an empty location: it checks the prefix before writing and fails
 * the query, writing nothing, when any object is there (Athena's UNLOAD docs; the check and message
 * are CTAS's). A retried or redriven UNLOAD into the location an earlier attempt wrote (even in part)
 * fails this way on AWS, so it fails locally too.
 */
function refuseNonEmpty(dir: string, location: string): void {
  const held = firstObjectUnder(dir);
  if (held === undefined) return;
  throw new QueryRefused(
    `HIVE_PATH_ALREADY_EXISTS: Target directory for UNLOAD already exists: ${location} (it holds ${held}). ` +
      `You may need to manually clean the data at location '${location}' before retrying. Athena will not delete data in your account.`,
  );
}

/** The key (relative to `dir`) of some object under `dir`, any name; undefined when there is none. */
function firstObjectUnder(dir: string, under = ''): string | undefined {
  let entries: Dirent[];
  try {
    entries = readdirSync(join(dir, under), { withFileTypes: true });
  } catch {
    return undefined; // no such prefix: empty, as on S3
  }
  for (const e of entries) {
    const key = under ? `${under}/${e.name}` : e.name;
    if (e.isFile()) return key;
    if (e.isDirectory()) {
      const found = firstObjectUnder(dir, key);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}
