/**
 * Where the column path's fit time goes at 200,000 × 20 (or `--rows`): the set-up passes, one epoch
 * of coordinate passes, the duality gap's pass, the barrier of a threaded pass, and the machine's
 * streaming bandwidth, from which the floor of an epoch (the matrix streamed once) follows.
 *
 *   npx tsx bench/train/profile.ts [--rows 200000] [--reps 15]
 *
 * Every figure is the minimum over `--reps` repetitions (on a loaded machine the least disturbed
 * one), wall time of the calling thread; the fit's epochs are counted from real fits with
 * scikit-learn's defaults (tol 1e-4) and tol 1e-8. On this data the duality gap is computed once per
 * fit, after the last epoch (the only one whose largest coefficient change fell below tol; counted
 * by instrumenting the fit on 2026-12-06), so a fit streams the matrix epochs + 1 times after the
 * set-up. The threaded passes run with the workers already started (`prewarmFitThreads`).
 */
import { availableParallelism, loadavg } from 'node:os';
import { fitElasticNet } from '../../lib/trainer/elasticnet';
import {
  BLOCK_ROWS,
  blockPasses,
  columnPasses,
  fitMatrixArray,
  prewarmFitThreads,
  stopFitThreads,
} from '../../lib/trainer/fit-threads';
import { generateLinearData } from '../../lib/trainer/synthetic';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const rows = Number(flag('--rows') ?? 200_000);
const reps = Number(flag('--reps') ?? 15);
const p = 20;
const threads = Math.min(4, availableParallelism());

/** The minimum wall time of `f` over `reps` runs, in ms. */
function best(f: () => void, times = reps): number {
  let min = Infinity;
  for (let r = 0; r < times; r++) {
    const t = performance.now();
    f();
    min = Math.min(min, performance.now() - t);
  }
  return min;
}

const d = generateLinearData({ seed: 2026, rows, features: p, noise: 1, correlation: 0.6 });
const n = rows;
const mb = (bytes: number) => bytes / 1e6;
const matrixBytes = n * p * 8;
prewarmFitThreads(threads);

// Epochs of real fits.
const counts = [1e-4, 1e-8].map((tol) => ({
  tol,
  epochs: fitElasticNet(d.X, d.y, { alpha: 0.1, l1Ratio: 0.5, tol, threads: 1 }).iterations,
}));

// Set-up: the copy into kernel memory, then per column the statistics and the centring.
const all = fitMatrixArray((p + 2) * n, true);
const x = all.subarray(0, p * n);
const copyMs = best(() => x.set(d.X.data));
const cols = columnPasses(x, true);
const statsMs = best(() => {
  for (let j = 0; j < p; j++) cols.stats(j * n, n);
});
x.set(d.X.data);
const means = Array.from({ length: p }, (_, j) => cols.stats(j * n, n).sum / n);
const centreOnce = () => {
  for (let j = 0; j < p; j++) cols.centre(j * n, means[j]!, n);
};
const centreMs = best(() => {
  x.set(d.X.data);
  centreOnce();
}) - copyMs;
x.set(d.X.data);
centreOnce();
const r = all.subarray(p * n, (p + 1) * n);
const y = all.subarray((p + 1) * n);
y.set(d.y);
r.set(d.y);

// One epoch of coordinate passes (a dot, then fused update + dot for each next column, the last
// update alone) and the gap's pass, on 1 and on `threads` threads.
const passes = (t: number) => {
  const pass = blockPasses({ x, r, y, yMean: 0 }, n, p, t);
  try {
    // As in a fit: the previous epoch's last update fused with this epoch's first dot.
    const epoch = () => {
      pass.updateDot(p - 1, 1e-9, 0);
      for (let j = 1; j < p; j++) pass.updateDot(j - 1, 1e-9, j);
    };
    const epochMs = best(epoch);
    const gapMs = best(() => pass.gapDots(p - 1, 1e-9));
    const dotMs = best(() => pass.dot(3), reps * 20);
    const updateDotMs = best(() => pass.updateDot(2, 1e-9, 3), reps * 20);
    return { epochMs, gapMs, dotMs, updateDotMs };
  } finally {
    pass.release();
  }
};
const one = passes(1);
const many = passes(threads);

// A barrier: two blocks of which the workers get one row, against the same pass on one thread.
const tiny = BLOCK_ROWS * threads - (BLOCK_ROWS - 1) * (threads - 1);
const tx = fitMatrixArray(3 * tiny, true);
const barrierUs = (() => {
  const data = { x: tx.subarray(0, tiny), r: tx.subarray(tiny, 2 * tiny), y: tx.subarray(2 * tiny), yMean: 0 };
  const a = blockPasses(data, tiny, 1, 1);
  const calls = 2000;
  const oneMs = best(() => {
    for (let k = 0; k < calls; k++) a.dot(0);
  });
  a.release();
  const b = blockPasses(data, tiny, 1, threads);
  const manyMs = best(() => {
    for (let k = 0; k < calls; k++) b.dot(0);
  });
  b.release();
  return ((manyMs - oneMs) / calls) * 1000;
})();

// Streaming bandwidth: dot over a column and a residual far larger than any cache (2 × 128 MB).
const big = 16 << 20;
const bx = fitMatrixArray(2 * big, true);
bx.fill(1);
const bandwidth = (t: number) => {
  const pass = blockPasses({ x: bx.subarray(0, big), r: bx.subarray(big), y: bx.subarray(big), yMean: 0 }, big, 1, t);
  const ms = best(() => pass.dot(0), 5);
  pass.release();
  return (2 * big * 8) / 1e6 / ms; // GB/s
};
const bw1 = bandwidth(1);
const bwMany = bandwidth(threads);
// The matrix itself, streamed by a dot of each column with one cached column (L3-resident or not).

const floor1 = mb(matrixBytes) / bw1;
const floorMany = mb(matrixBytes) / bwMany;
const coordinates = p;
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${n.toLocaleString('en')} × ${p}; min of ${reps}; wall ms of the caller`);
for (const c of counts) {
  // A barrier per coordinate, one for the duality gap's pass (checked once: at the last epoch, here),
  // one to attach the workers and one to release them.
  console.log(`tol ${c.tol}: ${c.epochs} epochs; a threaded fit's barriers: ${c.epochs * p + 3}`);
}
console.log('');
console.log(`| part | 1 thread | ${threads} threads |`);
console.log('|---|---:|---:|');
console.log(`| set-up: copy into kernel memory (${mb(matrixBytes).toFixed(0)} MB) | ${copyMs.toFixed(2)} | – |`);
console.log(`| set-up: column statistics (1 read) | ${statsMs.toFixed(2)} | – |`);
console.log(`| set-up: centring (1 read + 1 write) | ${centreMs.toFixed(2)} | – |`);
console.log(`| one epoch: ${coordinates} fused update + dot passes | ${one.epochMs.toFixed(2)} | ${many.epochMs.toFixed(2)} |`);
console.log(`| one dot pass (the same column again: in cache) | ${one.dotMs.toFixed(3)} | ${many.dotMs.toFixed(3)} |`);
console.log(`| one fused update + dot pass (in cache) | ${one.updateDotMs.toFixed(3)} | ${many.updateDotMs.toFixed(3)} |`);
console.log(`| duality gap pass (the last update, every column · R, R·R, R·y) | ${one.gapMs.toFixed(2)} | ${many.gapMs.toFixed(2)} |`);
console.log(`| barrier (one command to the workers and back), µs | – | ${barrierUs.toFixed(1)} |`);
console.log(`| streaming read bandwidth, GB/s (2 × 128 MB) | ${bw1.toFixed(1)} | ${bwMany.toFixed(1)} |`);
console.log(`| floor of an epoch: the matrix streamed once at that bandwidth | ${floor1.toFixed(2)} | ${floorMany.toFixed(2)} |`);
console.log(`| epoch / floor | ${(one.epochMs / floor1).toFixed(2)} | ${(many.epochMs / floorMany).toFixed(2)} |`);
await stopFitThreads();
