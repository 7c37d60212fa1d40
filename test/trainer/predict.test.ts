import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LinearModel, MODEL_FORMAT, ModelFormatError, parseModel } from '../../lib/model/format';
import { CsvError } from '../../lib/trainer/csv';
import { PREDICTION_COLUMN, predictCsv, predictFile } from '../../lib/trainer/predict';
import { withTempDir } from './helpers';

/** A hand-made model: y = 1 + 2·a − 3·b. */
const model: LinearModel = parseModel({
  format: MODEL_FORMAT,
  algorithm: 'elasticnet',
  features: ['a', 'b'],
  target: 'y',
  coefficients: [2, -3],
  intercept: 1,
  hyperparameters: { alpha: 1, l1_ratio: 0.5, max_iter: 1000, tol: 1e-4 },
  metrics: { train: { rmse: 0, mae: 0, r2: 1, rows: 2 } },
  fit: { iterations: 1, converged: true, dual_gap: 0, seconds: 0 },
  data_version: null,
  created_at: '2026-11-15T00:00:00Z',
});

const predictions = (csv: string) =>
  csv
    .trimEnd()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(/[;,]/).pop()));

describe('predictCsv', () => {
  it('appends a prediction column and keeps the input lines as they were', () => {
    const out = predictCsv(model, 'a,b\n1,1\n0.5,2\n', 'in.csv');
    expect(out).toBe(`a,b,${PREDICTION_COLUMN}\n1,1,0\n0.5,2,-4\n`);
  });

  it('matches columns by name: reordered, extra (even non-numeric) columns and the target are fine', () => {
    const out = predictCsv(model, '"id";"y";"b";"a"\n"x-1";9;1;1\n"x-2";9;2;0.5\n', 'in.csv');
    expect(out.split('\n')[0]).toBe('"id";"y";"b";"a";prediction');
    expect(out.split('\n')[1]).toBe('"x-1";9;1;1;0');
    expect(predictions(out)).toEqual([0, -4]);
  });

  it('fails if a feature is missing, naming it and listing the columns', () => {
    expect(() => predictCsv(model, 'a,c\n1,2\n', 'in.csv')).toThrow(CsvError);
    expect(() => predictCsv(model, 'a,c\n1,2\n', 'in.csv')).toThrow(
      'in.csv: the model needs feature "b", which is missing; columns are: "a", "c"',
    );
    expect(() => predictCsv(model, 'c\n1\n', 'in.csv')).toThrow('needs features "a", "b", which are missing');
  });

  it('fails if a feature cell is not numeric, or the input already has a prediction column', () => {
    expect(() => predictCsv(model, 'a,b\n1,two\n', 'in.csv')).toThrow(
      'in.csv: line 2, column "b": "two" is not a number',
    );
    expect(() => predictCsv(model, 'a,b,prediction\n1,2,3\n', 'in.csv')).toThrow(
      /already has a "prediction" column/,
    );
    expect(() => predictCsv(model, 'a,b\n', 'in.csv')).toThrow(
      'in.csv: the file has a header but no data rows',
    );
  });
});

describe('predictFile', () => {
  it('loads the model directory and predicts the file', async () => {
    await withTempDir(async (dir) => {
      await mkdir(join(dir, 'model'));
      await writeFile(join(dir, 'model', 'model.json'), JSON.stringify(model));
      await writeFile(join(dir, 'in.csv'), 'b,a\n0,0\n1,3\n');
      expect(predictions(await predictFile(join(dir, 'model'), join(dir, 'in.csv')))).toEqual([1, 4]);
      await expect(predictFile(join(dir, 'nope'), join(dir, 'in.csv'))).rejects.toThrow(ModelFormatError);
      await expect(predictFile(join(dir, 'model'), join(dir, 'nope.csv'))).rejects.toThrow(
        /cannot read .*nope\.csv/,
      );
    });
  });
});
