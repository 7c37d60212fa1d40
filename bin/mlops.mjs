#!/usr/bin/env node
// Launcher for the `mlops` CLI: registers tsx so the TypeScript sources run as they are, with no
// build step between a clone and `npm start`. `mlops train` and `mlops predict` (what a training job
// and batch scoring run, where start-up is part of the job's time) run a cached bundle of their own
// commands instead (bin/fast-entry.mjs); MLOPS_CLI_TSX=1 runs them under tsx as well.
const command = process.argv[2];
if ((command === 'train' || command === 'predict') && process.env.MLOPS_CLI_TSX !== '1') {
  const { trainBundle } = await import('./fast-entry.mjs');
  const bundle = await trainBundle();
  if (bundle) {
    await import(bundle);
  } else {
    await tsx();
  }
} else {
  await tsx();
}

async function tsx() {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./mlops.ts');
}
