/**
 * SQL text shared by the queries the platform writes (Athena on AWS, DuckDB locally).
 *
 * @example
 * `SELECT ${ident('fixed acidity')} FROM ${ident('db')}.${ident('wine')}`;
 */

/** A quoted SQL identifier; both dialects double an embedded `"`. */
export const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** A quoted SQL string literal; both dialects double an embedded `'`. */
export const literal = (s: string): string => `'${s.replace(/'/g, "''")}'`;
