/**
 * Bundles the model server into one ESM file with no runtime dependencies: what the Dockerfile's
 * build stage runs, and what the bundle test runs, so both produce the same artifact.
 *
 * usage: `npx tsx lib/serving/bundle.ts <outfile>`
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The entry point bundled. */
export const ENTRY = fileURLToPath(new URL('./entry.ts', import.meta.url));

/**
 * The options `node` runs the bundle with in the image (the Dockerfile's ENTRYPOINT, which a test
 * holds to this list) and in bench/serve.
 *
 * `--max-semi-space-size=1` (MiB): loading the bundle (the AWS SDK, zod, the model) survives
 * enough young objects for V8 to grow its young generation to 8 MiB (bare Node's stays at 1–2 MiB),
 * and under load it never shrinks. Every request's garbage then cycled through memory past the
 * 2 MiB L2 cache and each scavenge waited on helper threads: measured at 16 connections, the server
 * took ~60 % more CPU per request than bare node:http and its median scavenge pause was 1–10 ms
 * against bare's 0.1–0.4 ms, which is where its p99 went. A request's garbage is a few KiB that
 * die young, so 1 MiB costs a 0.1 ms scavenge every ~120 requests.
 */
export const SERVER_NODE_OPTIONS: readonly string[] = ['--enable-source-maps', '--max-semi-space-size=1'];

/**
 * Writes the bundle to `outfile`. `entry` and `nodePaths` bundle another tree's entry the same way
 * (bench/serve/ab.ts builds an earlier revision's server with them).
 *
 * @example
 * await bundleServer('/app/server.mjs');
 */
export async function bundleServer(
  outfile: string,
  options: { readonly entry?: string; readonly nodePaths?: string[] } = {},
): Promise<void> {
  await build({
    entryPoints: [options.entry ?? ENTRY],
    ...(options.nodePaths === undefined ? {} : { nodePaths: options.nodePaths }),
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    sourcemap: 'inline',
    legalComments: 'none',
    logLevel: 'warning',
    // The AWS SDK has CommonJS parts that call require() for Node built-ins; an ESM bundle has no
    // require of its own, so give it one.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outfile = process.argv[2];
  if (outfile === undefined) {
    process.stderr.write('usage: tsx lib/serving/bundle.ts <outfile>\n');
    process.exit(2);
  }
  await bundleServer(outfile);
}
