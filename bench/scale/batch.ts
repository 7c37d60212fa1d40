/**
 * bench/scale, batch inference: the local stage's batch machine (a Distributed Map whose
 * ItemReader lists the input prefix) over 2,000 input objects, on the local platform's real
 * engines (S3, the Step Functions runner, the Lambda engine's workers, DuckDB for the UNLOAD).
 * Prints the wall time from StartExecution to SUCCEEDED, per-state times, the child executions,
 * and the process's peak RSS (the Lambda workers are threads of this process, so it covers them).
 *
 * Before the Distributed Map the same run stopped at Plan batch: an inline Map took at most 1,000
 * objects, their list travelling in the state payload.
 *
 *   npx tsx bench/scale/batch.ts [--objects 2000] [--rows 20]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPlatform } from '../../lib/local/platform';
import { lakeBucket } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { linearModel, modelArchive } from '../../test/pipelines/models';
import { stateSpans } from '../lib/harness';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '2000' }, rows: { type: 'string', default: '20' } } });
const objects = Number(values.objects);
const rows = Number(values.rows);
for (const [name, v] of [['--objects', objects], ['--rows', rows]] as const) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`${name} must be a positive integer, but ${v} was provided`);
    process.exit(2);
  }
}

const FEATURES = ['fixed_acidity', 'alcohol', 'ph'];
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bench-scale-batch-'));
try {
  synthLocalStage(stateDir);
  const platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  try {
    const raw = lakeBucket(platform, 'raw');
    const curated = lakeBucket(platform, 'curated');
    const artifacts = lakeBucket(platform, 'artifacts');
    // prepare: a linear model in the trainer's format (the pipeline tests' helper), and the input objects
    const model = linearModel(FEATURES, [0.1, 0.3, -0.2], 2, 'quality');
    await platform.store.put(artifacts, 'runs/bench-scale/model.tar.gz', await modelArchive(model));
    const body = (i: number) =>
      `"fixed acidity";"alcohol";"pH"\n${Array.from({ length: rows }, (_, r) => `${7 + (r % 5) / 10};${9 + (i % 7) / 10};3.${r % 9}`).join('\n')}\n`;
    for (let i = 0; i < objects; i++) {
      await platform.store.put(raw, `bench-scale/part-${String(i).padStart(5, '0')}.csv`, body(i));
    }
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('BatchInference'))!;
    const mapState = (machine.definition.States['Predict each object'] ?? {}) as Record<string, unknown>;
    const batcher = mapState['ItemBatcher'] as { MaxItemsPerBatch?: number } | undefined;

    // act
    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const t0 = performance.now();
    const { executionArn } = await platform.sfn.startExecution({
      stateMachineArn: machine.arn,
      input: JSON.stringify({
        model: { uri: `s3://${artifacts}/runs/bench-scale/model.tar.gz` },
        input: { prefix: `s3://${raw}/bench-scale/` },
        output: `s3://${curated}/predictions/bench-scale/`,
      }),
    });
    const d = await platform.sfn.waitForExecution(executionArn);
    const wall = performance.now() - t0;
    clearInterval(sampler);
    if (d.status !== 'SUCCEEDED') throw new Error(`the batch run ended ${d.status}: ${d.error} ${d.cause}`);

    // assess: every row predicted, read back from the Parquet output
    const out = JSON.parse(d.output!);
    const check = await platform.athena.startQueryExecution(
      {
        QueryString: `SELECT count(*) AS n, count(DISTINCT source) AS objects FROM read_parquet('${out.summary.output_location}*')`,
        WorkGroup: 'mlops-local',
      },
      { label: 'bench/scale batch check', dialect: 'duckdb' },
    );
    await platform.athena.waitForQuery(check.QueryExecutionId);
    const [, row] = (await platform.athena.getQueryResults({ QueryExecutionId: check.QueryExecutionId })).ResultSet.Rows;
    const [n, distinct] = row!.Data.map((c) => Number(c.VarCharValue));
    if (n !== objects * rows || distinct !== objects) {
      throw new Error(`expected ${objects * rows} rows from ${objects} objects, but the output holds ${n} rows from ${distinct}`);
    }

    const history = platform.sfn.getExecutionHistory({ executionArn, maxResults: 1000 }).events;
    const times = stateSpans(history).map((s): [string, number] => [s.name, s.to - s.from]);
    const children = batcher?.MaxItemsPerBatch ? Math.ceil(objects / batcher.MaxItemsPerBatch) : objects;
    console.log(`bench/scale batch: ${objects} input objects × ${rows} rows, local platform, node ${process.version}\n`);
    console.log('| figure | value |\n|---|---:|');
    console.log(`| wall time, StartExecution → SUCCEEDED | ${(wall / 1000).toFixed(2)} s |`);
    console.log(`| objects per second | ${(objects / (wall / 1000)).toFixed(0)} |`);
    console.log(`| child executions (ItemBatcher ${batcher?.MaxItemsPerBatch ?? 1}, MaxConcurrency ${String(mapState['MaxConcurrency'])}) | ${children} |`);
    console.log(`| rows predicted (read back from the Parquet output) | ${n} |`);
    console.log(`| peak RSS during the run (sampled every 100 ms; Lambda workers are threads) | ${mb(peakRss)} |`);
    console.log(`| peak RSS of the process (getrusage maxRSS) | ${mb(process.resourceUsage().maxRSS * 1024)} |`);
    console.log('\n| state | time |\n|---|---:|');
    for (const [name, ms] of times) console.log(`| ${name} | ${(ms / 1000).toFixed(2)} s |`);
  } finally {
    await platform.close();
  }
} finally {
  await rm(stateDir, { recursive: true, force: true });
}
