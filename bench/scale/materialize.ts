/**
 * bench/scale, materialization: the local stage's materialization machine over a large
 * `wine_features` batch table (`--rows` entities spread over `--days` dt= partitions), on the local
 * platform's real engines (DuckDB for the UNLOAD, the Step Functions runner's Distributed Map, the
 * Lambda engine's workers streaming the parts, dynalite as the online store). Then an incremental
 * run after `--new` more rows land in today's partition: only those are read.
 *
 * Prints rows/s of each run (wall, StartExecution → SUCCEEDED), per-state times, the parts and
 * workers, and the process's peak RSS (the Lambda workers are its threads, so it covers them).
 *
 * Before: one Lambda paged GetQueryResults 1,000 rows at a time within its 5 minutes, and every run
 * re-read the whole TTL window.
 *
 *   npx tsx bench/scale/materialize.ts [--rows 1000000] [--days 30] [--new 1000]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { WINE_FEATURE_NAMES } from '../../lib/features/wine';
import { layout } from '../../lib/local/layout';
import { startPlatform } from '../../lib/local/platform';
import { lakeBucket } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { stateSpans } from '../lib/harness';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    days: { type: 'string', default: '30' },
    new: { type: 'string', default: '1000' },
  },
});
const rows = Number(values.rows);
const days = Number(values.days);
const fresh = Number(values.new);
for (const [name, v] of [['--rows', rows], ['--days', days], ['--new', fresh]] as const) {
  if (!Number.isInteger(v) || v < 1) {
    console.error(`${name} must be a positive integer, but ${v} was provided`);
    process.exit(2);
  }
}
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Writes `n` wine rows (ids from `firstId`) as Parquet into the table's dt= partitions with DuckDB. */
async function writeRows(dir: string, firstId: number, n: number, spreadDays: number, name: string) {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const features = WINE_FEATURE_NAMES.map((f, i) => `CAST(((i * ${i + 7}) % 1000) / 100.0 AS FLOAT) AS ${f}`).join(', ');
    // Event times over the last `spreadDays` days, each row in its event day's partition; with one
    // day, all at now (after the previous run's window end).
    const now = `(now() AT TIME ZONE 'UTC')`;
    const at =
      spreadDays === 1 ? now : `${now} - INTERVAL 1 MINUTE - to_seconds(CAST(i % ${spreadDays} AS BIGINT) * 86400 + i % 3600)`;
    await conn.run(
      `COPY (SELECT CAST(i AS BIGINT) AS wine_id, ${features}, ${at} AS event_timestamp, ${at} AS created,
              strftime(${at}, '%Y-%m-%d') AS dt
             FROM range(${firstId}, ${firstId + n}) t(i))
       TO '${dir}' (FORMAT parquet, PARTITION_BY (dt), FILENAME_PATTERN '${name}_{i}', OVERWRITE_OR_IGNORE)`,
    );
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

const stateDir = await mkdtemp(join(tmpdir(), 'mlops-bench-scale-materialize-'));
try {
  synthLocalStage(stateDir);
  const platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  try {
    const table = join(layout(stateDir).bucket(lakeBucket(platform, 'curated')), 'features', 'wine_features');
    const machine = platform.facts.stateMachine('materialization');
    const spec = platform.sfn.machines.find((m) => m.arn === machine.arn)!;
    const inner = (spec.definition.States['Materialize each view'] as unknown as { ItemProcessor: { States: Record<string, Record<string, unknown>> } })
      .ItemProcessor.States['Write parts']!;

    await mkdir(table, { recursive: true });
    const t = performance.now();
    await writeRows(table, 1, rows, days, 'bench');
    const prepareS = (performance.now() - t) / 1000;

    let peakRss = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 100);
    const run = async (label: string) => {
      const t0 = performance.now();
      const { executionArn } = await platform.sfn.startExecution({ stateMachineArn: machine.arn, input: '{}' });
      const d = await platform.sfn.waitForExecution(executionArn);
      const wall = performance.now() - t0;
      if (d.status !== 'SUCCEEDED') throw new Error(`the ${label} run ended ${d.status}: ${d.error} ${d.cause}`);
      const view = JSON.parse(d.output!).views[0] as {
        rowsRead: number;
        written: number;
        parts: number;
        from: string;
        queryExecutionId: string;
      };
      const q = await platform.athena.getQueryExecution({ QueryExecutionId: view.queryExecutionId });
      const unloadMs = Number(q.QueryExecution.Statistics?.EngineExecutionTimeInMillis ?? Number.NaN);
      const history = platform.sfn.getExecutionHistory({ executionArn, maxResults: 1000 }).events;
      const times = stateSpans(history).map((s): [string, number] => [s.name, s.to - s.from]);
      return { label, wall, view, times, unloadMs };
    };

    const first = await run('first (TTL window)');
    await writeRows(table, rows + 1, fresh, 1, 'fresh');
    const second = await run(`incremental (${fresh} new rows)`);
    clearInterval(sampler);

    console.log(
      `bench/scale materialize: ${rows} rows over ${days} dt= partitions, then ${fresh} new; local platform, node ${process.version}\n`,
    );
    console.log(`prepare (DuckDB writes the Parquet partitions): ${prepareS.toFixed(1)} s\n`);
    console.log('| run | from | rows read | written | parts | UNLOAD (DuckDB) | wall | rows/s |\n|---|---|---:|---:|---:|---:|---:|---:|');
    for (const r of [first, second]) {
      console.log(
        `| ${r.label} | ${r.view.from} | ${r.view.rowsRead} | ${r.view.written} | ${r.view.parts} | ${(r.unloadMs / 1000).toFixed(2)} s | ${(r.wall / 1000).toFixed(2)} s | ${(r.view.rowsRead / (r.wall / 1000)).toFixed(0)} |`,
      );
    }
    console.log(
      `\nDistributed Map: ItemBatcher ${JSON.stringify((inner['ItemBatcher'] as { MaxItemsPerBatch?: number })?.MaxItemsPerBatch)} parts per worker, MaxConcurrency ${String(inner['MaxConcurrency'])}`,
    );
    console.log(`peak RSS during the runs (sampled every 100 ms; Lambda workers are threads): ${mb(peakRss)}`);
    console.log(`peak RSS of the process (getrusage maxRSS, includes the prepare step): ${mb(process.resourceUsage().maxRSS * 1024)}`);
    for (const r of [first, second]) {
      console.log(`\n${r.label}\n| state | time |\n|---|---:|`);
      for (const [name, ms] of r.times) console.log(`| ${name} | ${(ms / 1000).toFixed(2)} s |`);
    }
  } finally {
    await platform.close();
  }
} finally {
  await rm(stateDir, { recursive: true, force: true });
}
