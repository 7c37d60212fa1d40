/**
 * The small, portable subset of Athena (Trino) SQL the kit relies on, rewritten for DuckDB.
 * Anything else is passed through unchanged: DuckDB runs about a third of Athena SQL as is, and
 * what it rejects fails the query with DuckDB's own reason rather than a guessed translation.
 */
import { dirname } from 'node:path';
import { localPathOf } from './catalog';

export interface TranslatedQuery {
  /** The SQL DuckDB runs. */
  readonly sql: string;
  /** Athena's statement type for the original query. */
  readonly statementType: 'DML' | 'DDL' | 'UTILITY';
  /** For UNLOAD: the local file written (created by DuckDB's COPY). */
  readonly unloadFile?: string;
  /** Local paths the query names through `s3://` literals (counted against the scan cutoff). */
  readonly localPaths: readonly string[];
}

const UNLOAD = /^\s*UNLOAD\s*\(([\s\S]*)\)\s*TO\s*'(s3:\/\/[^']+)'\s*(?:WITH\s*\(([\s\S]*)\))?\s*;?\s*$/i;

/**
 * Rewrites an Athena query for DuckDB:
 * - `UNLOAD (SELECT …) TO 's3://b/p/' WITH (format = 'PARQUET')` → `COPY (…) TO '<dir>/<id>.parquet' (FORMAT PARQUET)`
 *   (also `format = 'TEXTFILE'|'JSON'` with `field_delimiter`);
 * - `'s3://bucket/key'` literals → local paths (a prefix ending in `/` becomes a recursive glob);
 * - the `AwsDataCatalog.` catalog prefix is dropped (Glue databases are DuckDB schemas).
 *
 * @example
 * translateQuery("UNLOAD (SELECT 1) TO 's3://b/out/' WITH (format = 'PARQUET')", '/state', 'q1').sql;
 * // → "COPY (SELECT 1) TO '/state/s3/b/out/q1.parquet' (FORMAT PARQUET)"
 */
export function translateQuery(query: string, stateDir: string, queryId: string): TranslatedQuery {
  const paths: string[] = [];
  const unload = UNLOAD.exec(query);
  if (unload) {
    const [, select, target, withClause] = unload;
    const opts = parseWith(withClause ?? '');
    const format = (opts['format'] ?? 'PARQUET').toUpperCase();
    const dir = localPathOf(stateDir, target!.endsWith('/') ? target! : `${target}/`);
    const ext = format === 'PARQUET' ? 'parquet' : format === 'JSON' ? 'json' : 'csv';
    const file = `${dir}${queryId}.${ext}`;
    const copyOpts =
      format === 'PARQUET'
        ? 'FORMAT PARQUET'
        : format === 'JSON'
          ? 'FORMAT JSON'
          : `FORMAT CSV, HEADER false, DELIMITER ${lit(opts['field_delimiter'] ?? '\u0001')}`;
    const inner = rewriteLiterals(select!, stateDir, paths);
    return {
      sql: `COPY (${inner}) TO ${lit(file)} (${copyOpts})`,
      statementType: 'DML',
      unloadFile: file,
      localPaths: paths,
    };
  }
  const sql = rewriteLiterals(query, stateDir, paths).replace(/(^|[^\w."])"?awsdatacatalog"?\./gi, '$1');
  return { sql, statementType: statementTypeOf(query), localPaths: paths };
}

/** The directory an UNLOAD writes into must exist before DuckDB's COPY opens the file. */
export const unloadDir = (file: string) => dirname(file);

function statementTypeOf(query: string): 'DML' | 'DDL' | 'UTILITY' {
  const head =
    query
      .replace(/^\s*(--[^\n]*\n|\/\*[\s\S]*?\*\/|\s)*/, '')
      .split(/\s+/)[0]
      ?.toUpperCase() ?? '';
  if (['CREATE', 'DROP', 'ALTER', 'MSCK'].includes(head)) return 'DDL';
  if (['SHOW', 'DESCRIBE', 'EXPLAIN'].includes(head)) return 'UTILITY';
  return 'DML';
}

function parseWith(clause: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of clause.matchAll(/(\w+)\s*=\s*'([^']*)'/g)) out[m[1]!.toLowerCase()] = m[2]!;
  return out;
}

function rewriteLiterals(sql: string, stateDir: string, paths: string[]): string {
  return sql.replace(/'(s3:\/\/[^']+)'/g, (_, uri: string) => {
    const local = localPathOf(stateDir, uri);
    paths.push(local);
    // A prefix names every object below it, which DuckDB spells as a recursive glob.
    return lit(uri.endsWith('/') ? `${local.replace(/\/+$/, '')}/**` : local);
  });
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
