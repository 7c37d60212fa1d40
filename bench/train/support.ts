/**
 * The trainer benchmarks' data set: `rows` rows of 20 correlated features and a linear target
 * (`lib/trainer/synthetic.ts`, seed 2026), as one CSV file and one Parquet file, generated once into
 * `$TMPDIR/mlops-bench-train-data/` and reused by later runs (delete that directory to regenerate);
 * and the measurement every trainer benchmark takes of a process.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateLinearData } from '../../lib/trainer/synthetic';

export const FEATURES = 20;
const REPO = join(import.meta.dirname, '..', '..');

/** Writes the data set as CSV in batches of lines, never as one string. */
function writeCsv(path: string, rows: number): void {
  const data = generateLinearData({ seed: 2026, rows, features: FEATURES, noise: 1, correlation: 0.6 });
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, `${[...data.featureNames, data.target].join(',')}\n`);
    const batch: string[] = [];
    const cells = new Array<string>(FEATURES + 1);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < FEATURES; j++) cells[j] = String(data.X.data[j * rows + i]);
      cells[FEATURES] = String(data.y[i]);
      batch.push(cells.join(','));
      if (batch.length === 10_000 || i === rows - 1) {
        writeSync(fd, `${batch.join('\n')}\n`);
        batch.length = 0;
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function csvToParquet(csv: string, parquet: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const columns = [...Array.from({ length: FEATURES }, (_, j) => `'x${j}': 'DOUBLE'`), `'y': 'DOUBLE'`];
  await c.run(
    `COPY (SELECT * FROM read_csv('${csv}', header = true, columns = {${columns.join(', ')}})) TO '${parquet}' (FORMAT parquet)`,
  );
  c.closeSync();
  db.closeSync();
}

/** The data set of `rows` rows as CSV and Parquet, generated once into the cache directory. */
export async function cachedData(rows: number): Promise<{ csv: string; parquet: string }> {
  const base = join(tmpdir(), 'mlops-bench-train-data', `seed2026-f${FEATURES}-${rows}`);
  const csv = join(base, 'csv', 'data.csv');
  const parquet = join(base, 'parquet', 'data.parquet');
  if (existsSync(csv) && existsSync(parquet)) return { csv, parquet };
  mkdirSync(join(base, 'csv'), { recursive: true });
  mkdirSync(join(base, 'parquet'), { recursive: true });
  const t = performance.now();
  // Written under temporary names and renamed, so an interrupted run leaves nothing that looks done.
  // A leading dot: the trainer skips such names, should one be left in a channel.
  const tmp = (path: string) => join(dirname(path), `.${basename(path)}.tmp`);
  writeCsv(tmp(csv), rows);
  await csvToParquet(tmp(csv), tmp(parquet));
  renameSync(tmp(csv), csv);
  renameSync(tmp(parquet), parquet);
  console.log(`generated ${rows.toLocaleString('en')} rows into ${base} in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  return { csv, parquet };
}

export interface Measured {
  seconds: number;
  rssMiB: number;
  /** User + system CPU seconds: less distorted by other processes than wall time. */
  cpu: number;
}

/** Runs a command under /usr/bin/time; throws with its stderr if it fails. */
export function measure(argv: string[], env: NodeJS.ProcessEnv): Measured {
  const timeFile = join(tmpdir(), `bench-train-time-${process.pid}`);
  try {
    execFileSync('/usr/bin/time', ['-f', '%e %M %U %S', '-o', timeFile, ...argv], {
      env,
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'pipe'],
      maxBuffer: 16 * 1024 * 1024,
    });
    const [s, kib, user, sys] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).slice(-4).map(Number);
    return { seconds: s!, rssMiB: kib! / 1024, cpu: user! + sys! };
  } finally {
    rmSync(timeFile, { force: true });
  }
}
