/**
 * ElasticNet regression by cyclic coordinate descent, minimising scikit-learn's objective
 *
 *     (1 / (2n)) ‖y − Xw − b‖² + α·ρ·‖w‖₁ + ½·α·(1 − ρ)·‖w‖²      (ρ = l1_ratio)
 *
 * with a fitted, unpenalised intercept b. It follows `sklearn.linear_model.ElasticNet` with
 * `fit_intercept=True`, `precompute=False`, `selection='cyclic'` (scikit-learn 1.2,
 * `_cd_fast.pyx: enet_coordinate_descent`): X and y are centred (not scaled), the solver works on
 * n times the objective (so the L1 and L2 weights become α·ρ·n and α·(1 − ρ)·n), an epoch stops the
 * run early only when the largest coefficient change is below `tol` times the largest coefficient
 * AND the duality gap is below `tol·‖y − ȳ‖²`. The same rule, the same coordinate order and the same
 * update give the same iterates as scikit-learn up to floating-point rounding.
 *
 * @example
 * const X = { rows: 3, cols: 1, data: Float64Array.from([1, 2, 3]) };
 * const fit = fitElasticNet(X, Float64Array.from([2, 4, 6]), { alpha: 0.01, l1Ratio: 0.5 });
 * fit.coef[0]; // ≈ 1.97
 */
import {
  BLOCK_ROWS,
  blockDot,
  columnPasses as fitColumns,
  defaultFitThreads,
  adaptivePasses,
  fitArrays,
  fitRunsSimd,
} from './fit-threads';

/** A dense matrix stored column by column: element (i, j) is `data[j * rows + i]`. */
export interface ColumnMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly data: Float64Array;
}

export interface ElasticNetOptions {
  /**
   * Overall regularisation strength α (≥ 0).
   * @default 1.0 (as scikit-learn)
   */
  readonly alpha?: number;
  /**
   * Share of the L1 penalty ρ in [0, 1]: 1 is the lasso, 0 is ridge.
   * @default 0.5
   */
  readonly l1Ratio?: number;
  /**
   * Maximum number of epochs (full passes over the coordinates).
   * @default 1000
   */
  readonly maxIter?: number;
  /**
   * Relative tolerance of the stopping rule (see the module comment).
   * @default 1e-4
   */
  readonly tol?: number;
  /** Feature names, used only to make warnings readable. */
  readonly featureNames?: readonly string[];
  /**
   * Centre `X.data` in place instead of a copy (scikit-learn's `copy_X=False`): the fit then needs no
   * second matrix, and afterwards `X.data` holds X − x̄ (see {@link ElasticNetFit.xMean}).
   * @default false
   */
  readonly overwriteX?: boolean;
  /**
   * Threads that run the passes over the rows (the caller's and `threads − 1` workers), for every
   * epoch; the result is the same to the last bit for any value (see `fit-threads.ts`).
   * @default each pass on one thread or on every core (at most 4), whichever the fit measured faster
   * (`adaptivePasses` in fit-threads.ts), from PARALLEL_FIT_MIN_ROWS rows on (JavaScript kernels) or
   * PARALLEL_SIMD_FIT_MIN_ROWS (SIMD kernels); else 1
   */
  readonly threads?: number;
  /**
   * Run the passes over the rows with the WebAssembly SIMD kernels where WebAssembly SIMD is available
   * (the matrix is then copied into their memory unless it already lives there: `overwriteX` on a
   * matrix from `fitMatrixArray`); false runs the JavaScript kernels. The result is the same to the
   * last bit either way.
   * @default true
   */
  readonly simd?: boolean;
}

export interface ElasticNetFit {
  /** One coefficient per column of X, in column order. */
  readonly coef: Float64Array;
  readonly intercept: number;
  /** Whether the passes ran the WebAssembly SIMD kernels (else the JavaScript ones: same bits). */
  readonly simd: boolean;
  /**
   * Why the passes ran the JavaScript kernels although `simd` asked for SIMD (the same bits, slower);
   * absent when they ran SIMD or `simd: false` asked for JavaScript.
   */
  readonly simdFallback?: string;
  /** Epochs run (scikit-learn's `n_iter_`). */
  readonly iterations: number;
  /** The coordinate passes over the rows (a column's dot product with the residual) the fit ran. */
  readonly coordinatePasses: number;
  /** Of those, the ones that ran on more than one thread. */
  readonly parallelPasses: number;
  /** Whether the duality gap fell below the tolerance before `maxIter` ran out. */
  readonly converged: boolean;
  /** Duality gap of the objective above at the returned solution (scikit-learn's `dual_gap_`). */
  readonly dualGap: number;
  /** Indices of columns that hold one value only; their coefficient is 0. */
  readonly constantColumns: readonly number[];
  /** The column means x̄ the fit centred X by. */
  readonly xMean: Float64Array;
  readonly warnings: readonly string[];
}

/** Thrown for inputs the solver cannot work with; the message names the offending value. */
export class ElasticNetError extends Error {
  override readonly name = 'ElasticNetError';
}

function validate(
  X: ColumnMatrix,
  y: Float64Array,
  alpha: number,
  l1Ratio: number,
  maxIter: number,
  tol: number,
  threads: number,
) {
  if (!Number.isInteger(X.rows) || !Number.isInteger(X.cols) || X.rows < 1 || X.cols < 1) {
    throw new ElasticNetError(
      `X must have at least one row and one column, but ${X.rows}×${X.cols} was provided`,
    );
  }
  if (X.data.length !== X.rows * X.cols) {
    throw new ElasticNetError(
      `X.data must hold rows×cols = ${X.rows * X.cols} values, but ${X.data.length} were provided`,
    );
  }
  if (y.length !== X.rows) {
    throw new ElasticNetError(
      `y must have one value per row of X (${X.rows}), but ${y.length} were provided`,
    );
  }
  if (!(Number.isFinite(alpha) && alpha >= 0)) {
    throw new ElasticNetError(`alpha must be a finite number ≥ 0, but ${alpha} was provided`);
  }
  if (!(l1Ratio >= 0 && l1Ratio <= 1)) {
    throw new ElasticNetError(`l1_ratio must be between 0 and 1, but ${l1Ratio} was provided`);
  }
  if (!(Number.isInteger(maxIter) && maxIter >= 1)) {
    throw new ElasticNetError(`max_iter must be an integer ≥ 1, but ${maxIter} was provided`);
  }
  if (!(Number.isFinite(tol) && tol >= 0)) {
    throw new ElasticNetError(`tol must be a finite number ≥ 0, but ${tol} was provided`);
  }
  if (!(Number.isInteger(threads) && threads >= 1)) {
    throw new ElasticNetError(`threads must be an integer ≥ 1, but ${threads} was provided`);
  }
}

/**
 * Fits an ElasticNet model with a fitted intercept; see the module comment for the exact objective
 * and stopping rule. X is not modified (the solver centres a copy).
 *
 * @example
 * const fit = fitElasticNet({ rows: 4, cols: 2, data }, y, { alpha: 0.5, l1Ratio: 0.5, tol: 1e-12 });
 * const yHat = fit.intercept + fit.coef[0] * x0 + fit.coef[1] * x1;
 */
export function fitElasticNet(
  X: ColumnMatrix,
  y: Float64Array,
  options: ElasticNetOptions = {},
): ElasticNetFit {
  const alpha = options.alpha ?? 1.0;
  const l1Ratio = options.l1Ratio ?? 0.5;
  const maxIter = options.maxIter ?? 1000;
  const tol = options.tol ?? 1e-4;
  const simd = options.simd ?? true;
  const threads = options.threads ?? defaultFitThreads(X.rows, fitRunsSimd(X.data, options.overwriteX ?? false, simd));
  const adaptive = options.threads === undefined;
  validate(X, y, alpha, l1Ratio, maxIter, tol, threads);
  const n = X.rows;
  const p = X.cols;
  const warnings: string[] = [];

  // Centre a copy of X and y: with the intercept unpenalised, its optimum is ȳ − x̄·w, and the
  // remaining problem in w is the same problem on centred data (scikit-learn's _preprocess_data).
  // Worker threads read the matrix, the residual and the target where they are: shared memory, a
  // WebAssembly kernel memory when the SIMD kernels run (see fit-threads.ts).
  const shared = threads > 1 && n > BLOCK_ROWS;
  const arrays = fitArrays(X.data, y, n, {
    inPlace: options.overwriteX ?? false,
    shared,
    simd,
  });
  const Xc = arrays.x;
  const xMean = new Float64Array(p);
  const norms = new Float64Array(p);
  const constantColumns: number[] = [];
  // The column sums and the squared norms are taken with four running sums (not one, as before
  // this change), as the passes over the rows: ~4× faster in JavaScript, and the SIMD kernels give the
  // same bits. The means and norms moved by an ulp or so (~1e-16 relative); scikit-learn's own numpy
  // sums are pairwise, so neither order is "its" order.
  const columns = fitColumns(Xc, arrays.simd);
  for (let j = 0; j < p; j++) {
    const o = j * n;
    // Copied a column at a time, so that its statistics and centring read it from the cache.
    if (!arrays.copied) Xc.set(X.data.subarray(o, o + n), o);
    const stats = columns.stats(o, n);
    if (stats.nonFinite !== -1) {
      const i = stats.nonFinite;
      throw new ElasticNetError(`X must hold finite numbers, but row ${i}, column ${j} is ${Xc[o + i]}`);
    }
    if (stats.constant) {
      // The floating-point mean of a constant column need not equal the constant, so centring can
      // leave ±1-ulp noise with a tiny positive norm; zero the column so its coefficient stays 0.
      const first = Xc[o]!;
      constantColumns.push(j);
      xMean[j] = first;
      Xc.fill(0, o, o + n);
      const name = options.featureNames?.[j] ?? `column ${j}`;
      warnings.push(`feature "${name}" is constant (every value is ${first}); its coefficient is 0`);
      continue;
    }
    const mean = stats.sum / n;
    xMean[j] = mean;
    norms[j] = columns.centre(o, mean, n);
  }
  let ySum = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(y[i]!))
      throw new ElasticNetError(`y must hold finite numbers, but row ${i} is ${y[i]}`);
    ySum += y[i]!;
  }
  const yMean = ySum / n;
  // No centred copy of y: the passes centre it as they read it, to the same bits (see fit-threads.ts).
  const yShared = arrays.y;

  // The solver's objective is n times the documented one, hence the n in both penalty weights.
  const l1 = alpha * l1Ratio * n;
  const l2 = alpha * (1 - l1Ratio) * n;
  const w = new Float64Array(p);
  const R = arrays.r; // residual y − Xw, kept exact through every update
  for (let i = 0; i < n; i++) R[i] = y[i]! - yMean;
  const gapTol = tol * blockDot(R, R, 0, n);
  if (alpha === 0) {
    warnings.push('alpha is 0: coordinate descent without regularisation may converge slowly or not at all');
  }

  const pass = adaptivePasses({ x: Xc, r: R, y: yShared, yMean }, n, p, shared ? threads : 1, adaptive);
  let gap = gapTol + 1;
  let converged = false;
  let epoch = 0;
  // The residual update for the previous coordinate is deferred and fused with the next
  // coordinate's dot product: one pass over R per coordinate instead of two; the last coordinate's
  // is fused with the next epoch's first dot, or with the duality gap's pass.
  let pending = -1;
  let pendingDelta = 0;
  try {
    for (; epoch < maxIter; epoch++) {
      let wMax = 0;
      let dwMax = 0;
      for (let j = 0; j < p; j++) {
        const norm = norms[j]!;
        if (norm === 0) continue;
        const wOld = w[j]!;
        // scikit-learn adds w_j·x_j back into R, takes x_j·R, then subtracts w_new·x_j (three passes).
        // x_j·(R + w_old·x_j) = x_j·R + w_old·‖x_j‖², and the two residual updates fold into one
        // by the difference: the same arithmetic in fewer passes.
        let xr: number;
        if (pending === -1) {
          xr = pass.dot(j);
        } else {
          xr = pass.updateDot(pending, pendingDelta, j);
          pending = -1;
        }
        const rho = xr + wOld * norm;
        const shrunk = Math.abs(rho) - l1;
        const wNew = shrunk > 0 ? (rho > 0 ? shrunk : -shrunk) / (norm + l2) : 0;
        const delta = wNew - wOld;
        if (delta !== 0) {
          w[j] = wNew;
          pending = j;
          pendingDelta = delta;
        }
        const ad = Math.abs(delta);
        if (ad > dwMax) dwMax = ad;
        const aw = Math.abs(wNew);
        if (aw > wMax) wMax = aw;
      }
      if (wMax === 0 || dwMax / wMax < tol || epoch === maxIter - 1) {
        gap = dualityGap(pass.gapDots(pending, pendingDelta), p, w, l1, l2);
        pending = -1;
        // `<=` rather than scikit-learn's `<` only so that a constant target (gap 0, tolerance 0)
        // counts as converged instead of running every epoch.
        if (gap <= gapTol) {
          converged = true;
          break;
        }
      }
    }
  } finally {
    pass.release();
  }
  const iterations = converged ? epoch + 1 : maxIter;
  if (!converged) {
    warnings.push(
      `did not converge in ${maxIter} iterations (duality gap ${gap / n}, tolerance ${gapTol / n}); ` +
        'increase max_iter or tol',
    );
  }
  let intercept = yMean;
  for (let j = 0; j < p; j++) intercept -= xMean[j]! * w[j]!;
  const simdFallback =
    pass.simd || !simd ? undefined : (arrays.fallback ?? "the fit's arrays are not in one kernel memory");
  return {
    coef: w,
    intercept,
    simd: pass.simd,
    ...(simdFallback === undefined ? {} : { simdFallback }),
    iterations,
    coordinatePasses: pass.counts.passes,
    parallelPasses: pass.counts.parallel,
    converged,
    dualGap: gap / n,
    constantColumns,
    xMean,
    warnings,
  };
}

/**
 * Duality gap of the n-scaled problem at w, as scikit-learn computes it: the dual point is the
 * residual rescaled so that ‖Xᵀθ − l2·w‖∞ ≤ l1. `dots` holds x_j·R for every column, then R·R and R·(y − ȳ).
 */
export function dualityGap(
  dots: Float64Array,
  p: number,
  w: Float64Array,
  l1: number,
  l2: number,
): number {
  let dualNorm = 0;
  let wNorm2 = 0;
  let l1Norm = 0;
  for (let j = 0; j < p; j++) {
    const wj = w[j]!;
    const a = Math.abs(dots[j]! - l2 * wj);
    if (a > dualNorm) dualNorm = a;
    wNorm2 += wj * wj;
    l1Norm += Math.abs(wj);
  }
  const rNorm2 = dots[p]!;
  let scale = 1;
  let gap: number;
  if (dualNorm > l1) {
    scale = l1 / dualNorm;
    gap = 0.5 * (rNorm2 + rNorm2 * scale * scale);
  } else {
    gap = rNorm2;
  }
  return gap + l1 * l1Norm - scale * dots[p + 1]! + 0.5 * l2 * (1 + scale * scale) * wNorm2;
}

/**
 * The ElasticNet objective (1/(2n))‖y − Xw − b‖² + α·ρ·‖w‖₁ + ½·α·(1 − ρ)·‖w‖² at (w, b) on
 * uncentred data; for tests and diagnostics.
 *
 * @example
 * const f = elasticNetObjective(X, y, fit.coef, fit.intercept, 0.5, 0.5);
 */
export function elasticNetObjective(
  X: ColumnMatrix,
  y: Float64Array,
  coef: ArrayLike<number>,
  intercept: number,
  alpha: number,
  l1Ratio: number,
): number {
  const n = X.rows;
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = y[i]! - intercept;
  for (let j = 0; j < X.cols; j++) {
    const wj = coef[j]!;
    if (wj === 0) continue;
    const o = j * n;
    for (let i = 0; i < n; i++) r[i] -= wj * X.data[o + i]!;
  }
  let l1Norm = 0;
  let l2Norm = 0;
  for (let j = 0; j < X.cols; j++) {
    l1Norm += Math.abs(coef[j]!);
    l2Norm += coef[j]! * coef[j]!;
  }
  return blockDot(r, r, 0, n) / (2 * n) + alpha * l1Ratio * l1Norm + 0.5 * alpha * (1 - l1Ratio) * l2Norm;
}
