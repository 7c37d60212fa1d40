/**
 * bench/pipelines: wall time of the training pipeline on the local platform (synthesized local
 * stage, real engines), from StartExecution to a terminal status, for the two sources of training
 * data: the raw dataset `winequality_red_raw`, and the feature service `wine_quality_v1` joined
 * point in time onto `wine_labels` (both 1,599 rows, seeded by start-up). Also the per-state times
 * of the last run of each, from the execution history.
 *
 *   npx tsx bench/pipelines/run.ts [--runs 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPlatform } from '../../lib/local/platform';
import type { HistoryEvent } from '../../lib/local/sfn/history';
import { runStartup } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';

const runsArg = process.argv.indexOf('--runs');
const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer, but ${process.argv[runsArg + 1]} was provided`);
  process.exit(2);
}

const common = { target: 'quality', hyperparameters: { alpha: 0.1, l1_ratio: 0.5 }, thresholds: { max_rmse: 0.8 } };
const inputs = {
  dataset: { ...common, dataset: 'winequality_red_raw', model_name: 'bench-dataset' },
  'feature service': {
    ...common,
    feature_service: 'wine_quality_v1',
    labels: 'wine_labels',
    model_name: 'bench-feature-service',
  },
};

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-bench-pipelines-'));
try {
  synthLocalStage(stateDir);
  const platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir) });
  try {
    await runStartup(platform);
    const machine = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'))!;
    console.log(`bench/pipelines: local training pipeline, ${runs} runs each, node ${process.version}\n`);
    console.log('| training data | median | min | max |\n|---|---:|---:|---:|');
    const states: Record<string, [string, number][]> = {};
    for (const [label, input] of Object.entries(inputs)) {
      const times: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        const { executionArn } = await platform.sfn.startExecution({
          stateMachineArn: machine.arn,
          input: JSON.stringify(input),
        });
        const d = await platform.sfn.waitForExecution(executionArn);
        times.push(performance.now() - t);
        if (d.status !== 'SUCCEEDED') throw new Error(`${label} run ${i + 1}: ${d.status} ${d.error} ${d.cause}`);
        if (i === runs - 1) states[label] = stateTimes(platform.sfn.getExecutionHistory({ executionArn }).events);
      }
      times.sort((a, b) => a - b);
      const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
      console.log(`| ${label} | ${s(times[Math.floor((runs - 1) / 2)]!)} | ${s(times[0]!)} | ${s(times.at(-1)!)} |`);
    }
    for (const [label, list] of Object.entries(states)) {
      console.log(`\nlast ${label} run, per state: ${list.map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`).join(', ')}`);
    }
  } finally {
    await platform.close();
  }
} finally {
  rmSync(stateDir, { recursive: true, force: true });
}

/** Entered → exited time of each state in a history. */
function stateTimes(events: readonly HistoryEvent[]): [string, number][] {
  const entered = new Map<string, number>();
  const out: [string, number][] = [];
  for (const e of events) {
    const at = Date.parse(e.timestamp);
    const enteredState = e['stateEnteredEventDetails'] as { name: string } | undefined;
    const exitedState = e['stateExitedEventDetails'] as { name: string } | undefined;
    if (enteredState) entered.set(enteredState.name, at);
    if (exitedState) {
      const name = exitedState.name;
      out.push([name, at - (entered.get(name) ?? at)]);
    }
  }
  return out;
}
