/** The Athena functions the local engine rewrites for DuckDB, and what it must leave alone. */
import { describe, expect, it } from 'vitest';
import { translateFunctions } from '../../../lib/local/athena/sql';
import { rowHash } from '../../../lib/pipelines/sql';

describe('translateFunctions', () => {
  it('rewrites the row hash to DuckDB md5 and a hex cast', () => {
    expect(translateFunctions(`SELECT ${rowHash(`concat_ws('|', "a", 'x(')`)} AS h FROM t`)).toBe(
      `SELECT CAST(('0x' || (substr(upper(md5(concat_ws('|', "a", 'x('))), 1, 15))) AS BIGINT) AS h FROM t`,
    );
  });

  it('rewrites nested and upper-case calls', () => {
    expect(translateFunctions('TO_HEX(MD5(TO_UTF8(to_hex(md5(to_utf8(x))))))')).toBe('upper(md5(upper(md5(x))))');
  });

  it.each([
    ["SELECT 'to_hex(md5(to_utf8(a)))' AS s", 'a string literal'],
    ['SELECT "to_hex(md5(to_utf8(a)))" FROM t', 'a quoted identifier'],
    ['SELECT 1 -- to_hex(md5(to_utf8(a)))', 'a comment'],
    ['SELECT to_hex(md5(to_utf8(a)) || x)', 'more than one md5 call'],
    ['SELECT to_hex(md5(a))', 'md5 of something other than to_utf8'],
    ['SELECT from_base(x, 2)', 'another radix'],
    ['SELECT my_to_hex(md5(to_utf8(a)))', 'a longer function name'],
    ['SELECT to_hex(md5(to_utf8(a)', 'unbalanced parentheses'],
  ])('leaves %s alone (%s)', (sql) => {
    expect(translateFunctions(sql)).toBe(sql);
  });
});
