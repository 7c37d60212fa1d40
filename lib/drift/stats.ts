/**
 * scipy's two-sample statistics computed from value counts instead of samples, and Evidently's
 * drift tests built on them. From counts every one of these is exact: a sample's ECDF only steps
 * at its distinct values, so evaluating both ECDFs at the union of distinct values visits every
 * point scipy's sorted-sample code does (ties included), with the same floating-point operations
 * (`cumulative count / n`), so statistics agree to the last bit or within a few ulps of a sum.
 */
import { chi2Sf, kstwoSf, normalSf, roundHalfEven } from './special';
import type { ValueCounts } from './types';

export interface TestResult {
  readonly statistic: number;
  readonly pValue: number;
}

/** Non-null values in a column. */
export function total(counts: ValueCounts): number {
  let n = 0;
  for (const c of counts.counts) n += c;
  return n;
}

/**
 * Walks the union of two columns' distinct values in ascending order, handing each point's
 * cumulative counts (values ≤ the point) to `visit`.
 */
function walkUnion(
  a: ValueCounts,
  b: ValueCounts,
  visit: (value: number, cumA: number, cumB: number, countA: number, countB: number) => void,
): void {
  let i = 0;
  let j = 0;
  let cumA = 0;
  let cumB = 0;
  while (i < a.values.length || j < b.values.length) {
    const va = i < a.values.length ? a.values[i]! : Number.POSITIVE_INFINITY;
    const vb = j < b.values.length ? b.values[j]! : Number.POSITIVE_INFINITY;
    const v = Math.min(va, vb);
    let ca = 0;
    let cb = 0;
    if (va === v) ca = a.counts[i++]!;
    if (vb === v) cb = b.counts[j++]!;
    cumA += ca;
    cumB += cb;
    visit(v, cumA, cumB, ca, cb);
  }
}

/** Distinct values in either column. */
export function unionSize(a: ValueCounts, b: ValueCounts): number {
  let n = 0;
  walkUnion(a, b, () => n++);
  return n;
}

const MAX_AUTO_N = 10_000;

/** The two-sided KS statistic sup |F_a − F_b|, evaluated at every distinct value of either sample. */
export function ksStatistic(a: ValueCounts, b: ValueCounts): number {
  const n1 = total(a);
  const n2 = total(b);
  let maxS = Number.NEGATIVE_INFINITY;
  let minS = Number.POSITIVE_INFINITY;
  walkUnion(a, b, (_v, cumA, cumB) => {
    const diff = cumA / n1 - cumB / n2;
    if (diff > maxS) maxS = diff;
    if (diff < minS) minS = diff;
  });
  // scipy takes the larger of max(F_a − F_b) and max(F_b − F_a) clipped to [0, 1].
  const negative = Math.min(1, Math.max(0, -minS));
  return negative > maxS ? negative : maxS;
}

/**
 * `scipy.stats.ks_2samp(a, b)` (two-sided, method 'auto'): the exact p-value when both samples
 * have at most 10,000 values, else the asymptotic one (kstwo with n = round(mn/(m+n))), falling
 * back from exact to asymptotic when the exact computation leaves [0, 1], as scipy does. In exact
 * mode scipy reports the statistic rounded to a multiple of 1/lcm(m, n); so does this.
 */
export function ks2samp(a: ValueCounts, b: ValueCounts): TestResult & { readonly method: 'exact' | 'asymp' } {
  const n1 = total(a);
  const n2 = total(b);
  if (n1 === 0 || n2 === 0) throw new RangeError('ks2samp needs two non-empty samples');
  let d = ksStatistic(a, b);
  if (Math.max(n1, n2) <= MAX_AUTO_N) {
    const g = gcd(n1, n2);
    const lcm = (n1 / g) * n2;
    const h = roundHalfEven(d * lcm);
    d = h / lcm;
    if (h === 0) return { statistic: d, pValue: 1, method: 'exact' };
    const p = n1 === n2 ? probOutsideSquare(n1, h) : probOutsideInside(n1, n2, g, h);
    if (p >= 0 && p <= 1) return { statistic: d, pValue: p, method: 'exact' };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  const p = kstwoSf(d, roundHalfEven(en));
  return { statistic: d, pValue: Math.min(1, Math.max(0, p)), method: 'asymp' };
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * P(D_{n,n} ≥ h/n) for equal sample sizes: 2 Σ (−1)^(k+1) C(2n, n − kh) / C(2n, n), summed as a
 * Horner-like product of ratios so no binomial coefficient is formed.
 */
function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let ratio = 1;
    for (let j = 0; j < h; j++) ratio = ((n - k * h - j) * ratio) / (n + k * h + j + 1);
    p = ratio * (1 - p);
  }
  return 2 * p;
}

/**
 * P(D_{m,n} ≥ h/lcm) by Hodges' inside method on the lattice of paths from (0, 0) to (m, n),
 * carrying 1 − (share of paths strictly inside the band) column by column (Viehmann 2021), so
 * the answer is formed without dividing two huge path counts.
 */
function probOutsideInside(m0: number, n0: number, g: number, h: number): number {
  const [m, n] = m0 >= n0 ? [m0, n0] : [n0, m0];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  for (let j = minj; j < maxj; j++) A[j] = 0;
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, maxj - minj + (lastlen - curlen));
  }
  return A[maxj - minj - 1]!;
}

/** `scipy.stats.wasserstein_distance(a, b)`: ∫ |F_a − F_b| between the two empirical CDFs. */
export function wassersteinDistance(a: ValueCounts, b: ValueCounts): number {
  const n1 = total(a);
  const n2 = total(b);
  if (n1 === 0 || n2 === 0) throw new RangeError('wassersteinDistance needs two non-empty samples');
  let sum = 0;
  let previous: { value: number; gap: number } | null = null;
  walkUnion(a, b, (v, cumA, cumB) => {
    if (previous !== null) sum += previous.gap * (v - previous.value);
    previous = { value: v, gap: Math.abs(cumA / n1 - cumB / n2) };
  });
  return sum;
}

/** `scipy.stats.chisquare(observed, expected)`: Pearson's statistic and its chi² (k − 1) tail. */
export function chiSquare(observed: readonly number[], expected: readonly number[]): TestResult {
  if (observed.length !== expected.length || observed.length < 2) {
    throw new RangeError(`chiSquare needs two arrays of the same length ≥ 2, but ${observed.length} and ${expected.length} were provided`);
  }
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    const diff = observed[i]! - expected[i]!;
    statistic += (diff * diff) / expected[i]!;
  }
  return { statistic, pValue: chi2Sf(statistic, observed.length - 1) };
}

/**
 * `scipy.spatial.distance.jensenshannon(p, q, base)`: both vectors are normalised to sum to 1,
 * then √((KL(p‖m) + KL(q‖m)) / 2) with m their mean, natural log unless `base` is given.
 */
export function jensenShannon(p: readonly number[], q: readonly number[], base?: number): number {
  if (p.length !== q.length || p.length === 0) {
    throw new RangeError(`jensenShannon needs two arrays of the same non-zero length, but ${p.length} and ${q.length} were provided`);
  }
  const sp = p.reduce((s, x) => s + x, 0);
  const sq = q.reduce((s, x) => s + x, 0);
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    const mi = (pi + qi) / 2;
    left += relativeEntropy(pi, mi);
    right += relativeEntropy(qi, mi);
  }
  let js = left + right;
  if (base !== undefined) js /= Math.log(base);
  return Math.sqrt(js / 2);
}

// scipy.special.rel_entr
function relativeEntropy(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Number.POSITIVE_INFINITY;
}

// --- Evidently's tests -------------------------------------------------------------------------

/**
 * Evidently's chi-square drift test: for every value in either sample, the current count is
 * observed and the reference count scaled to the current size is expected. A value the reference
 * never had makes the statistic infinite and the p-value 0.
 */
export function chiSquareDrift(reference: ValueCounts, current: ValueCounts): TestResult {
  const scale = total(current) / total(reference);
  const observed: number[] = [];
  const expected: number[] = [];
  walkUnion(reference, current, (_v, _ca, _cb, ref, cur) => {
    observed.push(cur);
    expected.push(ref * scale);
  });
  return chiSquare(observed, expected);
}

/**
 * Evidently's Z-test of two proportions for a column with at most two values: the share of rows
 * not equal to the smallest value, pooled variance, two-sided normal p-value. Both samples being
 * one and the same value is no evidence of anything: p = 1.
 */
export function zTestDrift(reference: ValueCounts, current: ValueCounts): TestResult {
  if (
    reference.values.length === 1 &&
    current.values.length === 1 &&
    reference.values[0] === current.values[0]
  ) {
    return { statistic: 0, pValue: 1 };
  }
  const first = Math.min(reference.values[0] ?? Infinity, current.values[0] ?? Infinity);
  const n1 = total(reference);
  const n2 = total(current);
  const ones = (c: ValueCounts) => c.counts.reduce((s, count, i) => (c.values[i] === first ? s : s + count), 0);
  const p1 = ones(reference) / n1;
  const p2 = ones(current) / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  const z = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { statistic: z, pValue: 2 * normalSf(Math.abs(z)) };
}

/** Above this many distinct reference values Evidently bins a numeric column for Jensen–Shannon. */
export const JS_BINNING_MIN_UNIQUE = 20;

/**
 * Evidently's Jensen–Shannon drift distance. Categorical columns, and numeric ones with at most 20
 * distinct reference values, compare the shares of every value; other numeric columns compare
 * histograms over NumPy's Sturges bins of both samples together (`np.histogram_bin_edges(…,
 * 'sturges')`), all computed from counts.
 */
export function jensenShannonDrift(reference: ValueCounts, current: ValueCounts, numeric: boolean): number {
  const nRef = total(reference);
  const nCur = total(current);
  if (numeric && reference.values.length > JS_BINNING_MIN_UNIQUE) {
    const min = Math.min(reference.values[0]!, current.values[0] ?? Infinity);
    const max = Math.max(reference.values.at(-1)!, current.values.at(-1) ?? -Infinity);
    const edges = sturgesEdges(min, max, nRef + nCur);
    const p = binCounts(reference, edges).counts.map((c) => c / nRef);
    const q = binCounts(current, edges).counts.map((c) => c / nCur);
    return jensenShannon(p, q);
  }
  const p: number[] = [];
  const q: number[] = [];
  walkUnion(reference, current, (_v, _ca, _cb, ref, cur) => {
    p.push(ref / nRef);
    q.push(cur / nCur);
  });
  return jensenShannon(p, q);
}

/** `np.histogram_bin_edges(x, bins='sturges')` for data of `size` values spanning [min, max]. */
export function sturgesEdges(min: number, max: number, size: number): number[] {
  let first = min;
  let last = max;
  if (first === last) {
    first -= 0.5;
    last += 0.5;
  }
  const width = (max - min) / (Math.log2(size) + 1);
  const bins = width ? Math.ceil((last - first) / width) : 1;
  return linspace(first, last, bins + 1);
}

/** `np.linspace(start, stop, num)`: i·step + start, the last point exactly `stop`. */
export function linspace(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const delta = stop - start;
  const step = delta / div;
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(step === 0 ? ((i / div) * delta) + start : i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `np.histogram(x, edges)` from counts: value v falls in bin i when edges[i] ≤ v < edges[i+1], the
 * last bin closed; values outside are counted apart.
 */
export function binCounts(
  column: ValueCounts,
  edges: readonly number[],
): { counts: number[]; below: number; above: number } {
  const bins = edges.length - 1;
  const counts = new Array<number>(bins).fill(0);
  let below = 0;
  let above = 0;
  column.values.forEach((v, k) => {
    const c = column.counts[k]!;
    if (v < edges[0]!) below += c;
    else if (v > edges[bins]!) above += c;
    else {
      // The last edge ≤ v, by binary search; v equal to the final edge joins the last bin.
      let lo = 0;
      let hi = bins;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (edges[mid]! <= v) lo = mid;
        else hi = mid;
      }
      counts[lo] = counts[lo]! + c;
    }
  });
  return { counts, below, above };
}
