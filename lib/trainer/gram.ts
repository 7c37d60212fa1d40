/**
 * The trainer at constant memory: ElasticNet from sufficient statistics. The rows are seen once, a
 * chunk at a time, and leave behind only the column means and the centred co-moment matrix of
 * [X | y] (p + 1 means, (p + 1)² co-moments); coordinate descent then runs on the Gram matrix
 * Q = (X − x̄)ᵀ(X − x̄) and q = (X − x̄)ᵀ(y − ȳ), following scikit-learn 1.2's
 * `enet_coordinate_descent_gram` (`_cd_fast.pyx`, what `ElasticNet(precompute=True)` runs) with the
 * same n-scaled penalties, the same coordinate order and the same stopping rule as the column path
 * (`elasticnet.ts`): the largest coefficient change below `tol` times the largest coefficient, then
 * the duality gap below `tol·‖y − ȳ‖²`. Memory is O(p²) plus one chunk, whatever the row count.
 *
 * Numerics: each chunk's co-moments are taken about the chunk's own means (two passes over the
 * chunk), and chunks are merged pairwise (a binary counter, like pairwise summation) with the update
 * of Chan, Golub and LeVeque: C = C_a + C_b + δδᵀ·n_a·n_b/n with δ = x̄_b − x̄_a. The raw
 * XᵀX − n·x̄x̄ᵀ is never formed: on a column like wine's density (mean 0.9967, sd 0.0019) it
 * cancels away all but ~10 of the 16 digits.
 *
 * @example
 * const acc = new MomentAccumulator(p + 1);
 * acc.add(columns, rows); // once per chunk: p feature columns, then y
 * const fit = fitElasticNetGram(gramStats(acc, featureNames), { alpha: 0.1, l1Ratio: 0.5 });
 */
import { type ColumnMatrix, dualityGap, ElasticNetError, type ElasticNetFit } from './elasticnet';

/** Count, means and centred co-moments Σ(xⱼ − x̄ⱼ)(xₖ − x̄ₖ) of a set of rows (upper triangle kept). */
export interface Moments {
  n: number;
  readonly mean: Float64Array;
  readonly comoment: Float64Array;
}

/**
 * What a stream of chunks leaves behind: partial moments (each with its level: 2^level chunks merged;
 * at most one per level), each column's first value and whether it held that value only (exactly, as
 * the column path notes constant columns), and the rows seen. Plain data, so that a worker thread
 * can hand it back (`gram-csv.ts`).
 */
export interface MomentState {
  readonly d: number;
  readonly stack: { level: number; m: Moments }[];
  readonly first: Float64Array;
  readonly constant: Uint8Array;
  rows: number;
}

/** A state with no rows of `d` columns. */
export function emptyMomentState(d: number): MomentState {
  return { d, stack: [], first: new Float64Array(d), constant: new Uint8Array(d).fill(1), rows: 0 };
}

/**
 * The moment arithmetic, as one self-contained function (no outer names), so that worker threads run
 * its source text and compute the same bits as this thread (`gram-csv.ts`):
 * - `add(state, columns, m, scratch)` adds rows [0, m) of `columns` (d arrays) as one chunk and
 *   returns -1, or the index of a column whose chunk sum is not finite (the state is then unusable);
 *   `scratch` holds at least d·m numbers;
 * - `fold(stack, d)` merges a state's partial moments, oldest first, into new moments (null if none);
 * - `merge(a, b, d)` merges b into a (a holds the earlier rows).
 */
export function momentCode() {
  /**
   * The upper triangle of zᵀz for d columns of m rows (column-major in z), two rows j, j + 1 by four
   * columns k at a time: six loads serve eight products (a quarter less CPU than one row by four here).
   * Each entry is one running sum in row order, whatever the blocking. Entries below the diagonal may
   * be written too; they are never read.
   */
  function comoments(z: Float64Array, d: number, m: number, C: Float64Array): void {
    let j = 0;
    for (; j + 1 < d; j += 2) {
      const oa = j * m;
      const ob = oa + m;
      let k = j;
      for (; k + 3 < d; k += 4) {
        const o0 = k * m;
        const o1 = o0 + m;
        const o2 = o1 + m;
        const o3 = o2 + m;
        let a0 = 0;
        let a1 = 0;
        let a2 = 0;
        let a3 = 0;
        let b0 = 0;
        let b1 = 0;
        let b2 = 0;
        let b3 = 0;
        for (let i = 0; i < m; i++) {
          const a = z[oa + i]!;
          const b = z[ob + i]!;
          const x0 = z[o0 + i]!;
          const x1 = z[o1 + i]!;
          const x2 = z[o2 + i]!;
          const x3 = z[o3 + i]!;
          a0 += a * x0;
          a1 += a * x1;
          a2 += a * x2;
          a3 += a * x3;
          b0 += b * x0;
          b1 += b * x1;
          b2 += b * x2;
          b3 += b * x3;
        }
        const ra = j * d + k;
        const rb = ra + d;
        C[ra] = a0;
        C[ra + 1] = a1;
        C[ra + 2] = a2;
        C[ra + 3] = a3;
        C[rb] = b0;
        C[rb + 1] = b1;
        C[rb + 2] = b2;
        C[rb + 3] = b3;
      }
      for (; k < d; k++) {
        const ok = k * m;
        let sa = 0;
        let sb = 0;
        for (let i = 0; i < m; i++) {
          const x = z[ok + i]!;
          sa += z[oa + i]! * x;
          sb += z[ob + i]! * x;
        }
        C[j * d + k] = sa;
        C[(j + 1) * d + k] = sb;
      }
    }
    if (j < d) {
      const o = j * m;
      let s = 0;
      for (let i = 0; i < m; i++) s += z[o + i]! * z[o + i]!;
      C[j * d + j] = s;
    }
  }

  /** Merges b into a (a holds the earlier rows): Chan, Golub & LeVeque's pairwise update. */
  function merge(a: Moments, b: Moments, d: number): void {
    const n = a.n + b.n;
    const f = (a.n * b.n) / n;
    const wb = b.n / n;
    const delta = new Float64Array(d);
    for (let j = 0; j < d; j++) delta[j] = b.mean[j]! - a.mean[j]!;
    for (let j = 0; j < d; j++) {
      const dj = delta[j]! * f;
      for (let k = j; k < d; k++) a.comoment[j * d + k] += b.comoment[j * d + k]! + dj * delta[k]!;
    }
    for (let j = 0; j < d; j++) a.mean[j] += delta[j]! * wb;
    a.n = n;
  }

  function add(st: MomentState, columns: readonly Float64Array[], m: number, z: Float64Array): number {
    if (m <= 0) return -1;
    const d = st.d;
    const mean = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      const x = columns[j]!;
      let sum = 0;
      for (let i = 0; i < m; i++) sum += x[i]!;
      if (!Number.isFinite(sum)) return j;
      const mj = sum / m;
      mean[j] = mj;
      if (st.rows === 0) st.first[j] = x[0]!;
      const f = st.first[j]!;
      let same = st.constant[j] === 1;
      const o = j * m;
      for (let i = 0; i < m; i++) {
        const v = x[i]!;
        if (v !== f) same = false;
        z[o + i] = v - mj;
      }
      st.constant[j] = same ? 1 : 0;
    }
    const comoment = new Float64Array(d * d);
    comoments(z, d, m, comoment);
    st.rows += m;
    let item: { level: number; m: Moments } = { level: 0, m: { n: m, mean, comoment } };
    while (st.stack.length > 0 && st.stack[st.stack.length - 1]!.level === item.level) {
      const older = st.stack.pop()!;
      merge(older.m, item.m, d);
      item = { level: item.level + 1, m: older.m };
    }
    st.stack.push(item);
    return -1;
  }

  function fold(stack: readonly { m: Moments }[], d: number): Moments | null {
    if (stack.length === 0) return null;
    const last = stack[stack.length - 1]!.m;
    let acc: Moments = { n: last.n, mean: Float64Array.from(last.mean), comoment: Float64Array.from(last.comoment) };
    for (let s = stack.length - 2; s >= 0; s--) {
      const older = stack[s]!.m;
      const copy = { n: older.n, mean: Float64Array.from(older.mean), comoment: Float64Array.from(older.comoment) };
      merge(copy, acc, d);
      acc = copy;
    }
    return acc;
  }

  return { add, fold, merge };
}

const moments = momentCode();

/**
 * Accumulates the moments of the columns of a stream of row chunks, merging chunk moments pairwise.
 * It also notes which columns held one value only (exactly, as the column path does).
 */
export class MomentAccumulator {
  readonly d: number;
  /** Rows before this accumulator's first, for messages (a part of a longer stream). */
  private readonly rowBase: number;
  private readonly state: MomentState;
  /** States of earlier parts of the stream (`join`), oldest first. */
  private readonly before: MomentState[] = [];
  private centred = new Float64Array(0);

  /**
   * @param d columns per row (features, then the target)
   * @param rowBase rows of the stream before this accumulator's first (row numbers in messages)
   */
  constructor(d: number, rowBase = 0) {
    this.d = d;
    this.rowBase = rowBase;
    this.state = emptyMomentState(d);
  }

  get rows(): number {
    return this.before.reduce((n, s) => n + s.rows, 0) + this.state.rows;
  }

  /**
   * Adds rows [0, m) of `columns` (d arrays, each at least m long). `names` only words errors.
   */
  add(columns: readonly Float64Array[], m: number, names?: readonly string[]): void {
    if (m <= 0) return;
    if (this.centred.length < this.d * m) this.centred = new Float64Array(this.d * m);
    const bad = moments.add(this.state, columns, m, this.centred);
    if (bad !== -1) this.nonFinite(columns[bad]!, m, bad, names);
  }

  /**
   * Builds an accumulator from the states of consecutive parts of a stream, in stream order (their
   * moments are merged in that order, whatever computed them).
   */
  static of(d: number, parts: readonly MomentState[]): MomentAccumulator {
    const acc = new MomentAccumulator(d);
    acc.before.push(...parts.filter((s) => s.rows > 0));
    return acc;
  }

  /** This accumulator's own rows as plain data (for {@link MomentAccumulator.of}). */
  snapshot(): MomentState {
    return this.state;
  }

  /** The moments of every row added, and which columns were constant. */
  result(): { moments: Moments; constant: boolean[]; first: Float64Array } {
    const parts = [...this.before, this.state].filter((s) => s.rows > 0);
    if (parts.length === 0) throw new ElasticNetError('no rows: the statistics were given no data');
    const d = this.d;
    let acc: Moments | null = null;
    const first = parts[0]!.first;
    const constant = Array.from(parts[0]!.constant, (c) => c === 1);
    for (const part of parts) {
      const m = moments.fold(part.stack, d)!;
      if (acc === null) acc = m;
      else moments.merge(acc, m, d);
      for (let j = 0; j < d; j++) constant[j] = constant[j]! && part.constant[j] === 1 && part.first[j] === first[j];
    }
    return { moments: acc!, constant, first };
  }

  private nonFinite(x: Float64Array, m: number, j: number, names?: readonly string[]): never {
    const what = j === this.d - 1 && names?.[j] === undefined ? 'y' : `column "${names?.[j] ?? j}"`;
    const seen = this.rowBase + this.state.rows;
    for (let i = 0; i < m; i++) {
      if (!Number.isFinite(x[i]!)) {
        throw new ElasticNetError(`${what} must hold finite numbers, but row ${seen + i + 1} is ${x[i]}`);
      }
    }
    throw new ElasticNetError(
      `${what}: the sum of rows ${seen + 1}–${seen + m} overflows a float64; rescale the column`,
    );
  }
}

/** What the Gram path fits from: the statistics of p feature columns and a target. */
export interface GramStats {
  readonly rows: number;
  readonly p: number;
  /** Column means; a constant column's mean is its value. */
  readonly xMean: Float64Array;
  readonly yMean: number;
  /** (X − x̄)ᵀ(X − x̄), p × p, full; a constant column's row and column are 0. */
  readonly gram: Float64Array;
  /** (X − x̄)ᵀ(y − ȳ); 0 for a constant column. */
  readonly xty: Float64Array;
  /** ‖y − ȳ‖². */
  readonly yy: number;
  readonly constantColumns: readonly number[];
  readonly constantValues: readonly number[];
}

/**
 * The Gram statistics of an accumulator whose last column is the target.
 *
 * @example
 * const stats = gramStats(acc);
 */
export function gramStats(acc: MomentAccumulator): GramStats {
  const { moments, constant, first } = acc.result();
  const d = acc.d;
  const p = d - 1;
  const C = moments.comoment;
  const gram = new Float64Array(p * p);
  const xty = new Float64Array(p);
  const xMean = moments.mean.slice(0, p);
  const constantColumns: number[] = [];
  for (let j = 0; j < p; j++) {
    if (constant[j]) {
      // The merged mean of a constant column can be off by an ulp, leaving a tiny positive "variance":
      // as in the column path, the column is zero and its coefficient stays 0.
      constantColumns.push(j);
      xMean[j] = first[j]!;
      continue;
    }
    for (let k = j; k < p; k++) {
      if (constant[k]) continue;
      gram[j * p + k] = C[j * d + k]!;
      gram[k * p + j] = C[j * d + k]!;
    }
    xty[j] = constant[p] ? 0 : C[j * d + p]!;
  }
  return {
    rows: moments.n,
    p,
    xMean,
    yMean: constant[p] ? first[p]! : moments.mean[p]!,
    gram,
    xty,
    yy: constant[p] ? 0 : C[p * d + p]!,
    constantColumns,
    constantValues: constantColumns.map((j) => first[j]!),
  };
}

/** Rows per chunk when the statistics are taken from a matrix in memory. */
const MATRIX_CHUNK = 8192;

/**
 * The Gram statistics of a column-major matrix and target held in memory, a chunk of rows at a time
 * (as the streaming reader feeds them); for tests and the benchmark.
 *
 * @example
 * const fit = fitElasticNetGram(gramStatsOfMatrix(set.X, set.y), { alpha: 0.5 });
 */
export function gramStatsOfMatrix(X: ColumnMatrix, y: Float64Array, chunk = MATRIX_CHUNK): GramStats {
  const n = X.rows;
  const acc = new MomentAccumulator(X.cols + 1);
  for (let s = 0; s < n; s += chunk) {
    const e = Math.min(n, s + chunk);
    const cols = Array.from({ length: X.cols }, (_, j) => X.data.subarray(j * n + s, j * n + e));
    cols.push(y.subarray(s, e));
    acc.add(cols, e - s);
  }
  return gramStats(acc);
}

export interface GramFitOptions {
  /** @default 1.0 */
  readonly alpha?: number;
  /** @default 0.5 */
  readonly l1Ratio?: number;
  /** @default 1000 */
  readonly maxIter?: number;
  /** @default 1e-4 */
  readonly tol?: number;
  /** Feature names, used only to make warnings readable. */
  readonly featureNames?: readonly string[];
}

/**
 * ElasticNet by coordinate descent on the Gram matrix: the same objective, result and stopping rule
 * as `fitElasticNet` (see the module comment), from statistics instead of rows.
 *
 * @example
 * const fit = fitElasticNetGram(stats, { alpha: 0.1, l1Ratio: 0.5 });
 * fit.intercept; // ȳ − x̄·w
 */
export function fitElasticNetGram(stats: GramStats, options: GramFitOptions = {}): ElasticNetFit {
  const alpha = options.alpha ?? 1.0;
  const l1Ratio = options.l1Ratio ?? 0.5;
  const maxIter = options.maxIter ?? 1000;
  const tol = options.tol ?? 1e-4;
  const { rows: n, p, gram: Q, xty: q, yy } = stats;
  if (!(n >= 1 && p >= 1)) {
    throw new ElasticNetError(`X must have at least one row and one column, but ${n}×${p} was provided`);
  }
  const warnings: string[] = stats.constantColumns.map((j, k) => {
    const name = options.featureNames?.[j] ?? `column ${j}`;
    return `feature "${name}" is constant (every value is ${stats.constantValues[k]}); its coefficient is 0`;
  });
  if (alpha === 0) {
    warnings.push('alpha is 0: coordinate descent without regularisation may converge slowly or not at all');
  }
  // scikit-learn's n-scaled problem: ½wᵀQw − qᵀw + l1·‖w‖₁ + ½·l2·‖w‖².
  const l1 = alpha * l1Ratio * n;
  const l2 = alpha * (1 - l1Ratio) * n;
  const w = new Float64Array(p);
  const H = new Float64Array(p); // Q·w, kept up to date
  const gapTol = tol * yy;
  let gap = gapTol + 1;
  let converged = false;
  let epoch = 0;
  for (; epoch < maxIter; epoch++) {
    let wMax = 0;
    let dwMax = 0;
    for (let j = 0; j < p; j++) {
      const qjj = Q[j * p + j]!;
      if (qjj === 0) continue;
      const wOld = w[j]!;
      const row = j * p;
      if (wOld !== 0) for (let k = 0; k < p; k++) H[k] -= wOld * Q[row + k]!;
      const tmp = q[j]! - H[j]!;
      const shrunk = Math.abs(tmp) - l1;
      const wNew = shrunk > 0 ? (tmp > 0 ? shrunk : -shrunk) / (qjj + l2) : 0;
      w[j] = wNew;
      if (wNew !== 0) for (let k = 0; k < p; k++) H[k] += wNew * Q[row + k]!;
      const ad = Math.abs(wNew - wOld);
      if (ad > dwMax) dwMax = ad;
      const aw = Math.abs(wNew);
      if (aw > wMax) wMax = aw;
    }
    if (wMax === 0 || dwMax / wMax < tol || epoch === maxIter - 1) {
      gap = gramDualityGap(w, H, q, yy, l1, l2);
      // `<=` as in the column path: a constant target (gap 0, tolerance 0) counts as converged.
      if (gap <= gapTol) {
        converged = true;
        break;
      }
    }
  }
  if (!converged) {
    const why = `duality gap ${gap / n}, tolerance ${gapTol / n}`;
    warnings.push(`did not converge in ${maxIter} iterations (${why}); increase max_iter or tol`);
  }
  let xw = 0;
  for (let j = 0; j < p; j++) xw += stats.xMean[j]! * w[j]!;
  return {
    coef: w,
    intercept: stats.yMean - xw,
    // The Gram solver works on p × p statistics: no pass over the rows, no kernel to report.
    simd: false,
    iterations: converged ? epoch + 1 : maxIter,
    coordinatePasses: 0,
    parallelPasses: 0,
    converged,
    dualGap: gap / n,
    constantColumns: stats.constantColumns,
    xMean: stats.xMean,
    warnings,
  };
}

/**
 * scikit-learn's duality gap of the Gram problem, by the column path's formula: with R = y − ȳ − Xw
 * never formed, xⱼ·R = qⱼ − (Qw)ⱼ, ‖R‖² = ‖y‖² + wᵀQw − 2qᵀw and R·(y − ȳ) = ‖y‖² − qᵀw.
 */
function gramDualityGap(
  w: Float64Array,
  H: Float64Array,
  q: Float64Array,
  yy: number,
  l1: number,
  l2: number,
): number {
  const p = w.length;
  const dots = new Float64Array(p + 2);
  let qw = 0;
  let wH = 0;
  for (let j = 0; j < p; j++) {
    dots[j] = q[j]! - H[j]!;
    qw += w[j]! * q[j]!;
    wH += w[j]! * H[j]!;
  }
  dots[p] = yy + wH - 2 * qw;
  dots[p + 1] = yy - qw;
  return dualityGap(dots, p, w, l1, l2);
}
