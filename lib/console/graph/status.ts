/**
 * What happened to each state of an execution, read from its history (GetExecutionHistory):
 * entered, left, failed, caught, how long it took, its input, output and error. A state run more
 * than once (a Map's iterations, a retry loop) keeps its last run and counts the runs.
 */
import type { HistoryEvent } from '../api/sfn-types';

export type StateStatus = 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CAUGHT' | 'ABORTED' | 'NOT_RUN';

export interface StateRun {
  readonly name: string;
  status: StateStatus;
  /** Epoch seconds. */
  enteredAt: number;
  exitedAt?: number;
  /** Total seconds over every run. */
  seconds: number;
  runs: number;
  input?: string;
  output?: string;
  error?: string;
  cause?: string;
}

/** The execution-level end events and the status they leave unfinished states in. */
const EXECUTION_END: Record<string, StateStatus> = {
  ExecutionFailed: 'FAILED',
  ExecutionTimedOut: 'FAILED',
  ExecutionAborted: 'ABORTED',
};

const detailsOf = (e: HistoryEvent): Record<string, unknown> => {
  const key = Object.keys(e).find((k) => k.endsWith('EventDetails'));
  return (key ? e[key] : {}) as Record<string, unknown>;
};

/** Each state's run, by state name. `now` (epoch seconds) times a state still running. */
export function stateRuns(events: readonly HistoryEvent[], now = Date.now() / 1000): Map<string, StateRun> {
  const runs = new Map<string, StateRun>();
  // States entered and not yet left, most recent last: a failure event belongs to the last one.
  const open: StateRun[] = [];
  for (const e of [...events].sort((a, b) => a.id - b.id)) {
    const d = detailsOf(e);
    if (e.type.endsWith('StateEntered')) {
      const name = String(d['name']);
      const run = runs.get(name) ?? { name, status: 'RUNNING', enteredAt: e.timestamp, seconds: 0, runs: 0 };
      run.status = 'RUNNING';
      run.enteredAt = e.timestamp;
      run.exitedAt = undefined;
      run.runs++;
      run.input = typeof d['input'] === 'string' ? d['input'] : run.input;
      run.error = undefined;
      run.cause = undefined;
      runs.set(name, run);
      open.push(run);
      if (e.type === 'FailStateEntered') run.status = 'FAILED';
    } else if (e.type.endsWith('StateExited')) {
      const run = runs.get(String(d['name']));
      if (!run) continue;
      run.exitedAt = e.timestamp;
      run.seconds += Math.max(0, e.timestamp - run.enteredAt);
      run.output = typeof d['output'] === 'string' ? d['output'] : run.output;
      // A state that failed and still left went on through its Catch.
      run.status = run.status === 'FAILED' ? 'CAUGHT' : 'SUCCEEDED';
      open.splice(open.lastIndexOf(run), 1);
    } else if (EXECUTION_END[e.type]) {
      for (const run of open.splice(0)) {
        if (run.status === 'RUNNING' || run.status === 'FAILED') {
          run.status = run.status === 'FAILED' ? 'FAILED' : EXECUTION_END[e.type]!;
          run.exitedAt = e.timestamp;
          run.seconds += Math.max(0, e.timestamp - run.enteredAt);
          if (!run.error && typeof d['error'] === 'string') run.error = d['error'];
          if (!run.cause && typeof d['cause'] === 'string') run.cause = d['cause'];
        }
      }
    } else if (e.type === 'ExecutionSucceeded') {
      for (const run of open.splice(0)) {
        run.status = 'SUCCEEDED';
        run.exitedAt ??= e.timestamp;
      }
    } else if (/(Scheduled|Started)$/.test(e.type) && !/^(Execution|Map|Parallel)|Iteration/.test(e.type)) {
      // A retry after a failure: the state is running again.
      const run = open.at(-1);
      if (run?.status === 'FAILED') run.status = 'RUNNING';
    } else if (/(Failed|TimedOut)$/.test(e.type) && !/^Execution|Iteration/.test(e.type)) {
      const run = open.at(-1);
      if (run) {
        run.status = 'FAILED';
        if (typeof d['error'] === 'string') run.error = d['error'];
        if (typeof d['cause'] === 'string') run.cause = d['cause'];
      }
    }
  }
  for (const run of open) if (run.status === 'RUNNING') run.seconds += Math.max(0, now - run.enteredAt);
  return runs;
}
