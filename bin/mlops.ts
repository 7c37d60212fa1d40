/**
 * Entry point of the `mlops` CLI (`npx mlops --help`). Each area's commands are registered from
 * `lib/cli/`. bin/mlops.mjs calls {@link main}, from the cached bundle or through tsx.
 */
import '../lib/polyfills';
import '../lib/cli/quiet-warnings';

import { buildProgram, runProgram } from '../lib/cli/program';
import { commandModules } from '../lib/cli/modules';

export async function main(): Promise<void> {
  process.exitCode = await runProgram(buildProgram(commandModules), process.argv.slice(2));
}
