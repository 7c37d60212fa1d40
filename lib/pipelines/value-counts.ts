/**
 * Per-column value counts computed where the data is: one Athena (or local DuckDB) query with
 * `GROUPING SETS`, one set per column, so the rows are scanned once whatever the number of
 * columns, and what comes back is each column's distinct values with their counts — the input the
 * drift statistics take — never the rows themselves.
 *
 * The query's result has a `g` column (`grouping(c0, …, cN)`: the bit of every column outside the
 * row's set is 1), one column per input (`c0`…`cN`, so no feature name needs to be a valid alias)
 * and `n`. {@link parseValueCounts} reads Athena's CSV result back into counts per column.
 *
 * @example
 * const sql = valueCountsQuery({ from: '"db"."wine"', columns: [{ name: 'alcohol', expr: '"alcohol"' }] });
 * parseValueCounts(csv, ['alcohol']).get('alcohol'); // { values: [9.4, 9.5, …], counts: [3, 1, …], missing: 0 }
 */
import { ident } from '../shared/sql';

export interface ValueCountsColumn {
  /** The name the counts are reported under (a feature, or the prediction). */
  readonly name: string;
  /** A SQL expression over `from` (cast to DOUBLE by the query). */
  readonly expr: string;
}

export interface ValueCountsQueryOptions {
  /** A relation: `"db"."table"`, or a parenthesised SELECT. */
  readonly from: string;
  readonly columns: readonly ValueCountsColumn[];
  /** A WHERE condition on `from`. @default - every row */
  readonly where?: string;
}

/** Athena's `grouping()` takes at most this many arguments in one call (a 32-bit mask, leaving a margin). */
export const MAX_VALUE_COUNT_COLUMNS = 30;

export function valueCountsQuery(options: ValueCountsQueryOptions): string {
  const { columns } = options;
  if (columns.length === 0 || columns.length > MAX_VALUE_COUNT_COLUMNS) {
    throw new Error(
      `value counts need 1 to ${MAX_VALUE_COUNT_COLUMNS} columns, but ${columns.length} were provided`,
    );
  }
  const alias = columns.map((_, i) => ident(`c${i}`));
  const inner =
    `SELECT ${columns.map((c, i) => `CAST(${c.expr} AS DOUBLE) AS ${alias[i]}`).join(', ')} ` +
    `FROM ${options.from}${options.where ? ` WHERE ${options.where}` : ''}`;
  return (
    `SELECT grouping(${alias.join(', ')}) AS "g", ${alias.join(', ')}, count(*) AS "n" ` +
    `FROM (${inner}) "w" GROUP BY GROUPING SETS (${alias.map((a) => `(${a})`).join(', ')})`
  );
}

/** One column's distinct values in ascending order, with how often each occurred. */
export interface ColumnCounts {
  readonly values: number[];
  readonly counts: number[];
  /** Rows where the column was NULL (missing in the log). */
  readonly missing: number;
}

/** Rows counted for a column: its values' counts and its missing ones. */
export const rowsOf = (c: ColumnCounts): number => c.counts.reduce((a, b) => a + b, 0) + c.missing;

/**
 * Reads the CSV result of {@link valueCountsQuery} (Athena's: a header row, every field quoted,
 * an empty field for NULL) into counts per column name, values sorted ascending. A column with
 * no rows is present with no values.
 */
export function parseValueCounts(csv: string, names: readonly string[]): Map<string, ColumnCounts> {
  const lines = csv.split('\n').filter((l) => l.trim() !== '');
  const width = names.length;
  const raw = names.map(() => ({ pairs: [] as [number, number][], missing: 0 }));
  if (lines.length > 0) {
    const header = csvFields(lines[0]!);
    const expected = ['g', ...names.map((_, i) => `c${i}`), 'n'];
    if (header.join(',') !== expected.join(',')) {
      throw new Error(
        `a value-counts result must have the columns ${expected.join(', ')}, but ${header.join(', ')} was provided`,
      );
    }
  }
  for (const line of lines.slice(1)) {
    const fields = csvFields(line);
    const g = Number(fields[0]);
    const n = Number(fields[width + 1]);
    // The row's column is the one whose grouping bit is 0 (the first argument is the highest bit).
    const i = names.findIndex((_, j) => ((g >> (width - 1 - j)) & 1) === 0);
    if (i < 0 || !Number.isFinite(n)) throw new Error(`a value-counts result row is malformed: ${line}`);
    const cell = fields[i + 1]!;
    if (cell === '') raw[i]!.missing += n;
    else raw[i]!.pairs.push([Number(cell), n]);
  }
  return new Map(
    names.map((name, i) => {
      const pairs = raw[i]!.pairs.sort((a, b) => a[0] - b[0]);
      return [name, { values: pairs.map((p) => p[0]), counts: pairs.map((p) => p[1]), missing: raw[i]!.missing }];
    }),
  );
}

/** Counts of the values of an in-memory column (a holdout's predictions), as {@link parseValueCounts} reports them. */
export function countValues(values: Iterable<number>): ColumnCounts {
  const m = new Map<number, number>();
  let missing = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) missing++;
    else m.set(v, (m.get(v) ?? 0) + 1);
  }
  const sorted = [...m.entries()].sort((a, b) => a[0] - b[0]);
  return { values: sorted.map((p) => p[0]), counts: sorted.map((p) => p[1]), missing };
}

/** One line of Athena's CSV: fields quoted with `"`, a quote doubled inside one. */
function csvFields(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const text = line.endsWith('\r') ? line.slice(0, -1) : line;
  while (i <= text.length) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) throw new Error(`an unterminated quoted field in a query result: ${line}`);
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(value);
      i++; // the comma
    } else {
      const c = text.indexOf(',', i);
      const end = c < 0 ? text.length : c;
      out.push(text.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}
