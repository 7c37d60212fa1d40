#!/usr/bin/env node
// Launcher for the `mlops` CLI: runs a cached esbuild bundle of bin/mlops.ts (bin/fast-entry.mjs),
// built on first use and whenever a source it was built from changed, so no build step stands
// between a clone and `npm start` and a start does not compile the CLI's TypeScript again. A command
// starts from V8's code cache of what the same command compiled last time and initializes only its
// own modules. `mlops train` and `mlops predict` (what a training job and batch scoring run, where
// start-up is part of the job's time) run a bundle of their own commands alone. MLOPS_CLI_TSX=1 runs
// the TypeScript sources through tsx instead, as does any failure to build or find a bundle.
const command = process.argv[2];
if (process.env.MLOPS_CLI_TSX !== '1') {
  const { cliBundle, runBundle, trainBundle } = await import('./fast-entry.mjs');
  const bundle = command === 'train' || command === 'predict' ? await trainBundle() : await cliBundle();
  // False only when the bundle could not be read (pruned by a concurrent rebuild); an error of the
  // command's own propagates and must not run it a second time.
  if (!bundle || !(await runBundle(bundle, command))) await tsx();
} else {
  await tsx();
}

async function tsx() {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('./mlops.ts');
  await main();
}
