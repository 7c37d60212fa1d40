import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ColumnMatrix, fitElasticNet } from '../../lib/trainer/elasticnet';
import { fitElasticNetGram, gramStats, gramStatsOfMatrix, MomentAccumulator } from '../../lib/trainer/gram';
import { generateLinearData } from '../../lib/trainer/synthetic';
import { GRAM_FIXTURES } from '../fixtures/sklearn/gram-params';
import { FIXTURES, wineSet } from './helpers';

interface SklearnFit {
  coef: number[];
  intercept: number;
  n_iter: number;
  dual_gap: number;
}
interface GramFixture {
  features: string[];
  rows: number;
  fits: { alpha: number; l1_ratio: number; tol: number; gram: SklearnFit; columns: SklearnFit }[];
}

/** The largest coefficient difference, relative to the largest coefficient (zero where scikit-learn's is zero). */
function coefError(mine: ArrayLike<number>, ref: readonly number[]): number {
  const scale = Math.max(...ref.map(Math.abs));
  let worst = 0;
  ref.forEach((c, j) => {
    if (c === 0 && mine[j] !== 0) worst = Infinity;
    worst = Math.max(worst, Math.abs(mine[j]! - c) / scale);
  });
  return worst;
}

async function fixtureData(f: (typeof GRAM_FIXTURES)[number]) {
  if (f.data === 'wine') return wineSet();
  const d = generateLinearData(f.data);
  return { X: d.X, y: d.y, featureNames: d.featureNames };
}

describe('fitElasticNetGram against scikit-learn precompute=True and precompute=False', () => {
  const cases = GRAM_FIXTURES.flatMap((f) => f.fits.map((s, k) => ({ file: f.file, k, ...s, f })));
  it.each(cases)(
    '$file α$alpha ρ$l1Ratio tol $tol: the same epochs, coefficients within 1e-12 of the largest',
    async ({ file, k, f }) => {
      // prepare
      const ref = JSON.parse(await readFile(join(FIXTURES, file), 'utf8')) as GramFixture;
      const set = await fixtureData(f);
      expect(ref.rows).toBe(set.X.rows);
      const s = ref.fits[k]!;
      // act
      const fit = fitElasticNetGram(gramStatsOfMatrix(set.X, set.y), {
        alpha: s.alpha,
        l1Ratio: s.l1_ratio,
        tol: s.tol,
        maxIter: 1_000_000,
      });
      // assess: the Gram solver, and scikit-learn's default solver, epoch for epoch
      expect(fit.iterations).toBe(s.gram.n_iter);
      expect(fit.iterations).toBe(s.columns.n_iter);
      expect(coefError(fit.coef, s.gram.coef)).toBeLessThan(1e-12);
      expect(coefError(fit.coef, s.columns.coef)).toBeLessThan(1e-11);
      expect(Math.abs(fit.intercept - s.gram.intercept)).toBeLessThan(1e-12 * Math.max(1, Math.abs(s.gram.intercept)));
    },
  );

  it('matches the column path on a column far from zero, where the raw XᵀX − n·x̄x̄ᵀ fails', () => {
    // prepare: column 0 is 1e7 + N(0, 1), like wine's density (0.9967 ± 0.0019) but 1e4 times worse
    const d = generateLinearData({ seed: 20261115, rows: 2_000, features: 6, noise: 0.5, correlation: 0.4 });
    const n = d.X.rows;
    for (let i = 0; i < n; i++) d.X.data[i] = 1e7 + d.X.data[i]!;
    const settings = { alpha: 0.01, l1Ratio: 0.5, tol: 1e-12, maxIter: 1_000_000 };
    const cols = fitElasticNet(d.X, d.y, settings);
    // act
    const stats = gramStatsOfMatrix(d.X, d.y);
    const fit = fitElasticNetGram(stats, settings);
    // assess
    expect(fit.iterations).toBe(cols.iterations);
    expect(coefError(fit.coef, Array.from(cols.coef))).toBeLessThan(1e-9);
    // The same statistics with the raw formula's variance of column 0 give a visibly different fit,
    // so the bound above can fail.
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      sum += d.X.data[i]!;
      sq += d.X.data[i]! * d.X.data[i]!;
    }
    const naive = { ...stats, gram: Float64Array.from(stats.gram) };
    naive.gram[0] = sq - (sum * sum) / n;
    expect(coefError(fitElasticNetGram(naive, settings).coef, Array.from(cols.coef))).toBeGreaterThan(1e-6);
  });
});

describe('MomentAccumulator', () => {
  /** Two-pass moments of a whole matrix, the reference. */
  function twoPass(X: ColumnMatrix, y: Float64Array) {
    const n = X.rows;
    const cols = [...Array.from({ length: X.cols }, (_, j) => X.data.subarray(j * n, (j + 1) * n)), y];
    const mean = cols.map((c) => c.reduce((a, b) => a + b, 0) / n);
    return cols.map((a, j) => cols.map((b, k) => a.reduce((s, v, i) => s + (v - mean[j]!) * (b[i]! - mean[k]!), 0)));
  }

  it('gives the two-pass co-moments of columns far from zero, for any chunk size', () => {
    // prepare: a column of 1e7 + N(0, 1), where Σx² − n·x̄² keeps about 2 of its 16 digits
    const d = generateLinearData({ seed: 11, rows: 10_000, features: 3, correlation: 0.3 });
    for (let i = 0; i < d.X.rows; i++) d.X.data[i] = 1e7 + d.X.data[i]!;
    const ref = twoPass(d.X, d.y);
    for (const chunk of [1, 7, 2048, 10_000]) {
      // act
      const s = gramStatsOfMatrix(d.X, d.y, chunk);
      // assess
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 3; k++) {
          expect(Math.abs(s.gram[j * 3 + k]! - ref[j]![k]!)).toBeLessThan(1e-9 * Math.sqrt(ref[j]![j]! * ref[k]![k]!));
        }
        expect(Math.abs(s.xty[j]! - ref[j]![3]!)).toBeLessThan(1e-9 * Math.sqrt(ref[j]![j]! * ref[3]![3]!));
      }
      expect(Math.abs(s.yy - ref[3]![3]!)).toBeLessThan(1e-12 * ref[3]![3]!);
    }
    // The raw formula on the same column is off by far more, so the bound above means something.
    const n = d.X.rows;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      sum += d.X.data[i]!;
      sq += d.X.data[i]! * d.X.data[i]!;
    }
    expect(Math.abs(sq - (sum * sum) / n - ref[0]![0]!)).toBeGreaterThan(1e-6 * ref[0]![0]!);
  });

  it('zeroes a constant column, keeps its value as its mean, and its coefficient is 0 with a warning', () => {
    const acc = new MomentAccumulator(3);
    acc.add([Float64Array.from([1, 2, 3]), Float64Array.from([0.1, 0.1, 0.1]), Float64Array.from([2, 4.1, 5.9])], 3);
    acc.add([Float64Array.from([4]), Float64Array.from([0.1]), Float64Array.from([8.2])], 1);
    const stats = gramStats(acc);
    expect(stats.constantColumns).toEqual([1]);
    expect(stats.xMean[1]).toBe(0.1);
    expect([stats.gram[1], stats.gram[2], stats.gram[3], stats.xty[1]]).toEqual([0, 0, 0, 0]);
    const fit = fitElasticNetGram(stats, { alpha: 0.01, featureNames: ['x', 'flat'] });
    expect(fit.coef[1]).toBe(0);
    expect(fit.warnings).toEqual(['feature "flat" is constant (every value is 0.1); its coefficient is 0']);
  });

  it('fails on a non-finite value with its row and column', () => {
    const acc = new MomentAccumulator(2);
    acc.add([Float64Array.from([1, 2]), Float64Array.from([1, 2])], 2, ['a', 'y']);
    expect(() => acc.add([Float64Array.from([1, Number.NaN]), Float64Array.from([1, 2])], 2, ['a', 'y'])).toThrow(
      'column "a" must hold finite numbers, but row 4 is NaN',
    );
  });

  it('fails when given no rows', () => {
    expect(() => gramStats(new MomentAccumulator(2))).toThrow(/no rows/);
  });
});
