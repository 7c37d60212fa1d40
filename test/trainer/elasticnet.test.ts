import { afterAll, describe, expect, it } from 'vitest';
import { ElasticNetError, elasticNetObjective, fitElasticNet } from '../../lib/trainer/elasticnet';
import {
  BLOCK_ROWS,
  adaptivePasses,
  fitMatrixArray,
  fitThreadsReady,
  PARALLEL_SIMD_FIT_MIN_ROWS,
  CLEAR_WIN,
  PROBE_EVERY,
  PROBE_PASSES,
  prewarmFitThreads,
  stopFitThreads,
} from '../../lib/trainer/fit-threads';
import { generateLinearData } from '../../lib/trainer/synthetic';
import { SYNTHETIC_FIXTURE } from '../fixtures/sklearn/synthetic-params';
import { kktViolation, loadFixture, predictAll, wineSet } from './helpers';

const TIGHT = { tol: 1e-12, maxIter: 1_000_000 } as const;

describe('fitElasticNet against scikit-learn (converged, tol 1e-12)', () => {
  const wineCases = [
    { file: 'wine-alpha0.5-l10.5.json', alpha: 0.5, l1Ratio: 0.5 },
    { file: 'wine-alpha0.01-l10.2.json', alpha: 0.01, l1Ratio: 0.2 },
    { file: 'wine-alpha0.1-l10.9.json', alpha: 0.1, l1Ratio: 0.9 },
  ];

  it.each(wineCases)('matches $file on every wine row within 1e-4', async ({ file, alpha, l1Ratio }) => {
    // prepare
    const set = await wineSet();
    const ref = await loadFixture(file);
    expect(ref.features).toEqual(set.featureNames);
    expect(ref.first_predictions).toHaveLength(set.X.rows);
    // act
    const fit = fitElasticNet(set.X, set.y, { alpha, l1Ratio, ...TIGHT });
    // assess
    expect(fit.converged).toBe(true);
    const pred = predictAll(set.X, fit.coef, fit.intercept);
    const worst = Math.max(...pred.map((p, i) => Math.abs(p - ref.first_predictions[i]!)));
    expect(worst).toBeLessThan(1e-4);
    // Zeros where scikit-learn has zeros: the L1 penalty's sparsity pattern is part of the answer.
    ref.coef.forEach((c, j) => {
      expect(fit.coef[j] === 0).toBe(c === 0);
    });
  });

  it('matches the synthetic 500 × 8 fixture, regenerated from its seed', async () => {
    // prepare
    const ref = await loadFixture(SYNTHETIC_FIXTURE.file);
    const data = generateLinearData(SYNTHETIC_FIXTURE.data);
    // The regenerated data must be the data scikit-learn saw, or the comparison means nothing. Not
    // bit-exact: pandas' own decimal parser (not Python's float()) can be off by an ulp or two.
    ref.first_rows.forEach((row, i) => {
      row.forEach((v, j) => {
        const mine = data.X.data[j * data.X.rows + i]!;
        expect(Math.abs(mine - v)).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v)));
      });
    });
    // act
    const fit = fitElasticNet(data.X, data.y, {
      alpha: SYNTHETIC_FIXTURE.alpha,
      l1Ratio: SYNTHETIC_FIXTURE.l1Ratio,
      ...TIGHT,
    });
    // assess
    const pred = predictAll(data.X, fit.coef, fit.intercept);
    expect(Math.max(...pred.map((p, i) => Math.abs(p - ref.first_predictions[i]!)))).toBeLessThan(1e-4);
    expect(Math.abs(fit.intercept - ref.intercept)).toBeLessThan(1e-4);
  });
});

describe('fitElasticNet optimality (independent of scikit-learn)', () => {
  it('satisfies the KKT conditions on wine data, and the check catches a perturbed solution', async () => {
    const set = await wineSet();
    const fit = fitElasticNet(set.X, set.y, { alpha: 0.1, l1Ratio: 0.5, ...TIGHT });
    expect(kktViolation(set.X, set.y, fit.coef, fit.intercept, 0.1, 0.5)).toBeLessThan(1e-7);
    // The same check on a slightly wrong answer must fail, or the assertion above proves nothing.
    const wrong = Float64Array.from(fit.coef);
    wrong[10] = wrong[10]! + 1e-3;
    expect(kktViolation(set.X, set.y, wrong, fit.intercept, 0.1, 0.5)).toBeGreaterThan(1e-5);
  });

  it('satisfies the KKT conditions on synthetic data with many settings', () => {
    const data = generateLinearData({ seed: 99, rows: 300, features: 12 });
    // Not l1_ratio 0: with no L1 term scikit-learn's duality gap (which the solver follows) does not
    // go to zero, so it never reports convergence; see the next test.
    for (const [alpha, l1Ratio] of [
      [1, 0.5],
      [0.3, 1],
      [0.05, 0.05],
      [2, 0.9],
    ] as const) {
      const fit = fitElasticNet(data.X, data.y, { alpha, l1Ratio, ...TIGHT });
      expect(fit.converged).toBe(true);
      expect(kktViolation(data.X, data.y, fit.coef, fit.intercept, alpha, l1Ratio)).toBeLessThan(1e-7);
    }
  });

  it('lowers the objective below nearby points', () => {
    const data = generateLinearData({ seed: 5, rows: 200, features: 5 });
    const fit = fitElasticNet(data.X, data.y, { alpha: 0.2, l1Ratio: 0.5, ...TIGHT });
    const best = elasticNetObjective(data.X, data.y, fit.coef, fit.intercept, 0.2, 0.5);
    for (let j = 0; j < 5; j++) {
      for (const step of [1e-4, -1e-4]) {
        const w = Float64Array.from(fit.coef);
        w[j] = w[j]! + step;
        expect(elasticNetObjective(data.X, data.y, w, fit.intercept, 0.2, 0.5)).toBeGreaterThan(best);
      }
    }
    expect(elasticNetObjective(data.X, data.y, fit.coef, fit.intercept + 1e-4, 0.2, 0.5)).toBeGreaterThan(
      best,
    );
  });

  it('gives all-zero coefficients when alpha exceeds alpha_max = max|xⱼᵀ(y − ȳ)| / (n·ρ)', () => {
    const data = generateLinearData({ seed: 3, rows: 100, features: 4 });
    const { rows: n, data: x } = data.X;
    const yMean = data.y.reduce((a, b) => a + b, 0) / n;
    let alphaMax = 0;
    for (let j = 0; j < 4; j++) {
      let m = 0;
      for (let i = 0; i < n; i++) m += x[j * n + i]!;
      m /= n;
      let s = 0;
      for (let i = 0; i < n; i++) s += (x[j * n + i]! - m) * (data.y[i]! - yMean);
      alphaMax = Math.max(alphaMax, Math.abs(s) / (n * 0.5));
    }
    const above = fitElasticNet(data.X, data.y, { alpha: alphaMax * 1.01, l1Ratio: 0.5 });
    expect(Array.from(above.coef)).toEqual([0, 0, 0, 0]);
    expect(above.intercept).toBeCloseTo(yMean, 12);
    const below = fitElasticNet(data.X, data.y, { alpha: alphaMax * 0.99, l1Ratio: 0.5 });
    expect(Array.from(below.coef).some((c) => c !== 0)).toBe(true);
  });
});

describe('fitElasticNet stopping rule', () => {
  it('stops early at the default tol and reports the duality gap below tol·‖y − ȳ‖²/n', async () => {
    const set = await wineSet();
    const fit = fitElasticNet(set.X, set.y, { alpha: 0.5, l1Ratio: 0.5 });
    const tight = fitElasticNet(set.X, set.y, { alpha: 0.5, l1Ratio: 0.5, ...TIGHT });
    expect(fit.converged).toBe(true);
    expect(fit.iterations).toBeLessThan(tight.iterations);
    const n = set.y.length;
    const mean = set.y.reduce((a, b) => a + b, 0) / n;
    const yNorm2 = set.y.reduce((a, v) => a + (v - mean) ** 2, 0);
    expect(fit.dualGap).toBeGreaterThanOrEqual(0);
    expect(fit.dualGap).toBeLessThan((1e-4 * yNorm2) / n);
  });

  it('never reports convergence for l1_ratio 0, as scikit-learn, but still reaches the ridge optimum', () => {
    const data = generateLinearData({ seed: 8, rows: 100, features: 3 });
    const fit = fitElasticNet(data.X, data.y, { alpha: 0.1, l1Ratio: 0, maxIter: 200 });
    expect(fit.converged).toBe(false);
    expect(kktViolation(data.X, data.y, fit.coef, fit.intercept, 0.1, 0)).toBeLessThan(1e-9);
  });

  it('reports non-convergence with a warning when max_iter runs out', async () => {
    const set = await wineSet();
    const fit = fitElasticNet(set.X, set.y, { alpha: 0.01, l1Ratio: 0.2, maxIter: 2, tol: 1e-12 });
    expect(fit.converged).toBe(false);
    expect(fit.iterations).toBe(2);
    expect(fit.dualGap).toBeGreaterThan(0);
    expect(fit.warnings.join('\n')).toMatch(/did not converge in 2 iterations/);
  });
});

describe('fitElasticNet inputs', () => {
  it('with overwriteX centres X in place and fits to the same bits as on a copy', async () => {
    const set = await wineSet();
    const original = new Float64Array(set.X.data);
    const copy = fitElasticNet(set.X, set.y, { alpha: 0.1, l1Ratio: 0.3 });
    expect(set.X.data).toEqual(original);
    const inPlace = fitElasticNet(set.X, set.y, { alpha: 0.1, l1Ratio: 0.3, overwriteX: true });
    expect(inPlace.coef).toEqual(copy.coef);
    expect(inPlace.intercept).toBe(copy.intercept);
    expect(inPlace.iterations).toBe(copy.iterations);
    const n = set.X.rows;
    for (let j = 0; j < set.X.cols; j++) {
      expect(set.X.data[j * n + 7]).toBe(original[j * n + 7]! - inPlace.xMean[j]!);
    }
  });

  it('gives a constant column a zero coefficient and a warning naming it', () => {
    const data = generateLinearData({ seed: 11, rows: 120, features: 3 });
    const x = Float64Array.from(data.X.data);
    // 0.1 is not exactly representable: its floating-point mean is not exactly 0.1 either.
    x.fill(0.1, 120, 240);
    const fit = fitElasticNet({ rows: 120, cols: 3, data: x }, data.y, {
      alpha: 0.01,
      l1Ratio: 0.5,
      featureNames: ['a', 'flat', 'c'],
    });
    expect(fit.coef[1]).toBe(0);
    expect(fit.constantColumns).toEqual([1]);
    expect(fit.warnings).toContain('feature "flat" is constant (every value is 0.1); its coefficient is 0');
    expect(Number.isFinite(fit.intercept)).toBe(true);
    expect(fit.coef[0]).not.toBe(0);
  });

  it('handles a constant target (all coefficients 0, intercept the constant)', () => {
    const data = generateLinearData({ seed: 2, rows: 50, features: 2 });
    const fit = fitElasticNet(data.X, new Float64Array(50).fill(4), { alpha: 0.1 });
    expect(Array.from(fit.coef)).toEqual([0, 0]);
    expect(fit.intercept).toBe(4);
    expect(fit.converged).toBe(true);
  });

  it.each([
    [{ alpha: -1 }, /alpha must be a finite number ≥ 0, but -1 was provided/],
    [{ l1Ratio: 1.5 }, /l1_ratio must be between 0 and 1, but 1.5 was provided/],
    [{ maxIter: 0 }, /max_iter must be an integer ≥ 1, but 0 was provided/],
    [{ tol: Number.NaN }, /tol must be a finite number ≥ 0, but NaN was provided/],
    [{ threads: 0 }, /threads must be an integer ≥ 1, but 0 was provided/],
  ])('fails if options are out of range: %o', (options, message) => {
    const data = generateLinearData({ seed: 1, rows: 10, features: 2 });
    expect(() => fitElasticNet(data.X, data.y, options)).toThrow(message);
  });

  it('fails if the shapes disagree or a value is not finite', () => {
    const X = { rows: 3, cols: 1, data: Float64Array.from([1, 2, 3]) };
    expect(() => fitElasticNet(X, Float64Array.from([1, 2]))).toThrow(ElasticNetError);
    expect(() => fitElasticNet(X, Float64Array.from([1, Number.NaN, 2]))).toThrow(
      /y must hold finite numbers/,
    );
    expect(() =>
      fitElasticNet({ rows: 3, cols: 1, data: Float64Array.from([1, Infinity, 3]) }, X.data),
    ).toThrow(/X must hold finite numbers, but row 1, column 0 is Infinity/);
  });
});

/** A fit's results that must not depend on the threads, compared exactly (toEqual tells 0 from −0). */
const bits = (fit: ReturnType<typeof fitElasticNet>) => ({
  coef: Array.from(fit.coef),
  intercept: fit.intercept,
  dualGap: fit.dualGap,
  iterations: fit.iterations,
  converged: fit.converged,
});

describe('fitElasticNet on worker threads', () => {
  afterAll(stopFitThreads);
  // Several blocks and a partial last one, so that the threads split the rows unevenly.
  const rows = 5 * BLOCK_ROWS + 7;
  const data = generateLinearData({ seed: 7, rows, features: 9, noise: 1, correlation: 0.5 });

  it.each([
    { alpha: 0.05, l1Ratio: 0.5, tol: 1e-4 },
    { alpha: 0.001, l1Ratio: 0.9, tol: 1e-10 },
    { alpha: 0.05, l1Ratio: 0.5, tol: 1e-12, maxIter: 3 },
  ])('gives the same bits on 1, 2, 3 and 4 threads: %o', (options) => {
    // act
    const [one, ...more] = [1, 2, 3, 4].map((threads) => bits(fitElasticNet(data.X, data.y, { ...options, threads })));
    // assess: toEqual tells 0 from -0 and compares doubles exactly
    for (const m of more) expect(m).toEqual(one);
    expect(one!.iterations).toBeGreaterThan(1);
  });

  it('centres a shared matrix in place on threads, to the same bits as a copy on one thread', () => {
    // prepare
    const shared = new Float64Array(new SharedArrayBuffer(data.X.data.length * 8));
    shared.set(data.X.data);
    // act
    const copy = fitElasticNet(data.X, data.y, { alpha: 0.01, threads: 1 });
    const inPlace = fitElasticNet({ ...data.X, data: shared }, data.y, { alpha: 0.01, threads: 2, overwriteX: true });
    // assess
    expect(bits(inPlace)).toEqual(bits(copy));
    expect(shared[rows + 3]).toBe(data.X.data[rows + 3]! - inPlace.xMean[1]!);
  });

  it('keeps a constant column at 0 on threads', () => {
    const x = Float64Array.from(data.X.data);
    x.fill(0.1, 2 * rows, 3 * rows);
    const [one, two] = [1, 2].map((threads) =>
      fitElasticNet({ ...data.X, data: x }, data.y, { alpha: 0.01, threads }),
    );
    expect(two!.coef[2]).toBe(0);
    expect(bits(two!)).toEqual(bits(one!));
  });
});

describe('fitElasticNet choosing its threads epoch by epoch', () => {
  afterAll(stopFitThreads);
  // Enough rows that a default fit considers a second thread.
  const rows = PARALLEL_SIMD_FIT_MIN_ROWS + 3 * BLOCK_ROWS + 5;
  const data = generateLinearData({ seed: 31, rows, features: 6, noise: 1, correlation: 0.6 });
  const waitForWorkers = async (threads: number) => {
    prewarmFitThreads(threads);
    for (let k = 0; k < 600 && !fitThreadsReady(threads); k++) await new Promise((r) => setTimeout(r, 50));
    expect(fitThreadsReady(threads)).toBe(true);
  };

  it.each([
    { alpha: 0.1, l1Ratio: 0.5, tol: 1e-4 },
    { alpha: 0.001, l1Ratio: 0.9, tol: 1e-10, maxIter: 40 },
  ])('gives the bits of one thread whatever it chooses, with cold and warm workers: %o', async (options) => {
    // prepare
    await stopFitThreads();
    const one = bits(fitElasticNet(data.X, data.y, { ...options, threads: 1 }));
    // act: a default fit while the workers are starting, then one with them running
    const cold = fitElasticNet(data.X, data.y, options);
    await waitForWorkers(2);
    const warm = fitElasticNet(data.X, data.y, options);
    // assess
    expect(bits(cold)).toEqual(one);
    expect(bits(warm)).toEqual(one);
    expect(warm.parallelPasses, 'the first passes run on the started workers').toBeGreaterThanOrEqual(PROBE_PASSES);
    expect(warm.coordinatePasses).toBeGreaterThan(PROBE_EVERY);
    expect(fitElasticNet(data.X, data.y, { ...options, threads: 1 }).parallelPasses).toBe(0);
    expect(fitElasticNet(data.X, data.y, { ...options, threads: 2 }).parallelPasses).toBe(warm.coordinatePasses);
  });

  it('runs the faster of one thread and two, and probes the other every PROBE_EVERY passes', async () => {
    // prepare
    await waitForWorkers(2);
    const n = 2 * BLOCK_ROWS;
    const all = fitMatrixArray(3 * n, true);
    const arrays = { x: all.subarray(0, n), r: all.subarray(n, 2 * n), y: all.subarray(2 * n), yMean: 0 };
    const ms = { one: 5, many: 4 };
    // A clock that makes each pass take the chosen side's time.
    let now = 0;
    let ticks = 0;
    const clock = () => (ticks++ % 2 === 0 ? now : (now += pass.threads === 2 ? ms.many : ms.one));
    const pass = adaptivePasses(arrays, n, 1, 2, true, clock, true);
    const choices: string[] = [];
    try {
      // act: two threads a little faster, then slower from the 60th pass, then far faster from the 120th
      for (let k = 1; k <= 300; k++) {
        if (k === 60) ms.many = 9;
        if (k === 120) ms.many = 2;
        pass.updateDot(0, 1e-3, 0);
        choices.push(pass.threads === 2 ? 'M' : '1');
      }
    } finally {
      pass.release();
    }
    // assess: 5 timed on two threads (the first pass, waking the workers, is not a sample), 5 on one,
    // then the faster (the median of its latest 5), the other probed for 5 after every 40, or every
    // 120 after a clear win
    expect([PROBE_PASSES, PROBE_EVERY, CLEAR_WIN]).toEqual([5, 40, 2 / 3]);
    const runs = (...r: [string, number][]) => r.map(([c, k]) => c.repeat(k)).join('');
    const expected = runs(
      ['M', 6], ['1', 5], ['M', 29], // 4 ms against 5: not a clear win, so one thread is probed after 40
      ['1', 5], ['M', 17], // 9 ms from the 60th pass: the median of the latest 5 turns at the third
      ['1', 103], // 9 against 5 is a clear win for one thread: the next probe after 120 passes
      ['M', 125], // the probe at the 166th pass finds 2 ms (from the 120th): two threads, a clear win
      ['1', 5], ['M', 5], // the probe of one thread after 120 more
    );
    expect(choices.join('')).toBe(expected);
    expect(pass.counts).toEqual({ passes: 300, parallel: choices.filter((c) => c === 'M').length });
  });

  it('runs every pass on the workers without probing one thread when the machine has a core for each', async () => {
    // prepare
    await waitForWorkers(2);
    const n = 2 * BLOCK_ROWS;
    const all = fitMatrixArray(3 * n, true);
    const arrays = { x: all.subarray(0, n), r: all.subarray(n, 2 * n), y: all.subarray(2 * n), yMean: 0 };
    let now = 0;
    let ticks = 0;
    // one thread far faster: a probing fit would move to it after its first 5 passes on two
    const clock = () => (ticks++ % 2 === 0 ? now : (now += pass.threads === 2 ? 9 : 1));
    const pass = adaptivePasses(arrays, n, 1, 2, true, clock, false);
    const sides: number[] = [];
    try {
      // act
      for (let k = 0; k < 200; k++) {
        pass.updateDot(0, 1e-3, 0);
        sides.push(pass.threads);
      }
    } finally {
      pass.release();
    }
    // assess
    expect(new Set(sides)).toEqual(new Set([2]));
    expect(pass.counts).toEqual({ passes: 200, parallel: 200 });
  });
});
