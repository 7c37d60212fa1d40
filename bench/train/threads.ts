/**
 * Where the fit's worker threads start to pay: fit time on one thread against every core (at most 4)
 * on seeded synthetic data of growing size, fits alternating so that load from other processes falls
 * on both alike. The result is the same to the last bit either way (checked here too).
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

prewarmFitThreads(threads);
console.log(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}; ${threads} threads; median of ${runs}\n`);
console.log('| rows × 20 | 1 thread ms | ' + `${threads} threads ms | ratio | same bits |`);
console.log('|---:|---:|---:|---:|---|');
for (const rows of sizes) {
  const d = generateLinearData({ seed: 2026, rows, features: 20, noise: 1, correlation: 0.6 });
  const times: Record<number, number[]> = { 1: [], [threads]: [] };
  const coefs: Record<number, Float64Array> = {};
  for (let r = 0; r <= runs; r++) {
    for (const t of [1, threads]) {
      const start = performance.now();
      const fit = fitElasticNet(d.X, d.y, { alpha: 0.1, l1Ratio: 0.5, threads: t });
      if (r > 0) times[t]!.push(performance.now() - start); // the first is a warm-up
      coefs[t] = fit.coef;
    }
  }
  const same = coefs[1]!.every((c, j) => Object.is(c, coefs[threads]![j]));
  const a = median(times[1]!);
  const b = median(times[threads]!);
  console.log(`| ${rows.toLocaleString('en')} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)} | ${same} |`);
}
await stopFitThreads();
