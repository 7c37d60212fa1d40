/**
 * The small, portable subset of Athena (Trino) SQL the kit relies on, rewritten for DuckDB.
 * A SELECT is passed through unchanged once {@link checkSelect} has accepted it: DuckDB runs about a
 * third of Athena SQL as is, and what it rejects fails the query with DuckDB's own reason rather
 * than a guessed translation.
 */
import { existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { layout } from '../layout';
import { localPathOf } from './catalog';
import { QueryRefused, type WriteFormat } from './policy';

/**
 * `UNLOAD (SELECT …) TO 's3://b/p/' WITH (format = 'PARQUET')` →
 * `COPY (…) TO '<dir>/<id>.parquet' (FORMAT PARQUET)` (also TEXTFILE with `field_delimiter`, JSON).
 * The SELECT must already be checked; it is wrapped on lines of its own so a trailing line comment
 * cannot swallow the closing parenthesis.
 *
 * @example
 * copyStatement('SELECT 1', '/state/s3/b/out/q1.parquet', { kind: 'parquet', delimiter: '\u0001' });
 * // → "COPY (\nSELECT 1\n) TO '/state/s3/b/out/q1.parquet' (FORMAT PARQUET)"
 */
export function copyStatement(select: string, file: string, format: WriteFormat): string {
  return `COPY (\n${select}\n) TO ${lit(file)} (${formatOptions(format)})`;
}

const formatOptions = (format: WriteFormat) =>
  format.kind === 'parquet'
    ? 'FORMAT PARQUET'
    : format.kind === 'json'
      ? 'FORMAT JSON'
      : `FORMAT CSV, HEADER false, DELIMITER ${lit(format.delimiter)}`;

/** DuckDB's rows per vector: a Parquet row group holds a whole number of them. */
const VECTOR_ROWS = 2048;
/** DuckDB's default rows per Parquet row group. */
const ROW_GROUP_ROWS = 122_880;

/**
 * An UNLOAD as Athena writes it: several files under the location, not one. Athena's workers each
 * write their own; locally DuckDB starts a new file every `fileRows` rows (rounded up to its
 * 2,048-row vectors), in the query's row order, named `<query id>_<n>.<ext>` (n from 0). Parquet
 * files rotate by row groups (`ROW_GROUPS_PER_FILE`); text files by `FILE_SIZE_BYTES` is not a row
 * count, so CSV and JSON stay one file per UNLOAD as before.
 *
 * @example
 * unloadStatement('SELECT 1', '/state/s3/b/out', 'q1', { kind: 'parquet', delimiter: '\u0001' }, 1_000_000);
 * // → "COPY (\nSELECT 1\n) TO '/state/s3/b/out' (FORMAT PARQUET, ROW_GROUP_SIZE 122880, ROW_GROUPS_PER_FILE 9, FILENAME_PATTERN 'q1_{i}', OVERWRITE_OR_IGNORE)"
 */
export function unloadStatement(select: string, dir: string, queryId: string, format: WriteFormat, fileRows: number): string {
  if (format.kind !== 'parquet') return copyStatement(select, join(dir, `${queryId}.${extensionOf(format)}`), format);
  const vectors = Math.max(1, Math.ceil(fileRows / VECTOR_ROWS));
  const groupRows = Math.min(ROW_GROUP_ROWS, vectors * VECTOR_ROWS);
  const groups = Math.max(1, Math.ceil((vectors * VECTOR_ROWS) / groupRows));
  // The pattern is the query id (a UUID) and {i}: no other query's files can be overwritten.
  return (
    `COPY (\n${select}\n) TO ${lit(dir)} (${formatOptions(format)}, ROW_GROUP_SIZE ${groupRows}, ` +
    `ROW_GROUPS_PER_FILE ${groups}, FILENAME_PATTERN ${lit(`${queryId}_{i}`)}, OVERWRITE_OR_IGNORE)`
  );
}

export const extensionOf = (format: WriteFormat) =>
  format.kind === 'parquet' ? 'parquet' : format.kind === 'json' ? 'json' : 'csv';

/**
 * The local directory an UNLOAD or CTAS writes into: an `s3://` prefix of a bucket the S3 engine
 * holds, never a host path, another scheme or a key that climbs out of its bucket.
 */
export function lakeDirectoryOf(stateDir: string, location: string, statement: string): string {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(location);
  const bad = (why: string) =>
    new QueryRefused(
      `${statement} location must be an s3://bucket/prefix/ in a bucket of the local lake, but '${location}' was provided (${why})`,
    );
  if (!m) throw bad('not an s3:// URI with a valid bucket name');
  const key = (m[2] ?? '/').slice(1);
  if (key.split('/').some((segment) => segment === '..' || segment === '.')) {
    throw bad("a key segment is '.' or '..'");
  }
  const bucketDir = layout(stateDir).bucket(m[1]!);
  if (!existsSync(bucketDir)) throw bad(`bucket ${m[1]} does not exist`);
  const dir = resolve(localPathOf(stateDir, `s3://${m[1]}/${key}`));
  const within = relative(bucketDir, dir);
  if (within.startsWith('..')) throw bad('the key leaves the bucket');
  return dir;
}

/** The file an UNLOAD or CTAS writes: `<query id>.<ext>` under its location, as Athena names them. */
export const lakeFileOf = (dir: string, queryId: string, format: WriteFormat) =>
  join(dir, `${queryId}.${extensionOf(format)}`);

/**
 * For the kit's own check queries only (dialect `duckdb`): `'s3://bucket/key'` literals → local
 * paths (a prefix ending in `/` becomes a recursive glob). `paths` collects them for the scan cutoff.
 */
export function rewriteLakeLiterals(sql: string, stateDir: string, paths: string[]): string {
  return sql.replace(/'(s3:\/\/[^']+)'/g, (_, uri: string) => {
    const local = localPathOf(stateDir, uri);
    paths.push(local);
    // A prefix names every object below it, which DuckDB spells as a recursive glob.
    return lit(uri.endsWith('/') ? `${local.replace(/\/+$/, '')}/**` : local);
  });
}

/** The `AwsDataCatalog.` prefix is dropped: Glue databases are DuckDB schemas. */
export const dropCatalogPrefix = (sql: string) => sql.replace(/(^|[^\w."])"?awsdatacatalog"?\./gi, '$1');

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Athena functions the pipelines' SQL uses that DuckDB lacks, rewritten to DuckDB expressions giving
 * the same values (see `rowHash` in `lib/pipelines/sql.ts`):
 * - `to_hex(md5(to_utf8(x)))` → `upper(md5(x))`: both the MD5 of x's UTF-8 bytes, Athena's in
 *   upper-case hex, DuckDB's in lower-case.
 * - `from_base(h, 16)` → `CAST('0x' || h AS BIGINT)`.
 * Anything else is left as written (a query DuckDB then rejects fails with DuckDB's reason). String
 * literals, quoted identifiers and comments are never rewritten.
 *
 * @example
 * translateFunctions("SELECT from_base(substr(to_hex(md5(to_utf8(a))), 1, 15), 16)");
 * // → "SELECT CAST(('0x' || (substr(upper(md5(a)), 1, 15))) AS BIGINT)"
 */
export function translateFunctions(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const skipped = skipQuoted(sql, i);
    if (skipped > i) {
      out += sql.slice(i, skipped);
      i = skipped;
      continue;
    }
    const call = /^(to_hex|from_base)\s*\(/i.exec(sql.slice(i, i + 16));
    if (call && (i === 0 || !/[\w."]/.test(sql[i - 1]!))) {
      const open = i + call[0].length;
      const close = closingParen(sql, open);
      if (close >= 0) {
        const args = splitArgs(sql.slice(open, close)).map((a) => translateFunctions(a).trim());
        const replaced = rewriteCall(call[1]!.toLowerCase(), args);
        if (replaced !== undefined) {
          out += replaced;
          i = close + 1;
          continue;
        }
      }
    }
    out += sql[i];
    i++;
  }
  return out;
}

function rewriteCall(name: string, args: string[]): string | undefined {
  if (name === 'to_hex' && args.length === 1) {
    const bytes = soleCall('md5', args[0]!);
    const text = bytes === undefined ? undefined : soleCall('to_utf8', bytes);
    return text === undefined ? undefined : `upper(md5(${text}))`;
  }
  if (name === 'from_base' && args.length === 2 && args[1] === '16') return `CAST(('0x' || (${args[0]})) AS BIGINT)`;
  return undefined;
}

/** The argument of `expr` when `expr` is exactly one call of `name` (not `md5(a) || md5(b)`). */
function soleCall(name: string, expr: string): string | undefined {
  const m = new RegExp(`^${name}\\s*\\(`, 'i').exec(expr.trim());
  if (!m) return undefined;
  const text = expr.trim();
  return closingParen(text, m[0].length) === text.length - 1 ? text.slice(m[0].length, -1).trim() : undefined;
}

/** The index just past a literal, quoted identifier or comment starting at i (i itself if none). */
function skipQuoted(sql: string, i: number): number {
  const c = sql[i];
  if (c === "'" || c === '"') {
    let j = i + 1;
    while (j < sql.length) {
      if (sql[j] === c) {
        if (sql[j + 1] === c) j += 2;
        else return j + 1;
      } else j++;
    }
    return sql.length;
  }
  if (c === '-' && sql[i + 1] === '-') {
    const end = sql.indexOf('\n', i);
    return end < 0 ? sql.length : end;
  }
  if (c === '/' && sql[i + 1] === '*') {
    const end = sql.indexOf('*/', i + 2);
    return end < 0 ? sql.length : end + 2;
  }
  return i;
}

/** The index of the `)` that closes a parenthesis opened just before `from`; -1 when unbalanced. */
function closingParen(sql: string, from: number): number {
  let depth = 0;
  for (let i = from; i < sql.length; ) {
    const skipped = skipQuoted(sql, i);
    if (skipped > i) {
      i = skipped;
      continue;
    }
    if (sql[i] === '(') depth++;
    else if (sql[i] === ')') {
      if (depth === 0) return i;
      depth--;
    }
    i++;
  }
  return -1;
}

/** Top-level comma-separated arguments. */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; ) {
    const skipped = skipQuoted(text, i);
    if (skipped > i) {
      i = skipped;
      continue;
    }
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      args.push(text.slice(start, i));
      start = i + 1;
    }
    i++;
  }
  args.push(text.slice(start));
  return args;
}
