/**
 * `mlops up` (= `npm start`): synthesize the local stage, start every engine from it, run the
 * start-up pipelines, print where everything is, and keep serving until Ctrl-C.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readRuntimeInfo, startPlatform } from '../local/platform';
import { createLocalTrainingRunner } from '../local/sagemaker';
import { runStartup } from '../local/startup';
import { assemblyIsStale } from '../local/session';
import { assemblyDirOf, synthLocalStage } from '../local/synth';
import { installProcessGuard } from './process-guard';
import { CliError, EXIT } from './program';

export interface UpOptions {
  readonly port: number;
  readonly stateDir: string;
  readonly retrain: boolean;
  readonly startup: boolean;
  /** Synthesize even when the local assembly is newer than every source file. */
  readonly synth?: boolean;
  /** Resolves to stop the platform; the default waits for SIGINT or SIGTERM. */
  readonly until?: Promise<unknown>;
}

/** Phase timings of the last start, also written to `<stateDir>/startup-timings.json` for bench/local. */
export interface UpTimings {
  synthMs: number;
  enginesMs: number;
  startupMs: number;
  readyMs: number;
}

export async function runUp(options: UpOptions): Promise<number> {
  const err = (line: string) => process.stderr.write(`${line}\n`);
  const running = readRuntimeInfo(options.stateDir);
  if (running) {
    throw new CliError(
      `the local platform is already running (pid ${running.pid}) at ${running.gatewayUrl}; stop it first`,
      EXIT.unavailable,
    );
  }
  const t0 = performance.now();
  if (options.synth || assemblyIsStale(assemblyDirOf(options.stateDir))) {
    err('mlops up: synthesizing the local stage …');
    synthLocalStage(options.stateDir);
  } else {
    err('mlops up: the local assembly is up to date with the sources (--synth to synthesize anyway)');
  }
  const t1 = performance.now();

  err('mlops up: starting engines …');
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  try {
    platform = await startPlatform({
      stateDir: options.stateDir,
      assemblyDir: assemblyDirOf(options.stateDir),
      port: options.port,
      log: err,
      trainingRunner: ({ store, stateDir }) =>
        createLocalTrainingRunner({ store, stateDir, log: (line) => err(`[training] ${line}`) }),
    });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new CliError(`port ${options.port} on 127.0.0.1 is in use; pass --port <port>`, EXIT.unavailable);
    }
    throw e;
  }
  platform.publish();
  const t2 = performance.now();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    err('\nmlops up: shutting down …');
    await platform.close();
  };

  try {
    if (options.startup) {
      err('mlops up: start-up pipelines …');
      await runStartup(platform, { retrain: options.retrain, log: err });
    }
  } catch (e) {
    await stop();
    throw new CliError(`start-up failed: ${(e as Error).message}`, EXIT.failed);
  }
  const t3 = performance.now();

  const timings: UpTimings = { synthMs: t1 - t0, enginesMs: t2 - t1, startupMs: t3 - t2, readyMs: t3 - t0 };
  writeFileSync(join(options.stateDir, 'startup-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  process.stdout.write(banner(platform, timings));
  const uninstallGuard = installProcessGuard(err);

  const until =
    options.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  await until;
  uninstallGuard();
  await stop();
  err('mlops up: stopped');
  return EXIT.ok;
}

function banner(platform: Awaited<ReturnType<typeof startPlatform>>, t: UpTimings): string {
  const url = platform.gatewayUrl;
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const routes = [...new Set(platform.routes.map((r) => `${r.method.padEnd(4)} ${url}${r.resourcePath}`))];
  const machines = platform.sfn.machines.map((m) => `  ${m.name}`);
  const deployments = platform.serving.deployments.map(
    (d) =>
      `  ${url}/seldon/${d.namespace}/${d.deployment}/api/v1.0/predictions  (${d.modelName} v${d.version})`,
  );
  return [
    '',
    `mlops-kit local platform ready in ${s(t.readyMs)} (synthesis ${s(t.synthMs)}, engines ${s(t.enginesMs)}, start-up ${s(t.startupMs)})`,
    '',
    `gateway        ${url}`,
    `AWS endpoint   ${platform.info.awsEndpoint}   (Step Functions, Athena, EventBridge, Lambda: --endpoint-url)`,
    `S3 endpoint    ${platform.info.s3Endpoint}`,
    `DynamoDB       ${platform.info.dynamodbEndpoint}`,
    `state dir      ${platform.stateDir}`,
    '',
    routes.length ? `routes:\n${routes.map((r) => `  ${r}`).join('\n')}` : 'routes: none',
    machines.length
      ? `state machines (npx mlops run <name>):\n${machines.join('\n')}`
      : 'state machines: none',
    deployments.length
      ? `predictions:\n${deployments.join('\n')}`
      : 'predictions: no model is being served yet',
    '',
    'Ctrl-C stops the platform; its state stays in the state dir (npx mlops reset clears it).',
    '',
  ].join('\n');
}
