/**
 * globalSetup of every project: makes the run's temporary directory (vitest.config.ts gives it to
 * the workers as TMPDIR) and removes it, with whatever the tests and their processes left in it, when
 * the run ends. Every project lists it; the first makes the directory and each teardown removes it
 * (all teardowns run after the last test).
 *
 * One thing in it outlives the run: tsx keeps its cache of compiled TypeScript in
 * `<tmpdir>/tsx-<uid>`, with no setting to move it, and the `node --import tsx` processes the tests
 * start (the CDK app under `npx cdk`, fixtures) would compile every file again in each run's fresh
 * directory (~90 CPU-s more for the suite). The run's `tsx-<uid>` is a link to the one in the
 * temporary directory vitest itself was given; removing the run's directory removes the link only.
 */
import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';

export default function setup(project: TestProject): () => void {
  const dir = project.config.env['TMPDIR'];
  if (!dir) throw new Error('vitest.config.ts gives the workers no TMPDIR');
  mkdirSync(dir, { recursive: true });
  // tsx names it by the effective uid where there is one (tsx/dist: `tsx-${geteuid()}`).
  const tsxCache = `tsx-${process.geteuid?.() ?? userInfo().username}`;
  mkdirSync(join(tmpdir(), tsxCache), { recursive: true });
  try {
    symlinkSync(join(tmpdir(), tsxCache), join(dir, tsxCache), 'dir');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return () => rmSync(dir, { recursive: true, force: true });
}
