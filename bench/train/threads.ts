/**
 * Where the fit's worker threads start to pay, for each kernel set: fit time on one thread against
 * every core (at most 4) on seeded synthetic data of growing size, with the WebAssembly SIMD kernels
 * and with the JavaScript fallback, fits alternating so that load from other processes falls on all
 * alike. The result is the same to the last bit on every path (checked here too).
 *
 *   npx tsx bench/train/threads.ts [--runs 9] [--rows 16384,32768,65536,131072,200000]
 */
import { availableParallelism, loadavg } from 'node:os';
import { fitElasticNet } from '../../lib/trainer/elasticnet';
import { prewarmFitThreads, stopFitThreads } from '../../lib/trainer/fit-threads';
import { generateLinearData } from '../../lib/trainer/synthetic';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const runs = Number(flag('--runs') ?? 9);
const sizes = (flag('--rows') ?? '16384,32768,65536,131072,200000').split(',').map(Number);
const threads = Math.min(4, availableParallelism());
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const paths = [
  { name: 'simd 1', simd: true, threads: 1 },
  { name: `simd ${threads}`, simd: true, threads },
  { name: 'js 1', simd: false, threads: 1 },
  { name: `js ${threads}`, simd: false, threads },
];

prewarmFitThreads(threads);
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; median of ${runs}; ms wall (ms CPU of every thread)\n`);
console.log(`| rows × 20 | ${paths.map((p) => `${p.name} thr`).join(' | ')} | simd ${threads}/1 | js ${threads}/1 | same bits |`);
console.log(`|---:|${paths.map(() => '---:|').join('')}---:|---:|---|`);
for (const rows of sizes) {
  const d = generateLinearData({ seed: 2026, rows, features: 20, noise: 1, correlation: 0.6 });
  const wall = paths.map(() => [] as number[]);
  const cpu = paths.map(() => [] as number[]);
  const coefs: Float64Array[] = [];
  for (let r = 0; r <= runs; r++) {
    for (const [k, p] of paths.entries()) {
      const c0 = process.cpuUsage();
      const start = performance.now();
      const fit = fitElasticNet(d.X, d.y, { alpha: 0.1, l1Ratio: 0.5, threads: p.threads, simd: p.simd });
      const used = process.cpuUsage(c0);
      if (r > 0) {
        // the first is a warm-up
        wall[k]!.push(performance.now() - start);
        cpu[k]!.push((used.user + used.system) / 1000);
      }
      coefs[k] = fit.coef;
    }
  }
  const same = coefs.every((c) => c.every((v, j) => Object.is(v, coefs[0]![j])));
  const m = wall.map(median);
  const cells = m.map((w, k) => `${w.toFixed(1)} (${median(cpu[k]!).toFixed(1)})`);
  console.log(`| ${rows.toLocaleString('en')} | ${cells.join(' | ')} | ${(m[1]! / m[0]!).toFixed(2)} | ${(m[3]! / m[2]!).toFixed(2)} | ${same} |`);
}
await stopFitThreads();
