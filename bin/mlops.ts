/**
 * Entry point of the `mlops` CLI (`npx mlops --help`). Each area's commands are registered from
 * `lib/cli/`.
 */
import '../lib/polyfills';
import '../lib/cli/quiet-warnings';

import { buildProgram, runProgram } from '../lib/cli/program';
import { commandModules } from '../lib/cli/modules';

const code = await runProgram(buildProgram(commandModules), process.argv.slice(2));
process.exitCode = code;
