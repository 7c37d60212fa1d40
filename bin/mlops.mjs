#!/usr/bin/env node
// Launcher for the `mlops` CLI: registers tsx so the TypeScript sources run as they are, with no
// build step between a clone and `npm start`. `mlops train` and `mlops predict` (what a training job
// and batch scoring run, where start-up is part of the job's time) run a cached bundle of their own
// commands instead (bin/fast-entry.mjs); MLOPS_CLI_TSX=1 runs them under tsx as well.
const command = process.argv[2];
if ((command === 'train' || command === 'predict') && process.env.MLOPS_CLI_TSX !== '1') {
  const { trainBundle } = await import('./fast-entry.mjs');
  const bundle = await trainBundle();
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
