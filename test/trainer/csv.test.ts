import { describe, expect, it } from 'vitest';
import {
  CsvError,
  detectSeparator,
  parseCsv,
  readCsvHeader,
  toDesign,
  toTrainingSet,
} from '../../lib/trainer/csv';
import { wineTable } from './helpers';

const parse = (text: string, extra: { numericColumns?: string[]; keepLines?: boolean } = {}) =>
  parseCsv(text, { source: 'data.csv', ...extra });

describe('parseCsv', () => {
  it('reads the wine file: `;`, quoted header names, 1,599 rows', async () => {
    const t = await wineTable();
    expect(t.separator).toBe(';');
    expect(t.header).toHaveLength(12);
    expect(t.header[0]).toBe('fixed acidity');
    expect(t.rows).toBe(1599);
    expect(t.numeric.get('quality')![0]).toBe(5);
    expect(t.numeric.get('pH')![1598]).toBe(3.39);
  });

  it('detects `,`, accepts CRLF, a BOM, quoted cells and blank lines', () => {
    const t = parse('\uFEFFa,"b, with comma",c\r\n1,"2",3e-1\r\n\r\n 4 ,5,-6\r\n');
    expect(t.separator).toBe(',');
    expect(t.header).toEqual(['a', 'b, with comma', 'c']);
    expect(Array.from(t.numeric.get('b, with comma')!)).toEqual([2, 5]);
    expect(Array.from(t.numeric.get('c')!)).toEqual([0.3, -6]);
    expect(Array.from(t.numeric.get('a')!)).toEqual([1, 4]);
  });

  it('reads only the asked-for columns as numbers and keeps raw lines on request', () => {
    const t = parse('id;x\nabc;1.5\ndef;2\n', { numericColumns: ['x'], keepLines: true });
    expect([...t.numeric.keys()]).toEqual(['x']);
    expect(t.lines).toEqual({ header: 'id;x', data: ['abc;1.5', 'def;2'] });
  });

  it('picks the more frequent separator outside quotes', () => {
    expect(detectSeparator('"a;b",c,d')).toBe(',');
    expect(detectSeparator('"a,b";"c";"d"')).toBe(';');
    expect(readCsvHeader('"x";"y"\n', 'h.csv')).toEqual(['x', 'y']);
  });

  it.each([
    ['', /data\.csv: the file is empty/],
    ['\n  \n', /data\.csv: the file is empty/],
    ['a,b\n', /data\.csv: the file has a header but no data rows/],
    ['a,b\n1,2\n3\n', /data\.csv: line 3: has 1 fields but the header has 2/],
    ['a,b\n1,2\n3,4,5\n', /line 3: has 3 fields but the header has 2/],
    ['a,b\n1,x7\n', /data\.csv: line 2, column "b": "x7" is not a number/],
    ['a,b\n1,\n', /line 2, column "b": empty value \(missing values are not supported\)/],
    ['a,b\n1,NaN\n', /line 2, column "b": "NaN" is a missing value/],
    ['a,b\n1,NA\n', /line 2, column "b": "NA" is a missing value/],
    ['a,b\nInfinity,1\n', /line 2, column "a": "Infinity" is not a finite number/],
    ['a,b\n0x1F,1\n', /line 2, column "a": "0x1F" is not a number/],
    ['a,a\n1,2\n', /line 1: column name "a" appears twice/],
    ['a,,c\n1,2,3\n', /line 1: column 2 of the header has no name/],
    ['a,b\n1,"2\n', /line 2: unterminated quoted field/],
  ])('fails with a clear message for %j', (text, message) => {
    expect(() => parse(text)).toThrow(CsvError);
    expect(() => parse(text)).toThrow(message);
  });

  it('fails if an asked-for column is absent, listing the columns', () => {
    expect(() => parse('a,b\n1,2\n', { numericColumns: ['z'] })).toThrow(
      'data.csv: no column named "z"; columns are: "a", "b"',
    );
  });
});

describe('toTrainingSet / toDesign', () => {
  it('stacks tables in order, features in header order, target excluded', () => {
    const a = parseCsv('x,y,t\n1,2,10\n3,4,20\n', { source: 'a.csv' });
    const b = parseCsv('t,x,y\n30,5,6\n', { source: 'b.csv' });
    const set = toTrainingSet([a, b], 't');
    expect(set.featureNames).toEqual(['x', 'y']);
    expect(set.X.rows).toBe(3);
    expect(Array.from(set.X.data)).toEqual([1, 3, 5, 2, 4, 6]);
    expect(Array.from(set.y)).toEqual([10, 20, 30]);
  });

  it('fails if the target is missing, naming it and listing the columns', () => {
    const a = parseCsv('x,y\n1,2\n', { source: 'a.csv' });
    expect(() => toTrainingSet([a], 'quality')).toThrow(
      'a.csv: the target column "quality" is missing; columns are: "x", "y"',
    );
  });

  it('fails if the only column is the target', () => {
    const a = parseCsv('t\n1\n', { source: 'a.csv' });
    expect(() => toTrainingSet([a], 't')).toThrow(
      'a.csv: there are no feature columns besides the target "t"',
    );
  });

  it('fails if files of one channel have different columns', () => {
    const a = parseCsv('x,t\n1,2\n', { source: 'a.csv' });
    const b = parseCsv('z,t\n1,2\n', { source: 'b.csv' });
    expect(() => toTrainingSet([a, b], 't')).toThrow(/b\.csv: its columns \("z", "t"\) differ from a\.csv's/);
  });

  it('fails if a wanted feature is missing from the data', () => {
    const a = parseCsv('x,t\n1,2\n', { source: 'v.csv' });
    expect(() => toDesign([a], ['x', 'w'], 't')).toThrow(
      'v.csv: the column "w" is missing; columns are: "x", "t"',
    );
  });
});
