/**
 * Many fits in one long-lived process, as a notebook, a test worker or an in-process platform makes
 * them: whether each fit ran the WebAssembly SIMD kernels (and why not), and what the process keeps.
 * Each round fits the red-wine data (1,599 × 11, one thread) and a seeded synthetic set (`--rows` × 20,
 * the default threads), each on a copy (the fit's reused scratch memory) and in place on a fresh
 * `fitMatrixArray` matrix, as `mlops train`'s reader allocates one (each such fit grows that matrix's
 * kernel memory by the residual and the target).
 *
 *   npx tsx bench/train/repeat.ts [--rounds 40] [--rows 100000]
 *   NODE_OPTIONS=--expose-gc npx tsx bench/train/repeat.ts   # collect the main heap every round
 *
 * Every kernel memory reserves 10 GiB of address space (4 GiB, the wasm32 maximum, plus V8's guard
 * regions), so the process's VmSize counts the kernel memories still held (by the main thread or a
 * worker); RSS counts their touched pages. The main thread's reader matrices are the caller's and go
 * when its heap is collected, which V8 does not hurry (shared memory does not count as heap pressure);
 * `--expose-gc` shows what is left once it is.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseCsv, toTrainingSet } from '../../lib/trainer/csv';
import { type ElasticNetFit, fitElasticNet } from '../../lib/trainer/elasticnet';
import { fitMatrixArray, stopFitThreads } from '../../lib/trainer/fit-threads';
import { generateLinearData } from '../../lib/trainer/synthetic';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const rounds = Number(flag('--rounds') ?? 40);
const rows = Number(flag('--rows') ?? 100_000);

const WINE = join(import.meta.dirname, '..', '..', 'lib', 'datasets', 'winequality-red.csv');
const wine = toTrainingSet([parseCsv(readFileSync(WINE, 'utf8'), { source: 'winequality-red.csv' })], 'quality');
const synthetic = generateLinearData({ seed: 2026, rows, features: 20, noise: 1, correlation: 0.6 });
const sets = [
  { name: 'wine', X: wine.X, y: wine.y, threads: 1 },
  { name: 'synthetic', X: synthetic.X, y: synthetic.y, threads: undefined },
];
const collect = (globalThis as { gc?: () => void }).gc;

function status(): string {
  const text = readFileSync('/proc/self/status', 'utf8');
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? NaN);
  return `VmSize ${(kib('VmSize') / 2 ** 20).toFixed(0)} GiB, RSS ${(kib('VmRSS') / 1024).toFixed(0)} MiB`;
}

console.log(
  `${rounds} rounds of 4 fits (wine, synthetic ${rows} × 20; each on a copy and in place); ` +
    `main heap collected each round: ${collect ? 'yes' : 'no'}; load average ${loadavg()[0]!.toFixed(1)}`,
);
const fallbacks = new Map<string, number>();
let first: { round: number; reason: string } | undefined;
for (let round = 1; round <= rounds; round++) {
  const fits: ElasticNetFit[] = [];
  for (const { X, y, threads } of sets) {
    fits.push(fitElasticNet(X, y, { alpha: 0.1, threads }));
    const matrix = fitMatrixArray(X.data.length, true);
    matrix.set(X.data);
    fits.push(fitElasticNet({ ...X, data: matrix }, y, { alpha: 0.1, threads, overwriteX: true }));
  }
  for (const f of fits) {
    if (f.simd) continue;
    const reason = f.simdFallback ?? 'no reason given';
    fallbacks.set(reason, (fallbacks.get(reason) ?? 0) + 1);
    first ??= { round, reason };
  }
  collect?.();
  if (round === 1 || round % 10 === 0 || round === rounds) {
    console.log(`round ${round}: ${fits.map((f) => (f.simd ? 'simd' : 'js')).join(' ')}; ${status()}`);
  }
}
const js = [...fallbacks.values()].reduce((a, b) => a + b, 0);
console.log(`fits on the JavaScript kernels: ${js} of ${4 * rounds}`);
if (first) console.log(`first in round ${first.round}: ${first.reason}`);
for (const [reason, count] of fallbacks) console.log(`  ${count} × ${reason}`);
await stopFitThreads();
