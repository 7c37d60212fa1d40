/**
 * Where the local environment keeps its state. Every engine takes its directory from here, so
 * `mlops reset` knows exactly what to clear and nothing is written outside the state dir.
 *
 *   <stateDir>/s3/<bucket>/<key>          S3 objects (one file per key; metadata in a sidecar)
 *   <stateDir>/dynamodb/                  dynalite's LevelDB files
 *   <stateDir>/executions/<name>.json     Step Functions execution records
 *   <stateDir>/athena/                    DuckDB scratch (catalog views are rebuilt at start)
 *   <stateDir>/runtime.json               the running platform's ports and pid (for `mlops` commands)
 *   <stateDir>/platform.lock              pid + start time of the one process whose engines own the dir
 */
import { resolve } from 'node:path';

/** The default state dir, relative to the working directory; also `MLOPS_STATE_DIR`. */
export const DEFAULT_STATE_DIR = '.mlops/local';

export function stateDirFrom(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env['MLOPS_STATE_DIR'] ?? DEFAULT_STATE_DIR);
}

export const layout = (stateDir: string) => ({
  root: stateDir,
  s3: resolve(stateDir, 's3'),
  bucket: (bucket: string) => resolve(stateDir, 's3', bucket),
  dynamodb: resolve(stateDir, 'dynamodb'),
  executions: resolve(stateDir, 'executions'),
  athena: resolve(stateDir, 'athena'),
  runtimeFile: resolve(stateDir, 'runtime.json'),
});
