/**
 * Synthesizes the local stage in-process into the state dir, the cloud assembly the local runtime
 * then reads. Same code path as `cdk synth -c env=local`, minus the CLI.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

/**
 * {@link synthLocalStage} in a child process, whose output (CDK's "Bundling asset …" lines and
 * esbuild's summaries) goes to `onOutput` instead of the terminal. In-process that is not
 * possible: CDK runs esbuild with this process's stderr inherited, a file descriptor no stream
 * replacement reaches. Rejects with the output's last lines when synthesis fails.
 *
 * @example
 * await synthLocalStageInChild('.mlops/local', (chunk) => log.writeRaw(chunk));
 */
export function synthLocalStageInChild(stateDir: string, onOutput: (chunk: Buffer) => void): Promise<string> {
  // tsx, resolved from the kit (not the working directory), runs the TypeScript entry as it is.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  const entry = fileURLToPath(new URL('./synth-main.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', tsx, entry, stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let tail = '';
  const collect = (chunk: Buffer) => {
    onOutput(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(assemblyDirOf(stateDir));
      else {
        const last = tail.trimEnd().split('\n').slice(-15).join('\n');
        reject(new Error(`synthesis ${signal ? `was killed (${signal})` : `exited ${code}`}:\n${last}`));
      }
    });
  });
}
