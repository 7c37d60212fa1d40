/**
 * Real `npx cdk synth` runs shared by the test files that assert on the same command: each one runs
 * ONCE per `vitest run`, as the README writes it, and every file that needs it reads that run.
 *
 * The README test (test/readme/readme.test.ts) runs every `npx cdk …` line of the README; the files
 * that assert more about the same synthesis (test/delivery/cdk-cli.test.ts on the delivery
 * pipeline's templates, test/infra/app.test.ts on the unknown environment's exit code) read the same
 * run instead of starting their own. The first worker to ask runs the command under a directory lock
 * in the run's shared directory (`inject('suiteDir')`, test/global-setup.ts); the others wait for its
 * result. A file that needs a different invocation (other flags or context, its own cache) keeps its
 * own. The README test fails when an entry of {@link SHARED_SYNTHS} is no longer a README command.
 *
 * @example
 * const r = await sharedSynth('delivery');
 * expect(r.code).toBe(0);
 * readFileSync(join(r.outdir, 'mlops-delivery.template.json'), 'utf8');
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';
import { writeFileAtomic } from '../lib/constructs/bundle-cache';
import { PROJECT_ROOT } from '../lib/constructs/bundling';

/** The shared runs: README commands, word for word. */
export const SHARED_SYNTHS = {
  /** The delivery pipeline and the stages it deploys (README "Delivery"). */
  delivery: 'npx cdk synth -c env=delivery',
  /** An unknown environment, refused (README "Deploy"). */
  unknownEnvironment: 'npx cdk synth -c env=qa',
} as const;

export type SharedSynth = keyof typeof SHARED_SYNTHS;

/** A finished command: how it was run and how it ended. */
export interface CliRun {
  readonly command: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A shared `npx cdk synth` run, with the directory its cloud assembly was written to. */
export interface SynthRun extends CliRun {
  readonly outdir: string;
}

/**
 * `npx cdk synth …` as the tests run it: the cloud assembly to `outdir` (a temporary directory,
 * never cdk.out in the worktree) and no template on stdout.
 */
export const quietSynth = (command: string, outdir: string): string => `${command} -q -o ${outdir}`;

/**
 * The environment of a command run as a user would run it, offline: no AWS credentials, profile or
 * instance metadata (credential and config files under `scratch`, which do not exist), no
 * environment settings from the shell (`MLOPS_<ENV>_*`, `CDK_DEFAULT_*`: placeholder accounts
 * apply), no CDK telemetry or notices, and a dead loopback proxy, so nothing leaves the machine.
 */
export function offlineEnv(scratch: string): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(AWS_|VITEST|CDK_DEFAULT_|MLOPS_(DELIVERY|STAGING|PRODUCTION)_)/.test(k) && k !== 'NODE_ENV',
    ),
  );
  return {
    ...env,
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-credentials'),
    AWS_CONFIG_FILE: join(scratch, 'no-config'),
    CDK_DISABLE_CLI_TELEMETRY: 'true',
    CI: 'true', // the CDK CLI fetches notices only on a terminal
    HTTP_PROXY: 'http://127.0.0.1:9',
    HTTPS_PROXY: 'http://127.0.0.1:9',
    http_proxy: 'http://127.0.0.1:9',
    https_proxy: 'http://127.0.0.1:9',
    NO_PROXY: '127.0.0.1,localhost',
    no_proxy: '127.0.0.1,localhost',
  };
}

/** Runs `command` with `/bin/sh -c` in the project root, in its own process group (SIGKILLed after `timeoutMs`). */
export function runShell(command: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { cwd: PROJECT_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ command, code: null, signal: null, stdout, stderr: `${stderr}${err.message}` });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ command, code, signal, stdout, stderr });
    });
  });
}

const TIMEOUT_MS = 900_000;

/**
 * The run's one `npx cdk synth` for `name` (see {@link SHARED_SYNTHS}): run by the first file that
 * asks, read by the others. Resolves when it has finished, whatever its exit code.
 */
export async function sharedSynth(name: SharedSynth): Promise<SynthRun> {
  const dir = join(inject('suiteDir'), 'cdk-synth', name);
  const result = join(dir, 'run.json');
  mkdirSync(join(dir, '..'), { recursive: true });
  let runner = false;
  try {
    mkdirSync(dir);
    runner = true;
  } catch {
    // Another file runs it.
  }
  if (runner) {
    const outdir = join(dir, 'cdk.out');
    const run = await runShell(quietSynth(SHARED_SYNTHS[name], outdir), offlineEnv(dir), TIMEOUT_MS);
    writeFileAtomic(result, JSON.stringify({ ...run, outdir }));
  }
  const end = Date.now() + TIMEOUT_MS + 60_000;
  while (!existsSync(result)) {
    if (Date.now() > end) throw new Error(`no result of the shared \`${SHARED_SYNTHS[name]}\` after ${TIMEOUT_MS / 1000} s (${dir})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return JSON.parse(readFileSync(result, 'utf8')) as SynthRun;
}
