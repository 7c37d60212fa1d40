/** Shared helpers for the trainer tests: fixtures, the wine data, temporary directories. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MODEL_FORMAT } from '../../lib/model/format';
import { type CsvTable, parseCsv, type TrainingSet, toTrainingSet } from '../../lib/trainer/csv';
import type { ColumnMatrix } from '../../lib/trainer/elasticnet';

export const REPO = join(import.meta.dirname, '..', '..');
export const WINE_CSV = join(REPO, 'lib', 'datasets', 'winequality-red.csv');
export const FIXTURES = join(REPO, 'test', 'fixtures', 'sklearn');

/** The JSON the scikit-learn reference script prints. */
export interface SklearnFixture {
  features: string[];
  coef: number[];
  intercept: number;
  rmse: number;
  mae: number;
  r2: number;
  rows: number;
  first_rows: number[][];
  first_predictions: number[];
}

export async function loadFixture(name: string): Promise<SklearnFixture> {
  return JSON.parse(await readFile(join(FIXTURES, name), 'utf8')) as SklearnFixture;
}

export async function wineTable(): Promise<CsvTable> {
  return parseCsv(await readFile(WINE_CSV, 'utf8'), { source: 'winequality-red.csv' });
}

export async function wineSet(): Promise<TrainingSet> {
  return toTrainingSet([await wineTable()], 'quality');
}

/** A hand-made model document: y = 1 + 2·a − 3·b. */
export const HAND_MODEL_DOC = {
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
};

/** Writes the rows of a DuckDB `select` to a Parquet file at `path`. */
export async function writeParquet(path: string, select: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(`COPY (${select}) TO '${path.replaceAll("'", "''")}' (FORMAT parquet)`);
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** The wine data, as DuckDB selects it from the CSV. */
export const WINE_SELECT = `SELECT * FROM read_csv('${WINE_CSV}', header = true, delim = ';')`;

/** Runs `fn` with a fresh temporary directory that is removed afterwards. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-trainer-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Predictions b + X·w for a column-major matrix. */
export function predictAll(X: ColumnMatrix, coef: ArrayLike<number>, intercept: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < X.rows; i++) {
    let v = intercept;
    for (let j = 0; j < X.cols; j++) v += coef[j]! * X.data[j * X.rows + i]!;
    out.push(v);
  }
  return out;
}

/**
 * The largest violation of the ElasticNet optimality conditions at (w, b), computed from scratch on
 * the uncentred data (no code shared with the solver). With r = y − Xw − b and
 * g_j = xⱼᵀr/n − α(1−ρ)w_j: mean(r) = 0; g_j = αρ·sign(w_j) where w_j ≠ 0; |g_j| ≤ αρ where w_j = 0.
 */
export function kktViolation(
  X: ColumnMatrix,
  y: ArrayLike<number>,
  coef: ArrayLike<number>,
  intercept: number,
  alpha: number,
  l1Ratio: number,
): number {
  const n = X.rows;
  const pred = predictAll(X, coef, intercept);
  const r = pred.map((p, i) => y[i]! - p);
  let worst = Math.abs(r.reduce((a, b) => a + b, 0) / n);
  for (let j = 0; j < X.cols; j++) {
    let xr = 0;
    for (let i = 0; i < n; i++) xr += X.data[j * n + i]! * r[i]!;
    const g = xr / n - alpha * (1 - l1Ratio) * coef[j]!;
    const w = coef[j]!;
    const v =
      w !== 0 ? Math.abs(g - alpha * l1Ratio * Math.sign(w)) : Math.max(0, Math.abs(g) - alpha * l1Ratio);
    worst = Math.max(worst, v);
  }
  return worst;
}
