/**
 * The columnar channel reader against the whole-file parser it replaces: the same numbers to the last
 * bit (CSV and Parquet), the same messages for every bad input, and Parquet's own bad inputs.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDesignChannel, readTrainingChannel } from '../../lib/trainer/columnar';
import { parseCsv, toDesign, toTrainingSet, type TrainingSet } from '../../lib/trainer/csv';
import { withTempDir, writeParquet } from './helpers';

/** Writes each text to dir/name and returns them as channel files, in the given order. */
async function channel(dir: string, files: Record<string, string | Buffer>) {
  await mkdir(dir, { recursive: true });
  const out = [];
  for (const [name, text] of Object.entries(files)) {
    await writeFile(join(dir, name), text);
    out.push({ path: join(dir, name), key: `train/${name}` });
  }
  return out;
}

function legacyTraining(texts: Record<string, string>, target: string): TrainingSet {
  return toTrainingSet(
    Object.entries(texts).map(([name, text]) => parseCsv(text, { source: `train/${name}` })),
    target,
  );
}

function expectSameBits(actual: TrainingSet, expected: TrainingSet): void {
  expect(actual.featureNames).toEqual(expected.featureNames);
  expect(actual.X.rows).toBe(expected.X.rows);
  expect(actual.X.cols).toBe(expected.X.cols);
  expect(actual.X.data.length).toBe(expected.X.data.length);
  const differing = (a: Float64Array, b: Float64Array) => a.findIndex((v, i) => !Object.is(v, b[i]));
  expect(differing(actual.X.data, expected.X.data)).toBe(-1);
  expect(differing(actual.y, expected.y)).toBe(-1);
}

/** A seeded generator of cells in every notation a data file uses, exercising both number paths. */
function cells(seed: number) {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const forms = [
    () => String((rand() - 0.5) * 1e3), // up to 17 significant digits
    () => (rand() * 100).toFixed(2),
    () => String(Math.round((rand() - 0.5) * 1e6)),
    () => `${(rand() * 9).toFixed(3)}e${Math.round((rand() - 0.5) * 40)}`,
    () => `${rand() < 0.5 ? '-' : '+'}.${Math.round(rand() * 1e5)}`,
    () => `00${Math.round(rand() * 99)}.`,
    () => String(rand() * 1e-30),
    () => '-0',
    () => `${(rand() * 10).toFixed(1)}E+2`,
    () => '123456789012345678901234567890',
  ];
  return () => forms[Math.floor(rand() * forms.length)]!();
}

describe('readTrainingChannel: CSV, the same bits as the whole-file parser', () => {
  it('over many notations, several 1 MiB chunk boundaries, CRLF, blank lines, BOM, quotes and padding', async () => {
    await withTempDir(async (dir) => {
      const cell = cells(7);
      const lines = ['\ufeff"a",b,c,y'];
      for (let r = 0; r < 60_000; r++) {
        const row = [cell(), cell(), cell(), cell()];
        if (r % 997 === 0) row[1] = `"${row[1]}"`;
        if (r % 1009 === 0) row[2] = `  ${row[2]} `;
        lines.push(row.join(','));
        if (r % 5003 === 0) lines.push('', '   ');
      }
      const a = `${lines.join('\r\n')}\r\n`;
      const b = `y;c;b;a\n1;2;3;4\n\n5;6;7;8`; // another column order, no final line break
      const texts = { 'a.csv': a, 'b.csv': b };
      expect(Buffer.byteLength(a)).toBeGreaterThan(2 * 1024 * 1024);
      const { set, versions } = await readTrainingChannel(await channel(dir, texts), 'y');
      expectSameBits(set, legacyTraining(texts, 'y'));
      expect(set.X.rows).toBe(60_002);
      expect(versions.map((v) => v.key)).toEqual(['train/a.csv', 'train/b.csv']);
      expect(versions[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
      const unhashed = await readTrainingChannel(await channel(dir, texts), 'y', { hash: false });
      expect(unhashed.versions).toEqual([]);
    });
  });

  it('splits a large file between two threads to the same bits, empty lines and string-path lines included', async () => {
    await withTempDir(async (dir) => {
      const cell = cells(3);
      const plain: string[] = ['p,q,y'];
      for (let r = 0; r < 20_000; r++) {
        plain.push([cell(), cell(), cell()].join(','));
        // Empty lines in the first half only: the second thread's rows move up to close the gap.
        if (r < 10_000 && r % 100 === 0) plain.push('');
      }
      const quoted = [...plain];
      quoted[15_000] = `"${quoted[15_000]!.replaceAll(',', '","')}"`; // the second thread hands over here
      quoted[18_000] = ` ${quoted[18_000]}`;
      for (const [name, lines] of [
        ['plain.csv', plain],
        ['quoted.csv', quoted],
      ] as const) {
        const texts = { [name]: `${lines.join('\n')}\n` };
        const files = await channel(join(dir, name), texts);
        const { set } = await readTrainingChannel(files, 'y', { parallelMinBytes: 0 });
        expectSameBits(set, legacyTraining(texts, 'y'));
        const v = await readDesignChannel(files, ['q'], 'y', { parallelMinBytes: 0 });
        expect(v.set.X.data).toEqual(set.X.data.subarray(20_000, 40_000));
      }
      const bad = { 'bad.csv': `${[...plain.slice(0, 19_000), '1,x,2'].join('\n')}\n` };
      await expect(
        readTrainingChannel(await channel(join(dir, 'bad'), bad), 'y', { parallelMinBytes: 0 }),
      ).rejects.toThrow(`train/bad.csv: line 19001, column "q": "x" is not a number`);
    });
  });

  it('reads only the named columns of a validation channel, by name', async () => {
    await withTempDir(async (dir) => {
      const texts = { 'v.csv': 'id,b,y,a\nrow-1,2,3,4\nrow-2,5.5,6,7e-1\n' };
      const { set } = await readDesignChannel(await channel(dir, texts), ['a', 'b'], 'y');
      const expected = toDesign([parseCsv(texts['v.csv'], { source: 'x', numericColumns: ['a', 'b', 'y'] })], ['a', 'b'], 'y');
      expectSameBits(set, expected);
    });
  });

  const bad: [string, Record<string, string>, string?][] = [
    ['a missing target', { 'd.csv': 'a;b\n1;2\n' }],
    ['a non-numeric cell', { 'd.csv': 'a;b;y\n1;2;5\n2;abc;6\n' }],
    ['a NaN', { 'd.csv': 'a,y\nNaN,1\n' }],
    ['an empty cell', { 'd.csv': 'a,y\n,1\n' }],
    ['a trailing separator', { 'd.csv': 'a,y\n1,\n' }],
    ['Infinity', { 'd.csv': 'a,y\n1,Infinity\n' }],
    ['an overflowing exponent', { 'd.csv': 'a,y\n1,1e999\n' }],
    ['a hex literal', { 'd.csv': 'a,y\n0x10,1\n' }],
    ['an exponent without digits', { 'd.csv': 'a,y\n1e,1\n' }],
    ['a lone dot', { 'd.csv': 'a,y\n.,1\n' }],
    ['a ragged row', { 'd.csv': 'a,y\n1,2\n1\n' }],
    ['a long row', { 'd.csv': 'a,y\n1,2,3\n' }],
    ['an unterminated quote', { 'd.csv': 'a,y\n"1,2\n' }],
    ['an empty file', { 'd.csv': '' }],
    ['blank lines only', { 'd.csv': '\n  \n\r\n' }],
    ['a header only', { 'd.csv': 'a,y\n' }],
    ['a duplicate column name', { 'd.csv': 'a,a,y\n1,2,3\n' }],
    ['no feature column', { 'd.csv': 'y\n1\n' }],
    ['files with different columns', { 'd.csv': 'a,y\n1,2\n', 'e.csv': 'a,b,y\n1,2,3\n' }],
    ['a bad cell in a file whose target is missing too', { 'd.csv': 'a,b\nx,2\n' }],
  ];
  it.each(bad)('words %s exactly as before', async (_, texts) => {
    await withTempDir(async (dir) => {
      let legacy = '';
      try {
        legacyTraining(texts, 'y');
      } catch (e) {
        legacy = (e as Error).message;
      }
      expect(legacy).not.toBe('');
      await expect(readTrainingChannel(await channel(dir, texts), 'y')).rejects.toThrow(legacy);
    });
  });
});

describe('readTrainingChannel: Parquet', () => {
  it('reads the same bits as the CSV it was written from, and mixes with CSV files', async () => {
    await withTempDir(async (dir) => {
      const cell = cells(11);
      const lines = ['x1,x2,y'];
      for (let r = 0; r < 5000; r++) lines.push([cell(), cell(), cell()].join(','));
      const csv = `${lines.join('\n')}\n`;
      const csvPath = join(dir, 'src.csv');
      await writeFile(csvPath, csv);
      const files = await channel(join(dir, 'ch'), {});
      const parquet = join(dir, 'ch', 'part-0.parquet');
      // Columns in another order and an integer column: read by name, widened to float64.
      await writeParquet(parquet, `SELECT y, x2, x1 FROM read_csv('${csvPath}', all_varchar = true, header = true)`);
      await writeParquet(
        join(dir, 'typed.parquet'),
        `SELECT x1::DOUBLE AS x1, x2::DOUBLE AS x2, y::DOUBLE AS y FROM read_csv('${csvPath}', all_varchar = true, header = true)`,
      );
      const text = await readTrainingChannel([{ path: parquet, key: 'train/part-0.parquet' }, ...files], 'y');
      // The first file's order makes the features: y, x2, x1 → [x2, x1].
      expect(text.set.featureNames).toEqual(['x2', 'x1']);
      const typed = await readTrainingChannel(
        [
          { path: join(dir, 'typed.parquet'), key: 'train/typed.parquet' },
          { path: csvPath, key: 'train/src.csv' },
        ],
        'y',
      );
      const expected = legacyTraining({ 'typed.parquet': csv, 'src.csv': csv }, 'y');
      expectSameBits(typed.set, expected);
      expect(typed.versions.map((v) => v.key)).toEqual(['train/typed.parquet', 'train/src.csv']);
    });
  });

  const bad: [string, string, string | RegExp][] = [
    ['a missing target', 'SELECT 1.0 AS a, 2.0 AS b', 'train/d.parquet: the target column "y" is missing; columns are: "a", "b"'],
    ['a null cell', 'SELECT * FROM (VALUES (1.0, 2.0), (NULL, 3.0)) t(a, y)', 'train/d.parquet: row 2, column "a": empty value (missing values are not supported)'],
    ['a NaN', "SELECT 'NaN'::DOUBLE AS a, 1.0 AS y", 'train/d.parquet: row 1, column "a": NaN is a missing value (missing values are not supported)'],
    ['an infinity', "SELECT 1.0 AS a, 'inf'::DOUBLE AS y", 'train/d.parquet: row 1, column "y": "Infinity" is not a finite number'],
    ['a text cell that is not a number', "SELECT * FROM (VALUES ('1.5', 1.0), ('abc', 2.0)) t(a, y)", 'train/d.parquet: row 2, column "a": "abc" is not a number'],
    ['no rows', 'SELECT 1.0 AS a, 2.0 AS y WHERE false', 'train/d.parquet: the file has columns but no data rows'],
  ];
  it.each(bad)('fails on %s with its row and column', async (_, select, message) => {
    await withTempDir(async (dir) => {
      const path = join(dir, 'd.parquet');
      await writeParquet(path, select);
      await expect(readTrainingChannel([{ path, key: 'train/d.parquet' }], 'y')).rejects.toThrow(message);
    });
  });

  it('fails on a damaged Parquet file and on files whose columns differ', async () => {
    await withTempDir(async (dir) => {
      const files = await channel(dir, { 'd.parquet': Buffer.from('PAR1 not really parquet') });
      await expect(readTrainingChannel(files, 'y')).rejects.toThrow(/^train\/d\.parquet: cannot be read as Parquet: /);
      const p = join(dir, 'e.parquet');
      await writeParquet(p, 'SELECT 1.0 AS a, 2.0 AS y');
      const other = await channel(dir, { 'f.csv': 'a,b,y\n1,2,3\n' });
      await expect(readTrainingChannel([{ path: p, key: 'train/e.parquet' }, ...other], 'y')).rejects.toThrow(
        `train/f.csv: its columns ("a", "b", "y") differ from train/e.parquet's ("a", "y")`,
      );
    });
  });
});
