/**
 * `mlops up` (= `npm start`): synthesize the local stage, start every engine from it, run the
 * start-up pipelines, print where everything is, and keep serving until Ctrl-C.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDbStoreError } from '../local/dynamodb';
import { layout } from '../local/layout';
import { acquireStateLock, type StateLock, StateLockedError } from '../local/lock';
import { readRuntimeInfo, startPlatform } from '../local/platform';
import { portProblem, registryStoreProblem, startFailure } from '../local/preflight';
import { createLocalTrainingRunner } from '../local/sagemaker';
import { runStartup } from '../local/startup';
import { assemblyIsStale } from '../local/session';
import { assemblyDirOf, synthLocalStage } from '../local/synth';
import { CliError, EXIT } from './program';

export interface UpOptions {
  readonly port: number;
  readonly stateDir: string;
  readonly retrain: boolean;
  readonly startup: boolean;
  /** Start from empty DynamoDB tables when the store is missing or damaged, instead of refusing. */
  readonly resetRegistry?: boolean;
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
  const running = readRuntimeInfo(options.stateDir);
  if (running) {
    throw new CliError(
      `the local platform is already running (pid ${running.pid}) at ${running.gatewayUrl}; stop it first`,
      EXIT.unavailable,
    );
  }
  // Before anything else: a second `up` must refuse whatever moment of this one's start it meets.
  let lock: StateLock;
  try {
    lock = acquireStateLock(options.stateDir, 'mlops up');
  } catch (e) {
    if (e instanceof StateLockedError) throw new CliError(e.message, EXIT.unavailable);
    throw e;
  }
  try {
    return await upLocked(options, lock);
  } catch (e) {
    const sentence = e instanceof CliError ? undefined : startFailure(e, options.port);
    throw sentence ? new CliError(sentence, EXIT.unavailable) : e;
  } finally {
    lock.release();
  }
}

async function upLocked(options: UpOptions, lock: StateLock): Promise<number> {
  const err = (line: string) => process.stderr.write(`${line}\n`);
  // Checked before the synthesis a clash would otherwise waste.
  const port = await portProblem(options.port);
  if (port) throw new CliError(port, EXIT.unavailable);
  const store = registryStoreProblem(options.stateDir);
  if (store && !options.resetRegistry) throw new CliError(store, EXIT.unavailable);
  if (store) {
    err('mlops up: --reset-registry: starting from empty DynamoDB tables (registry, online store)');
    rmSync(layout(options.stateDir).dynamodb, { recursive: true, force: true });
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
      lock,
      log: err,
      trainingRunner: ({ store, stateDir }) =>
        createLocalTrainingRunner({ store, stateDir, log: (line) => err(`[training] ${line}`) }),
    });
  } catch (e) {
    if (options.resetRegistry && e instanceof DynamoDbStoreError) {
      // A store that exists but cannot be opened (a truncated MANIFEST): the flag asked for empty tables.
      err('mlops up: --reset-registry: the DynamoDB store cannot be opened; starting from empty tables');
      rmSync(layout(options.stateDir).dynamodb, { recursive: true, force: true });
      return upLocked({ ...options, resetRegistry: false }, lock);
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
  try {
    writeFileSync(join(options.stateDir, 'startup-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
  } catch (e) {
    // Only bench/local reads it; a full disk must not stop a platform that is up.
    err(`mlops up: startup-timings.json could not be written (${(e as Error).message})`);
  }
  process.stdout.write(banner(platform, timings));

  const until =
    options.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  await until;
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
