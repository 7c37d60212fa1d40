/**
 * Fit time of the kit's ElasticNet trainer against scikit-learn on the same machine, side by side.
 *
 *   npx tsx bench/train/run.ts [--runs 7] [--python /usr/bin/python3] [--sklearn-threads 1]
 *
 * Data sets: the red-wine data (1,599 × 11) and a seeded synthetic one (200,000 × 20, correlated
 * features) generated once into a temporary CSV. Both sides read the same CSV once, untimed, then
 * time `fit` only. Fits alternate, kit then scikit-learn (a Python process kept running and asked for
 * one fit at a time, `sklearn_fit.py`), so load from other processes on a shared machine falls on
 * both sides alike; after one warm-up fit each, the table shows the median of `--runs` fits (five
 * times as many on the wine data, where one fit takes about a millisecond).
 *
 * Like for like: both use scikit-learn's defaults tol = 1e-4 and max_iter = 1000 with the same
 * stopping rule, so they run the same number of epochs (shown); a tol = 1e-8 row shows the solver's
 * inner loop with less of the fixed set-up cost. Without python3 + scikit-learn the kit's figures
 * are printed alone.
 *
 * The kit is timed on each of its paths (the WebAssembly SIMD kernels or their JavaScript fallback,
 * on one thread or the default threads; all give the same bits, checked every run), and the CPU
 * time per fit of every thread on both sides is printed beside the wall time: on a loaded machine
 * it says more than the wall time, which waits for the other processes. `--sklearn-threads 1` caps
 * scikit-learn's BLAS threads (OPENBLAS/OMP/MKL_NUM_THREADS), whose idle spinning inflates its CPU time
 * under load, for a one-thread-against-one-thread CPU comparison ("simd 1 cpu").
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseCsv, toTrainingSet } from '../../lib/trainer/csv';
import { fitElasticNet } from '../../lib/trainer/elasticnet';
import { fitElasticNetGram, gramStatsOfMatrix } from '../../lib/trainer/gram';
import {
  defaultFitThreads,
  PARALLEL_FIT_MIN_ROWS,
  PARALLEL_SIMD_FIT_MIN_ROWS,
} from '../../lib/trainer/fit-threads';
import { generateLinearData, linearDataToCsv } from '../../lib/trainer/synthetic';

const REPO = join(import.meta.dirname, '..', '..');
const cores = defaultFitThreads(Number.MAX_SAFE_INTEGER);
/**
 * A pause before each side's fits: scikit-learn's OpenBLAS threads spin for ~0.1 s after a call
 * (THREAD_TIMEOUT 2^28 cycles) and would hold a core during the kit's fit that follows; a user's
 * `mlops train` runs alone.
 */
const SETTLE_MS = 150;
const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
const SKLEARN_SCRIPT = join(import.meta.dirname, 'sklearn_fit.py');

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const runs = Number(flag('--runs') ?? 7);
if (!(Number.isInteger(runs) && runs >= 1)) {
  throw new Error(`--runs must be an integer ≥ 1, but ${flag('--runs')} was provided`);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** The first python3 that imports sklearn (Debian's python3-sklearn lives in /usr/bin/python3). */
function findPython(): string | undefined {
  const candidates = [flag('--python'), process.env['MLOPS_BENCH_PYTHON'], 'python3', '/usr/bin/python3'];
  for (const c of candidates) {
    if (!c) continue;
    try {
      execFileSync(c, ['-c', 'import sklearn'], { stdio: 'ignore' });
      return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

interface SklearnFit {
  sklearn_version: string;
  ms: number;
  cpu_ms: number;
  n_iter: number;
  coef: number[];
  intercept: number;
}

/** A running `sklearn_fit.py` that fits once per request. */
async function startSklearn(python: string, args: string[]) {
  const blasThreads = flag('--sklearn-threads');
  const env = blasThreads
    ? { ...process.env, OPENBLAS_NUM_THREADS: blasThreads, OMP_NUM_THREADS: blasThreads, MKL_NUM_THREADS: blasThreads }
    : process.env;
  const child = spawn(python, [SKLEARN_SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'inherit'], env });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const next = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error('sklearn_fit.py exited early (its error is above)');
    return value as string;
  };
  const ready = await next();
  if (ready !== 'ready') throw new Error(`sklearn_fit.py said ${ready}`);
  return {
    fit: async (): Promise<SklearnFit> => {
      child.stdin.write('fit\n');
      return JSON.parse(await next()) as SklearnFit;
    },
    stop: () => child.stdin.end(),
  };
}

interface Case {
  name: string;
  /** Timed fits on each side. */
  runs: number;
  csv: string;
  sep: ',' | ';';
  target: string;
  alpha: number;
  l1Ratio: number;
  tol: number;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
try {
  const synthCsv = join(dir, 'synthetic-200000x20.csv');
  let t = performance.now();
  writeFileSync(
    synthCsv,
    linearDataToCsv(
      generateLinearData({ seed: 2026, rows: 200_000, features: 20, noise: 1, correlation: 0.6 }),
    ),
  );
  console.log(`generated ${synthCsv} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const wine = join(REPO, 'lib', 'datasets', 'winequality-red.csv');
  const wineRuns = runs * 5;
  const cases: Case[] = [
    {
      name: 'wine 1,599×11 α0.5 ρ0.5',
      runs: wineRuns,
      csv: wine,
      sep: ';',
      target: 'quality',
      alpha: 0.5,
      l1Ratio: 0.5,
      tol: 1e-4,
    },
    {
      name: 'wine 1,599×11 α0.01 ρ0.2',
      runs: wineRuns,
      csv: wine,
      sep: ';',
      target: 'quality',
      alpha: 0.01,
      l1Ratio: 0.2,
      tol: 1e-4,
    },
    {
      name: 'synthetic 200,000×20 α0.1 ρ0.5',
      runs,
      csv: synthCsv,
      sep: ',',
      target: 'y',
      alpha: 0.1,
      l1Ratio: 0.5,
      tol: 1e-4,
    },
    {
      name: 'synthetic 200,000×20 α0.1 ρ0.5 tol 1e-8',
      runs,
      csv: synthCsv,
      sep: ',',
      target: 'y',
      alpha: 0.1,
      l1Ratio: 0.5,
      tol: 1e-8,
    },
  ];
  const python = findPython();
  if (!python)
    console.log('scikit-learn not found (python3 -c "import sklearn" failed): sklearn columns skipped');

  const rows: string[][] = [];
  for (const c of cases) {
    t = performance.now();
    const set = toTrainingSet([parseCsv(readFileSync(c.csv, 'utf8'), { source: c.csv })], c.target);
    const parseMs = performance.now() - t;
    const options = { alpha: c.alpha, l1Ratio: c.l1Ratio, tol: c.tol, maxIter: 1000 };
    const sk = python
      ? await startSklearn(python, [
          c.csv,
          ...['--target', c.target, '--alpha', String(c.alpha), '--l1-ratio', String(c.l1Ratio)],
          ...['--tol', String(c.tol), '--max-iter', '1000', '--sep', c.sep],
        ])
      : undefined;
    try {
      t = performance.now();
      let fit = fitElasticNet(set.X, set.y, options); // warm-up, as on the scikit-learn side
      const coldMs = performance.now() - t;
      let skFit = await sk?.fit();
      // The kit's paths: the default (SIMD where available, the default threads), then each kernel
      // set on one thread and on the default threads; every one must give the default's bits.
      const paths = [
        { name: 'default', options },
        { name: 'simd 1', options: { ...options, threads: 1 } },
        { name: `simd ${cores}`, options: { ...options, threads: cores } },
        { name: 'js', options: { ...options, simd: false } },
        { name: 'js 1', options: { ...options, simd: false, threads: 1 } },
      ];
      for (const p of paths.slice(1)) fitElasticNet(set.X, set.y, p.options);
      const times = paths.map(() => [] as number[]);
      const kitCpu: number[] = [];
      const oneCpu: number[] = [];
      const skTimes: number[] = [];
      const skCpu: number[] = [];
      // The Gram path (lib/trainer/gram.ts): the statistics from the matrix in chunks, then the solver.
      const gramFit = () => fitElasticNetGram(gramStatsOfMatrix(set.X, set.y), options);
      let gram = gramFit();
      const gramTimes: number[] = [];
      for (let r = 0; r < c.runs; r++) {
        await settle();
        t = performance.now();
        gram = gramFit();
        gramTimes.push(performance.now() - t);
        for (const [k, p] of paths.entries()) {
          const cpu = process.cpuUsage();
          t = performance.now();
          const f = fitElasticNet(set.X, set.y, p.options);
          times[k]!.push(performance.now() - t);
          const used = process.cpuUsage(cpu);
          if (k < 2) (k === 0 ? kitCpu : oneCpu).push((used.user + used.system) / 1000);
          if (k === 0) {
            fit = f;
          } else if (!f.coef.every((v, j) => Object.is(v, fit.coef[j]))) {
            throw new Error(`${c.name}: the fit on path "${p.name}" differs from the default one`);
          }
        }
        if (sk) {
          await settle();
          skFit = await sk.fit();
          skTimes.push(skFit.ms);
          skCpu.push(skFit.cpu_ms);
        }
      }
      const kitMs = median(times[0]!);
      const skMs = skFit ? median(skTimes) : undefined;
      const coefDiff = skFit ? Math.max(...skFit.coef.map((v, j) => Math.abs(v - fit.coef[j]!))) : undefined;
      if (skFit && rows.length === 0) {
        console.log(`scikit-learn ${skFit.sklearn_version} via ${python}; Node ${process.version}`);
      }
      const ratio = (a: number, b: number | undefined) => (b === undefined ? '-' : (a / b).toFixed(2));
      const gramMs = median(gramTimes);
      const gramDiff = Math.max(...fit.coef.map((v, j) => Math.abs(v - gram.coef[j]!) / Math.max(...fit.coef.map(Math.abs))));
      rows.push([
        c.name,
        `${kitMs.toFixed(2)}${fit.simd ? '' : ' (js)'}`,
        `${fit.parallelPasses}/${fit.coordinatePasses}`,
        ...times.slice(1).map((ts) => median(ts).toFixed(2)),
        skMs === undefined ? 'skipped' : skMs.toFixed(2),
        ratio(kitMs, skMs),
        median(kitCpu).toFixed(1),
        median(oneCpu).toFixed(1),
        skFit ? median(skCpu).toFixed(1) : '-',
        ratio(median(kitCpu), skFit ? median(skCpu) : undefined),
        ratio(median(oneCpu), skFit ? median(skCpu) : undefined),
        `${fit.iterations}/${skFit ? skFit.n_iter : '-'}`,
        coefDiff === undefined ? '-' : coefDiff.toExponential(1),
        gramMs.toFixed(2),
        ratio(gramMs, skMs),
        `${gram.iterations}`,
        gramDiff.toExponential(1),
        coldMs.toFixed(1),
        parseMs.toFixed(0),
      ]);
    } finally {
      sk?.stop();
    }
  }
  const header = [
    'data set',
    'kit ms',
    'par. passes',
    'simd 1 thr',
    `simd ${cores} thr`,
    'js',
    'js 1 thr',
    'sklearn ms',
    'ratio',
    'kit cpu ms',
    'simd 1 cpu',
    'sk cpu ms',
    'cpu ratio',
    '1 thr cpu ratio',
    'epochs kit/sk',
    'max |Δcoef|',
    'gram ms',
    'gram/sk',
    'gram epochs',
    'gram Δ rel',
    'kit cold ms',
    'kit parse ms',
  ];
  const widths = header.map((h, k) => Math.max(h.length, ...rows.map((r) => r[k]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, k) => x.padEnd(widths[k]!)).join(' | ')} |`;
  console.log(
    `\nfit time, median of ${runs} alternating fits (wine: ${wineRuns}) after one warm-up fit each; ` +
      `ratio = kit / sklearn; max_iter 1000; scikit-learn BLAS threads ${flag('--sklearn-threads') ?? 'default'}; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(
    `\nkit ms: the default (WebAssembly SIMD kernels; at 200,000 rows each coordinate pass on one thread or ${defaultFitThreads(200_000)}, ` +
      'whichever the fit measured faster (par. passes: how many of the last default fit\'s passes ran on more than one); ' +
      `considered from ${PARALLEL_SIMD_FIT_MIN_ROWS.toLocaleString('en')} rows, ` +
      `the JavaScript fallback from ${PARALLEL_FIT_MIN_ROWS.toLocaleString('en')}); ` +
      `simd 1 thr, simd ${cores} thr, js, js 1 thr: the SIMD kernels on one thread and on ${cores} for every epoch, the JavaScript fallback by default and on one ` +
      `(each side's fits start ${SETTLE_MS} ms after the other's: scikit-learn's OpenBLAS threads spin ~0.1 s after a call; the kit's worker threads are started by the warm-up fit and kept, as \`mlops train\` starts them while it reads the data) ` +
      '(every path gives the same bits, checked each run); cpu: CPU time per fit of every thread of the process ' +
      '(the kit default path; scikit-learn with its BLAS threads), less distorted than wall time by other load; ' +
      'kit cold ms: the first fit in this process (V8 not yet warmed up); kit parse ms: CSV to columns, untimed on both sides; ' +
      'gram ms: the Gram path (precompute=true) from the same matrix, statistics (8,192-row chunks) + solver, one thread; ' +
      'gram Δ rel: max |coef − kit column-path coef| / max |coef|',
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
