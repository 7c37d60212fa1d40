/**
 * A small CSV reader for numeric training and prediction data: a header row, `,` or `;` separators
 * (detected from the header), double-quoted fields (`""` for a quote inside one), blank lines
 * skipped as pandas does. Quoted line breaks are not supported: a record is one line, which keeps
 * every error pointing at a line number a user can open in an editor.
 *
 * Every problem throws a {@link CsvError} whose message names the file, the line, the column and the
 * value, because the message ends up in SageMaker's failure reason and is all a user gets to see.
 *
 * @example
 * const table = parseCsv(await readFile('wine.csv', 'utf8'), { source: 'wine.csv' });
 * const { X, y, featureNames } = toTrainingSet([table], 'quality');
 */
import type { ColumnMatrix } from './elasticnet';

/** Thrown for unreadable data; the message is meant for the person who supplied the file. */
export class CsvError extends Error {
  override readonly name = 'CsvError';
}

export type Separator = ',' | ';';

export interface CsvTable {
  /** Where the text came from, for messages (a path or a channel-relative name). */
  readonly source: string;
  readonly separator: Separator;
  /** Column names, unquoted, in file order. */
  readonly header: readonly string[];
  /** Number of data rows (blank lines excluded). */
  readonly rows: number;
  /** The numeric columns that were asked for (all columns by default), one array per name. */
  readonly numeric: ReadonlyMap<string, Float64Array>;
  /** The header line and each data line as they appear in the text, when `keepLines` was set. */
  readonly lines?: { readonly header: string; readonly data: readonly string[] };
}

export interface ParseCsvOptions {
  /** Name used in error messages, e.g. the file path. */
  readonly source: string;
  /**
   * Columns to parse as numbers; other columns are only checked for having the right cell count,
   * so a prediction input may carry, say, a text id column. A name not in the header is an error.
   * @default every column
   */
  readonly numericColumns?: readonly string[];
  /**
   * Keep the raw text of the header and data lines (for writing them back out unchanged).
   * @default false
   */
  readonly keepLines?: boolean;
}

function describe(cell: string): string {
  return JSON.stringify(cell.length > 40 ? `${cell.slice(0, 40)}…` : cell);
}

/** Splits one record, honouring double quotes. Fast path when the line has no quote at all. */
export function splitRecord(line: string, sep: string, where: () => string): string[] {
  if (line.indexOf('"') === -1) return line.split(sep);
  const fields: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    // Whitespace before an opening quote is tolerated, as most writers that pad do so outside.
    let k = i;
    while (k < n && (line[k] === ' ' || line[k] === '\t')) k++;
    if (line[k] === '"') {
      let value = '';
      let j = k + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q === -1) {
          throw new CsvError(`${where()}: unterminated quoted field (a quoted field cannot span lines)`);
        }
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      while (j < n && (line[j] === ' ' || line[j] === '\t')) j++;
      fields.push(value);
      if (j >= n) return fields;
      if (line[j] !== sep) {
        throw new CsvError(`${where()}: unexpected ${describe(line[j]!)} after a closing quote`);
      }
      i = j + 1;
    } else {
      const s = line.indexOf(sep, i);
      if (s === -1) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, s));
      i = s + 1;
    }
  }
}

/** Picks the separator that occurs more often outside quotes in the header line (`,` on a tie). */
export function detectSeparator(headerLine: string): Separator {
  let commas = 0;
  let semicolons = 0;
  let quoted = false;
  for (const ch of headerLine) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === ',') commas++;
    else if (!quoted && ch === ';') semicolons++;
  }
  return semicolons > commas ? ';' : ',';
}

interface HeaderInfo {
  readonly rawLines: string[];
  readonly lineText: (k: number) => string;
  /** Index of the header line in rawLines. */
  readonly at: number;
  readonly line: string;
  readonly separator: Separator;
  readonly header: string[];
}

function readHeaderInfo(text: string, source: string): HeaderInfo {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const rawLines = body.split('\n');
  const lineText = (k: number) => {
    const l = rawLines[k]!;
    return l.endsWith('\r') ? l.slice(0, -1) : l;
  };
  let at = 0;
  while (at < rawLines.length && lineText(at).trim() === '') at++;
  if (at === rawLines.length) throw new CsvError(`${source}: the file is empty (no header, no data)`);
  const line = lineText(at);
  const headerNo = at + 1;
  const separator = detectSeparator(line);
  const header = splitRecord(line, separator, () => `${source}: line ${headerNo}`).map((h) => h.trim());
  const seen = new Set<string>();
  header.forEach((name, k) => {
    if (name === '')
      throw new CsvError(`${source}: line ${headerNo}: column ${k + 1} of the header has no name`);
    if (seen.has(name))
      throw new CsvError(`${source}: line ${headerNo}: column name "${name}" appears twice`);
    seen.add(name);
  });
  return { rawLines, lineText, at, line, separator, header };
}

/**
 * Reads only the header: the column names, unquoted, in file order.
 *
 * @example
 * readCsvHeader('"a";"b"\n1;2\n', 'x.csv'); // ['a', 'b']
 */
export function readCsvHeader(text: string, source: string): string[] {
  return readHeaderInfo(text, source).header;
}

/**
 * Parses CSV text with a header into numeric columns.
 *
 * @example
 * const t = parseCsv('"a";"b"\n1;2\n3;4\n', { source: 'x.csv' });
 * t.numeric.get('b'); // Float64Array [2, 4]
 */
export function parseCsv(text: string, options: ParseCsvOptions): CsvTable {
  const { source } = options;
  const { rawLines, lineText, at: li, line: headerLine, separator, header } = readHeaderInfo(text, source);

  const wanted = options.numericColumns ?? header;
  const indices = wanted.map((name) => {
    const k = header.indexOf(name);
    if (k === -1)
      throw new CsvError(`${source}: no column named "${name}"; columns are: ${listColumns(header)}`);
    return k;
  });

  // Collect data line positions first so the numeric arrays are allocated once at their final size.
  const dataLineIdx: number[] = [];
  for (let k = li + 1; k < rawLines.length; k++) {
    if (lineText(k).trim() !== '') dataLineIdx.push(k);
  }
  const rows = dataLineIdx.length;
  if (rows === 0) throw new CsvError(`${source}: the file has a header but no data rows`);

  const columns = indices.map(() => new Float64Array(rows));
  const keptLines: string[] | undefined = options.keepLines ? new Array(rows) : undefined;
  const width = header.length;
  for (let r = 0; r < rows; r++) {
    const k = dataLineIdx[r]!;
    const line = lineText(k);
    const where = () => `${source}: line ${k + 1}`;
    const fields = splitRecord(line, separator, where);
    if (fields.length !== width) {
      throw new CsvError(`${where()}: has ${fields.length} fields but the header has ${width}`);
    }
    if (keptLines) keptLines[r] = line;
    for (let c = 0; c < indices.length; c++) {
      const cell = fields[indices[c]!]!;
      columns[c]![r] = numericCell(cell, where, wanted[c]!);
    }
  }
  const numeric = new Map<string, Float64Array>();
  wanted.forEach((name, c) => {
    numeric.set(name, columns[c]!);
  });
  return {
    source,
    separator,
    header,
    rows,
    numeric,
    ...(keptLines ? { lines: { header: headerLine, data: keptLines } } : {}),
  };
}

/**
 * The number a cell holds, or a {@link CsvError} naming the place (`where()`) and the column.
 *
 * @example
 * numericCell(' 2.5', () => 'x.csv: line 2', 'a'); // 2.5
 */
export function numericCell(cell: string, where: () => string, column: string): number {
  const v = Number(cell);
  // Number() is lenient in ways a data file should not be: '' and '  ' become 0, and hex,
  // octal and binary literals parse. Only the rare cells that hit those cases pay for the check.
  if (!Number.isFinite(v) || (v === 0 && cell.trim() === '') || isRadixLiteral(cell)) {
    throw new CsvError(`${where()}, column "${column}": ${badCell(cell)}`);
  }
  return v;
}

function isRadixLiteral(cell: string): boolean {
  if (cell.length < 3) return false;
  const t = cell.trimStart();
  const c = t.charCodeAt(1) | 0x20; // lower-case
  return t[0] === '0' && (c === 0x78 || c === 0x6f || c === 0x62); // x, o, b
}

function badCell(cell: string): string {
  const t = cell.trim();
  if (t === '') return 'empty value (missing values are not supported)';
  if (/^[+-]?nan$/i.test(t) || /^(na|n\/a|null|none)$/i.test(t)) {
    return `${describe(cell)} is a missing value (missing values are not supported)`;
  }
  if (/^[+-]?inf(inity)?$/i.test(t)) return `${describe(cell)} is not a finite number`;
  return `${describe(cell)} is not a number`;
}

/** Why a Parquet value is no usable number (null, NaN, ±Infinity, something else). */
export function parquetCellProblem(value: unknown): string {
  if (value === null || value === undefined) return 'empty value (missing values are not supported)';
  if (typeof value === 'number' && Number.isNaN(value))
    return 'NaN is a missing value (missing values are not supported)';
  return `${JSON.stringify(String(value))} is not a finite number`;
}

/** Formats column names for a message: quoted, comma-separated, the first 30. */
export function listColumns(names: readonly string[]): string {
  const shown = names.slice(0, 30).map((n) => `"${n}"`);
  return names.length > 30 ? `${shown.join(', ')}, … (${names.length} in all)` : shown.join(', ');
}

export interface TrainingSet {
  readonly featureNames: readonly string[];
  readonly target: string;
  readonly X: ColumnMatrix;
  readonly y: Float64Array;
}

/**
 * Stacks one or more tables with the same columns into a design matrix: every column except the
 * target is a feature, in the first table's header order.
 *
 * @example
 * const set = toTrainingSet([parseCsv(text, { source: 'train.csv' })], 'quality');
 * set.X.cols; // 11
 */
export function toTrainingSet(tables: readonly CsvTable[], target: string): TrainingSet {
  return toDesign(tables, trainingFeatureNames(tables[0], target), target);
}

/** What the column rules need of a file: where it came from and its column names in file order. */
export interface TableHead {
  readonly source: string;
  readonly header: readonly string[];
}

/**
 * The feature columns of a training channel: every column of its first file except the target,
 * in that file's order.
 *
 * @example
 * trainingFeatureNames({ source: 'train/a.csv', header: ['a', 'y', 'b'] }, 'y'); // ['a', 'b']
 */
export function trainingFeatureNames(first: TableHead | undefined, target: string): string[] {
  if (!first) throw new CsvError('no data: the channel holds no CSV file');
  if (!first.header.includes(target)) {
    throw new CsvError(
      `${first.source}: the target column "${target}" is missing; columns are: ${listColumns(first.header)}`,
    );
  }
  const featureNames = first.header.filter((h) => h !== target);
  if (featureNames.length === 0) {
    throw new CsvError(`${first.source}: there are no feature columns besides the target "${target}"`);
  }
  return featureNames;
}

/**
 * Checks that every file has the first file's set of columns (in any order) and that each of
 * `names` is among them.
 *
 * @example
 * checkSameColumns([{ source: 'a.csv', header: ['x', 'y'] }, { source: 'b.csv', header: ['y', 'x'] }], ['x', 'y']);
 */
export function checkSameColumns(tables: readonly TableHead[], names: readonly string[]): void {
  const first = tables[0];
  if (!first) throw new CsvError('no data: the channel holds no CSV file');
  const expected = [...first.header].sort().join('\u0000');
  for (const t of tables) {
    if ([...t.header].sort().join('\u0000') !== expected) {
      throw new CsvError(
        `${t.source}: its columns (${listColumns(t.header)}) differ from ${first.source}'s (${listColumns(first.header)})`,
      );
    }
    const missing = names.find((name) => !t.header.includes(name));
    if (missing !== undefined) {
      throw new CsvError(
        `${t.source}: the column "${missing}" is missing; columns are: ${listColumns(t.header)}`,
      );
    }
  }
}

/**
 * Builds a design matrix with the given feature columns (by name, in the given order) from tables
 * whose column set equals the first table's; `target` is read too when given.
 *
 * @example
 * const { X, y } = toDesign([validationTable], model.features, model.target);
 */
export function toDesign(
  tables: readonly CsvTable[],
  featureNames: readonly string[],
  target: string,
): TrainingSet {
  checkSameColumns(tables, [...featureNames, target]);
  let rows = 0;
  for (const t of tables) {
    const unread = [...featureNames, target].find((name) => !t.numeric.has(name));
    if (unread !== undefined) throw new CsvError(`${t.source}: column "${unread}" was not read as numeric`);
    rows += t.rows;
  }
  const p = featureNames.length;
  const data = new Float64Array(rows * p);
  const y = new Float64Array(rows);
  let at = 0;
  for (const t of tables) {
    featureNames.forEach((name, j) => {
      data.set(t.numeric.get(name)!, j * rows + at);
    });
    y.set(t.numeric.get(target)!, at);
    at += t.rows;
  }
  return { featureNames, target, X: { rows, cols: p, data }, y };
}
