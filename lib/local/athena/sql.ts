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
  const options =
    format.kind === 'parquet'
      ? 'FORMAT PARQUET'
      : format.kind === 'json'
        ? 'FORMAT JSON'
        : `FORMAT CSV, HEADER false, DELIMITER ${lit(format.delimiter)}`;
  return `COPY (\n${select}\n) TO ${lit(file)} (${options})`;
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
