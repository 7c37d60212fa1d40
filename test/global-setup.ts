/**
 * Once per `vitest run`, before any platform test: a scratch directory every worker can find
 * (`inject('suiteDir')`, removed at the end), and the local stage's assembly in the kit's cache, so
 * that files starting platforms at once copy one synthesis instead of each running its own on a
 * cold cache, and the `mlops` CLI's bundle (bin/fast-entry.mjs), so that the CLI processes the
 * files start do not each build it. With a warm cache this only hashes the sources.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { cliBundle } from '../bin/fast-entry.mjs';
import { synthLocalStage } from '../lib/local/synth';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A directory shared by the run's workers (see test/local/trained-state.ts). */
    suiteDir: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-suite-'));
  project.provide('suiteDir', dir);
  synthLocalStage(join(dir, 'warm-assembly'));
  rmSync(join(dir, 'warm-assembly'), { recursive: true, force: true });
  await cliBundle();
  return () => rmSync(dir, { recursive: true, force: true });
}
