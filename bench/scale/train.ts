/**
 * bench/scale, training: the local training pipeline (the same state machine as on AWS) from
 * StartExecution to SUCCEEDED over a generated wine-schema dataset of `--rows` rows (5,000,000 by
 * default), on the local platform's engines: DuckDB behind Athena (the split UNLOADs write Parquet
 * parts, one per 1,000,000 rows), the S3 server, the Lambda engine (its workers are threads of this
 * process), and the SageMaker engine running the kit's trainer as a child process.
 *
 * Prints, per state: wall time, and the peak RSS of this process while the state ran (sampled every
 * 100 ms: the Lambda steps and DuckDB run in it, so this is an upper bound for one step's memory,
 * not the step alone). For "Train model" it prints the trainer child's peak RSS, from
 * `/usr/bin/time -f %M` wrapped around the trainer's command. Also the parts staged and the rows.
 *
 * The data: each row is a row of the red-wine data set picked by a seeded PRNG (mulberry32) with
 * every feature scaled by a factor in [0.99, 1.01) rounded to `--decimals` (2: about the wine
 * data's own precision, so each feature keeps a few thousand distinct values); the quality stays the
 * integer it was. Same seed, same bytes. (The drift baseline counts every distinct value exactly:
 * with 6 decimals, 200,000 rows already took "Write baseline" to a 2.1 GiB peak.) Written as objects of 250,000 rows under the wine table's
 * prefix (the seeded wine CSV removed), so the dataset is `winequality_red_raw`.
 *
 *   npx tsx bench/scale/train.ts [--rows 5000000] [--seed 19] [--decimals 2]
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { WINE_CSV_PATH, WINE_RAW_PREFIX, WINE_RAW_TABLE } from '../../lib/datasets/wine';
import { startPlatform } from '../../lib/local/platform';
import { createLocalTrainingRunner } from '../../lib/local/sagemaker';
import { bundledTrainerCommand, ensureTrainerBundle } from '../../lib/local/sagemaker/trainer';
import { lakeBucket } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { mulberry32 } from '../../lib/trainer/synthetic';
import { stateSpans } from '../lib/harness';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '5000000' }, seed: { type: 'string', default: '19' }, decimals: { type: 'string', default: '2' } },
});
const rows = Number(values.rows);
const seed = Number(values.seed);
const scale = 10 ** Number(values.decimals);
for (const [name, v] of [['--rows', rows], ['--seed', seed]] as const) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`${name} must be a positive integer, but ${values[name.slice(2) as 'rows' | 'seed']} was provided`);
    process.exit(2);
  }
}
const OBJECT_ROWS = 250_000;
const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** The wine rows as numbers, and the header line as the raw CSV writes it. */
const [header, ...lines] = readFileSync(WINE_CSV_PATH, 'utf8').trim().split('\n');
const base = lines.map((l) => l.split(';').map(Number));

/** Object `o` of the generated dataset: rows [o·OBJECT_ROWS, …), from the PRNG's stream. */
function* objects(): Generator<string> {
  const next = mulberry32(seed);
  for (let start = 0; start < rows; start += OBJECT_ROWS) {
    const n = Math.min(OBJECT_ROWS, rows - start);
    const out: string[] = [header!];
    for (let i = 0; i < n; i++) {
      const row = base[Math.floor(next() * base.length)]!;
      const cells = row.map((v, j) => (j === row.length - 1 ? String(v) : String(Math.round(v * (0.99 + next() * 0.02) * scale) / scale)));
      out.push(cells.join(';'));
    }
    yield `${out.join('\n')}\n`;
  }
}

const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bench-scale-train-'));
try {
  synthLocalStage(stateDir);
  // The trainer as the SageMaker engine runs it, wrapped in /usr/bin/time for its peak RSS.
  const trainer = bundledTrainerCommand(await ensureTrainerBundle(stateDir));
  let trainerMaxRssKb: number | undefined;
  const platform = await startPlatform({
    stateDir,
    assemblyDir: assemblyDirOf(stateDir),
    trainingRunner: ({ store }) =>
      createLocalTrainingRunner({
        store,
        stateDir,
        trainerCommand: ['/usr/bin/time', '-f', 'BENCH_TRAINER_MAXRSS_KB=%M', ...trainer],
        requiredChannels: ['train'],
        log: (line) => {
          const m = /BENCH_TRAINER_MAXRSS_KB=(\d+)/.exec(line);
          if (m) trainerMaxRssKb = Number(m[1]);
        },
      }),
  });
  try {
    const raw = lakeBucket(platform, 'raw');
    // prepare: the generated dataset in place of the seeded wine CSV
    for (const o of (await platform.store.list(raw, { prefix: WINE_RAW_PREFIX })).contents) await platform.store.delete(raw, o.key);
    const g0 = performance.now();
    let bytes = 0;
    let o = 0;
    for (const body of objects()) {
      bytes += Buffer.byteLength(body);
      await platform.store.put(raw, `${WINE_RAW_PREFIX}generated-${String(o++).padStart(4, '0')}.csv`, body);
    }
    const generated = performance.now() - g0;
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;

    // act
    const samples: [number, number][] = [];
    const sample = () => samples.push([Date.now(), process.memoryUsage().rss]);
    sample();
    const sampler = setInterval(sample, 100);
    const t0 = performance.now();
    const { executionArn } = await platform.sfn.startExecution({
      stateMachineArn: machine.arn,
      input: JSON.stringify({
        dataset: WINE_RAW_TABLE,
        target: 'quality',
        model_name: 'bench-scale-train',
        hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
      }),
    });
    const d = await platform.sfn.waitForExecution(executionArn);
    const wall = performance.now() - t0;
    clearInterval(sampler);
    sample();
    if (d.status !== 'SUCCEEDED') throw new Error(`the training run ended ${d.status}: ${d.error} ${d.cause}`);
    const out = JSON.parse(d.output!);

    // assess: per state, from the execution's history
    const states = stateSpans(platform.sfn.getExecutionHistory({ executionArn, maxResults: 1000 }).events);
    const peakIn = (from: number, to: number) =>
      Math.max(...samples.filter(([t]) => t >= from - 100 && t <= to + 100).map(([, r]) => r));
    console.log(`bench/scale train: ${rows.toLocaleString('en')} rows (wine schema, seed ${seed}, ${values.decimals} decimals), local platform, node ${process.version}\n`);
    console.log(`generated ${o} objects, ${MB(bytes)} of CSV, in ${(generated / 1000).toFixed(1)} s\n`);
    console.log('| figure | value |\n|---|---:|');
    console.log(`| wall time, StartExecution → SUCCEEDED | ${(wall / 1000).toFixed(1)} s |`);
    console.log(`| rows staged (train + holdout) | ${out.staged.train_rows} + ${out.staged.holdout_rows} |`);
    console.log(`| Parquet parts staged (train, holdout) | ${out.staged.train_parts}, ${out.staged.holdout_parts} |`);
    console.log(`| holdout metrics (rmse, mae, r2) | ${out.evaluation.metrics.rmse.toFixed(4)}, ${out.evaluation.metrics.mae.toFixed(4)}, ${out.evaluation.metrics.r2.toFixed(4)} |`);
    console.log(`| platform process RSS before the run | ${MB(samples[0]![1])} |`);
    console.log(`| platform process peak RSS (getrusage maxRSS, whole life incl. data generation) | ${MB(process.resourceUsage().maxRSS * 1024)} |`);
    console.log(`| trainer child peak RSS (/usr/bin/time %M) | ${trainerMaxRssKb === undefined ? 'not reported' : MB(trainerMaxRssKb * 1024)} |`);
    console.log('\n| state | wall | platform process peak RSS while it ran |\n|---|---:|---:|');
    for (const s of states) console.log(`| ${s.name} | ${((s.to - s.from) / 1000).toFixed(2)} s | ${MB(peakIn(s.from, s.to))} |`);
  } finally {
    await platform.close();
  }
} finally {
  await rm(stateDir, { recursive: true, force: true });
}
