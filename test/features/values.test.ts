/**
 * Timestamp parsing and formatting (Feast's wire format, the lake's format) and value checks.
 */
import { describe, expect, it } from 'vitest';
import {
  checkValue,
  formatFeastTimestamp,
  formatLakeTimestamp,
  onlineKey,
  parseTimestamp,
} from '../../lib/features/values';

describe('parseTimestamp', () => {
  it.each<[unknown, number]>([
    ['2022-05-13 10:59:42+00:00', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13 10:59:42', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13T10:59:42Z', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13T12:59:42+02:00', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13T05:59:42-0500', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13 10:59:42.123456', Date.UTC(2022, 4, 13, 10, 59, 42, 123)],
    ['2022-05-13 10:59:42.000', Date.UTC(2022, 4, 13, 10, 59, 42)],
    ['2022-05-13', Date.UTC(2022, 4, 13)],
    [1_652_439_582, Date.UTC(2022, 4, 13, 10, 59, 42)],
  ])('parses %j', (input, ms) => {
    expect(parseTimestamp(input)).toBe(ms);
  });

  it.each([
    ['yesterday'],
    ['2022-13-01'],
    ['2022-02-30 00:00:00'],
    ['2022-05-13 25:00:00'],
    [null],
    [true],
    [Number.NaN],
  ])('refuses %j', (input) => {
    expect(parseTimestamp(input)).toBeUndefined();
  });
});

describe('formatting', () => {
  it('writes Feast timestamps with fractional digits only when non-zero', () => {
    expect(formatFeastTimestamp(0)).toBe('1970-01-01T00:00:00Z');
    expect(formatFeastTimestamp(Date.UTC(2021, 11, 31, 23))).toBe('2021-12-31T23:00:00Z');
    expect(formatFeastTimestamp(1500)).toBe('1970-01-01T00:00:01.500Z');
  });

  it('writes lake timestamps zone-less with milliseconds', () => {
    expect(formatLakeTimestamp(Date.UTC(2024, 0, 2, 3, 4, 5, 6))).toBe('2024-01-02 03:04:05.006');
  });
});

describe('checkValue and onlineKey', () => {
  it('does not coerce across types', () => {
    expect(checkValue('INT64', 7)).toEqual({ ok: true, value: 7 });
    expect(checkValue('INT64', '7').ok).toBe(false);
    expect(checkValue('INT64', 2 ** 53).ok).toBe(false);
    expect(checkValue('INT32', 2 ** 31).ok).toBe(false);
    expect(checkValue('FLOAT', '0.5').ok).toBe(false);
    expect(checkValue('STRING', 5).ok).toBe(false);
    expect(checkValue('BOOL', 1).ok).toBe(false);
    expect(checkValue('UNIX_TIMESTAMP', '1970-01-01T00:01:00Z')).toEqual({ ok: true, value: 60 });
  });

  it('keeps string keys with separators apart', () => {
    expect(onlineKey('v', [['k', 'a|b=c']])).not.toBe(
      onlineKey('v', [
        ['k', 'a'],
        ['b', 'c'],
      ]),
    );
    expect(onlineKey('v', [['k', 7]])).toBe('v#k=7');
  });
});
