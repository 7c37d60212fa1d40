/**
 * Child-process entry of {@link synthLocalStageInChild}: synthesizes the local stage into the state
 * dir given as the only argument. Exit 0 when the assembly is written, 1 with the error on stderr.
 */
import '../polyfills';
import { synthLocalStage } from './synth';

const stateDir = process.argv[2];
if (!stateDir) {
  process.stderr.write('usage: synth-main <state dir>\n');
  process.exitCode = 2;
} else {
  try {
    synthLocalStage(stateDir);
  } catch (err) {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
