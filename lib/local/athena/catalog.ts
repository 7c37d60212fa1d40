/**
 * The Glue Data Catalog and Athena workgroups of a stage, read from the assembly, and the DuckDB
 * view that stands in for each Glue table.
 *
 * A Glue table is a schema laid over files under an S3 prefix; locally those files sit under
 * `<stateDir>/s3/<bucket>/<prefix>`, so each table becomes a view over exactly the files that are
 * there when a query runs (the engine rebuilds a view when its file set changes).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalStage } from '../assembly';
import { layout } from '../layout';
import { parseS3Uri } from '../../shared/s3-uri';
import { ident } from '../../shared/sql';

export interface GlueColumn {
  readonly name: string;
  /** The Hive/Glue type, e.g. `int`, `decimal(10,2)`, `array<string>`. */
  readonly type: string;
}

export type TableFormat =
  | {
      readonly kind: 'csv';
      readonly delimiter: string;
      readonly quote: string;
      readonly escape: string;
      readonly skipHeader: number;
    }
  | { readonly kind: 'parquet' }
  | { readonly kind: 'json' };

export interface GlueTable {
  readonly database: string;
  readonly name: string;
  readonly columns: readonly GlueColumn[];
  readonly partitionKeys: readonly GlueColumn[];
  /** `s3://bucket/prefix/` as in the template. */
  readonly location: string;
  readonly format: TableFormat;
  /**
   * Partition projection's `storage.location.template` (`s3://b/p/${model}/v${version}/dt=${dt}/`),
   * when the table projects partitions from directories that are not `key=value`.
   */
  readonly locationTemplate?: string;
  /** Construct path of the `AWS::Glue::Table`, for messages. */
  readonly constructPath?: string;
}

export interface WorkGroup {
  readonly name: string;
  readonly outputLocation?: string;
  /** When true the workgroup's result location overrides the query's (as on Athena). */
  readonly enforce: boolean;
  readonly bytesScannedCutoffPerQuery?: number;
}

export interface AthenaCatalog {
  readonly databases: readonly string[];
  readonly tables: readonly GlueTable[];
  readonly workGroups: readonly WorkGroup[];
}

/**
 * Reads Glue databases, tables and Athena workgroups of a stage.
 *
 * @example
 * const catalog = catalogFromAssembly(readAssembly('cdk.out', { stage: 'Local' }));
 * catalog.tables.map((t) => `${t.database}.${t.name}`); // ['mlops_local.wine']
 */
export function catalogFromAssembly(stage: LocalStage): AthenaCatalog {
  const databases = stage.resourcesOfType('AWS::Glue::Database').map((r) => stage.physicalName(r));
  const tables = stage.resourcesOfType('AWS::Glue::Table').map((r) => {
    const p = stage.properties(r) as { DatabaseName: string; TableInput: Record<string, unknown> };
    return glueTableFromInput(String(p.DatabaseName), p.TableInput, r.constructPath);
  });
  const workGroups = stage.resourcesOfType('AWS::Athena::WorkGroup').map((r) => {
    const p = stage.properties(r) as { WorkGroupConfiguration?: Record<string, unknown> };
    const conf = p.WorkGroupConfiguration ?? {};
    const cutoff = conf['BytesScannedCutoffPerQuery'];
    return {
      name: stage.physicalName(r),
      outputLocation: (conf['ResultConfiguration'] as { OutputLocation?: string } | undefined)
        ?.OutputLocation,
      enforce: conf['EnforceWorkGroupConfiguration'] !== false,
      bytesScannedCutoffPerQuery: cutoff === undefined ? undefined : Number(cutoff),
    };
  });
  return { databases: [...new Set([...databases, ...tables.map((t) => t.database)])], tables, workGroups };
}

/** A Glue `TableInput` (CloudFormation's PascalCase) → the engine's table model. */
export function glueTableFromInput(
  database: string,
  input: Record<string, unknown>,
  constructPath?: string,
): GlueTable {
  const sd = (input['StorageDescriptor'] ?? {}) as Record<string, unknown>;
  const serde = (sd['SerdeInfo'] ?? {}) as {
    SerializationLibrary?: string;
    Parameters?: Record<string, string>;
  };
  const tableParams = (input['Parameters'] ?? {}) as Record<string, string>;
  const cols = (v: unknown): GlueColumn[] =>
    ((v ?? []) as { Name: string; Type: string }[]).map((c) => ({ name: c.Name, type: c.Type ?? 'string' }));
  return {
    database,
    name: String(input['Name']),
    columns: cols(sd['Columns']),
    partitionKeys: cols(input['PartitionKeys']),
    location: String(sd['Location'] ?? ''),
    format: formatOf(String(sd['InputFormat'] ?? ''), serde, tableParams),
    ...(tableParams['projection.enabled'] === 'true' && tableParams['storage.location.template']
      ? { locationTemplate: tableParams['storage.location.template'] }
      : {}),
    constructPath,
  };
}

function formatOf(
  inputFormat: string,
  serde: { SerializationLibrary?: string; Parameters?: Record<string, string> },
  tableParams: Record<string, string>,
): TableFormat {
  const lib = serde.SerializationLibrary ?? '';
  const sp = serde.Parameters ?? {};
  if (/parquet/i.test(lib) || /parquet/i.test(inputFormat)) return { kind: 'parquet' };
  if (/json/i.test(lib)) return { kind: 'json' };
  const skipHeader = Number(tableParams['skip.header.line.count'] ?? sp['skip.header.line.count'] ?? 0);
  if (/OpenCSVSerde/i.test(lib)) {
    return {
      kind: 'csv',
      delimiter: sp['separatorChar'] ?? ',',
      quote: sp['quoteChar'] ?? '"',
      escape: sp['escapeChar'] ?? '\\',
      skipHeader,
    };
  }
  // LazySimpleSerDe: no quoting at all; Hive's default delimiter is \u0001 unless the table says.
  const format = sp['serialization.format'];
  const delimiter = sp['field.delim'] ?? (format && format !== '1' ? format : '\u0001');
  return { kind: 'csv', delimiter, quote: '', escape: '', skipHeader };
}

/** `s3://bucket/key` → the local path under the state dir (the S3 engine's layout). */
export function localPathOf(stateDir: string, s3Uri: string): string {
  const uri = parseS3Uri(s3Uri);
  if (!uri) throw new Error(`'${s3Uri}' is not an s3:// location`);
  // Bucket dirs hold plain files named by key; `..` never appears in a valid bucket name.
  return join(layout(stateDir).bucket(uri.bucket), uri.key);
}

/**
 * Files Athena would read under a location: every object below the prefix except names starting
 * with `_` or `.` (Athena skips those: `_SUCCESS`, `.crc`, in-progress uploads).
 */
export function dataFiles(dir: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const walk = (d: string) => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return; // a missing prefix is an empty table, as on S3
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name.startsWith('_') || e.name.startsWith('.')) continue;
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        files.push(p);
        bytes += statSync(p).size;
      }
    }
  };
  walk(dir);
  return { files, bytes };
}

/** Hive/Glue type → DuckDB type. Nested types are read as VARCHAR from text formats. */
export function duckTypeOf(hiveType: string): string {
  const t = hiveType.trim().toLowerCase();
  const simple: Record<string, string> = {
    string: 'VARCHAR',
    varchar: 'VARCHAR',
    char: 'VARCHAR',
    int: 'INTEGER',
    integer: 'INTEGER',
    bigint: 'BIGINT',
    smallint: 'SMALLINT',
    tinyint: 'TINYINT',
    double: 'DOUBLE',
    float: 'FLOAT',
    boolean: 'BOOLEAN',
    date: 'DATE',
    timestamp: 'TIMESTAMP',
    binary: 'BLOB',
  };
  const base = t.replace(/\(.*$/, '');
  if (base === 'decimal') return t.toUpperCase();
  if (base === 'varchar' || base === 'char') return 'VARCHAR';
  return simple[base] ?? 'VARCHAR';
}

const q = (s: string) => `'${s.replace(/'/g, "''")}'`;
export { ident };

/**
 * A nested Glue type as DuckDB reads it from JSON (`map<string,double>` → `MAP(VARCHAR, DOUBLE)`,
 * so `features['alcohol']` works as on Athena); other types as {@link duckTypeOf}.
 */
function duckJsonTypeOf(hiveType: string): string {
  const map = /^\s*map\s*<\s*([a-z0-9_(),\s]+?)\s*,\s*([a-z0-9_(),\s]+?)\s*>\s*$/i.exec(hiveType);
  return map ? `MAP(${duckTypeOf(map[1]!)}, ${duckTypeOf(map[2]!)})` : duckTypeOf(hiveType);
}

/**
 * The regular expression that reads a projected table's partition values from a local file path:
 * the template after the table's location, each `${key}` one group. Groups follow `keys` order.
 */
export function templatePattern(table: GlueTable, locationDir: string): { pattern: string; groups: number[] } | undefined {
  const template = table.locationTemplate;
  if (!template || !template.startsWith(table.location.replace(/\/?$/, ''))) return undefined;
  const tail = template.slice(table.location.replace(/\/?$/, '').length).replace(/^\/?/, '/');
  const order: string[] = [];
  let pattern = '';
  for (const part of tail.split(/(\$\{[^}]+\})/)) {
    const key = /^\$\{([^}]+)\}$/.exec(part)?.[1];
    if (key !== undefined) {
      order.push(key);
      pattern += '([^/]+)';
    } else pattern += part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  if (!pattern.endsWith('/')) pattern += '/';
  const dir = locationDir.replace(/\/+$/, '').replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const groups = table.partitionKeys.map((k) => order.indexOf(k.name) + 1);
  return groups.every((g) => g > 0) ? { pattern: `^${dir}${pattern}[^/]+$`, groups } : undefined;
}

/**
 * The DuckDB `SELECT` a view over `files` runs. With no files it is an empty, correctly typed
 * relation, because DuckDB binds a view when it is created and a scan of zero files fails.
 * Partition values come from `key=value` directories, or else from the table's projection
 * template (`locationDir`: the local directory of the table's location).
 */
export function viewSelect(table: GlueTable, files: readonly string[], locationDir?: string): string {
  const all = [...table.columns, ...table.partitionKeys];
  if (files.length === 0) {
    const cols = all.map((c) => `CAST(NULL AS ${duckTypeOf(c.type)}) AS ${ident(c.name)}`).join(', ');
    return `SELECT ${cols || '1 AS "_empty"'} WHERE false`;
  }
  const fileList = `[${files.map(q).join(', ')}]`;
  // Partition values come from `key=value` directories; a file outside them gets NULLs.
  const hive =
    table.partitionKeys.length > 0 &&
    files.every((f) => table.partitionKeys.every((k) => f.includes(`/${k.name}=`)));
  const hiveOpts = hive
    ? `, hive_partitioning=true, hive_types={${table.partitionKeys.map((k) => `${q(k.name)}: ${q(duckTypeOf(k.type))}`).join(', ')}}`
    : ', hive_partitioning=false';
  const templated = !hive && locationDir !== undefined ? templatePattern(table, locationDir) : undefined;
  const partitionCols = table.partitionKeys.map((k, i) =>
    hive
      ? ident(k.name)
      : templated
        ? `CAST(NULLIF(regexp_extract("filename", ${q(templated.pattern)}, ${templated.groups[i]}), '') AS ${duckTypeOf(k.type)}) AS ${ident(k.name)}`
        : `CAST(NULL AS ${duckTypeOf(k.type)}) AS ${ident(k.name)}`,
  );
  const fileName = templated ? ', filename=true' : '';
  const f = table.format;
  if (f.kind === 'csv') {
    // Every field is read as text and converted with TRY_CAST, as Hive's LazySimpleSerDe reads a
    // text table on Athena: a value that does not parse as the column's type is NULL, not an error.
    const columns = table.columns.map((c) => `${q(c.name)}: 'VARCHAR'`).join(', ');
    const scan =
      `read_csv(${fileList}, delim=${q(f.delimiter)}, quote=${q(f.quote)}, escape=${q(f.escape)}, ` +
      `skip=${f.skipHeader}, header=false, auto_detect=false, null_padding=true, columns={${columns}}${hiveOpts}${fileName})`;
    const typed = table.columns.map((c) => {
      const type = duckTypeOf(c.type);
      return type === 'VARCHAR' ? ident(c.name) : `TRY_CAST(${ident(c.name)} AS ${type}) AS ${ident(c.name)}`;
    });
    return `SELECT ${[...typed, ...partitionCols].join(', ')} FROM ${scan}`;
  }
  const scan =
    f.kind === 'parquet'
      ? `read_parquet(${fileList}${hiveOpts}${fileName}, union_by_name=true)`
      : `read_json(${fileList}, format='newline_delimited', columns={${table.columns.map((c) => `${q(c.name)}: ${q(duckJsonTypeOf(c.type))}`).join(', ')}}${hiveOpts}${fileName})`;
  // Nested types (array<…>, struct<…>) keep the file's own type; scalars are cast to the Glue type.
  const cols = table.columns.map((c) =>
    c.type.includes('<')
      ? ident(c.name)
      : `CAST(${ident(c.name)} AS ${duckTypeOf(c.type)}) AS ${ident(c.name)}`,
  );
  return `SELECT ${[...cols, ...partitionCols].join(', ')} FROM ${scan}`;
}
