/**
 * The Gram path (precompute=true) through the training job's door: `runTrainingJob` under the
 * SageMaker contract, CSV and Parquet channels. Each bad input must fail with the column path's
 * reason in the failure file, and leave no model.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelDir } from '../../lib/model/format';
import { listChannelFiles } from '../../lib/trainer/contract';
import { runTrainingJob } from '../../lib/trainer/main';
import { choosePath, estimateMatrixBytes, GRAM_AUTO_MIN_MATRIX_BYTES, trainOnGram } from '../../lib/trainer/stream';
import { WINE_CSV, WINE_SELECT, withTempDir, writeParquet } from './helpers';

type Files = Record<string, string | { parquet: string }>;

async function writeChannel(dir: string, files: Files): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'string') await writeFile(join(dir, name), content);
    else await writeParquet(join(dir, name), content.parquet);
  }
  return dir;
}

/** Runs one job on `precompute` ("true": the Gram path, "false": the column path). */
async function job(dir: string, precompute: string, train: Files, hps: Record<string, string>, validation?: Files) {
  const root = join(dir, precompute);
  const env: Record<string, string> = {
    SM_CHANNEL_TRAIN: await writeChannel(join(root, 'train'), train),
    SM_MODEL_DIR: join(root, 'model'),
    SM_OUTPUT_DIR: join(root, 'output'),
    SM_HPS: JSON.stringify({ ...hps, precompute }),
  };
  if (validation) env['SM_CHANNEL_VALIDATION'] = await writeChannel(join(root, 'validation'), validation);
  const err: string[] = [];
  const result = await runTrainingJob({ env, out: () => {}, err: (l) => err.push(l), now: () => new Date(0) });
  const failure = await readFile(join(root, 'output', 'failure'), 'utf8').catch(() => null);
  const modelFiles = await readdir(join(root, 'model')).catch(() => []);
  return { result, failure, modelFiles, err, modelDir: join(root, 'model') };
}

const good = 'a;b;quality\n1;2;5\n2;3;6\n3;5;7\n4;4;9\n';
const pq = (values: string, columns = 'a, b, quality') => ({ parquet: `SELECT * FROM (VALUES ${values}) t(${columns})` });

describe('Gram path: every bad input fails with the column path\'s reason, and no model', () => {
  const cases: [string, Files, Record<string, string>, string | RegExp, Files?][] = [
    ['CSV: the target column is missing', { 'd.csv': good }, { target: 'score' }, 'train/d.csv: the target column "score" is missing; columns are: "a", "b", "quality"'],
    ['CSV: a cell is not numeric', { 'd.csv': 'a;b;quality\n1;2;5\n2;abc;6\n' }, {}, 'train/d.csv: line 3, column "b": "abc" is not a number'],
    ['CSV: the file is empty', { 'd.csv': '' }, {}, 'train/d.csv: the file is empty (no header, no data)'],
    ['CSV: the file has a header only', { 'd.csv': 'a;b;quality\n' }, {}, 'train/d.csv: the file has a header but no data rows'],
    ['CSV: the channel is empty', {}, {}, /the train channel .* holds no data files/],
    ['CSV: a second file has other columns', { 'd.csv': good, 'e.csv': 'a;c;quality\n1;2;3\n' }, {}, /train\/e\.csv: its columns \("a", "c", "quality"\) differ from train\/d\.csv's/],
    ['CSV: the validation data lacks a feature', { 'd.csv': good }, {}, /validation\/v\.csv: no column named "b"/, { 'v.csv': 'a;quality\n1;5\n' }],
    ['Parquet: a cell is not numeric', { 'p.parquet': pq("('1', '2', 5.0), ('2', 'abc', 6.0)") }, {}, 'train/p.parquet: row 2, column "b": "abc" is not a number'],
    ['Parquet: a cell is NULL', { 'p.parquet': pq('(1.0, 2.0, 5.0), (NULL, 3.0, 6.0)') }, {}, 'train/p.parquet: row 2, column "a": empty value (missing values are not supported)'],
    ['Parquet: the target column is missing', { 'p.parquet': pq('(1.0, 2.0, 5.0)') }, { target: 'score' }, 'train/p.parquet: the target column "score" is missing; columns are: "a", "b", "quality"'],
    ['Parquet: the file has no rows', { 'p.parquet': { parquet: 'SELECT 1.0 AS a, 2.0 AS b, 3.0 AS quality WHERE false' } }, {}, 'train/p.parquet: the file has columns but no data rows'],
    ['Parquet: a second file has other columns', { 'p.parquet': pq('(1.0, 2.0, 5.0)'), 'q.parquet': pq('(1.0, 2.0, 5.0)', 'a, c, quality') }, {}, /train\/q\.parquet: its columns \("a", "c", "quality"\) differ from train\/p\.parquet's/],
  ];

  it.each(cases)('fails if %s', async (_, train, hps, reason, validation) => {
    await withTempDir(async (dir) => {
      const params = { target: 'quality', ...hps };
      const gram = await job(dir, 'true', train, params, validation);
      const columns = await job(dir, 'false', train, params, validation);
      expect(gram.result.exitCode).toBe(1);
      if (typeof reason === 'string') expect(gram.failure).toBe(`${reason}\n`);
      else expect(gram.failure).toMatch(reason);
      expect(gram.failure).toBe(columns.failure?.replace('/false/', '/true/'));
      expect(gram.modelFiles).toEqual([]);
    });
  });
});

describe('Gram path: the same model as the column path', () => {
  it('warns about a constant feature and gives it coefficient 0, CSV and Parquet', async () => {
    await withTempDir(async (dir) => {
      for (const train of [
        { 'c.csv': 'x,flat,y\n1,7,2\n2,7,4.1\n3,7,5.9\n4,7,8.2\n' } as Files,
        { 'c.parquet': pq('(1.0, 7.0, 2.0), (2.0, 7.0, 4.1), (3.0, 7.0, 5.9), (4.0, 7.0, 8.2)', 'x, flat, y') },
      ]) {
        const run = await job(dir, 'true', train, { target: 'y', alpha: '0.01' });
        expect(run.result.ok).toBe(true);
        const model = await loadModelDir(run.modelDir);
        expect(model.coefficients[1]).toBe(0);
        expect(model.warnings).toEqual(['feature "flat" is constant (every value is 7); its coefficient is 0']);
        expect(run.err).toEqual(['warning: feature "flat" is constant (every value is 7); its coefficient is 0']);
      }
    });
  });

  it('reads files by column name (any order), CSV and Parquet mixed, with validation, as the column path', async () => {
    await withTempDir(async (dir) => {
      // prepare: the wine data in three files, the second with its columns reversed, the third Parquet
      const lines = (await readFile(WINE_CSV, 'utf8')).trimEnd().split('\n');
      const reversed = (ls: string[]) => ls.map((l) => l.split(';').reverse().join(';')).join('\n');
      const train: Files = {
        '1.csv': `${lines.slice(0, 600).join('\n')}\n`,
        '2.csv': `${reversed([lines[0]!, ...lines.slice(600, 1200)])}\n`,
        '3.parquet': { parquet: `${WINE_SELECT} OFFSET 1199` },
      };
      const validation: Files = { 'v.csv': `${reversed([lines[0]!, ...lines.slice(1, 400)])}\n` };
      const hps = { target: 'quality', alpha: '0.05', l1_ratio: '0.3', tol: '1e-10' };
      // act
      const gram = await job(dir, 'true', train, hps, validation);
      const columns = await job(dir, 'false', train, hps, validation);
      // assess
      expect(gram.result.ok && columns.result.ok).toBe(true);
      const g = await loadModelDir(gram.modelDir);
      const c = await loadModelDir(columns.modelDir);
      expect(g.features).toEqual(c.features);
      expect(g.fit.iterations).toBe(c.fit.iterations);
      const scale = Math.max(...c.coefficients.map(Math.abs));
      g.coefficients.forEach((w, j) => expect(Math.abs(w - c.coefficients[j]!)).toBeLessThan(1e-12 * scale));
      for (const channel of ['train', 'validation'] as const) {
        const gm = g.metrics[channel]!;
        const cm = c.metrics[channel]!;
        expect(gm.rows).toBe(cm.rows);
        for (const k of ['rmse', 'mae', 'r2'] as const) expect(Math.abs(gm[k] - cm[k])).toBeLessThan(1e-12);
      }
      expect(g.metrics.train.rows).toBe(1599);
      expect(g.metrics.validation!.rows).toBe(399);
      expect(g.data_version).toEqual(c.data_version);
    });
  });
});

describe('Gram path: the streaming parser words failures itself on a large channel', () => {
  // legacyMessageMaxBytes 0 stands for a channel too large to read again whole.
  const cases: [string, string, string][] = [
    ['a cell is not numeric', 'a;b;quality\n1;2;5\n2;abc;6\n', 'train/d.csv: line 3, column "b": "abc" is not a number'],
    ['a row is ragged', 'a;b;quality\n1;2;5\n1;2\n', 'train/d.csv: line 3: has 2 fields but the header has 3'],
    ['the file has a header only', 'a;b;quality\n', 'train/d.csv: the file has a header but no data rows'],
    ['the target column is missing', 'a;b;score\n1;2;5\n', 'train/d.csv: the target column "quality" is missing; columns are: "a", "b", "score"'],
  ];
  it.each(cases)('fails if %s, with the row and column', async (_, text, reason) => {
    await withTempDir(async (dir) => {
      await writeChannel(join(dir, 'train'), { 'd.csv': text });
      const files = await listChannelFiles(join(dir, 'train'), 'train');
      const hps = { target: 'quality', alpha: 1, l1_ratio: 0.5, max_iter: 1000, tol: 1e-4 };
      await expect(trainOnGram(files, undefined, hps, { legacyMessageMaxBytes: 0 })).rejects.toThrow(reason);
    });
  });
});

describe('Gram path: the training metrics pass', () => {
  it('leaves no spill file, and without a writable TMPDIR parses the channel again to the same model', async () => {
    await withTempDir(async (dir) => {
      const files = [{ key: 'train/wine.csv', path: WINE_CSV }];
      const hps = { target: 'quality', alpha: 0.1, l1_ratio: 0.5, max_iter: 1000, tol: 1e-4 };
      const spilled = await trainOnGram(files, undefined, hps, {});
      expect((await readdir(tmpdir())).filter((f) => f.startsWith(`mlops-train-${process.pid}-`))).toEqual([]);
      const saved = process.env['TMPDIR'];
      process.env['TMPDIR'] = join(dir, 'missing');
      try {
        const reparsed = await trainOnGram(files, undefined, hps, {});
        expect(reparsed.trainMetrics).toEqual(spilled.trainMetrics);
        expect(Array.from(reparsed.fit.coef)).toEqual(Array.from(spilled.fit.coef));
      } finally {
        if (saved === undefined) delete process.env['TMPDIR'];
        else process.env['TMPDIR'] = saved;
      }
      expect(spilled.trainMetrics.rows).toBe(1599);
    });
  });
});

describe('choosePath', () => {
  it('estimates the matrix from a CSV sample and a Parquet footer, and auto keeps small data on the column path', async () => {
    await withTempDir(async (dir) => {
      const wine = [{ key: 'train/wine.csv', path: WINE_CSV }];
      const exact = 1599 * 12 * 8;
      const csv = await estimateMatrixBytes(wine);
      expect(Math.abs(csv - exact) / exact).toBeLessThan(0.1);
      await writeParquet(join(dir, 'w.parquet'), WINE_SELECT);
      expect(await estimateMatrixBytes([{ key: 'train/w.parquet', path: join(dir, 'w.parquet') }])).toBe(exact);
      expect(exact).toBeLessThan(GRAM_AUTO_MIN_MATRIX_BYTES);
      expect(await choosePath('auto', wine)).toBe('columns');
      expect(await choosePath(true, wine)).toBe('gram');
      expect(await choosePath(false, wine)).toBe('columns');
      // Between the two budgets, Parquet streams and CSV (parsed on two threads on the column path) stays.
      const budgets = { parquet: exact / 2, csv: exact * 3 };
      expect(await choosePath('auto', [{ key: 'train/w.parquet', path: join(dir, 'w.parquet') }], budgets)).toBe('gram');
      expect(await choosePath('auto', wine, budgets)).toBe('columns');
      expect(await choosePath('auto', [...wine, { key: 'train/w.parquet', path: join(dir, 'w.parquet') }], budgets)).toBe('columns');
      expect(await choosePath('auto', wine, { parquet: exact * 2, csv: exact / 2 })).toBe('gram');
    });
  });
});
