/**
 * Validation of a CSV lake table as one Athena aggregate (issue 19): the checks "Validate data"
 * makes of every cell — empty values, values that are not numbers, fractions in integer columns,
 * values outside the run's ranges — and the data profile (row count, each column's min, max, mean,
 * standard deviation), computed by Athena over the table instead of by reading every object into
 * the Lambda. One scan, one result row, whatever the size of the table.
 *
 * The query reads the table's text twin ({@link textTwinName}): the same location and SerDe with
 * every column a `string`, because the typed table cannot tell an empty cell from `abc` or `5.5` in
 * an `int` column (Athena reads all three as NULL). Only the portable subset runs: `count(*) FILTER
 * (WHERE …)`, `try_cast`, `trim`, `floor`, `min`/`max`/`avg`/`stddev_pop`, which Trino and the local
 * DuckDB engine both evaluate alike. An empty field is `''` on Athena and NULL in DuckDB's CSV
 * reader, so emptiness is `coalesce(trim(c), '') = ''` on both.
 *
 * What an aggregate cannot say is the line of a bad cell: the messages name the table, the column,
 * one offending value (the least, so the same on every run) and how many rows have the problem.
 *
 * @example
 * const sql = validationQuery({ database: 'mlops_local', table, ranges: { alcohol: { max: 14 } } });
 * const stats = judgeValidation(table, options, rowOf(await athena(sql)));
 */
import { ident } from '../shared/sql';
import { CsvError, detectSeparator } from '../trainer/csv';
import { isIntegerType, type LakeColumn, type LakeTable } from './catalog';
import { DataValidationError } from './errors';
import type { ColumnRange } from './input';
import type { ObjectStore } from './objects';
import {
  checkDelimiter,
  checkHeader,
  checkOptions,
  checkRowCount,
  type ColumnProfile,
  type DataProfile,
  type ValidationOptions,
} from './validate';

/** The Glue table over a CSV table's files with every column a string, which validation reads. */
export const TEXT_TWIN_SUFFIX = '__text';
export const textTwinName = (table: string): string => `${table}${TEXT_TWIN_SUFFIX}`;

export interface ValidationQueryOptions {
  readonly database: string;
  readonly table: LakeTable;
  /** The columns checked and profiled (all the table's, or a labels table's target and numeric keys). */
  readonly columns?: readonly string[];
  /** Columns whose integer type is checked for whole numbers. @default every checked integer column */
  readonly integerColumns?: readonly string[];
  readonly ranges: Readonly<Record<string, ColumnRange>>;
}

/** The result columns of one checked column, `c<i>_…` by its position among the checked columns. */
const alias = (i: number, what: string) => ident(`c${i}_${what}`);

const num = (cell: string) => `try_cast(trim(${cell}) AS DOUBLE)`;

/** The aggregate: one row with `rows` and, per checked column, its counts, examples and stats. */
export function validationQuery(options: ValidationQueryOptions): string {
  const checked = checkedColumns(options);
  const integer = new Set(options.integerColumns ?? checked.filter((c) => isIntegerType(c.type)).map((c) => c.name));
  const select = ['count(*) AS "rows"'];
  checked.forEach((column, i) => {
    const cell = ident(column.name);
    const empty = `coalesce(trim(${cell}), '') = ''`;
    const notNumber = `NOT (${empty}) AND ${num(cell)} IS NULL`;
    select.push(
      `count(*) FILTER (WHERE ${empty}) AS ${alias(i, 'empty')}`,
      `count(*) FILTER (WHERE ${notNumber}) AS ${alias(i, 'nan')}`,
      `min(trim(${cell})) FILTER (WHERE ${notNumber}) AS ${alias(i, 'nan_value')}`,
      `min(${num(cell)}) AS ${alias(i, 'min')}`,
      `max(${num(cell)}) AS ${alias(i, 'max')}`,
      `avg(${num(cell)}) AS ${alias(i, 'mean')}`,
      `stddev_pop(${num(cell)}) AS ${alias(i, 'std')}`,
    );
    if (integer.has(column.name)) {
      const fraction = `${num(cell)} <> floor(${num(cell)})`;
      select.push(
        `count(*) FILTER (WHERE ${fraction}) AS ${alias(i, 'fraction')}`,
        `min(${num(cell)}) FILTER (WHERE ${fraction}) AS ${alias(i, 'fraction_value')}`,
      );
    }
    const range = options.ranges[column.name];
    if (range && (range.min !== undefined || range.max !== undefined)) {
      const outside = [
        ...(range.min !== undefined ? [`${num(cell)} < ${sqlNumber(range.min)}`] : []),
        ...(range.max !== undefined ? [`${num(cell)} > ${sqlNumber(range.max)}`] : []),
      ].join(' OR ');
      select.push(`count(*) FILTER (WHERE ${outside}) AS ${alias(i, 'outside')}`);
    }
  });
  return `SELECT ${select.join(', ')} FROM ${ident(options.database)}.${ident(textTwinName(options.table.name))}`;
}

/** A number as a SQL literal that both engines read as a DOUBLE. */
function sqlNumber(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`a range bound must be a finite number, but ${n} was provided`);
  return `CAST(${JSON.stringify(n)} AS DOUBLE)`;
}

function checkedColumns(options: ValidationQueryOptions): LakeColumn[] {
  const names = options.columns ?? options.table.columns.map((c) => c.name);
  return names.map((name) => {
    const column = options.table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`column "${name}" is not a column of ${options.table.name}`);
    return column;
  });
}

/** The aggregate's one result row, by column name, as Athena returns values (text, or null). */
export type ValidationRow = Readonly<Record<string, string | null | undefined>>;

export interface ValidationResult {
  readonly rows: number;
  readonly columns: readonly ColumnProfile[];
}

const count = (row: ValidationRow, key: string) => Number(row[key] ?? 0);
const plural = (n: number) => `${n} row${n === 1 ? '' : 's'}`;
/** A double as the message shows it: Athena may write `1.49E1`, DuckDB `14.9`. */
const shown = (value: string | null | undefined) => String(Number(value));

/**
 * Reads the aggregate's row: throws {@link DataValidationError} for the first problem (columns in
 * table order; per column empty, not a number, not whole, out of range), else returns the profile.
 */
export function judgeValidation(
  options: ValidationQueryOptions & { readonly what?: string },
  row: ValidationRow,
): ValidationResult {
  const checked = checkedColumns(options);
  const what = options.what ?? `dataset ${options.table.name}`;
  const rows = count(row, 'rows');
  checked.forEach((column, i) => {
    const key = (k: string) => `c${i}_${k}`;
    const at = `${what}: column "${column.name}"`;
    const empty = count(row, key('empty'));
    if (empty > 0) throw new DataValidationError(`${at}: empty value in ${plural(empty)}`);
    const nan = count(row, key('nan'));
    if (nan > 0) {
      throw new DataValidationError(
        `${at}: ${JSON.stringify(String(row[key('nan_value')] ?? '').slice(0, 40))} is not a number (${plural(nan)} not numbers)`,
      );
    }
    const fraction = count(row, key('fraction'));
    if (fraction > 0) {
      throw new DataValidationError(
        `${at}: ${shown(row[key('fraction_value')])} is not a whole number (the column is ${column.type}; ${plural(fraction)})`,
      );
    }
    const outside = count(row, key('outside'));
    const range = options.ranges[column.name];
    if (outside > 0 && range) {
      const low = range.min !== undefined && Number(row[key('min')]) < range.min;
      throw new DataValidationError(
        `${at}: ${shown(row[key(low ? 'min' : 'max')])} is outside the allowed range ` +
          `[${range.min ?? '-∞'}, ${range.max ?? '∞'}] (${plural(outside)})`,
      );
    }
  });
  return {
    rows,
    columns: checked.map((column, i) => ({
      name: column.name,
      type: column.type,
      min: Number(row[`c${i}_min`]),
      max: Number(row[`c${i}_max`]),
      mean: Number(row[`c${i}_mean`]),
      std: Number(row[`c${i}_std`]),
      nulls: 0,
    })),
  };
}

/** At most this much of an object is read for its header (a header longer than this is refused). */
export const HEAD_BYTES = 64 * 1024;

/** The start of an object: its text up to the first data line, and whether the object ended there. */
export interface ObjectHead {
  readonly text: string;
  /** True when the whole object is in `text`. */
  readonly ended: boolean;
  /** The version and ETag of the object that was read (S3 sends them with the ranged GET). */
  readonly versionId?: string;
  readonly etag?: string;
}

/**
 * Reads the start of an object with one ranged GET: never more than {@link HEAD_BYTES} of it are
 * sent or held, whatever its size.
 */
export async function readObjectHead(objects: ObjectStore, bucket: string, key: string): Promise<ObjectHead> {
  const { body, size, versionId, etag } = await objects.read(bucket, key, 0, HEAD_BYTES);
  // A multi-byte character cut at the end decodes as U+FFFD, past the lines that are checked.
  return {
    text: new TextDecoder().decode(body),
    ended: size <= body.byteLength,
    ...(versionId ? { versionId } : {}),
    ...(etag ? { etag } : {}),
  };
}

/**
 * The per-object checks an aggregate over the table cannot make: the object has a header naming
 * the table's columns in order (Athena maps fields by position and skips the first line), separated
 * by the table's delimiter, and at least one data row.
 */
export function checkObjectHead(table: LakeTable, key: string, head: ObjectHead): void {
  try {
    if (head.text.trim() === '') throw new DataValidationError(`${key}: the object is empty (no header, no data)`);
    checkHeader(table, { key, text: head.text });
    const firstLine = head.text.split('\n').find((l) => l.trim() !== '')!;
    checkDelimiter(table, key, detectSeparator(firstLine));
    const afterHeader = head.text.slice(head.text.indexOf(firstLine) + firstLine.length);
    if (head.ended && afterHeader.trim() === '') {
      throw new DataValidationError(`${key}: the file has a header but no data rows`);
    }
  } catch (err) {
    if (err instanceof CsvError) throw new DataValidationError(err.message);
    throw err;
  }
}

/** Runs an aggregate and returns its one row by column name (Athena, through the lake workgroup). */
export type AggregateQuery = (sql: string) => Promise<ValidationRow>;

/** Objects whose head (and with it the version) is read at once. */
const HEAD_CONCURRENCY = 16;

/**
 * Validates a CSV dataset without reading it into the caller: each object's head (header, delimiter,
 * a data row) from its first bytes, with its version and ETag; then every cell and the profile by
 * one Athena aggregate over the table's text twin; then the row count. Throws
 * {@link DataValidationError} naming the first problem (objects in key order).
 */
export async function profileTable(
  table: LakeTable,
  options: ValidationOptions,
  deps: {
    readonly objects: ObjectStore;
    readonly aggregate: AggregateQuery;
    readonly database: string;
    readonly bucket: string;
    readonly keys: readonly string[];
  },
): Promise<DataProfile> {
  checkOptions(table, options);
  if (deps.keys.length === 0) {
    throw new DataValidationError(`dataset ${table.name} has no data objects under ${table.location}`);
  }
  const settled: ({ ok: true; key: string; version_id?: string; etag?: string } | { ok: false; error: unknown })[] =
    new Array(deps.keys.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < deps.keys.length; i = next++) {
      const key = deps.keys[i]!;
      try {
        // The version is the one whose header was checked, from the same GET: no HEAD per object.
        const { versionId, etag, ...head } = await readObjectHead(deps.objects, deps.bucket, key);
        checkObjectHead(table, key, head);
        settled[i] = { ok: true, key, ...(versionId ? { version_id: versionId } : {}), ...(etag ? { etag } : {}) };
      } catch (error) {
        settled[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_CONCURRENCY, deps.keys.length) }, worker));
  const failed = settled.find((s) => !s.ok);
  if (failed && !failed.ok) throw failed.error;

  const query = { database: deps.database, table, ranges: options.ranges };
  const result = judgeValidation(query, await deps.aggregate(validationQuery(query)));
  checkRowCount(table, result.rows, options);
  return {
    table: table.name,
    location: table.location,
    rows: result.rows,
    objects: settled.map((s) => {
      const { ok: _, ...version } = s as { ok: true; key: string; version_id?: string; etag?: string };
      return version;
    }),
    columns: result.columns,
  };
}
