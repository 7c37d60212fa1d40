/**
 * Regression metrics computed the way scikit-learn's `mean_squared_error` (square-rooted),
 * `mean_absolute_error` and `r2_score` compute them, so the numbers in `model.json` line up with a
 * scikit-learn notebook on the same data.
 *
 * @example
 * const yHat = predictMatrix(X, fit.coef, fit.intercept);
 * regressionMetrics(y, yHat); // { rmse, mae, r2, rows }
 */
import type { RegressionMetrics } from './contract';
import type { ColumnMatrix } from './elasticnet';

/**
 * Predictions intercept + X·coef for every row of a column-major matrix.
 *
 * @example
 * predictMatrix({ rows: 2, cols: 1, data: Float64Array.from([1, 2]) }, [2], 1); // [3, 5]
 */
export function predictMatrix(X: ColumnMatrix, coef: ArrayLike<number>, intercept: number): Float64Array {
  const n = X.rows;
  const out = new Float64Array(n).fill(intercept);
  for (let j = 0; j < X.cols; j++) {
    const w = coef[j]!;
    if (w === 0) continue;
    const o = j * n;
    for (let i = 0; i < n; i++) out[i] += w * X.data[o + i]!;
  }
  return out;
}

/**
 * RMSE, MAE and R² of predictions. R² follows scikit-learn for a constant target: 1 when the
 * predictions are exact, else 0 (instead of a division by zero).
 *
 * @example
 * regressionMetrics(Float64Array.from([1, 2, 3]), Float64Array.from([1, 2, 4])).mae; // 1/3
 */
export function regressionMetrics(y: ArrayLike<number>, yHat: ArrayLike<number>): RegressionMetrics {
  const n = y.length;
  if (n === 0 || yHat.length !== n) {
    throw new Error(`need equally long, non-empty arrays, but ${n} and ${yHat.length} values were provided`);
  }
  let mean = 0;
  for (let i = 0; i < n; i++) mean += y[i]!;
  mean /= n;
  let sse = 0;
  let sae = 0;
  let sst = 0;
  for (let i = 0; i < n; i++) {
    const e = y[i]! - yHat[i]!;
    sse += e * e;
    sae += Math.abs(e);
    const d = y[i]! - mean;
    sst += d * d;
  }
  const r2 = sst === 0 ? (sse === 0 ? 1 : 0) : 1 - sse / sst;
  return { rmse: Math.sqrt(sse / n), mae: sae / n, r2, rows: n };
}
