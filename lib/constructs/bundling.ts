/**
 * Where the kit's functions are and how they are bundled, free of aws-cdk-lib so that a process
 * that only bundles or measures a handler (bench/) does not load the CDK: `MlopsFunction` passes
 * these to `NodejsFunction`, the benchmarks pass them to esbuild.
 *
 * @example
 * lambdaEntry('registry'); // '<repo>/lambdas/registry.ts'
 */
import { fileURLToPath } from 'node:url';

/** The repo root, where package-lock.json and `lambdas/` live. */
export const PROJECT_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The path of a handler module under `lambdas/`. */
export const lambdaEntry = (name: string): string => `${PROJECT_ROOT}lambdas/${name}.ts`;

/**
 * How every kit function is bundled, as plain values under `NodejsFunction`'s bundling names and
 * free of CDK types: the construct passes them to `NodejsFunction`, and the benchmarks (bench/)
 * pass them to esbuild directly, so what a benchmark measures cannot drift from what deploys.
 * Nothing is external: the AWS SDK is bundled too.
 *
 * @example
 * const b = FUNCTION_BUNDLING;
 * await esbuild.build({
 *   entryPoints: [lambdaEntry('registry')], outfile: 'out/index.mjs', bundle: true, platform: 'node',
 *   format: b.format, target: b.target, minify: b.minify, mainFields: [...b.mainFields],
 *   sourcemap: b.sourceMap, sourcesContent: b.sourcesContent, banner: { js: b.banner },
 * });
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
