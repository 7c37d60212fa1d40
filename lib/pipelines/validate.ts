/**
 * Data validation for the training pipeline: the CSV objects of a lake table are checked against
 * the table's schema (every column present, in order, under its catalog name or its header form:
 * `fixed acidity` for `fixed_acidity`), for missing and non-numeric values, integer columns, the
 * row count and optional value ranges, and summarized in a data profile.
 *
 * Validation reads every object in full and fails on the first problem with a message naming the
 * object, line, column and value (the trainer's CSV reader's wording), because the message is what
 * a user sees in the execution history.
 *
 * @example
 * const profile = profileObjects(table, [{ key: 'datasets/wine/wine.csv', versionId: 'v1', text }], options);
 * profile.rows; // 1599
 */
import { CsvError, listColumns, parseCsv, readCsvHeader } from '../trainer/csv';
import { isIntegerType, isNumericType, type LakeTable } from './catalog';
import { DataValidationError, PipelineInputError } from './errors';
import type { ColumnRange } from './input';

export interface DatasetObject {
  readonly key: string;
  /** The S3 version read (absent for an unversioned bucket). */
  readonly versionId?: string;
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
  readonly objects: readonly { readonly key: string; readonly version_id?: string; readonly rows: number }[];
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
  const n = table.columns.length;
  const sums = new Float64Array(n);
  const sumSquares = new Float64Array(n);
  const mins = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const maxs = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
  let rows = 0;
  const perObject: { key: string; version_id?: string; rows: number }[] = [];

  for (const object of objects) {
    const source = object.key;
    const data = readObject(table, object);
    for (let c = 0; c < n; c++) {
      const column = table.columns[c]!;
      const values = data.get(column.name)!;
      const range = options.ranges[column.name];
      const integer = isIntegerType(column.type);
      for (let r = 0; r < values.length; r++) {
        const v = values[r]!;
        if (integer && !Number.isInteger(v)) {
          throw new DataValidationError(
            `${source}: data row ${r + 1}, column "${column.name}": ${v} is not a whole number (the column is ${column.type})`,
          );
        }
        if (
          range &&
          ((range.min !== undefined && v < range.min) || (range.max !== undefined && v > range.max))
        ) {
          throw new DataValidationError(
            `${source}: data row ${r + 1}, column "${column.name}": ${v} is outside the allowed range ` +
              `[${range.min ?? '-∞'}, ${range.max ?? '∞'}]`,
          );
        }
        sums[c]! += v;
        sumSquares[c]! += v * v;
        if (v < mins[c]!) mins[c] = v;
        if (v > maxs[c]!) maxs[c] = v;
      }
    }
    const count = data.get(table.columns[0]!.name)!.length;
    rows += count;
    perObject.push({
      key: object.key,
      ...(object.versionId ? { version_id: object.versionId } : {}),
      rows: count,
    });
  }

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
  return {
    table: table.name,
    location: table.location,
    rows,
    objects: perObject,
    columns: table.columns.map((column, c) => {
      const mean = sums[c]! / rows;
      return {
        name: column.name,
        type: column.type,
        min: mins[c]!,
        max: maxs[c]!,
        mean,
        std: Math.sqrt(Math.max(0, sumSquares[c]! / rows - mean * mean)),
        nulls: 0,
      };
    }),
  };
}

/** Parses one object; returns each catalog column's values. */
function readObject(table: LakeTable, object: DatasetObject): Map<string, Float64Array> {
  const source = object.key;
  const names = table.columns.map((c) => c.name);
  try {
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
    const parsed = parseCsv(object.text, { source, numericColumns: header });
    if (table.delimiter && parsed.separator !== table.delimiter) {
      throw new DataValidationError(
        `${source}: fields are separated by "${parsed.separator}", but the table reads "${table.delimiter}"`,
      );
    }
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
