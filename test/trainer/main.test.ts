import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModelDir, MODEL_FORMAT } from '../../lib/model/format';
import { METRIC_DEFINITIONS } from '../../lib/trainer/contract';
import { runTrainingJob, type TrainingJobResult } from '../../lib/trainer/main';
import { loadFixture, WINE_CSV, WINE_SELECT, withTempDir, writeParquet } from './helpers';

interface JobSetup {
  /** Files of the train channel, by relative path. */
  train: Record<string, string>;
  validation?: Record<string, string>;
  /** Written to hyperparameters.json as SageMaker does: every value a string. */
  hyperparameters?: Record<string, string>;
  env?: Record<string, string>;
}

interface JobRun {
  result: TrainingJobResult;
  out: string[];
  err: string[];
  modelDir: string;
  failureFile: string;
  /** Files in the model directory after the run. */
  modelFiles: string[];
}

/** Lays out a SageMaker-like /opt/ml tree under `dir`, points the SM_* variables at it, runs the job. */
async function runJob(dir: string, setup: JobSetup): Promise<JobRun> {
  const config = join(dir, 'input', 'config');
  const train = join(dir, 'input', 'data', 'train');
  const modelDir = join(dir, 'model');
  await mkdir(config, { recursive: true });
  await mkdir(train, { recursive: true });
  await mkdir(modelDir, { recursive: true });
  if (setup.hyperparameters)
    await writeFile(join(config, 'hyperparameters.json'), JSON.stringify(setup.hyperparameters));
  for (const [name, text] of Object.entries(setup.train)) {
    await mkdir(join(train, name, '..'), { recursive: true });
    await writeFile(join(train, name), text);
  }
  const env: Record<string, string> = {
    SM_INPUT_CONFIG_DIR: config,
    SM_CHANNEL_TRAIN: train,
    SM_MODEL_DIR: modelDir,
    SM_OUTPUT_DATA_DIR: join(dir, 'output', 'data'),
    ...setup.env,
  };
  if (setup.validation) {
    const validation = join(dir, 'input', 'data', 'validation');
    await mkdir(validation, { recursive: true });
    for (const [name, text] of Object.entries(setup.validation))
      await writeFile(join(validation, name), text);
    env['SM_CHANNEL_VALIDATION'] = validation;
  }
  const out: string[] = [];
  const err: string[] = [];
  const result = await runTrainingJob({
    env,
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    now: () => new Date('2026-11-15T12:00:00Z'),
  });
  return {
    result,
    out,
    err,
    modelDir,
    failureFile: join(dir, 'output', 'failure'),
    modelFiles: await readdir(modelDir),
  };
}

const wine = () => readFile(WINE_CSV, 'utf8');

describe('runTrainingJob: success', () => {
  it('trains on the wine data with string hyperparameters and writes a valid model.json', async () => {
    await withTempDir(async (dir) => {
      // prepare
      const ref = await loadFixture('wine-alpha0.5-l10.5.json');
      const text = await wine();
      // act
      const run = await runJob(dir, {
        train: { 'winequality-red.csv': text },
        hyperparameters: {
          target: 'quality',
          alpha: '0.5',
          l1_ratio: '0.5',
          tol: '1e-12',
          max_iter: '100000',
        },
      });
      // assess
      expect(run.result).toMatchObject({ ok: true, exitCode: 0 });
      expect(run.modelFiles).toEqual(['model.json']);
      const model = await loadModelDir(run.modelDir);
      expect(model.format).toBe(MODEL_FORMAT);
      expect(model.features).toEqual(ref.features);
      expect(model.target).toBe('quality');
      expect(model.hyperparameters).toEqual({ alpha: 0.5, l1_ratio: 0.5, max_iter: 100000, tol: 1e-12 });
      expect(model.metrics.train.rows).toBe(1599);
      expect(Math.abs(model.metrics.train.rmse - ref.rmse)).toBeLessThan(1e-6);
      expect(Math.abs(model.metrics.train.mae - ref.mae)).toBeLessThan(1e-6);
      expect(Math.abs(model.metrics.train.r2 - ref.r2)).toBeLessThan(1e-6);
      expect(model.metrics.validation).toBeUndefined();
      expect(model.fit.converged).toBe(true);
      expect(model.created_at).toBe('2026-11-15T12:00:00.000Z');
      expect(model.data_version).toEqual({
        source: 'local-files',
        objects: [
          { key: 'train/winequality-red.csv', sha256: createHash('sha256').update(text).digest('hex') },
        ],
      });
      // The metric lines are what SageMaker scrapes: each definition must find its train value.
      for (const def of METRIC_DEFINITIONS.filter((d) => d.Name.startsWith('train:'))) {
        const hit = run.out.map((l) => new RegExp(def.Regex).exec(l)).find((m) => m);
        const key = def.Name.split(':')[1] as 'rmse' | 'mae' | 'r2';
        expect(Number(hit![1])).toBe(model.metrics.train[key]);
      }
      expect(run.err).toEqual([]);
    });
  });

  it('concatenates a directory of CSV files into the same model as the single file', async () => {
    await withTempDir(async (dir) => {
      const [header, ...rows] = (await wine()).trimEnd().split('\n');
      const part = (r: string[]) => `${[header, ...r].join('\n')}\n`;
      const hps = { target: 'quality', alpha: '0.1' };
      const split = await runJob(join(dir, 'split'), {
        train: {
          'a/part-0.csv': part(rows.slice(0, 700)),
          'b/part-1.csv': part(rows.slice(700)),
          _SUCCESS: '',
        },
        hyperparameters: hps,
      });
      const whole = await runJob(join(dir, 'whole'), {
        train: { 'all.csv': part(rows) },
        hyperparameters: hps,
      });
      expect(split.result.ok && whole.result.ok).toBe(true);
      const [a, b] = [await loadModelDir(split.modelDir), await loadModelDir(whole.modelDir)];
      expect(a.coefficients).toEqual(b.coefficients);
      expect(a.intercept).toBe(b.intercept);
      expect(a.data_version?.objects.map((o) => o.key)).toEqual(['train/a/part-0.csv', 'train/b/part-1.csv']);
    });
  });

  it('trains on a Parquet channel into the same model as on the CSV it was written from', async () => {
    await withTempDir(async (dir) => {
      const parquetDir = join(dir, 'parquet');
      await mkdir(parquetDir);
      await writeParquet(join(parquetDir, 'part-0.parquet'), WINE_SELECT);
      const hps = { target: 'quality', alpha: '0.1' };
      const fromCsv = await runJob(join(dir, 'csv'), { train: { 'w.csv': await wine() }, hyperparameters: hps });
      const fromParquet = await runJob(join(dir, 'pq'), {
        train: {},
        hyperparameters: hps,
        env: { SM_CHANNEL_TRAIN: parquetDir },
      });
      expect(fromParquet.result.ok && fromCsv.result.ok).toBe(true);
      const [a, b] = [await loadModelDir(fromParquet.modelDir), await loadModelDir(fromCsv.modelDir)];
      expect(a.coefficients).toEqual(b.coefficients);
      expect(a.intercept).toBe(b.intercept);
      expect(a.data_version?.objects.map((o) => o.key)).toEqual(['train/part-0.parquet']);
    });
  });

  it('scores the validation channel by column name, whatever its column order', async () => {
    await withTempDir(async (dir) => {
      const lines = (await wine()).trimEnd().split('\n');
      // Reverse the columns of the validation file: matching must go by name, not position.
      const reversed = lines.map((l) => l.split(';').reverse().join(';')).join('\n');
      const run = await runJob(dir, {
        train: { 'train.csv': lines.slice(0, 1200).join('\n') },
        validation: {
          'val.csv': `${reversed.split('\n')[0]}\n${reversed.split('\n').slice(1200).join('\n')}\n`,
        },
        hyperparameters: { target: 'quality', alpha: '0.05' },
      });
      expect(run.result.ok).toBe(true);
      const model = await loadModelDir(run.modelDir);
      expect(model.metrics.validation?.rows).toBe(400); // lines[0] is the header: 1,199 train rows, 400 held out
      // Validation error on held-out rows: close to, but not the same as, the training error.
      expect(model.metrics.validation!.rmse).toBeGreaterThan(0.5);
      expect(model.metrics.validation!.rmse).toBeLessThan(0.9);
      expect(model.metrics.validation!.rmse).not.toBe(model.metrics.train.rmse);
      expect(run.out.some((l) => /^validation_rmse=[0-9.]+;$/.test(l))).toBe(true);
      expect(model.data_version?.objects.map((o) => o.key)).toEqual([
        'train/train.csv',
        'validation/val.csv',
      ]);
    });
  });

  it('takes hyperparameters from SM_HPS over the file and records MLOPS_DATA_VERSION', async () => {
    await withTempDir(async (dir) => {
      const version = {
        source: 's3://raw-bucket/wine/',
        objects: [{ key: 'wine/red.csv', version_id: '3HL4kqtJ' }],
      };
      const run = await runJob(dir, {
        train: { 'w.csv': await wine() },
        hyperparameters: { target: 'nope', alpha: 'not used' },
        env: {
          SM_HPS: JSON.stringify({ target: 'quality', alpha: '0.2' }),
          MLOPS_DATA_VERSION: JSON.stringify(version),
        },
      });
      expect(run.result.ok).toBe(true);
      const model = await loadModelDir(run.modelDir);
      expect(model.hyperparameters.alpha).toBe(0.2);
      expect(model.data_version).toEqual(version);
    });
  });

  it('warns about a constant feature in model.json and on stderr', async () => {
    await withTempDir(async (dir) => {
      const run = await runJob(dir, {
        train: { 'c.csv': 'x,flat,y\n1,7,2\n2,7,4.1\n3,7,5.9\n4,7,8.2\n' },
        hyperparameters: { target: 'y', alpha: '0.01' },
      });
      expect(run.result.ok).toBe(true);
      const model = await loadModelDir(run.modelDir);
      expect(model.coefficients[1]).toBe(0);
      expect(model.warnings).toEqual(['feature "flat" is constant (every value is 7); its coefficient is 0']);
      expect(run.err).toEqual([
        'warning: feature "flat" is constant (every value is 7); its coefficient is 0',
      ]);
    });
  });
});

describe('runTrainingJob: failures write the reason, exit 1 and leave no model', () => {
  const good = 'a;b;quality\n1;2;5\n2;3;6\n3;5;7\n';
  const cases: [string, Partial<JobSetup>, string | RegExp][] = [
    [
      'the target column is missing',
      { hyperparameters: { target: 'score' } },
      'train/d.csv: the target column "score" is missing; columns are: "a", "b", "quality"',
    ],
    [
      'a cell is not numeric',
      { train: { 'd.csv': 'a;b;quality\n1;2;5\n2;abc;6\n' } },
      'train/d.csv: line 3, column "b": "abc" is not a number',
    ],
    [
      'a cell is NaN',
      { train: { 'd.csv': 'a;b;quality\n1;NaN;5\n' } },
      /line 2, column "b": "NaN" is a missing value/,
    ],
    ['a cell is empty', { train: { 'd.csv': 'a;b;quality\n1;;5\n' } }, /line 2, column "b": empty value/],
    ['the file is empty', { train: { 'd.csv': '' } }, 'train/d.csv: the file is empty (no header, no data)'],
    [
      'the file has a header only',
      { train: { 'd.csv': 'a;b;quality\n' } },
      'train/d.csv: the file has a header but no data rows',
    ],
    [
      'a row is ragged',
      { train: { 'd.csv': 'a;b;quality\n1;2;5\n1;2\n' } },
      'train/d.csv: line 3: has 2 fields but the header has 3',
    ],
    ['the train channel is empty', { train: {} }, /the train channel .* holds no data files/],
    [
      'alpha is not a number',
      { hyperparameters: { target: 'quality', alpha: 'abc' } },
      'hyperparameter alpha must be a finite number ≥ 0, but "abc" was provided',
    ],
    [
      'alpha is negative',
      { hyperparameters: { target: 'quality', alpha: '-1' } },
      /alpha must be a finite number ≥ 0, but "-1"/,
    ],
    [
      'l1_ratio is above 1',
      { hyperparameters: { target: 'quality', l1_ratio: '1.2' } },
      /l1_ratio must be a number between 0 and 1, but "1.2"/,
    ],
    ['no target is given', { hyperparameters: { alpha: '1' } }, /hyperparameter target is required/],
    [
      'MLOPS_DATA_VERSION is malformed',
      { env: { MLOPS_DATA_VERSION: '{"source":1}' } },
      /MLOPS_DATA_VERSION must be/,
    ],
    [
      'the validation data lacks a feature',
      { validation: { 'v.csv': 'a;quality\n1;5\n' } },
      /validation\/v\.csv: no column named "b"/,
    ],
  ];

  it.each(cases)('fails if %s', async (_, setup, reason) => {
    await withTempDir(async (dir) => {
      const run = await runJob(dir, {
        train: { 'd.csv': good },
        hyperparameters: { target: 'quality' },
        ...setup,
      });
      expect(run.result.ok).toBe(false);
      expect(run.result.exitCode).toBe(1);
      const written = await readFile(run.failureFile, 'utf8');
      if (typeof reason === 'string') expect(written).toBe(`${reason}\n`);
      else expect(written).toMatch(reason);
      expect(run.result.ok === false && `${run.result.reason}\n`).toBe(written);
      expect(run.modelFiles).toEqual([]);
      expect(run.out).toEqual([]);
    });
  });

  it('fails on a Parquet channel with the row and column of a bad cell, and leaves no model', async () => {
    await withTempDir(async (dir) => {
      const parquetDir = join(dir, 'parquet');
      await mkdir(parquetDir);
      await writeParquet(
        join(parquetDir, 'p.parquet'),
        'SELECT * FROM (VALUES (1.0, 5.0), (NULL, 6.0)) t(a, quality)',
      );
      const run = await runJob(dir, {
        train: {},
        hyperparameters: { target: 'quality' },
        env: { SM_CHANNEL_TRAIN: parquetDir },
      });
      expect(run.result.exitCode).toBe(1);
      expect(await readFile(run.failureFile, 'utf8')).toBe(
        'train/p.parquet: row 2, column "a": empty value (missing values are not supported)\n',
      );
      expect(run.modelFiles).toEqual([]);
    });
  });

  it('writes the failure file to SM_OUTPUT_DIR when set', async () => {
    await withTempDir(async (dir) => {
      const run = await runJob(dir, {
        train: { 'd.csv': 'x;quality\n' },
        hyperparameters: { target: 'quality' },
        env: { SM_OUTPUT_DIR: join(dir, 'elsewhere') },
      });
      expect(run.result.exitCode).toBe(1);
      expect(await readFile(join(dir, 'elsewhere', 'failure'), 'utf8')).toMatch(/header but no data rows/);
      await expect(readFile(run.failureFile, 'utf8')).rejects.toThrow(/ENOENT/);
    });
  });
});
