/**
 * The real door for fault tests: `node bin/mlops.mjs …` as child processes on a state dir of their
 * own, with the local stage synthesized once per file and copied into each state dir (a copy is
 * newer than every source, so `up` reuses it instead of synthesizing again).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, existsSync, type FSWatcher, mkdtempSync, readdirSync, readFileSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../../lib/constructs/mlops-function';
import { layout } from '../../../lib/local/layout';
import type { RuntimeInfo } from '../../../lib/local/platform';
import { assemblyDirOf, synthLocalStage } from '../../../lib/local/synth';

export const TRAINING_INPUT = { dataset: 'winequality_red_raw', target: 'quality', model_name: 'wine-quality' };

let synthesized: string | undefined;
const made: string[] = [];

/** A new empty directory under the OS temp dir, removed by {@link removeTempDirs}. */
export function tempDir(prefix = 'mlops-faults-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory {@link tempDir} made (the state dirs of a file's tests). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  synthesized = undefined;
}

/** A fresh state dir holding a copy of the local stage's assembly (synthesized on first use). */
export function freshStateDir(under?: string): string {
  if (!synthesized) {
    synthesized = tempDir('mlops-faults-synth-');
    synthLocalStage(synthesized);
  }
  const dir = under ?? tempDir();
  cpSync(assemblyDirOf(synthesized), assemblyDirOf(dir), { recursive: true });
  return dir;
}

export interface Cli {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
}

/** `node bin/mlops.mjs <args> --state-dir <stateDir>`, running. */
export function mlops(stateDir: string, ...args: string[]): Cli {
  const child = spawn(process.execPath, [`${PROJECT_ROOT}bin/mlops.mjs`, ...args, '--state-dir', stateDir], {
    cwd: PROJECT_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cli = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise<number | string>((resolve) =>
      child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)),
    ),
  };
  child.stdout!.on('data', (d: Buffer) => (cli.stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (cli.stderr += d.toString()));
  return cli;
}

/** Runs a command to its end. */
export async function mlopsRun(stateDir: string, ...args: string[]) {
  const cli = mlops(stateDir, ...args);
  const code = await cli.exited;
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 90_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Waits until `probe` returns a value other than undefined, trying it whenever something under
 * `dir` changes and every 50 ms besides (a missed event, or `dir` not made yet). A test that aims
 * a kill at the moment a file changes reacts to the write itself, where a tight poll would take
 * CPU from the very platform it watches.
 */
export async function waitForChange<T>(
  what: string,
  dir: string,
  probe: () => T | undefined,
  timeoutMs = 120_000,
): Promise<T> {
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<T>((resolve, reject) => {
      const end = Date.now() + timeoutMs;
      const attempt = () => {
        let v: T | undefined;
        try {
          v = probe();
        } catch (err) {
          reject(err as Error);
          return;
        }
        if (v !== undefined) resolve(v);
        else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}`));
      };
      const tick = () => {
        if (!watcher && existsSync(dir)) watcher = watch(dir, { recursive: true }, attempt);
        attempt();
      };
      timer = setInterval(tick, 50);
      tick();
    });
  } finally {
    clearInterval(timer);
    watcher?.close();
  }
}

/**
 * Waits until an execution of the state machine whose name contains `machine` has entered `state`
 * (or ended), read from the records `up` writes under the state dir the moment a state is entered.
 */
export function stateEntered(stateDir: string, machine: string, state: string, timeoutMs = 120_000): Promise<true> {
  const { executions } = layout(stateDir);
  return waitForChange(
    `"${state}" to be entered`,
    executions,
    () => {
      const dir = existsSync(executions) ? readdirSync(executions).find((m) => m.includes(machine)) : undefined;
      if (!dir) return undefined;
      for (const f of readdirSync(join(executions, dir))) {
        if (!f.endsWith('.json')) continue;
        const text = readFileSync(join(executions, dir, f), 'utf8');
        if (text.includes(`"name":"${state}"`)) return true;
      }
      return undefined;
    },
    timeoutMs,
  );
}

/** Waits for a running `up` to publish `runtime.json` and print its banner. */
export async function ready(stateDir: string, up: Cli, timeoutMs = 120_000): Promise<RuntimeInfo> {
  return waitFor(
    'mlops up to be ready',
    () => {
      if (up.child.exitCode !== null) throw new Error(`mlops up exited ${up.child.exitCode}:\n${up.stderr}`);
      const file = join(stateDir, 'runtime.json');
      if (!up.stdout.includes('local platform ready') || !existsSync(file)) return undefined;
      return JSON.parse(readFileSync(file, 'utf8')) as RuntimeInfo;
    },
    timeoutMs,
  );
}

/** Ends a running `up` with Ctrl-C's signal and waits for it. */
export async function stop(up: Cli): Promise<number | string> {
  if (up.child.exitCode === null && up.child.signalCode === null) up.child.kill('SIGINT');
  return up.exited;
}

/** MLflow REST through the platform's gateway. */
export async function mlflow(info: RuntimeInfo, path: string, body?: unknown) {
  const res = await fetch(`${info.gatewayUrl}/api/2.0/mlflow/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

/** One sentence on stderr: no stack frame of the CLI or its dependencies. */
export const hasStack = (text: string) => /^\s+at .+:\d+:\d+\)?$/m.test(text);
