/**
 * The synthesis `mlops up` does for itself, run by lib/local/synth.ts in a child process (lib/local
 * never loads the stacks; it reads the assembly this writes): the local stage, into the directory
 * given as the only argument. Exit 0 when the assembly is written, 1 with the error on stderr.
 *
 * Neither cdk-nag nor CDK's CloudFormation validator runs here: the local stage is never deployed,
 * and the same templates are checked where it pays, in `cdk synth` of staging and production
 * (bin/app.ts) and in `npm test`. The config ignores the environment's variables, as before: the
 * local stage is the same on every machine, so its assembly can be cached by its sources alone.
 *
 *   node --import tsx bin/synth-local.ts .mlops/local/assembly
 */
import '../lib/polyfills';
import { resolveEnvironment } from '../lib/config';
import { createMlopsApp } from '../stacks/mlops-app';

const outdir = process.argv[2];
if (!outdir) {
  process.stderr.write('usage: synth-local <assembly dir>\n');
  process.exitCode = 2;
} else {
  try {
    createMlopsApp({ configs: [resolveEnvironment('local')], nag: false, validation: false, outdir }).synth();
  } catch (err) {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
