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
 * Writes the bundle to `outfile`.
 *
 * @example
 * await bundleServer('/app/server.mjs');
 */
export async function bundleServer(outfile: string): Promise<void> {
  await build({
    entryPoints: [ENTRY],
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
