/**
 * Short, safe descriptions of client-sent JSON values for error messages. Never `JSON.stringify`
 * a client value whole: a deeply nested one overflows the stack (a 500 for a client mistake) and a
 * large one bloats the error body.
 */

/**
 * Describes a value in at most about 60 characters.
 *
 * @example
 * describeValue('abc');      // '"abc"'
 * describeValue([1, [2]]);   // 'an array'
 * describeValue(1e999);      // 'Infinity'
 */
export function describeValue(v: unknown): string {
  if (Array.isArray(v)) {
    return v.length <= 8 && v.every((e) => typeof e !== 'object' || e === null)
      ? JSON.stringify(v)
      : 'an array';
  }
  if (v === null) return 'null';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return String(v);
}
