import { afterAll, describe, expect, it } from 'vitest';
import { fitElasticNet } from '../../lib/trainer/elasticnet';
import {
  BLOCK_ROWS,
  blockPasses,
  columnPasses,
  fitMatrixArray,
  stopFitThreads,
} from '../../lib/trainer/fit-threads';
import { generateLinearData, mulberry32 } from '../../lib/trainer/synthetic';
import {
  kernelMemory,
  kernelMemoryOf,
  kernelModule,
  kernelModuleBytes,
  kernelRoom,
  MAX_PAGES,
} from '../../lib/trainer/wasm-kernels';
import { wineSet } from './helpers';

/**
 * Columns meant to break a kernel that is not exactly its twin: random, constant, zeros with −0,
 * huge (1e150: products near overflow), tiny (1e-160: products in the subnormals), mixed magnitudes
 * (cancellation), and a residual and target of ordinary size.
 */
function adversarial(n: number, seed: number): { columns: Float64Array[]; r: Float64Array; y: Float64Array } {
  const u = mulberry32(seed);
  const col = (f: (i: number) => number) => Float64Array.from({ length: n }, (_, i) => f(i));
  const columns = [
    col(() => u() * 2 - 1),
    col(() => 0.1),
    col((i) => (i % 3 === 0 ? -0 : 0)),
    col(() => (u() - 0.5) * 1e150),
    col(() => (u() - 0.5) * 1e-160),
    col((i) => (i % 2 ? 1e16 : -1e16) + u()),
    col((i) => (i % 7 === 0 ? 5e-324 : u() - 0.5)),
  ];
  return { columns, r: col(() => u() * 4 - 2), y: col(() => u() * 10) };
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  a.length === b.length && Array.from(a).every((v, i) => Object.is(v, b[i]));

/** The arrays of a pass in one kernel memory (the SIMD kernels run) or in shared buffers (JavaScript). */
function passArrays(columns: readonly Float64Array[], r: Float64Array, y: Float64Array, simd: boolean) {
  const n = r.length;
  const p = columns.length;
  const all = simd ? fitMatrixArray((p + 2) * n, true) : new Float64Array(new SharedArrayBuffer((p + 2) * n * 8));
  columns.forEach((c, j) => all.set(c, j * n));
  all.set(r, p * n);
  all.set(y, (p + 1) * n);
  return { x: all.subarray(0, p * n), r: all.subarray(p * n, (p + 1) * n), y: all.subarray((p + 1) * n) };
}

/** Every kind of pass, in a sequence that keeps R changing; returns each result and the final R. */
function script(columns: readonly Float64Array[], r: Float64Array, y: Float64Array, simd: boolean, threads: number) {
  const data = passArrays(columns, r, y, simd);
  const n = r.length;
  const p = columns.length;
  const pass = blockPasses({ ...data, yMean: 4.75 }, n, p, threads);
  const out: number[] = [];
  try {
    out.push(pass.dot(0));
    for (let j = 1; j < p; j++) out.push(pass.updateDot(j - 1, 0.37 * j - 1.1, j));
    pass.axpy(p - 1, -0.6);
    out.push(...pass.gapDots());
    out.push(pass.updateDot(3, 1e-140, 4), pass.updateDot(4, 1e150, 0));
  } finally {
    pass.release();
  }
  return { out, r: Float64Array.from(data.r), simd: pass.simd };
}

describe('fit kernels: WebAssembly SIMD against the JavaScript fallback', () => {
  afterAll(stopFitThreads);

  it('compiles the hand-encoded module here (else every SIMD case below would test the fallback twice)', () => {
    // act
    const bytes = kernelModuleBytes();
    // assess
    expect(Array.from(bytes.subarray(0, 4))).toEqual([0x00, 0x61, 0x73, 0x6d]);
    expect(kernelModule()).toBeDefined();
    expect(kernelMemoryOf(fitMatrixArray(8, false).buffer)).toBeDefined();
  });

  it.each([
    { rows: 3 * BLOCK_ROWS + 5, threads: [1, 2, 4] },
    { rows: BLOCK_ROWS + 1, threads: [1, 2] },
    { rows: 1, threads: [1] },
    { rows: 2, threads: [1] },
    { rows: 3, threads: [1] },
    { rows: 7, threads: [1] },
    { rows: 8, threads: [1] },
  ])('gives the same bits for every pass on adversarial columns, $rows rows, threads $threads', ({ rows, threads }) => {
    // prepare
    const { columns, r, y } = adversarial(rows, rows);
    // act
    const reference = script(columns, r, y, false, 1);
    const runs = threads.flatMap((t) => [true, false].map((asked) => ({ t, asked, ...script(columns, r, y, asked, t) })));
    // assess
    expect(reference.simd).toBe(false);
    for (const run of runs) {
      expect(run.simd, `threads ${run.t}`).toBe(run.asked);
      expect(same(run.out, reference.out), `results, simd ${run.simd}, threads ${run.t}`).toBe(true);
      expect(same(run.r, reference.r), `residual, simd ${run.simd}, threads ${run.t}`).toBe(true);
    }
    expect(runs.filter((x) => x.simd).length).toBe(threads.length);
    // The adversarial columns must matter: the huge column's product dominates a result.
    expect(reference.out.some((v) => Math.abs(v) > 1e140)).toBe(true);
  });

  it.each([true, false])('fuses an update and the next dot to the bits of an axpy then a dot (simd %s)', (simd) => {
    // prepare
    const rows = 2 * BLOCK_ROWS + 3;
    const { columns, r, y } = adversarial(rows, 11);
    const fused = passArrays(columns, r, y, simd);
    const apart = passArrays(columns, r, y, simd);
    const a = blockPasses({ ...fused, yMean: 1 }, rows, columns.length, 1);
    const b = blockPasses({ ...apart, yMean: 1 }, rows, columns.length, 1);
    // act
    const viaFused: number[] = [];
    const viaApart: number[] = [];
    for (let j = 1; j < columns.length; j++) {
      viaFused.push(a.updateDot(j - 1, 0.25 * j, j));
      b.axpy(j - 1, 0.25 * j);
      viaApart.push(b.dot(j));
    }
    // assess
    expect(a.simd).toBe(simd);
    expect(same(viaFused, viaApart)).toBe(true);
    expect(same(fused.r, apart.r)).toBe(true);
  });

  it.each([
    { simd: true, threads: 1 },
    { simd: true, threads: 2 },
    { simd: false, threads: 1 },
    { simd: false, threads: 2 },
  ])('fuses a pending update into the duality gap pass to the bits of an axpy then the gap pass ($simd, $threads threads)', ({ simd, threads }) => {
    // prepare
    const rows = 2 * BLOCK_ROWS + 3;
    const { columns, r, y } = adversarial(rows, 13);
    const fused = passArrays(columns, r, y, simd);
    const apart = passArrays(columns, r, y, simd);
    const a = blockPasses({ ...fused, yMean: 2 }, rows, columns.length, threads);
    const b = blockPasses({ ...apart, yMean: 2 }, rows, columns.length, 1);
    try {
      // act: the huge column's update, then the gap; then a tiny one
      const viaFused = [...a.gapDots(3, 1e-140), ...a.gapDots(4, -7.5)];
      b.axpy(3, 1e-140);
      const first = [...b.gapDots()];
      b.axpy(4, -7.5);
      const viaApart = [...first, ...b.gapDots()];
      // assess
      expect(a.simd).toBe(simd);
      expect(same(viaFused, viaApart)).toBe(true);
      expect(same(fused.r, apart.r)).toBe(true);
      expect(same(fused.r, r)).toBe(false); // the update did move R
    } finally {
      a.release();
      b.release();
    }
  });

  it('prepares columns (sums, constancy, centring) to the same bits with and without SIMD', () => {
    // prepare
    const rows = 1003;
    const { columns } = adversarial(rows, 5);
    const withNaN = Float64Array.from(columns[0]!);
    withNaN[500] = NaN;
    const withInf = Float64Array.from(columns[0]!);
    withInf[1002] = -Infinity;
    const all = [...columns, withNaN, withInf, Float64Array.of(-0, 0, -0), Float64Array.of(2)];
    for (const c of all) {
      const n = c.length;
      const wasm = fitMatrixArray(n, false);
      wasm.set(c);
      const js = Float64Array.from(c);
      // act
      const [a, b] = [columnPasses(wasm, true), columnPasses(js, false)];
      const [sa, sb] = [a.stats(0, n), b.stats(0, n)];
      // assess
      expect(sa).toEqual(sb);
      if (sa.nonFinite === -1) {
        expect(Object.is(a.centre(0, sa.sum / n, n), b.centre(0, sb.sum / n, n))).toBe(true);
        expect(same(wasm, js)).toBe(true);
      }
    }
    expect(columnPasses(Float64Array.from(withNaN), false).stats(0, rows).nonFinite).toBe(500);
    expect(columnPasses(Float64Array.from(withInf), false).stats(0, rows).nonFinite).toBe(1002);
    expect(columnPasses(Float64Array.from(columns[1]!), false).stats(0, rows).constant).toBe(true);
    expect(columnPasses(Float64Array.from(columns[0]!), false).stats(0, rows).constant).toBe(false);
  });
});

describe('fitElasticNet with the SIMD kernels and without', () => {
  afterAll(stopFitThreads);
  const rows = 3 * BLOCK_ROWS + 9;
  const data = generateLinearData({ seed: 21, rows, features: 7, noise: 1, correlation: 0.5 });
  // A constant column, a column of zeros, one of huge and one of tiny magnitude.
  const x = Float64Array.from(data.X.data);
  x.fill(-3.5, 1 * rows, 2 * rows);
  x.fill(0, 2 * rows, 3 * rows);
  for (let i = 0; i < rows; i++) {
    x[3 * rows + i] = x[3 * rows + i]! * 1e120;
    x[4 * rows + i] = x[4 * rows + i]! * 1e-120;
  }
  const X = { ...data.X, data: x };
  const bits = (fit: ReturnType<typeof fitElasticNet>) => ({
    coef: Array.from(fit.coef),
    intercept: fit.intercept,
    dualGap: fit.dualGap,
    iterations: fit.iterations,
    xMean: Array.from(fit.xMean),
  });

  it.each([
    { alpha: 0.05, l1Ratio: 0.5, tol: 1e-4, maxIter: 50 },
    { alpha: 0.001, l1Ratio: 0.9, tol: 1e-10, maxIter: 20 },
  ])('gives the same bits with and without SIMD on 1, 2 and 4 threads: %o', (options) => {
    // act
    const fits = [1, 2, 4].flatMap((threads) =>
      [true, false].map((simd) => fitElasticNet(X, data.y, { ...options, threads, simd })),
    );
    // assess
    const [first, ...rest] = fits;
    expect(first!.simd).toBe(true);
    expect(fits.map((f) => f.simd)).toEqual([true, false, true, false, true, false]);
    for (const f of rest) expect(bits(f)).toEqual(bits(first!));
    expect(first!.constantColumns).toEqual([1, 2]);
    expect(first!.iterations).toBeGreaterThan(1);
  });

  it('runs SIMD in place on a fitMatrixArray matrix with overwriteX, to the bits of a copy', () => {
    // prepare
    const inKernelMemory = fitMatrixArray(x.length, true);
    inKernelMemory.set(x);
    // act
    const copy = fitElasticNet(X, data.y, { alpha: 0.02, threads: 2, simd: false, maxIter: 30 });
    const inPlace = fitElasticNet({ ...X, data: inKernelMemory }, data.y, { alpha: 0.02, threads: 2, overwriteX: true, maxIter: 30 });
    // assess
    expect(inPlace.simd).toBe(true);
    expect(bits(inPlace)).toEqual(bits(copy));
    expect(inKernelMemory[rows + 3]).toBe(0); // the constant column, zeroed in place
    expect(inKernelMemory[5]).toBe(x[5]! - inPlace.xMean[0]!);
  });

  it('runs the JavaScript kernels in place with overwriteX on a matrix outside kernel memory (no copy)', () => {
    // prepare
    const plain = Float64Array.from(x);
    // act
    const fit = fitElasticNet({ ...X, data: plain }, data.y, { alpha: 0.02, threads: 1, overwriteX: true, maxIter: 5 });
    // assess
    expect(fit.simd).toBe(false);
    expect(plain[5]).toBe(x[5]! - fit.xMean[0]!);
  });
});

describe('many fits in one process', () => {
  afterAll(stopFitThreads);

  it('stay on the SIMD kernels, to the same bits, and an in-place matrix keeps its kernel memory', async () => {
    // prepare: the wine data and a threaded synthetic set, each fitted on a copy (the scratch memory)
    // and in place on a fitMatrixArray matrix (that matrix's memory grows by the residual and target)
    const wine = await wineSet();
    const rows = 2 * BLOCK_ROWS + 5;
    const synthetic = generateLinearData({ seed: 8, rows, features: 6, noise: 1, correlation: 0.4 });
    const sets = [
      { X: wine.X, y: wine.y, threads: 1 },
      { X: synthetic.X, y: synthetic.y, threads: 2 },
    ].map((s) => ({ ...s, matrix: fitMatrixArray(s.X.data.length, true) }));
    const options = { alpha: 0.05, maxIter: 8 };
    const runs: { simd: boolean; simdFallback?: string; coef: number[] }[][] = [];
    const memoryBytes: number[][] = [];
    // act
    for (let round = 0; round < 30; round++) {
      const fits = sets.flatMap(({ X, y, threads, matrix }) => {
        matrix.set(X.data);
        const inPlace = fitElasticNet({ ...X, data: matrix }, y, { ...options, threads, overwriteX: true });
        // a fresh matrix as a reader allocates one: another memory of the process grows under it
        const fresh = fitMatrixArray(X.data.length, true);
        fresh.set(X.data);
        const inFresh = fitElasticNet({ ...X, data: fresh }, y, { ...options, threads, overwriteX: true });
        const copy = fitElasticNet(X, y, { ...options, threads });
        return [inPlace, inFresh, copy];
      });
      runs.push(fits.map((f) => ({ simd: f.simd, simdFallback: f.simdFallback, coef: Array.from(f.coef) })));
      memoryBytes.push(sets.map((s) => kernelMemoryOf(s.matrix.buffer)!.buffer.byteLength));
    }
    // assess
    for (const [round, fits] of runs.entries()) {
      expect(fits.map((f) => f.simd), `round ${round}`).toEqual([true, true, true, true, true, true]);
      expect(fits.filter((f) => f.simdFallback !== undefined)).toEqual([]);
      expect(fits.map((f) => f.coef), `round ${round}`).toEqual(runs[0]!.map((f) => f.coef));
    }
    expect(memoryBytes[memoryBytes.length - 1]).toEqual(memoryBytes[0]);
    expect(runs[0]![3]!.coef.some((c) => c !== 0)).toBe(true);
  });

  it('says why a fit asked for SIMD ran the JavaScript kernels, and says nothing when it ran SIMD or was asked not to', () => {
    // prepare
    const data = generateLinearData({ seed: 3, rows: 300, features: 4 });
    const options = { alpha: 0.05, maxIter: 5 };
    // act
    const outside = fitElasticNet({ ...data.X, data: Float64Array.from(data.X.data) }, data.y, { ...options, overwriteX: true });
    const asked = fitElasticNet(data.X, data.y, { ...options, simd: false });
    const simd = fitElasticNet(data.X, data.y, options);
    // assess
    expect(outside.simd).toBe(false);
    expect(outside.simdFallback).toMatch(/outside kernel memory/);
    expect([asked.simd, asked.simdFallback]).toEqual([false, undefined]);
    expect([simd.simd, simd.simdFallback]).toEqual([true, undefined]);
  });

  it('fails to make room past 4 GiB in a kernel memory (the fit then runs the JavaScript kernels)', () => {
    // prepare
    const memory = kernelMemory(8)!;
    // act + assess
    expect(kernelRoom(memory, MAX_PAGES * 65_536)).toBeUndefined();
    expect(kernelRoom(memory, 16)).toBe(65_536);
    expect(kernelRoom(memory, 100_000)).toBe(65_536); // the same room, grown
    expect(memory.buffer.byteLength).toBe(65_536 * 3);
  });
});
