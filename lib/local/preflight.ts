/**
 * What `mlops up` checks before it spends a synthesis or opens an engine (the ports: `lib/local/ports.ts`), and how it words a start
 * that fails on the state it finds: every problem is one sentence naming what is wrong and the
 * command that fixes it, never a stack trace and never a silent wipe.
 *
 * @example
 * const problem = registryStoreProblem(stateDir);
 * if (problem) throw new CliError(problem, EXIT.unavailable);
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AssemblyReadError } from './assembly';
import { DynamoDbStoreError } from './dynamodb/engine';
import { layout } from './layout';
import { LOOPBACK } from './listen';
import { StateLockedError } from './lock';

export const portInUse = (port: number | undefined): string =>
  `port ${port ?? '(one of the engines)'} on ${LOOPBACK} is in use by another process; pass --port <port> to use another (--port 0 picks a free one)`;

/**
 * A sentence if the DynamoDB store (the registry, the online store) is missing or broken while the
 * lake still holds what it indexed: a silently recreated empty registry would retrain and number
 * versions from 1 again over models that are still in the lake.
 */
export function registryStoreProblem(stateDir: string): string | undefined {
  const dir = layout(stateDir).dynamodb;
  const files = existsSync(dir) ? readdirSync(dir) : [];
  const fix = 'run `npx mlops up --reset-registry` to start from empty tables (the lake is kept), or `npx mlops reset` to clear all local state';
  if (files.length > 0 && !files.includes('CURRENT')) {
    return `the local DynamoDB store at ${dir} is damaged: its LevelDB CURRENT file is missing; ${fix}`;
  }
  if (files.includes('CURRENT')) return undefined;
  const model = findFile(layout(stateDir).s3, 'model.tar.gz', 8);
  if (!model) return undefined;
  return `the local DynamoDB store at ${dir} is gone, but the lake still holds trained models (${model}); the registry that numbered them cannot be rebuilt from the lake: ${fix}`;
}

/**
 * One sentence, with the command that fixes it, for a start that failed on the state it found;
 * undefined for anything else (a bug, to be shown with its stack).
 */
export function startFailure(err: unknown, port?: number): string | undefined {
  if (err instanceof StateLockedError) return err.message;
  if ((err as NodeJS.ErrnoException)?.code === 'EADDRINUSE') return portInUse(port);
  if (err instanceof AssemblyReadError) {
    return `the local assembly is damaged: ${err.message}; run \`npx mlops up --synth\` to synthesize it again`;
  }
  if (err instanceof DynamoDbStoreError) return err.message;
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EROFS' || code === 'EACCES' || code === 'EIO' || code === 'EDQUOT') {
    return `the state dir cannot be written (${(err as Error).message}); free space or fix its permissions, then start again`;
  }
  return undefined;
}

/** The first file named `name` under `dir` (depth-limited), relative to `dir`. */
function findFile(dir: string, name: string, depth: number): string | undefined {
  if (depth < 0 || !existsSync(dir)) return undefined;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const e of entries) if (e.isFile() && e.name === name) return join(dir, e.name);
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const found = findFile(join(dir, e.name), name, depth - 1);
    if (found) return found;
  }
  return undefined;
}
