/**
 * Synthesizes the local stage in-process into the state dir, the cloud assembly the local runtime
 * then reads. Same code path as `cdk synth -c env=local`, minus the CLI.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { resolveEnvironment } from '../config';
import { createMlopsApp } from '../../stacks/mlops-app';
import { stageId } from '../../stacks/mlops-stage';

export const LOCAL_STAGE = stageId('local');

/** Where `mlops up` writes the local cloud assembly. */
export const assemblyDirOf = (stateDir: string): string => join(stateDir, 'assembly');

export function synthLocalStage(stateDir: string): string {
  const outdir = assemblyDirOf(stateDir);
  rmSync(outdir, { recursive: true, force: true });
  // cdk-nag is the unit tests' job; the local stage is never deployed.
  createMlopsApp({ configs: [resolveEnvironment('local')], nag: false, outdir }).synth();
  return outdir;
}
