/**
 * Data validation for the training pipeline: the CSV objects of a lake table are checked against
 * the table's schema (every column present, in order, under its catalog name or its header form:
 * `fixed acidity` for `fixed_acidity`), for missing and non-numeric values, integer columns, the
 * row count and optional value ranges, and summarized in a data profile.
 *
 * A dataset is validated by "Validate data" without reading it (issue 19): one Athena aggregate and
 * each object's header (./validate-sql.ts). {@link profileObjects} reads objects whole and stays as
 * the reference that aggregate is tested against (`test/pipelines/validate-sql.test.ts`) and the
 * "before" of `bench/scale/validate.ts`; a labels table ({@link profileLabels}) is still read whole.
 * Both fail on the first problem with a message naming the object, line, column and value (the
 * trainer's CSV reader's wording), because the message is what a user sees in the execution history.
 *
 * @example
 * const profile = profileObjects(table, [{ key: 'datasets/wine/wine.csv', versionId: 'v1', text }], options);
 * profile.rows; // 1599
 */
import { CsvError, listColumns, parseCsv, readCsvHeader, splitRecord } from '../trainer/csv';
import { isIntegerType, isNumericType, type LakeColumn, type LakeTable } from './catalog';
import { DataValidationError, PipelineInputError } from './errors';
import type { ColumnRange } from './input';

export interface DatasetObject {
  readonly key: string;
  /** The S3 version read (absent for an unversioned bucket). */
  readonly versionId?: string;
  /** The S3 ETag of what was read. */
  readonly etag?: string;
  readonly text: string;
}

export interface ColumnProfile {
  readonly name: string;
  readonly type: string;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly std: number;
  readonly nulls: number;
}

export interface DataProfile {
  readonly table: string;
  readonly location: string;
  readonly rows: number;
  readonly objects: readonly {
    readonly key: string;
    readonly version_id?: string;
    readonly etag?: string;
    /** Rows of the object (absent when Athena counted the table as a whole). */
    readonly rows?: number;
  }[];
  readonly columns: readonly ColumnProfile[];
}

export interface ValidationOptions {
  readonly target: string;
  readonly minRows: number;
  readonly holdoutEvery: number;
  readonly ranges: Readonly<Record<string, ColumnRange>>;
}

/** `fixed acidity` → `fixed_acidity`, `pH` → `ph`: how the lake names an uploaded header. */
export const catalogName = (header: string): string =>
  header
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');

/** Checks the options against the table before any data is read (input errors, not data errors). */
export function checkOptions(table: LakeTable, options: ValidationOptions): void {
  const names = table.columns.map((c) => c.name);
  if (table.format !== 'csv') {
    throw new PipelineInputError(
      `dataset ${table.name} is stored as ${table.format}; the training pipeline validates and trains from CSV tables`,
    );
  }
  const target = table.columns.find((c) => c.name === options.target);
  if (!target) {
    throw new PipelineInputError(
      `target "${options.target}" is not a column of ${table.name}; columns are: ${listColumns(names)}`,
    );
  }
  const nonNumeric = table.columns.filter((c) => !isNumericType(c.type));
  if (nonNumeric.length > 0) {
    throw new PipelineInputError(
      `dataset ${table.name} has non-numeric column${nonNumeric.length > 1 ? 's' : ''} ` +
        `${nonNumeric.map((c) => `"${c.name}" (${c.type})`).join(', ')}; the trainer needs numeric features and target`,
    );
  }
  const unknown = Object.keys(options.ranges).filter((k) => !names.includes(k));
  if (unknown.length > 0) {
    throw new PipelineInputError(
      `ranges name${unknown.length > 1 ? '' : 's'} ${unknown.map((k) => `"${k}"`).join(', ')}, not ` +
        `column${unknown.length > 1 ? 's' : ''} of ${table.name}; columns are: ${listColumns(names)}`,
    );
  }
}

/** Validates every object and returns the profile; throws {@link DataValidationError}. */
export function profileObjects(
  table: LakeTable,
  objects: readonly DatasetObject[],
  options: ValidationOptions,
): DataProfile {
  checkOptions(table, options);
  if (objects.length === 0) {
    throw new DataValidationError(`dataset ${table.name} has no data objects under ${table.location}`);
  }
  const stats = table.columns.map(newStats);
  let rows = 0;
  const perObject: { key: string; version_id?: string; etag?: string; rows: number }[] = [];

  for (const object of objects) {
    const data = readObject(table, object);
    table.columns.forEach((column, c) => {
      const checks = { integer: isIntegerType(column.type), range: options.ranges[column.name] };
      checkColumn(object.key, column, data.get(column.name)!, checks, stats[c]!);
    });
    const count = data.get(table.columns[0]!.name)!.length;
    rows += count;
    perObject.push({
      key: object.key,
      ...(object.versionId ? { version_id: object.versionId } : {}),
      ...(object.etag ? { etag: object.etag } : {}),
      rows: count,
    });
  }

  checkRowCount(table, rows, options);
  return {
    table: table.name,
    location: table.location,
    rows,
    objects: perObject,
    columns: table.columns.map((column, c) => columnProfile(column, stats[c]!, rows)),
  };
}

/** The dataset has `min_rows` rows and at least one to hold out; throws {@link DataValidationError}. */
export function checkRowCount(table: LakeTable, rows: number, options: ValidationOptions): void {
  if (rows < options.minRows) {
    throw new DataValidationError(
      `dataset ${table.name} has ${rows} rows, but at least ${options.minRows} are required (min_rows)`,
    );
  }
  if (Math.floor(rows / options.holdoutEvery) < 1) {
    throw new DataValidationError(
      `dataset ${table.name} has ${rows} rows, too few to hold out every ${options.holdoutEvery}th for evaluation`,
    );
  }
}

/** Running sums of one column over every object, for its profile. */
interface ColumnStats {
  sum: number;
  squares: number;
  min: number;
  max: number;
}

const newStats = (): ColumnStats => ({ sum: 0, squares: 0, min: Infinity, max: -Infinity });

/**
 * Checks one column of one object — whole numbers where `integer`, values inside `range` — naming
 * the object, row, column and value of the first failure; then adds the values to `stats`.
 */
function checkColumn(
  source: string,
  column: LakeColumn,
  values: Float64Array,
  checks: { readonly integer: boolean; readonly range?: ColumnRange | undefined },
  stats: ColumnStats,
): void {
  const { range } = checks;
  for (let r = 0; r < values.length; r++) {
    const v = values[r]!;
    if (checks.integer && !Number.isInteger(v)) {
      throw new DataValidationError(
        `${source}: data row ${r + 1}, column "${column.name}": ${v} is not a whole number (the column is ${column.type})`,
      );
    }
    if (range && ((range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max))) {
      throw new DataValidationError(
        `${source}: data row ${r + 1}, column "${column.name}": ${v} is outside the allowed range ` +
          `[${range.min ?? '-∞'}, ${range.max ?? '∞'}]`,
      );
    }
    stats.sum += v;
    stats.squares += v * v;
    if (v < stats.min) stats.min = v;
    if (v > stats.max) stats.max = v;
  }
}

function columnProfile(column: LakeColumn, stats: ColumnStats, rows: number): ColumnProfile {
  const mean = stats.sum / rows;
  return {
    name: column.name,
    type: column.type,
    min: stats.min,
    max: stats.max,
    mean,
    std: Math.sqrt(Math.max(0, stats.squares / rows - mean * mean)),
    nulls: 0,
  };
}

/** Parses one object; returns each catalog column's values. */
function readObject(table: LakeTable, object: DatasetObject): Map<string, Float64Array> {
  const source = object.key;
  const names = table.columns.map((c) => c.name);
  try {
    const header = checkHeader(table, object);
    const parsed = parseCsv(object.text, { source, numericColumns: header });
    checkDelimiter(table, source, parsed.separator);
    const out = new Map<string, Float64Array>();
    header.forEach((h, i) => {
      out.set(names[i]!, parsed.numeric.get(h)!);
    });
    return out;
  } catch (err) {
    if (err instanceof CsvError) throw new DataValidationError(err.message);
    throw err;
  }
}

/** The object's header, checked to list the table's columns in order; throws otherwise. */
export function checkHeader(table: LakeTable, object: Pick<DatasetObject, 'key' | 'text'>): string[] {
  const source = object.key;
  const names = table.columns.map((c) => c.name);
  if (object.text.trim() === '')
    throw new DataValidationError(`${source}: the object is empty (no header, no data)`);
  const header = readCsvHeader(object.text, source);
  const mapped = header.map(catalogName);
  const missing = names.filter((name) => !mapped.includes(name));
  if (missing.length > 0) {
    throw new DataValidationError(
      `${source}: missing column${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}; ` +
        `the header has ${listColumns(header)}`,
    );
  }
  // Athena maps CSV fields to columns by position, so a reordered or extra column would load
  // silently into the wrong column: the header must list the table's columns, in order.
  if (mapped.length !== names.length || mapped.some((m, i) => m !== names[i])) {
    throw new DataValidationError(
      `${source}: the header's columns (${listColumns(header)}) must be the table's, in order: ${listColumns(names)}`,
    );
  }
  return header;
}

export function checkDelimiter(table: LakeTable, source: string, separator: string): void {
  if (table.delimiter && separator !== table.delimiter) {
    throw new DataValidationError(
      `${source}: fields are separated by "${separator}", but the table reads "${table.delimiter}"`,
    );
  }
}

/** What training from a feature service needs of its labels table. */
export interface LabelOptions {
  readonly target: string;
  /** The join keys of the feature service's views, with whether each is numeric. */
  readonly keys: readonly { readonly name: string; readonly numeric: boolean }[];
  readonly timestampColumn: string;
  readonly minRows: number;
  readonly ranges: Readonly<Record<string, ColumnRange>>;
}

/**
 * How the lake (Athena's LazySimpleSerDe) reads a CSV timestamp; anything else would load as NULL
 * on AWS and so match no feature row.
 */
const LAKE_TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?$/;

function isLakeTimestamp(cell: string): boolean {
  const m = LAKE_TIMESTAMP.exec(cell);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
}

/** Checks the label options against the table before any data is read (input errors). */
export function checkLabelOptions(table: LakeTable, options: LabelOptions): void {
  const names = table.columns.map((c) => c.name);
  const what = `labels table ${table.name}`;
  if (table.format !== 'csv') {
    throw new PipelineInputError(
      `${what} is stored as ${table.format}; the training pipeline validates labels from CSV tables`,
    );
  }
  const required = [...options.keys.map((k) => k.name), options.timestampColumn, options.target];
  const missing = required.filter((c) => !names.includes(c));
  if (missing.length > 0) {
    throw new PipelineInputError(
      `${what} must have the join key${options.keys.length > 1 ? 's' : ''} ${options.keys.map((k) => `"${k.name}"`).join(', ')}, ` +
        `the event time "${options.timestampColumn}" and the target "${options.target}", but lacks ` +
        `${missing.map((m) => `"${m}"`).join(', ')}; columns are: ${listColumns(names)}`,
    );
  }
  const target = table.columns.find((c) => c.name === options.target)!;
  if (!isNumericType(target.type)) {
    throw new PipelineInputError(
      `target "${options.target}" of ${what} is ${target.type}; the trainer needs a numeric target`,
    );
  }
  const mismatched = options.keys
    .map((k) => ({ key: k, column: table.columns.find((c) => c.name === k.name)! }))
    .filter(({ key, column }) => key.numeric !== isNumericType(column.type));
  if (mismatched.length > 0) {
    throw new PipelineInputError(
      `join key ${mismatched.map(({ column }) => `"${column.name}" (${column.type})`).join(', ')} of ${what} does not have the entity's type`,
    );
  }
  const ts = table.columns.find((c) => c.name === options.timestampColumn)!;
  if (!/^(timestamp|string|varchar(\(\d+\))?)$/i.test(ts.type)) {
    throw new PipelineInputError(
      `event time "${options.timestampColumn}" of ${what} is ${ts.type}; it must be a timestamp (or a string holding one)`,
    );
  }
  const unknown = Object.keys(options.ranges).filter((k) => k !== options.target);
  if (unknown.length > 0) {
    throw new PipelineInputError(
      `with feature_service, ranges may only name the target ("${options.target}"): the features come from the ` +
        `feature store and are not read before training, but ranges names ${unknown.map((k) => `"${k}"`).join(', ')}`,
    );
  }
}

/**
 * Validates the labels objects (header, numeric join keys and target, event times the lake can
 * read, ranges on the target, the row count) and returns their profile. Features are not read
 * here: they come from the feature store's offline tables through the point-in-time join.
 */
export function profileLabels(
  table: LakeTable,
  objects: readonly DatasetObject[],
  options: LabelOptions,
): DataProfile {
  checkLabelOptions(table, options);
  if (objects.length === 0) {
    throw new DataValidationError(`labels table ${table.name} has no data objects under ${table.location}`);
  }
  const names = table.columns.map((c) => c.name);
  const numeric = [...options.keys.filter((k) => k.numeric).map((k) => k.name), options.target].map(
    (name) => table.columns.find((c) => c.name === name)!,
  );
  const stats = numeric.map(newStats);
  const tsIndex = names.indexOf(options.timestampColumn);
  const range = options.ranges[options.target];
  let rows = 0;
  const perObject: { key: string; version_id?: string; etag?: string; rows: number }[] = [];
  for (const object of objects) {
    const source = object.key;
    try {
      const header = checkHeader(table, object);
      const parsed = parseCsv(object.text, {
        source,
        numericColumns: numeric.map((column) => header[names.indexOf(column.name)]!),
        keepLines: true,
      });
      checkDelimiter(table, source, parsed.separator);
      parsed.lines!.data.forEach((line, r) => {
        const cell = splitRecord(line, parsed.separator, () => `${source}: data row ${r + 1}`)[tsIndex]!.trim();
        if (!isLakeTimestamp(cell)) {
          throw new DataValidationError(
            `${source}: data row ${r + 1}, column "${options.timestampColumn}": ${JSON.stringify(cell.slice(0, 40))} ` +
              'is not a timestamp the lake reads (YYYY-MM-DD HH:MM:SS[.fff], UTC)',
          );
        }
      });
      numeric.forEach((column, c) => {
        const values = parsed.numeric.get(header[names.indexOf(column.name)]!)!;
        // Only the target is checked for whole numbers and ranges; the join keys are only read.
        const checks =
          column.name === options.target ? { integer: isIntegerType(column.type), range } : { integer: false };
        checkColumn(source, column, values, checks, stats[c]!);
      });
      rows += parsed.rows;
      perObject.push({
        key: object.key,
        ...(object.versionId ? { version_id: object.versionId } : {}),
        ...(object.etag ? { etag: object.etag } : {}),
        rows: parsed.rows,
      });
    } catch (err) {
      if (err instanceof CsvError) throw new DataValidationError(err.message);
      throw err;
    }
  }
  if (rows < options.minRows) {
    throw new DataValidationError(
      `labels table ${table.name} has ${rows} rows, but at least ${options.minRows} are required (min_rows)`,
    );
  }
  return {
    table: table.name,
    location: table.location,
    rows,
    objects: perObject,
    columns: numeric.map((column, c) => columnProfile(column, stats[c]!, rows)),
  };
}
