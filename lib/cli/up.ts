/**
 * `mlops up` (= `npm start`): synthesize the local stage, start every engine from it, run the
 * start-up pipelines, print where everything is, and keep serving until Ctrl-C.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPlatformLog } from '../local/log-file';
import { readRuntimeInfo, startPlatform } from '../local/platform';
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
import { assemblyIsStale } from '../local/session';
import { assemblyDirOf, synthLocalStageInChild } from '../local/synth';
import { installProcessGuard } from './process-guard';
import { CliError, EXIT } from './program';
import { upBanner } from './up-banner';

export interface UpOptions extends PortFlags {
  /** Print function, training and bundler output on the terminal too, not only in the log file. */
  readonly verbose?: boolean;
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
  // Before synthesis: a clash costs a second, not a synthesis.
  const taken = await firstTakenPort(ports);
  if (taken) throw new CliError(describeTakenPort(taken), EXIT.unavailable);

  const log = openPlatformLog(options.stateDir, { verbose: options.verbose });
  const t0 = performance.now();
  if (options.synth || assemblyIsStale(assemblyDirOf(options.stateDir))) {
    log.show('mlops up: synthesizing the local stage …');
    await synthLocalStageInChild(options.stateDir, (chunk) => log.writeRaw(chunk)).catch(async (e: Error) => {
      await log.close();
      throw new CliError(`${e.message}\n(the whole output is in ${log.file})`, EXIT.failed);
    });
  } else {
    log.show('mlops up: the local assembly is up to date with the sources (--synth to synthesize anyway)');
  }
  const t1 = performance.now();

  log.show('mlops up: starting engines …');
  let platform: Awaited<ReturnType<typeof startPlatform>>;
  try {
    platform = await startPlatform({
      stateDir: options.stateDir,
      assemblyDir: assemblyDirOf(options.stateDir),
      port: ports.gateway,
      endpointPorts: { aws: ports.aws, s3: ports.s3, dynamodb: ports.dynamodb },
      log: (line) => log.show(line),
      functionLog: (line) => log.write(line),
      trainingRunner: ({ store, stateDir }) =>
        createLocalTrainingRunner({ store, stateDir, log: (line) => log.write(`[training] ${line}`) }),
    });
  } catch (e) {
    await log.close();
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
    await log.close();
    throw new CliError(`start-up failed: ${(e as Error).message}`, EXIT.failed);
  }
  const t3 = performance.now();

  const timings: UpTimings = { synthMs: t1 - t0, enginesMs: t2 - t1, startupMs: t3 - t2, readyMs: t3 - t0 };
  writeFileSync(join(options.stateDir, 'startup-timings.json'), `${JSON.stringify(timings, null, 2)}\n`);
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
  await log.close();
  return EXIT.ok;
}
