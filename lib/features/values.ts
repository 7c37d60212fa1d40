/**
 * Value handling shared by the server, the online store and materialization: type checks of JSON
 * values against Feast value types, the online key encoding, and timestamp parsing/formatting.
 */
import type { ValueType } from './types';

/** A scalar feature or join-key value as it travels in JSON. */
export type ScalarValue = number | string | boolean;

/** The outcome of checking one value; `code` and `message` follow pydantic's wording. */
export type Checked = { ok: true; value: ScalarValue | null } | { ok: false; code: string; message: string };

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/**
 * Checks a JSON value against a value type, without coercion: a string "1002" is not an INT64,
 * so a mistyped request is rejected instead of silently joining the wrong row.
 *
 * @example
 * checkValue('INT64', 1001); // { ok: true, value: 1001 }
 * checkValue('INT64', '1001').ok; // false
 */
export function checkValue(type: ValueType, value: unknown): Checked {
  if (value === null) return { ok: true, value: null };
  switch (type) {
    case 'INT32':
    case 'INT64': {
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        return { ok: false, code: 'int_type', message: 'Input should be a valid integer' };
      }
      // Beyond 2^53 JSON.parse has already rounded the number: refuse rather than mis-join.
      if (!Number.isSafeInteger(value)) {
        return { ok: false, code: 'int_range', message: 'Input should be a safe integer (|n| < 2^53)' };
      }
      if (type === 'INT32' && (value < INT32_MIN || value > INT32_MAX)) {
        return { ok: false, code: 'int_range', message: 'Input should fit in a 32-bit integer' };
      }
      return { ok: true, value };
    }
    case 'FLOAT':
    case 'DOUBLE':
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return { ok: false, code: 'float_type', message: 'Input should be a valid number' };
      }
      return { ok: true, value };
    case 'STRING':
      if (typeof value !== 'string')
        return { ok: false, code: 'string_type', message: 'Input should be a valid string' };
      return { ok: true, value };
    case 'BOOL':
      if (typeof value !== 'boolean')
        return { ok: false, code: 'bool_type', message: 'Input should be a valid boolean' };
      return { ok: true, value };
    case 'UNIX_TIMESTAMP': {
      const ms = parseTimestamp(value);
      if (ms === undefined) {
        return { ok: false, code: 'datetime_type', message: 'Input should be a valid timestamp' };
      }
      // Stored and served as epoch seconds, as Feast's server renders unix timestamps.
      return { ok: true, value: Math.floor(ms / 1000) };
    }
  }
}

/**
 * The longest string join key value, in UTF-8 bytes: it becomes part of the online store's
 * partition key, which DynamoDB caps at 2,048 bytes (the rest holds the view and key names).
 */
export const MAX_JOIN_KEY_BYTES = 1024;

/** A join key value that would not fit the online store's partition key, as a validation failure. */
export function joinKeyTooLong(value: unknown): { ok: false; code: string; message: string } | undefined {
  if (typeof value !== 'string') return undefined;
  const bytes = Buffer.byteLength(encodeURIComponent(value));
  if (bytes <= MAX_JOIN_KEY_BYTES) return undefined;
  return {
    ok: false,
    code: 'string_too_long',
    message: `Join key values must be at most ${MAX_JOIN_KEY_BYTES} bytes once URI-encoded, but ${bytes} were provided`,
  };
}

/**
 * The online store's partition key of one entity row of a view. Join keys are written in the
 * view's entity order; string values are URI-encoded so that separators inside them cannot make
 * two different keys collide.
 *
 * @example
 * onlineKey('wine_features', [['wine_id', 7]]); // 'wine_features#wine_id=7'
 */
export function onlineKey(view: string, joinKeyValues: readonly (readonly [string, ScalarValue])[]): string {
  const parts = joinKeyValues.map(
    ([k, v]) => `${k}=${typeof v === 'string' ? encodeURIComponent(v) : String(v)}`,
  );
  return `${view}#${parts.join('|')}`;
}

// YYYY-MM-DD, optionally followed by a time, fraction and zone; 'T' or ' ' between date and time.
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses a timestamp to epoch milliseconds. Accepts what Feast's push examples send
 * (`2022-05-13 10:59:42+00:00`), RFC 3339 (`2022-05-13T10:59:42.123Z`), what Athena and DuckDB
 * print (`2022-05-13 10:59:42.000`), and numbers as epoch seconds. Zone-less strings are UTC.
 * Digits beyond milliseconds are truncated.
 *
 * @example
 * parseTimestamp('1970-01-01 00:00:01+00:00'); // 1000
 * parseTimestamp('yesterday'); // undefined
 */
export function parseTimestamp(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const m = TIMESTAMP.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  let t = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  // Date.UTC rolls over invalid fields (month 13, Feb 30); refuse them instead.
  const check = new Date(t);
  if (check.getUTCMonth() !== Number(mo) - 1 || check.getUTCDate() !== Number(d) || Number(h) > 23)
    return undefined;
  if (zone && zone.toUpperCase() !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0');
    t -= sign * offsetMin * 60_000;
  }
  return t;
}

/**
 * Formats epoch milliseconds as Feast's server does (`_timestamp_to_str`): RFC 3339 UTC with `Z`,
 * fractional digits only when non-zero.
 *
 * @example
 * formatFeastTimestamp(0); // '1970-01-01T00:00:00Z'
 * formatFeastTimestamp(1500); // '1970-01-01T00:00:01.500Z'
 */
export function formatFeastTimestamp(ms: number): string {
  const iso = new Date(ms).toISOString(); // always has .mmm
  return ms % 1000 === 0 ? `${iso.slice(0, 19)}Z` : iso;
}

/**
 * Formats epoch milliseconds for the lake: `YYYY-MM-DD HH:MM:SS.mmm`, zone-less UTC, which both
 * Athena (Trino) and DuckDB accept in `CAST(… AS TIMESTAMP)`.
 *
 * @example
 * formatLakeTimestamp(1500); // '1970-01-01 00:00:01.500'
 */
export function formatLakeTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
}
