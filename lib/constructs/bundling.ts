/**
 * Where the kit's functions are and how they are bundled, free of aws-cdk-lib so that a process
 * that only bundles or measures a handler (bench/) does not load the CDK: the bundle cache
 * (bundle-cache.ts, which `MlopsFunction` stages from) and the benchmarks pass them to esbuild.
 *
 * @example
 * lambdaEntry('registry'); // '<repo>/lambdas/registry.ts'
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BuildOptions } from 'esbuild';

/** The repo root, where package-lock.json and `lambdas/` live. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The root of the kit's caches (handler bundles, the local assembly): `MLOPS_CACHE_DIR` when set
 * (CI keeps it between runs), else `<project>/node_modules/.cache/mlops-kit`, where JavaScript tools
 * keep derived files by convention. Removing the directory clears every cache.
 */
export const kitCacheDir = (projectRoot: string = PROJECT_ROOT): string =>
  process.env['MLOPS_CACHE_DIR'] || join(projectRoot, 'node_modules', '.cache', 'mlops-kit');

/** The path of a handler module under `lambdas/`. */
export const lambdaEntry = (name: string): string => `${PROJECT_ROOT}lambdas/${name}.ts`;

/**
 * How every kit function is bundled, as plain values under `NodejsFunction`'s bundling names (the
 * construct used NodejsFunction until the bundle cache; the names stay for readers who know it).
 * Nothing is external: the AWS SDK is bundled too.
 */
export const FUNCTION_BUNDLING = {
  format: 'esm',
  // Bundled ESM still meets CommonJS dependencies that call require() for Node built-ins.
  banner: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
  mainFields: ['module', 'main'],
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  target: 'node20',
} as const;

/**
 * {@link FUNCTION_BUNDLING} as esbuild's own options: what `NodejsFunction` passed on esbuild's
 * command line for them, which the bundle cache (bundle-cache.ts) and the benchmarks pass to the JS
 * API, so their bundles are byte for byte NodejsFunction's and a benchmark cannot drift from what
 * deploys.
 *
 * @example
 * await esbuild.build({ ...FUNCTION_ESBUILD_OPTIONS, entryPoints: [lambdaEntry('registry')], outfile: 'out/index.mjs' });
 */
export const FUNCTION_ESBUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: FUNCTION_BUNDLING.format,
  target: FUNCTION_BUNDLING.target,
  minify: FUNCTION_BUNDLING.minify,
  sourcemap: FUNCTION_BUNDLING.sourceMap,
  sourcesContent: FUNCTION_BUNDLING.sourcesContent,
  mainFields: [...FUNCTION_BUNDLING.mainFields],
  banner: { js: FUNCTION_BUNDLING.banner },
} satisfies BuildOptions;
