/**
 * How the local runner starts the kit's trainer: the container entry (`lib/trainer/container.ts`)
 * bundled by esbuild exactly as `lib/trainer/Dockerfile` bundles it into the image, built once and
 * cached under the state dir, then run with `node` as the image's `train` does.
 *
 * Why a bundle rather than `node --import tsx`: a cold start of the bundle is well under half of
 * tsx's (tsx compiles every imported module through its loader on each start; the bundle is one
 * file node parses directly), and it runs the same artifact the image runs. The build itself costs
 * a few hundred milliseconds once per change of the trainer's sources.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, version as esbuildVersion } from 'esbuild';

/** A command line: the executable and its arguments. */
export type CommandLine = readonly [string, ...string[]];

/** The trainer's container entry, as the Dockerfile bundles it. */
export const TRAINER_ENTRY = fileURLToPath(new URL('../../trainer/container.ts', import.meta.url));

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** The one package the bundle imports at run time (lazily, for Parquet channels). */
const TRAINER_EXTERNAL = '@duckdb/node-api';

/**
 * The esbuild options of the Dockerfile's `RUN npx esbuild …` line (a test holds the two equal), so
 * the local job runs the bundle the image would hold.
 */
export const TRAINER_BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'inline',
  // DuckDB (Parquet channels) is a native addon: resolved at run time, never bundled.
  external: [TRAINER_EXTERNAL] as string[],
} as const;

interface BundleManifest {
  readonly key: string;
  /** Every source file esbuild read, with the size and mtime it had. */
  readonly inputs: Record<string, { size: number; mtimeMs: number }>;
}

const building = new Map<string, Promise<string>>();

/**
 * Builds the trainer bundle into `<stateDir>/sagemaker/.trainer/train.mjs` unless a bundle built
 * from the same sources (sizes and mtimes of every input esbuild read) is already there, and
 * returns its path. Concurrent calls share one build.
 *
 * @example
 * const bundle = await ensureTrainerBundle('.mlops/local');
 * // node --enable-source-maps <bundle> train
 */
export function ensureTrainerBundle(stateDir: string): Promise<string> {
  const dir = resolve(stateDir, 'sagemaker', '.trainer');
  let pending = building.get(dir);
  if (!pending) {
    pending = buildIfStale(dir).finally(() => building.delete(dir));
    building.set(dir, pending);
  }
  return pending;
}

async function buildIfStale(dir: string): Promise<string> {
  const outfile = join(dir, 'train.mjs');
  const manifestFile = join(dir, 'train.json');
  const key = createHash('sha256')
    .update(JSON.stringify({ esbuildVersion, TRAINER_BUNDLE_OPTIONS, TRAINER_ENTRY }))
    .digest('hex');
  if (await isFresh(outfile, manifestFile, key)) {
    await linkExternals(dir);
    return outfile;
  }

  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.train.${process.pid}.${Date.now()}.mjs`);
  try {
    const result = await build({
      ...TRAINER_BUNDLE_OPTIONS,
      entryPoints: [TRAINER_ENTRY],
      outfile: tmp,
      absWorkingDir: REPO_ROOT,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs: BundleManifest['inputs'] = {};
    for (const input of Object.keys(result.metafile.inputs)) {
      const path = resolve(REPO_ROOT, input);
      const s = await stat(path);
      inputs[path] = { size: s.size, mtimeMs: s.mtimeMs };
    }
    await linkExternals(dir);
    // Another process may build the same bundle at once: each renames a complete file into place.
    await rename(tmp, outfile);
    await writeFile(manifestFile, JSON.stringify({ key, inputs } satisfies BundleManifest));
  } catch (err) {
    await rm(tmp, { force: true });
    throw new Error(`cannot bundle the trainer (${TRAINER_ENTRY}) with esbuild: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return outfile;
}

/**
 * The image copies DuckDB's packages beside the bundle; here the state dir may be anywhere, so its
 * `node_modules/@duckdb` links to the project's (node follows the link to resolve their own imports).
 */
async function linkExternals(dir: string): Promise<void> {
  const scope = join(dir, 'node_modules');
  await mkdir(scope, { recursive: true });
  const link = join(scope, '@duckdb');
  if (await lstat(link).then(() => true, () => false)) return;
  await symlink(join(REPO_ROOT, 'node_modules', '@duckdb'), link, 'dir').catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}

async function isFresh(outfile: string, manifestFile: string, key: string): Promise<boolean> {
  try {
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as BundleManifest;
    if (manifest.key !== key) return false;
    await stat(outfile);
    for (const [path, seen] of Object.entries(manifest.inputs)) {
      const s = await stat(path);
      if (s.size !== seen.size || s.mtimeMs !== seen.mtimeMs) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * The command that runs the bundled trainer as the image does (`NODE_OPTIONS=--enable-source-maps`,
 * `node /opt/ml/code/train.mjs train`).
 *
 * @example
 * const argv = bundledTrainerCommand(await ensureTrainerBundle(stateDir));
 */
export function bundledTrainerCommand(bundle: string): CommandLine {
  return [process.execPath, '--enable-source-maps', bundle, 'train'];
}

/**
 * The command that runs the trainer's TypeScript source through tsx: no build, a slower start.
 *
 * @example
 * createLocalTrainingRunner({ store, stateDir, trainerCommand: tsxTrainerCommand() });
 */
export function tsxTrainerCommand(): CommandLine {
  // Resolved here: the job runs in its own directory, from which a bare `tsx` may not resolve.
  return [process.execPath, '--import', import.meta.resolve('tsx'), TRAINER_ENTRY, 'train'];
}
