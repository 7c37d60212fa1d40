#!/usr/bin/env node
// Launcher for the `mlops` CLI: runs a cached esbuild bundle of bin/mlops.ts (bin/fast-entry.mjs),
// built on first use and whenever a source it was built from changed, so no build step stands
// between a clone and `npm start` and a start does not compile the CLI's TypeScript again. Each
// command loads its own modules when it runs. `mlops train` and `mlops predict` (what a training
// job and batch scoring run, where start-up is part of the job's time) run a bundle of their own
// commands alone. MLOPS_CLI_TSX=1 runs the TypeScript sources through tsx instead, as does any
// failure to build or find a bundle.
const command = process.argv[2];
if (process.env.MLOPS_CLI_TSX !== '1') {
  const { cliBundle, trainBundle } = await import('./fast-entry.mjs');
  const bundle = command === 'train' || command === 'predict' ? await trainBundle() : await cliBundle();
  let ran = false;
  if (bundle) {
    try {
      await import(bundle);
      ran = true;
    } catch (err) {
      // Only a bundle that vanished (pruned by a concurrent rebuild) falls back; any other error is
      // the command's own and must not run it a second time.
      if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
    }
  }
  if (!ran) await tsx();
} else {
  await tsx();
}

async function tsx() {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./mlops.ts');
}
