/**
 * End to end, as a user runs each: process start → model written, and the process's peak RSS, for
 * `mlops train` (the SageMaker contract, `SM_*` variables) and for pandas `read_csv`/`read_parquet` +
 * scikit-learn `ElasticNet.fit` with its default threading, on the same generated data as CSV and as
 * Parquet, side by side in one run.
 *
 *   npx tsx bench/train/e2e.ts [--rows 200000,1000000,5000000] [--runs 3] [--python /usr/bin/python3]
 *                              [--gram-only-from 2000000]
 *
 * Each process runs under `/usr/bin/time -f '%e %M %U %S'` (wall seconds, peak RSS in KiB, CPU seconds). Runs alternate
 * between the commands so load from other processes falls on all alike; the table shows medians.
 * Two kit rows: `mlops train` as a user types it (`node bin/mlops.mjs train`, which runs the cached
 * bundle of the train commands, bin/fast-entry.mjs; built once before the timed runs) and the trainer
 * image's entry (`node train.mjs train`, the esbuild bundle the Dockerfile builds and `mlops up` runs).
 * The matrix is rows × (20 features + target) float64s. The load average is printed with the table:
 * the machine may be shared.
 * Without pyarrow (or fastparquet) pandas cannot read Parquet: that row says so.
 * The kit's rows run each solver path by its `precompute` hyperparameter: "false" holds the matrix
 * (the column path), "true" streams the rows into Gram statistics (`lib/trainer/stream.ts`). From
 * `--gram-only-from` rows on only the Gram path runs (the others would hold a matrix of 800 MB and more;
 * the 5,000,000-row target of issue 19 is the Gram path's peak RSS ≤ 512 MB).
 * The generated files are kept in `$TMPDIR/mlops-bench-train-data/` and reused by later runs (a
 * 5,000,000-row CSV is ~2 GB and takes minutes to write); delete that directory to regenerate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ensureTrainerBundle } from '../../lib/local/sagemaker';
import { cachedData, FEATURES, type Measured, measure } from './support';

const REPO = join(import.meta.dirname, '..', '..');
const HPS = { target: 'y', alpha: 0.1, l1_ratio: 0.5 };

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const runs = Number(flag('--runs') ?? 3);
const sizes = (flag('--rows') ?? '200000,1000000').split(',').map(Number);
const gramOnlyFrom = Number(flag('--gram-only-from') ?? 2_000_000);
if (!(Number.isInteger(runs) && runs >= 1) || !sizes.every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error('--runs must be an integer ≥ 1 and --rows a comma-separated list of row counts');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function pythonWith(module: string): string | undefined {
  for (const c of [flag('--python'), process.env['MLOPS_BENCH_PYTHON'], 'python3', '/usr/bin/python3']) {
    if (!c) continue;
    try {
      execFileSync(c, ['-c', `import ${module}`], { stdio: 'ignore' });
      return c;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

interface Runner {
  name: string;
  format: 'csv' | 'parquet';
  /** Runs at every size (else only below --gram-only-from). */
  gram?: boolean;
  run: (input: string, out: string) => Measured;
  coef: (out: string) => number[];
}

const dir = mkdtempSync(join(tmpdir(), 'bench-train-e2e-'));
try {
  const bundle = await ensureTrainerBundle(join(dir, 'state'));
  // The CLI's own bundle is built on its first start; a user pays that once, not per job.
  execFileSync(process.execPath, ['bin/mlops.mjs', 'train', '--help'], { cwd: REPO, stdio: 'ignore' });
  const loadBefore = loadavg();
  const sklearnPython = pythonWith('sklearn, pandas');
  const parquetPython = sklearnPython && pythonWith('pyarrow') ? sklearnPython : pythonWith('fastparquet');
  const kitEnv = (input: string, out: string, precompute = 'false') => ({
    ...process.env,
    SM_CHANNEL_TRAIN: input,
    SM_MODEL_DIR: out,
    SM_OUTPUT_DIR: join(out, 'output'),
    SM_HPS: JSON.stringify({ ...HPS, alpha: String(HPS.alpha), l1_ratio: String(HPS.l1_ratio), precompute }),
  });
  const kitCoef = (out: string) =>
    (JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')) as { coefficients: number[] }).coefficients;
  const skCoef = (out: string) => (JSON.parse(readFileSync(out, 'utf8')) as { coef: number[] }).coef;
  const runners: Runner[] = [];
  for (const format of ['csv', 'parquet'] as const) {
    runners.push(
      {
        name: `mlops train (node bin/mlops.mjs), column path, ${format}`,
        format,
        run: (input, out) => measure([process.execPath, 'bin/mlops.mjs', 'train'], kitEnv(input, out)),
        coef: kitCoef,
      },
      {
        name: `trainer image entry (node train.mjs), column path, ${format}`,
        format,
        run: (input, out) =>
          measure([process.execPath, bundle, 'train'], {
            ...kitEnv(input, out),
            NODE_PATH: join(REPO, 'node_modules'),
          }),
        coef: kitCoef,
      },
      {
        name: `mlops train, Gram path (precompute=true), ${format}`,
        format,
        gram: true,
        run: (input, out) => measure([process.execPath, 'bin/mlops.mjs', 'train'], kitEnv(input, out, 'true')),
        coef: kitCoef,
      },
    );
    const python = format === 'csv' ? sklearnPython : parquetPython;
    if (python) {
      runners.push({
        name: `pandas read_${format} + sklearn ElasticNet.fit, ${format}`,
        format,
        run: (input, out) =>
          measure(
            [
              python,
              join(import.meta.dirname, 'sklearn_e2e.py'),
              input,
              ...['--target', HPS.target, '--alpha', String(HPS.alpha), '--l1-ratio', String(HPS.l1_ratio)],
              ...['--out', out],
            ],
            process.env,
          ),
        coef: skCoef,
      });
    } else {
      console.log(
        format === 'csv'
          ? 'scikit-learn + pandas not found: the reference rows are skipped'
          : 'pandas cannot read Parquet here (neither pyarrow nor fastparquet imports): the pandas Parquet rows are skipped',
      );
    }
  }

  const table: string[][] = [];
  for (const rows of sizes) {
    const { csv, parquet } = await cachedData(rows);
    const csvDir = dirname(csv);
    const parquetDir = dirname(parquet);
    const matrixMiB = (rows * (FEATURES + 1) * 8) / 2 ** 20;
    const results = runners.map(() => [] as Measured[]);
    const coefs: number[][] = [];
    const active = (runner: Runner) => runner.gram === true || rows < gramOnlyFrom;
    for (let r = 0; r < runs; r++) {
      runners.forEach((runner, k) => {
        if (!active(runner)) return;
        const out = join(dir, `out-${rows}-${k}-${r}`);
        // The kit takes a channel (a file or a directory); pandas takes the file.
        const input = runner.name.startsWith('pandas')
          ? runner.format === 'csv'
            ? csv
            : parquet
          : runner.format === 'csv'
            ? csvDir
            : parquetDir;
        results[k]!.push(runner.run(input, runner.name.startsWith('pandas') ? `${out}.json` : out));
        if (r === 0) coefs[k] = runner.coef(runner.name.startsWith('pandas') ? `${out}.json` : out);
      });
    }
    const reference = (format: string) =>
      runners.findIndex((x) => x.format === format && x.name.startsWith('pandas'));
    runners.forEach((runner, k) => {
      if (!active(runner)) return;
      const s = median(results[k]!.map((m) => m.seconds));
      const rss = median(results[k]!.map((m) => m.rssMiB));
      const cpu = median(results[k]!.map((m) => m.cpu));
      let ref = reference(runner.format) === -1 ? reference('csv') : reference(runner.format);
      if (ref !== -1 && !active(runners[ref]!)) ref = -1;
      const refS = ref === -1 ? undefined : median(results[ref]!.map((m) => m.seconds));
      const refRss = ref === -1 ? undefined : median(results[ref]!.map((m) => m.rssMiB));
      const dCoef =
        ref === -1 ? undefined : Math.max(...coefs[k]!.map((v, j) => Math.abs(v - coefs[ref]![j]!)));
      table.push([
        `${rows.toLocaleString('en')} × ${FEATURES}`,
        runner.name,
        s.toFixed(2),
        refS === undefined ? '-' : (s / refS).toFixed(2),
        cpu.toFixed(2),
        rss.toFixed(0),
        refRss === undefined ? '-' : (rss / refRss).toFixed(2),
        (rss / matrixMiB).toFixed(2),
        dCoef === undefined ? '-' : dCoef.toExponential(1),
      ]);
    });
  }
  const header = ['data', 'command', 'wall s', '× pandas', 'CPU s', 'peak RSS MiB', '× pandas', '× matrix', 'max |Δcoef|'];
  const widths = header.map((h, k) => Math.max(h.length, ...table.map((r) => r[k]!.length)));
  const line = (cells: string[]) => `| ${cells.map((x, k) => x.padEnd(widths[k]!)).join(' | ')} |`;
  console.log(
    `\nend to end (process start → model written), median of ${runs} alternating runs; × pandas is against ` +
      'pandas + scikit-learn on the same format (on the CSV where pandas cannot read Parquet); ' +
      '× matrix is peak RSS over rows × 21 float64s; ' +
      `load average ${loadBefore.map((l) => l.toFixed(1)).join(' ')} before, ${loadavg().map((l) => l.toFixed(1)).join(' ')} after (${availableParallelism()} cores)\n`,
  );
  console.log(line(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of table) console.log(line(r));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
