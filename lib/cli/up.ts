/**
 * `mlops up` (= `npm start`): synthesize the local stage, start every engine from it, run the
 * start-up pipelines, print where everything is, and keep serving until Ctrl-C.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildConsole } from '../local/console';
import { DynamoDbStoreError } from '../local/dynamodb';
import { layout } from '../local/layout';
import { acquireStateLock, type StateLock, StateLockedError } from '../local/lock';
import { openPlatformLog, type PlatformLog } from '../local/log-file';
import { readRuntimeInfo, startPlatform } from '../local/platform';
import { registryStoreProblem, startFailure } from '../local/preflight';
import {
  describeTakenPort,
  endpointOfPort,
  firstTakenPort,
  type PortFlags,
  PortConfigError,
  resolvePorts,
} from '../local/ports';
import { createLocalTrainingRunner } from '../local/sagemaker';
import { runStartup } from '../local/startup';
import { planLocalAssembly, provideLocalAssembly } from '../local/synth';
import { installProcessGuard } from './process-guard';
import { CliError, EXIT } from './program';
import { upBanner } from './up-banner';

export interface UpOptions extends PortFlags {
  /** Print function, training and bundler output on the terminal too, not only in the log file. */
  readonly verbose?: boolean;
  readonly stateDir: string;
  readonly retrain: boolean;
  readonly startup: boolean;
  /** Start from empty DynamoDB tables when the store is missing or damaged, instead of refusing. */
  readonly resetRegistry?: boolean;
  /** Synthesize even when an assembly of the same sources is in the state dir or the synthesis cache. */
  readonly synth?: boolean;
  /** Fraction of predictions written to the request log (drift reads it). @default the local config's `serving.requestLogSampleRate` */
  readonly requestLogSampleRate?: number;
  /** Resolves to stop the platform; the default waits for SIGINT or SIGTERM. */
  readonly until?: Promise<unknown>;
}

/** Phase timings of the last start, also written to `<stateDir>/startup-timings.json` for bench/local. */
export interface UpTimings {
  /** Synthesis of the local stage (0 when the assembly was reused). */
  synthMs: number;
  /** From the end of synthesis to engines ready: what engine start-up adds after synthesis. */
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
  let ports: ReturnType<typeof resolvePorts>;
  try {
    ports = resolvePorts(options);
  } catch (e) {
    if (e instanceof PortConfigError) throw new CliError(e.message, EXIT.usage);
    throw e;
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
    // Before synthesis: a clash costs a second, not a synthesis.
    const taken = await firstTakenPort(ports);
    if (taken) throw new CliError(describeTakenPort(taken), EXIT.unavailable);
    const log = openPlatformLog(options.stateDir, { verbose: options.verbose });
    try {
      return await upLocked(options, ports, lock, log);
    } finally {
      await log.close();
    }
  } catch (e) {
    const sentence = e instanceof CliError ? undefined : startFailure(e, options.port);
    throw sentence ? new CliError(sentence, EXIT.unavailable) : e;
  } finally {
    lock.release();
  }
}

async function upLocked(
  options: UpOptions,
  ports: ReturnType<typeof resolvePorts>,
  lock: StateLock,
  log: PlatformLog,
): Promise<number> {
  const store = registryStoreProblem(options.stateDir);
  if (store && !options.resetRegistry) throw new CliError(store, EXIT.unavailable);
  if (store) {
    log.show('mlops up: --reset-registry: starting from empty DynamoDB tables (registry, online store)');
    rmSync(layout(options.stateDir).dynamodb, { recursive: true, force: true });
  }
  const t0 = performance.now();
  const plan = planLocalAssembly(options.stateDir, { fresh: options.synth });
  log.show(
    plan.action === 'synthesize'
      ? 'mlops up: synthesizing the local stage …'
      : plan.action === 'current'
        ? 'mlops up: the local assembly is up to date with the sources (--synth to synthesize anyway)'
        : 'mlops up: the local assembly of these sources comes from the synthesis cache (--synth to synthesize anyway)',
  );
  // The engines that need nothing from the assembly start while it is synthesized or copied
  // (startPlatform takes the promise).
  let t1 = t0;
  const assembly: Promise<string> = provideLocalAssembly(plan, (chunk) => log.writeRaw(chunk)).then(
    (dir) => {
      t1 = performance.now();
      return dir;
    },
    (e: Error) => {
      throw new CliError(`${e.message}
(the whole output is in ${log.file})`, EXIT.failed);
    },
  );

  log.show('mlops up: starting engines …');
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  try {
    platform = await startPlatform({
      stateDir: options.stateDir,
      assemblyDir: assembly,
      port: ports.gateway,
      endpointPorts: { aws: ports.aws, s3: ports.s3, dynamodb: ports.dynamodb },
      ...(options.requestLogSampleRate === undefined ? {} : { requestLog: { sampleRate: options.requestLogSampleRate } }),
      lock,
      log: (line) => log.show(line),
      functionLog: (line) => log.write(line),
      // Built (or found in the cache) while the assembly is synthesized.
      console: buildConsole().catch((e: Error) => {
        log.show(`mlops up: ${e.message}; the platform runs without it`);
        return undefined;
      }),
      trainingRunner: ({ store, stateDir }) =>
        createLocalTrainingRunner({ store, stateDir, log: (line) => log.write(`[training] ${line}`) }),
    });
  } catch (e) {
    // An engine failed before synthesis ended: the retry below, or the caller, must not meet a
    // synthesis still writing the assembly.
    await Promise.resolve(assembly).catch(() => undefined);
    if (options.resetRegistry && e instanceof DynamoDbStoreError) {
      // A store that exists but cannot be opened (a truncated MANIFEST): the flag asked for empty tables.
      log.show('mlops up: --reset-registry: the DynamoDB store cannot be opened; starting from empty tables');
      rmSync(layout(options.stateDir).dynamodb, { recursive: true, force: true });
      return upLocked({ ...options, resetRegistry: false }, ports, lock, log);
    }
    const code = (e as NodeJS.ErrnoException).code;
    const endpoint = endpointOfPort(ports, (e as { port?: unknown }).port);
    if ((code === 'EADDRINUSE' || code === 'EACCES') && endpoint) {
      // Taken between the check above and the bind.
      throw new CliError(describeTakenPort({ endpoint, port: ports[endpoint], code }), EXIT.unavailable);
    }
    throw e;
  }
  platform.publish();
  const t2 = performance.now();

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    log.show('\nmlops up: shutting down …');
    await platform.close();
  };

  try {
    if (options.startup) {
      log.show('mlops up: start-up pipelines …');
      await runStartup(platform, { retrain: options.retrain, log: (line) => log.show(line) });
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
    log.show(`mlops up: startup-timings.json could not be written (${(e as Error).message})`);
  }
  // Listening before the banner: whoever waits for it may send SIGINT the moment it appears.
  const until =
    options.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
  const banner = upBanner(platform, timings, log.file);
  log.write(banner);
  process.stdout.write(banner);
  // Only after start-up: an error while starting must still fail the start.
  const uninstallGuard = installProcessGuard((line) => log.show(line));
  await until;
  uninstallGuard();
  await stop();
  log.show('mlops up: stopped');
  return EXIT.ok;
}
