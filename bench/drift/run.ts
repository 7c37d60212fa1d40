/**
 * bench/drift: the drift machine on the local platform over a request log of 1,000,000 logged
 * predictions × 11 features (and 100,000, to show the memory stays flat while the rows grow ten
 * times): the log files are generated in the model server's own format and layout
 * (`RequestLogger` + `DirectorySink`, `predictions/wine-quality/v1/dt=…/`), then one execution of
 * the `drift` machine aggregates the window with the local Athena engine (DuckDB) and reports.
 * Prints the wall time of the execution and of its Athena state, and the platform process's peak
 * RSS (DuckDB runs inside it) while the execution ran. The rows are the red-wine dataset's, cycled,
 * with alcohol + 1 on every other row (a drifting window).
 *
 *   npx tsx bench/drift/run.ts [--rows 1000000]
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WINE_FEATURES } from '../../lib/datasets/wine';
import { layout } from '../../lib/local/layout';
import { startPlatform } from '../../lib/local/platform';
import { runStartup } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { DRIFT_STATES } from '../../lib/pipelines/drift-states';
import { DirectorySink, REQUEST_LOG_PREFIX, RequestLogger, requestLogDeploymentDir } from '../../lib/serving/request-log';
import { wineRows } from '../../test/fixtures/drift/generate';

const rowsArg = process.argv.indexOf('--rows');
const largest = rowsArg > 0 ? Number(process.argv[rowsArg + 1]) : 1_000_000;
if (!Number.isInteger(largest) || largest < 1000) {
  console.error(`--rows must be an integer of at least 1000, but ${process.argv[rowsArg + 1]} was provided`);
  process.exit(2);
}
const sizes = [Math.round(largest / 10), largest];

/** Writes `n` logged predictions in the hour after `from`, as the model server would. */
async function writeLog(dir: string, from: number, n: number): Promise<void> {
  const wine = wineRows();
  const alcohol = WINE_FEATURES.indexOf('alcohol');
  const f = WINE_FEATURES.length;
  const chunk = 100_000;
  for (let done = 0; done < n; done += chunk) {
    const logger = new RequestLogger({
      sink: new DirectorySink(join(dir, requestLogDeploymentDir('wine-quality'))),
      model: { name: 'wine-quality', version: '1', features: WINE_FEATURES },
      batchSize: 20_000,
      maxQueue: chunk,
    });
    for (let i = done; i < Math.min(n, done + chunk); i++) {
      const row = wine[i % wine.length]!;
      const x = Float64Array.from(row);
      if (i % 2 === 1) x[alcohol] = x[alcohol]! + 1;
      let y = 5;
      for (let j = 0; j < f; j++) y += x[j]! * 0.01;
      logger.push({ kind: 'prediction', ts: from + Math.floor((i / n) * 3_600_000), protocol: 'seldon', requestId: `r${i}`, rows: 1, x, y: Float64Array.of(Math.round(y * 1000) / 1000) });
    }
    await logger.close(600_000);
  }
}

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-bench-drift-'));
try {
  synthLocalStage(stateDir);
  const platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  try {
    await runStartup(platform); // trains and registers wine-quality v1 with its baseline
    const machine = platform.facts.stateMachine('drift');
    const raw = platform.facts.bucket('raw');
    const logDir = join(layout(stateDir).bucket(raw), REQUEST_LOG_PREFIX);
    console.log(`bench/drift: the drift machine on the local platform, ${WINE_FEATURES.length} features + prediction, node ${process.version}\n`);
    console.log('| logged predictions | log size | generate | drift execution | Athena state | RSS before → peak during execution |');
    console.log('|---:|---:|---:|---:|---:|---:|');
    for (const [i, n] of sizes.entries()) {
      // Each size in its own day, so each window reads only its own files.
      const from = Date.parse(`2026-11-0${i + 1}T10:00:00Z`);
      const t0 = performance.now();
      const before = sizeOf(logDir);
      await writeLog(logDir, from, n);
      const generated = performance.now() - t0;
      const bytes = sizeOf(logDir) - before;

      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const t1 = performance.now();
      const { executionArn } = await platform.sfn.startExecution({
        stateMachineArn: machine.arn,
        input: JSON.stringify({ model: 'wine-quality', start: new Date(from).toISOString(), end: new Date(from + 3_600_000).toISOString() }),
      });
      const d = await platform.sfn.waitForExecution(executionArn);
      const took = performance.now() - t1;
      clearInterval(sampler);
      if (d.status !== 'SUCCEEDED') throw new Error(`drift over ${n} rows: ${d.status} ${d.error} ${d.cause}`);
      const report = (JSON.parse(d.output!) as { report: { rows: number; drifted_features: string[] } }).report;
      if (report.rows !== n) throw new Error(`the report counts ${report.rows} rows, but ${n} were logged`);
      const athena = stateTime(platform.sfn.getExecutionHistory({ executionArn }).events, DRIFT_STATES.aggregate);
      const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
      console.log(
        `| ${n.toLocaleString('en')} | ${(bytes / 1e6).toFixed(0)} MB | ${s(generated)} | ${s(took)} | ${s(athena)} | ${(rssBefore / 1024 / 1024).toFixed(0)} → ${(peak / 1024 / 1024).toFixed(0)} MiB |`,
      );
      if (i === sizes.length - 1) console.log(`\ndrifted features in the ${n.toLocaleString('en')}-row window: ${report.drifted_features.join(', ') || 'none'}`);
    }
  } finally {
    await platform.close();
  }
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}

function sizeOf(dir: string): number {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .reduce((n, e) => n + statSync(join(e.parentPath, e.name)).size, 0);
  } catch {
    return 0;
  }
}

/** Entered → exited time of one state in a history. */
function stateTime(events: readonly { timestamp: string; [k: string]: unknown }[], name: string): number {
  let entered = 0;
  for (const e of events) {
    const en = e['stateEnteredEventDetails'] as { name: string } | undefined;
    const ex = e['stateExitedEventDetails'] as { name: string } | undefined;
    if (en?.name === name) entered = Date.parse(e.timestamp);
    if (ex?.name === name) return Date.parse(e.timestamp) - entered;
  }
  return NaN;
}
