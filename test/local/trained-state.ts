/**
 * A state dir as the first `npm start` leaves it (example data seeded, features materialized,
 * wine-quality version 1 trained, registered, promoted and served), made ONCE per `vitest run` and
 * copied for every test that needs such a platform without testing the start-up itself: a start on
 * the copy finds everything present and skips the seeding, materialization and training runs (the
 * copy keeps their execution records, so `startup-<ms>` is listed as after a first start).
 *
 * The first worker to ask runs the one full `mlops up` (the real binary) under a directory lock;
 * the others wait for its marker. Tests of the start-up itself (test/local/startup.test.ts, the
 * faults around a first start, the README's `npm start`) keep starting from an empty state dir.
 *
 * @example
 * const stateDir = await trainedStateDir(); // or: await copyTrainedState(stateDir)
 * const platform = await startUp(stateDir, ['--request-log-sample-rate', '1']);
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { startUp } from './mlops-process';

/** The environment the template's `mlops up` runs with: nothing that points it elsewhere. */
const cleanEnv = (): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(AWS_|PREDICTION_URL|TRAINING_STATE_MACHINE_ARN)/.test(k)));

async function buildTemplate(template: string, marker: string): Promise<void> {
  try {
    const up = await startUp(template, [], { env: cleanEnv() });
    const output = up.output();
    await up.stop();
    if (up.child.exitCode !== 0) throw new Error(`mlops up exited ${up.child.exitCode ?? up.child.signalCode} on Ctrl-C:\n${up.output()}`);
    if (!/wine-quality v1/.test(output)) throw new Error(`the first start serves no wine-quality v1:\n${output}`);
    writeFileSync(marker, 'ok');
  } catch (err) {
    writeFileSync(marker, `failed: ${(err as Error).message}`);
    throw err;
  }
}

async function templateDir(): Promise<string> {
  const root = inject('suiteDir');
  const template = join(root, 'trained-state');
  const marker = join(root, 'trained-state.done');
  let builder = false;
  try {
    mkdirSync(join(root, 'trained-state.lock'));
    builder = true;
  } catch {
    // Another worker builds it.
  }
  if (builder) await buildTemplate(template, marker);
  const end = Date.now() + 600_000;
  while (!existsSync(marker)) {
    if (Date.now() > end) throw new Error(`no trained state dir after 600 s (${template})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const done = readFileSync(marker, 'utf8');
  if (done !== 'ok') throw new Error(`the trained state dir could not be made: ${done}`);
  return template;
}

/** Copies the run's trained state (made on first use) into `stateDir` (new or empty); resolves to it. */
export async function copyTrainedState(stateDir: string): Promise<string> {
  cpSync(await templateDir(), stateDir, { recursive: true });
  return stateDir;
}

/** A new temporary state dir holding a copy of the run's trained state. */
export const trainedStateDir = (prefix = 'mlops-trained-'): Promise<string> =>
  copyTrainedState(mkdtempSync(join(tmpdir(), prefix)));
