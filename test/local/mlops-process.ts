/**
 * The real `mlops` binary as a user runs it, in child processes: a command run to its end, and
 * `mlops up` kept running until the test stops it. The tests that go through the doors (smoke,
 * drift, release, the console) share these instead of each spawning and parsing on its own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';

const BIN = `${PROJECT_ROOT}bin/mlops.mjs`;

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node bin/mlops.mjs <args>` to its end; `children` collects the process for an afterAll kill. */
export function runCli(args: readonly string[], options: { env?: NodeJS.ProcessEnv; children?: ChildProcess[] } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: PROJECT_ROOT, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    options.children?.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface UpProcess {
  readonly child: ChildProcess;
  /** Everything printed so far, stdout then stderr. */
  output(): string;
  /** The URL the ready banner prints on the line labelled `label` (`gateway`, `AWS endpoint`, `S3`, `console`). */
  url(label: string): string | undefined;
  /** SIGINT, then SIGKILL if it has not exited within 15 s. */
  stop(): Promise<void>;
}

/**
 * `mlops up --port 0 --state-dir <stateDir> <args>`, resolved once its ready banner is printed;
 * rejected (and the process killed) if it exits first or prints no banner within `timeoutMs`.
 */
export function startUp(
  stateDir: string,
  args: readonly string[] = [],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<UpProcess> {
  const child = spawn(process.execPath, [BIN, 'up', '--port', '0', '--state-dir', stateDir, ...args], {
    cwd: PROJECT_ROOT,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const closed = new Promise((r) => child.once('close', r));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await closed;
    clearTimeout(timer);
  };
  const up: UpProcess = {
    child,
    output: () => `${stdout}${stderr}`,
    url: (label) => new RegExp(`^${label}\\s+(http://127\\.0\\.0\\.1:\\d+/?)`, 'm').exec(stdout)?.[1],
    stop,
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`mlops up printed no ready banner in time:\n${up.output()}`));
    }, options.timeoutMs ?? 300_000);
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/local platform ready[\s\S]*Ctrl-C/.test(stdout)) {
        clearTimeout(timer);
        resolve(up);
      }
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      reject(new Error(`mlops up exited (${code}) before its ready banner:\n${up.output()}`));
    });
  });
}
