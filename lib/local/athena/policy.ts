/**
 * What the local Athena accepts: the statements Athena runs, on the catalog's tables only.
 *
 * The DuckDB behind it can read and write any host file, attach databases, change its own settings
 * and load extensions; none of that is Athena. A query is classified here before DuckDB sees it:
 *
 * - one statement (Athena: "Only one sql statement is allowed");
 * - `SELECT` / `WITH` / `VALUES`, `UNLOAD (SELECT …) TO 's3://…'`, CTAS
 *   (`CREATE TABLE t WITH (…) AS SELECT …`), `SHOW DATABASES|SCHEMAS|TABLES|COLUMNS`, `DESCRIBE t`
 *   and `DROP TABLE` (of a table a CTAS created: the kit's own catalog is defined by the CDK app);
 * - in a SELECT, every relation is a Glue table (or a `WITH` name in scope) and the only table
 *   function is `UNNEST`: no `read_csv('/etc/passwd')`, no `FROM '/etc/passwd'`, no `glob`/`query`.
 *
 * SELECT bodies are checked on DuckDB's own parse tree (`json_serialize_sql`), so comments, string
 * literals and quoting cannot hide a second statement or a table function from the check. What is
 * not SQL DuckDB parses (UNLOAD, CTAS, SHOW, DESCRIBE, DROP TABLE) is matched whole by anchored
 * patterns whose only SQL part is such a checked SELECT.
 *
 * Errors follow Athena: what its parser rejects (another statement type, a second statement, a
 * table function, a syntax error) is `InvalidRequestException` at StartQueryExecution; what its
 * analyzer rejects (unknown table or function, a denied catalog change) fails the query.
 */
import type { DuckDBConnection } from '@duckdb/node-api';
import type { AthenaCatalog } from './catalog';

/** Output formats of UNLOAD and CTAS. */
export interface WriteFormat {
  readonly kind: 'parquet' | 'textfile' | 'json';
  /** TEXTFILE field delimiter (Athena's default is `\u0001`). */
  readonly delimiter: string;
}

/** A table name as written: the database is absent when the query relies on its context. */
export interface TableName {
  readonly database?: string;
  readonly table: string;
}

export type AthenaStatement =
  | { readonly kind: 'select'; readonly sql: string }
  | { readonly kind: 'unload'; readonly select: string; readonly target: string; readonly format: WriteFormat }
  | {
      readonly kind: 'ctas';
      readonly name: TableName;
      readonly ifNotExists: boolean;
      readonly select: string;
      readonly location?: string;
      readonly format: WriteFormat;
      readonly withData: boolean;
    }
  | { readonly kind: 'show-databases'; readonly like?: string }
  | { readonly kind: 'show-tables'; readonly database?: string; readonly like?: string }
  | { readonly kind: 'show-columns'; readonly name: TableName }
  | { readonly kind: 'describe'; readonly name: TableName }
  | {
      readonly kind: 'drop';
      readonly what: 'table' | 'view' | 'database';
      readonly name: TableName;
      readonly ifExists: boolean;
    };

/** A query Athena's parser would refuse: `InvalidRequestException` (400) at StartQueryExecution. */
export class QueryRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestException';
  }
}

/** A query Athena's analyzer would fail: the execution ends FAILED with this reason. */
export class QueryRefused extends Error {}

// An Athena identifier: plain, "double-quoted" or `backquoted` (Hive DDL).
const ID = '(?:"(?:[^"]|"")+"|`[^`]+`|[A-Za-z_][\\w$]*)';
// [awsdatacatalog.][database.]table
const QNAME = `((?:${ID}\\s*\\.\\s*){0,2}${ID})`;
const STRING = "'((?:[^']|'')*)'";
const END = '\\s*;?\\s*$';

const UNLOAD = new RegExp(
  `^UNLOAD\\s*\\(([\\s\\S]+)\\)\\s*TO\\s*${STRING}\\s*(?:WITH\\s*\\(([^()]*)\\))?${END}`,
  'i',
);
const CTAS = new RegExp(
  `^CREATE\\s+TABLE\\s+(IF\\s+NOT\\s+EXISTS\\s+)?${QNAME}\\s*(?:WITH\\s*\\(([^()]*)\\)\\s*)?AS\\s+([\\s\\S]+?)(\\s+WITH\\s+(?:NO\\s+)?DATA)?${END}`,
  'i',
);
const SHOW_DATABASES = new RegExp(`^SHOW\\s+(?:DATABASES|SCHEMAS)(?:\\s+LIKE)?(?:\\s+${STRING})?${END}`, 'i');
const SHOW_TABLES = new RegExp(`^SHOW\\s+TABLES(?:\\s+IN\\s+${QNAME})?(?:\\s+${STRING})?${END}`, 'i');
const SHOW_COLUMNS = new RegExp(
  `^SHOW\\s+COLUMNS\\s+(?:IN|FROM)\\s+${QNAME}(?:\\s+(?:IN|FROM)\\s+(${ID}))?${END}`,
  'i',
);
const DESCRIBE = new RegExp(`^(?:DESCRIBE|DESC)\\s+(?:EXTENDED\\s+|FORMATTED\\s+)?${QNAME}${END}`, 'i');
const DROP = new RegExp(
  `^DROP\\s+(TABLE|VIEW|DATABASE|SCHEMA)\\s+(IF\\s+EXISTS\\s+)?${QNAME}(?:\\s+(?:CASCADE|RESTRICT))?${END}`,
  'i',
);

/** Leading whitespace and comments, which Athena ignores before the statement keyword. */
const LEADING = /^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/;

/**
 * Classifies one Athena query by its statement. The SELECT inside is not yet checked: pass it to
 * {@link checkSelect} with a DuckDB connection.
 *
 * @example
 * parseStatement("UNLOAD (SELECT 1) TO 's3://b/out/' WITH (format = 'PARQUET')");
 * // → { kind: 'unload', select: 'SELECT 1', target: 's3://b/out/', format: { kind: 'parquet', … } }
 */
export function parseStatement(query: string): AthenaStatement {
  const text = query.replace(LEADING, '').replace(/\s+$/, '');
  const head = (/^[A-Za-z]+/.exec(text)?.[0] ?? text.slice(0, 1)).toUpperCase();
  let m: RegExpExecArray | null;
  switch (head) {
    case 'SELECT':
    case 'WITH':
    case 'VALUES':
    case '(':
      return { kind: 'select', sql: text };
    case 'UNLOAD':
      if ((m = UNLOAD.exec(text))) {
        const format = writeFormat(m[3] ?? '', 'UNLOAD');
        return { kind: 'unload', select: m[1]!, target: unquote(m[2]!), format };
      }
      throw syntax(
        text,
        "UNLOAD (SELECT …) TO 's3://bucket/prefix/' [WITH (format = 'PARQUET' | 'TEXTFILE' | 'JSON', field_delimiter = '…')]",
      );
    case 'CREATE':
      if ((m = CTAS.exec(text))) {
        const props = properties(m[3] ?? '', 'CREATE TABLE AS');
        const location = props.get('external_location');
        props.delete('external_location');
        return {
          kind: 'ctas',
          name: tableName(m[2]!),
          ifNotExists: Boolean(m[1]),
          select: m[4]!,
          location,
          format: formatOf(props, 'CREATE TABLE AS'),
          withData: !/NO\s+DATA/i.test(m[5] ?? ''),
        };
      }
      throw new QueryRejected(
        `Queries of this type are not supported by the local Athena: the only CREATE it runs is CREATE TABLE … AS SELECT (CTAS); ` +
          `Glue tables and databases of the kit are defined in the CDK app (DataLake.addTable). Got: ${excerpt(text)}`,
      );
    case 'SHOW':
      if ((m = SHOW_DATABASES.exec(text))) return { kind: 'show-databases', like: m[1] && unquote(m[1]) };
      if ((m = SHOW_TABLES.exec(text))) {
        return { kind: 'show-tables', database: m[1] && identifier(m[1]), like: m[2] && unquote(m[2]) };
      }
      if ((m = SHOW_COLUMNS.exec(text))) {
        const name = tableName(m[1]!);
        return { kind: 'show-columns', name: m[2] ? { database: identifier(m[2]), table: name.table } : name };
      }
      throw syntax(text, 'SHOW DATABASES | SHOW SCHEMAS | SHOW TABLES [IN database] | SHOW COLUMNS IN table');
    case 'DESCRIBE':
    case 'DESC':
      if ((m = DESCRIBE.exec(text))) return { kind: 'describe', name: tableName(m[1]!) };
      throw syntax(text, 'DESCRIBE [database.]table');
    case 'DROP':
      if ((m = DROP.exec(text))) {
        const what = m[1]!.toLowerCase();
        return {
          kind: 'drop',
          what: what === 'schema' ? 'database' : (what as 'table' | 'view' | 'database'),
          ifExists: Boolean(m[2]),
          name: what === 'table' || what === 'view' ? tableName(m[3]!) : { table: identifier(m[3]!) },
        };
      }
      throw syntax(text, 'DROP TABLE [IF EXISTS] [database.]table');
    case 'INSERT':
    case 'DELETE':
    case 'UPDATE':
    case 'MERGE':
    case 'ALTER':
    case 'MSCK':
    case 'EXPLAIN':
    case 'PREPARE':
    case 'EXECUTE':
    case 'DEALLOCATE':
    case 'OPTIMIZE':
    case 'VACUUM':
      throw new QueryRejected(
        `Queries of this type are not supported by the local Athena: ${head} (Athena runs it on AWS; locally the lake ` +
          `is written through S3 and the pipelines, and the catalog by the CDK app). Got: ${excerpt(text)}`,
      );
    default:
      // Trino's parser knows none of DuckDB's own statements (COPY, ATTACH, SET, PRAGMA, …).
      throw new QueryRejected(
        `line 1:1: mismatched input '${head}' (syntax error). Expecting: SELECT, WITH, VALUES, UNLOAD, ` +
          `CREATE TABLE … AS SELECT, SHOW, DESCRIBE or DROP TABLE, one statement per query (Athena runs no ${head} statement)`,
      );
  }
}

/** What a SELECT may name: the catalog, and the database the query runs in. */
export interface SelectScope {
  readonly catalog: AthenaCatalog;
  /** `QueryExecutionContext.Database` (Athena's default is `default`). */
  readonly database?: string;
  /**
   * `'duckdb'` for the kit's own in-process check queries, which may also call DuckDB's file
   * readers (the engine's lock-down still keeps them inside the lake). @default 'athena'
   */
  readonly dialect?: 'athena' | 'duckdb';
}

/** The tables a checked SELECT reads, as `database.table` in lower case. */
export interface CheckedSelect {
  readonly tables: readonly TableName[];
}

/**
 * Scalar functions that read or change the engine's state rather than compute on values (Athena
 * has none of them): settings, variables, environment, logs, sleep.
 */
const DENIED_FUNCTIONS = new Set([
  'getenv',
  'current_setting',
  'getvariable',
  'current_query',
  'current_query_id',
  'write_log',
  'pg_sleep',
  'json_execute_serialized_sql',
  'setseed',
  'nextval',
  'currval',
]);

/**
 * Checks a SELECT with DuckDB's parser: exactly one statement, a SELECT, whose relations are all
 * catalog tables (or `WITH` names in scope) and whose only table function is UNNEST.
 *
 * @example
 * await checkSelect(conn, 'SELECT * FROM wine', { catalog, database: 'mlops_local' });
 * // → { tables: [{ database: 'mlops_local', table: 'wine' }] }
 */
export async function checkSelect(
  conn: DuckDBConnection,
  sql: string,
  scope: SelectScope,
): Promise<CheckedSelect> {
  let count: number;
  try {
    count = (await conn.extractStatements(sql)).count;
  } catch (err) {
    const reason = (err as Error).message.split('\n')[0]!.replace(/^Failed to extract statements: /, '');
    throw new QueryRejected(`${reason}. Got: ${excerpt(sql)}`);
  }
  if (count !== 1) throw new QueryRejected(`Only one sql statement is allowed. Got: ${excerpt(sql)}`);
  const reader = await conn.runAndReadAll('SELECT json_serialize_sql($1::VARCHAR)', [sql]);
  const tree = JSON.parse(String(reader.getRows()[0]![0])) as {
    error: boolean;
    error_type?: string;
    error_message?: string;
    statements?: unknown[];
  };
  if (tree.error) {
    throw new QueryRejected(
      tree.error_type === 'parser'
        ? `${tree.error_message}. Got: ${excerpt(sql)}`
        : `Queries of this type are not supported: only a SELECT can stand here. Got: ${excerpt(sql)}`,
    );
  }
  if (tree.statements?.length !== 1) {
    throw new QueryRejected(`Only one sql statement is allowed. Got: ${excerpt(sql)}`);
  }
  const tables: TableName[] = [];
  walk(tree.statements[0], new Set(), sql, scope, tables);
  return { tables };
}

type Node = Record<string, unknown>;

function walk(
  value: unknown,
  ctes: ReadonlySet<string>,
  sql: string,
  scope: SelectScope,
  tables: TableName[],
): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, ctes, sql, scope, tables);
    return;
  }
  if (!value || typeof value !== 'object') return;
  const node = value as Node;
  let inScope = ctes;
  const cteMap = (node['cte_map'] as { map?: { key: string }[] } | undefined)?.map;
  if (cteMap && cteMap.length > 0) inScope = new Set([...ctes, ...cteMap.map((c) => c.key.toLowerCase())]);
  const at = () => position(sql, node['query_location']);
  const dialect = scope.dialect ?? 'athena';
  switch (node['type']) {
    case 'BASE_TABLE':
      if (dialect === 'athena') tables.push(resolveTable(node, inScope, scope, at));
      break;
    case 'TABLE_FUNCTION': {
      const fn = String((node['function'] as Node | undefined)?.['function_name'] ?? '').toLowerCase();
      if (fn !== 'unnest' && (dialect === 'athena' || !/^read_(parquet|csv|json)/.test(fn))) {
        throw new QueryRejected(
          `${at()}: ${fn}(…) is not a table of the catalog: Athena reads Glue tables (FROM database.table), not files or table functions`,
        );
      }
      break;
    }
    case 'SHOW_REF':
    case 'PIVOT':
    case 'COLUMN_DATA':
    case 'DELIM_GET':
      throw new QueryRejected(`${at()}: this relation is not Athena SQL (DuckDB ${String(node['type'])})`);
    default:
      break;
  }
  if (node['class'] === 'FUNCTION') {
    const fn = String(node['function_name'] ?? '').toLowerCase();
    if (DENIED_FUNCTIONS.has(fn) || fn.startsWith('duckdb_') || fn.startsWith('pragma_')) {
      throw new QueryRefused(`FUNCTION_NOT_FOUND: ${at()}: Function '${fn}' not registered`);
    }
  }
  for (const [key, child] of Object.entries(node)) {
    if (key === 'cte_map') walk(child, inScope, sql, scope, tables);
    else if (child && typeof child === 'object') walk(child, inScope, sql, scope, tables);
  }
}

function resolveTable(node: Node, ctes: ReadonlySet<string>, scope: SelectScope, at: () => string): TableName {
  const catalogName = String(node['catalog_name'] ?? '').toLowerCase();
  const schema = String(node['schema_name'] ?? '').toLowerCase();
  const table = String(node['table_name'] ?? '').toLowerCase();
  if (!catalogName && !schema && ctes.has(table)) return { table };
  const database = schema || (scope.database ?? 'default').toLowerCase();
  const found =
    !catalogName &&
    scope.catalog.tables.some((t) => t.database.toLowerCase() === database && t.name.toLowerCase() === table);
  if (!found) {
    throw new QueryRefused(
      `TABLE_NOT_FOUND: ${at()}: Table '${catalogName || 'awsdatacatalog'}.${database}.${table}' does not exist`,
    );
  }
  return { database, table };
}

/** DuckDB's character offset → Athena's `line L:C`. */
function position(sql: string, location: unknown): string {
  const offset = typeof location === 'number' && location < sql.length ? location : 0;
  const before = sql.slice(0, offset).split('\n');
  return `line ${before.length}:${before[before.length - 1]!.length + 1}`;
}

function properties(clause: string, statement: string): Map<string, string> {
  const out = new Map<string, string>();
  if (!clause.trim()) return out;
  for (const part of clause.split(/,(?=(?:[^']*'[^']*')*[^']*$)/)) {
    const m = new RegExp(`^\\s*(\\w+)\\s*=\\s*${STRING}\\s*$`).exec(part);
    if (!m) {
      throw new QueryRejected(
        `The properties of ${statement} must be name = 'value' pairs, but '${part.trim()}' was provided`,
      );
    }
    out.set(m[1]!.toLowerCase(), unquote(m[2]!));
  }
  return out;
}

function writeFormat(clause: string, statement: string): WriteFormat {
  return formatOf(properties(clause, statement), statement);
}

function formatOf(props: Map<string, string>, statement: string): WriteFormat {
  const format = (props.get('format') ?? 'PARQUET').toUpperCase();
  const delimiter = props.get('field_delimiter') ?? '\u0001';
  for (const key of props.keys()) {
    if (!['format', 'field_delimiter', 'compression', 'write_compression'].includes(key)) {
      throw new QueryRejected(
        `${statement} property ${key} is not supported by the local Athena (it supports format, field_delimiter, external_location and compression)`,
      );
    }
  }
  if (format !== 'PARQUET' && format !== 'TEXTFILE' && format !== 'JSON') {
    throw new QueryRejected(`${statement} format must be PARQUET, TEXTFILE or JSON, but '${format}' was provided`);
  }
  return { kind: format.toLowerCase() as WriteFormat['kind'], delimiter };
}

/** `[awsdatacatalog.][db.]table` → its parts, unquoted and lower-cased as Glue stores them. */
function tableName(text: string): TableName {
  const parts = text.split(/\s*\.\s*(?=(?:[^"]*"[^"]*")*[^"]*$)/).map(identifier);
  if (parts.length === 3 && parts[0] !== 'awsdatacatalog') {
    throw new QueryRefused(`CATALOG_NOT_FOUND: Catalog '${parts[0]}' does not exist`);
  }
  const table = parts[parts.length - 1]!;
  return parts.length >= 2 ? { database: parts[parts.length - 2]!, table } : { table };
}

function identifier(text: string): string {
  const t = text.trim();
  if (t.startsWith('"')) return t.slice(1, -1).replace(/""/g, '"').toLowerCase();
  if (t.startsWith('`')) return t.slice(1, -1).toLowerCase();
  return t.toLowerCase();
}

const unquote = (s: string) => s.replace(/''/g, "'");

function syntax(text: string, expected: string): QueryRejected {
  return new QueryRejected(`line 1:1: mismatched input. Expecting: ${expected}. Got: ${excerpt(text)}`);
}

const excerpt = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);
