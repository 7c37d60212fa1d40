/**
 * Node's memory floor against issue 20's 200,000-row target (peak RSS ≤ 1.5 × the float64 matrix,
 * 1.5 × 32 MiB = 48 MiB): how much of that a Node process takes before the trainer does anything,
 * and how little a process that streams the same CSV can take, beside `mlops train` itself.
 *
 *   npx tsx bench/train/floor.ts [--rows 200000] [--runs 3]
 *
 * Rows, each under `/usr/bin/time` (peak RSS = the kernel's maxrss, which counts the pages of the
 * node binary the process touched), medians of the runs:
 * - `node -e 1`: the runtime alone;
 * - an empty ES module: the runtime and the ESM loader, as every `.mjs` entry pays;
 * - `reader`: the least a Node program can do with the channel: 40 lines that stream the CSV in
 *   1 MiB reads and sum the (p + 1)² cross products of its numbers, byte by byte, with no
 *   validation, no error messages, no fit and no model file. Not the trainer; a lower bound for it;
 * - the same reader with `--no-opt` (no optimizing compiler: its code pages are never touched);
 * - `mlops train` (`node bin/mlops.mjs train`) on its default path and on the Gram path.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedData, FEATURES, type Measured, measure } from './support';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}
const rows = Number(flag('--rows') ?? 200_000);
const runs = Number(flag('--runs') ?? 3);
if (!(Number.isInteger(rows) && rows > 0 && Number.isInteger(runs) && runs >= 1)) {
  throw new Error('--rows and --runs must be positive integers');
}

/** The lower-bound reader: one 1 MiB buffer, one (p + 1)² accumulator, no strings per cell. */
const READER = `import { openSync, readSync } from 'node:fs';
const fd = openSync(process.argv[2], 'r');
const buf = Buffer.allocUnsafe(1 << 20);
const p = ${FEATURES + 1};
const G = new Float64Array(p * p);
const row = new Float64Array(p);
let col = 0, mant = 0, frac = 0, exp = 0, expSign = 1, sign = 1, state = 0, header = true, n;
const cell = () => { row[col++] = sign * mant * 10 ** (expSign * exp - frac); mant = 0; frac = 0; exp = 0; expSign = 1; sign = 1; state = 0; };
while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) {
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (header) { header = c !== 10; continue; }
    if (c === 44) cell();
    else if (c === 10) {
      cell();
      for (let a = 0; a < p; a++) { const ra = row[a]; for (let b = a; b < p; b++) G[a * p + b] += ra * row[b]; }
      col = 0;
    } else if (c === 45) { if (state === 2) expSign = -1; else sign = -1; }
    else if (c === 46) state = 1;
    else if (c === 101 || c === 69) state = 2;
    else if (c >= 48 && c <= 57) {
      if (state === 2) exp = exp * 10 + (c - 48);
      else { mant = mant * 10 + (c - 48); if (state === 1) frac++; }
    }
  }
}
process.stdout.write(String(G[p * p - 1] / ${rows}));
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const dir = mkdtempSync(join(tmpdir(), 'bench-train-floor-'));
try {
  const { csv } = await cachedData(rows);
  const reader = join(dir, 'reader.mjs');
  const empty = join(dir, 'empty.mjs');
  writeFileSync(reader, READER);
  writeFileSync(empty, '');
  const node = process.execPath;
  const train = (precompute: string) => ({
    ...process.env,
    SM_CHANNEL_TRAIN: csv,
    SM_MODEL_DIR: join(dir, `model-${precompute}`),
    SM_OUTPUT_DIR: join(dir, `model-${precompute}`, 'output'),
    SM_HPS: JSON.stringify({ target: 'y', alpha: '0.1', l1_ratio: '0.5', precompute }),
  });
  const cases: [string, string[], NodeJS.ProcessEnv][] = [
    ['node -e 1', [node, '-e', '1'], process.env],
    ['an empty ES module', [node, empty], process.env],
    ['reader (stream + cross products, no validation)', [node, reader, csv], process.env],
    ['reader, --no-opt', [node, '--no-opt', reader, csv], process.env],
    ['mlops train, default path', [node, 'bin/mlops.mjs', 'train'], train('auto')],
    ['mlops train, Gram path (precompute=true)', [node, 'bin/mlops.mjs', 'train'], train('true')],
  ];
  // The CLI bundle is built on its first start; a user pays that once.
  measure([node, 'bin/mlops.mjs', 'train', '--help'], process.env);
  const results = cases.map(() => [] as Measured[]);
  for (let r = 0; r < runs; r++) cases.forEach(([, argv, env], k) => results[k]!.push(measure(argv, env)));
  const matrixMiB = (rows * (FEATURES + 1) * 8) / 2 ** 20;
  const target = 1.5 * matrixMiB;
  console.log(
    `\n${rows.toLocaleString('en')} × ${FEATURES} CSV, matrix ${matrixMiB.toFixed(1)} MiB, target peak RSS ≤ ${target.toFixed(1)} MiB; ` +
      `node ${process.version}, medians of ${runs}, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}\n`,
  );
  console.log('| process | peak RSS MiB | × matrix | wall s | CPU s |');
  console.log('|---|---:|---:|---:|---:|');
  cases.forEach(([name], k) => {
    const m = results[k]!;
    const rss = median(m.map((x) => x.rssMiB));
    console.log(
      `| ${name} | ${rss.toFixed(1)} | ${(rss / matrixMiB).toFixed(2)} | ${median(m.map((x) => x.seconds)).toFixed(2)} | ${median(m.map((x) => x.cpu)).toFixed(2)} |`,
    );
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
