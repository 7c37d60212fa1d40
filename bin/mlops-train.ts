/**
 * The `mlops train` and `mlops predict` entry: the same commands as `bin/mlops.ts` registers, in a
 * program that loads nothing else (no local platform, no CDK, no AWS SDK), so a training job starts
 * in a fraction of the full CLI's start-up. `bin/mlops.mjs` runs it, bundled (see `bin/fast-entry.mjs`).
 */
import '../lib/cli/quiet-warnings';

import { buildProgram, runProgram } from '../lib/cli/program';
import { trainCommands } from '../lib/cli/train';

export async function main(): Promise<void> {
  process.exitCode = await runProgram(buildProgram([trainCommands]), process.argv.slice(2));
}
