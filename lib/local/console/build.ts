/**
 * The console's build: `lib/console/main.tsx` bundled by esbuild into `console/app.js` and
 * `console/app.css` beside `index.html`, everything from node_modules (no CDN, works offline).
 *
 * Cached like the Lambda bundles (`lib/constructs/bundle-cache.ts`): the key is the sha256 of the
 * build options, the esbuild version, package-lock.json and the path and contents of every file
 * under `lib/console/` (the console imports nothing else of the kit, ESLint sees to it), and a build
 * appears under `<kit cache>/console/<key>/` by renaming a finished directory, so a second
 * `mlops up` on the same sources costs one directory walk and no esbuild call, and two starts at
 * once never see half a build.
 *
 * @example
 * const dir = await buildConsole(); // '<repo>/node_modules/.cache/mlops-kit/console/<hash>'
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import * as esbuild from 'esbuild';
import { publishDir } from '../../constructs/bundle-cache';
import { kitCacheDir, PROJECT_ROOT } from '../../constructs/bundling';

/** Raised when the build's layout changes, so an old build is never served as a new one. */
const CACHE_FORMAT = 1;
/** Written last: a directory without it is not a finished build. */
const MANIFEST = 'build.json';

/** The files of a build, relative to its directory. */
export const CONSOLE_FILES = ['index.html', 'console/app.js', 'console/app.css'] as const;

const OPTIONS: esbuild.BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome120', 'firefox120', 'safari17'],
  minify: true,
  sourcemap: 'linked',
  sourcesContent: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  legalComments: 'linked',
  logLevel: 'silent',
  loader: { '.css': 'css' },
};

export interface ConsoleBuildOptions {
  /** @default the kit's `lib/console` */
  readonly sourceDir?: string;
  /** @default `<kit cache>/console` */
  readonly cacheDir?: string;
}

/** The console's sources and everything that decides their bundle, hashed. */
export function consoleKey(sourceDir: string): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ CACHE_FORMAT, esbuild: esbuild.version, OPTIONS }));
  const lock = join(PROJECT_ROOT, 'package-lock.json');
  if (existsSync(lock)) hash.update(readFileSync(lock));
  for (const file of walk(sourceDir)) {
    hash.update(`\0${relative(sourceDir, file)}\0`);
    hash.update(readFileSync(file));
  }
  return hash.digest('hex').slice(0, 32);
}

/** Builds the console, or finds the build of the same sources; resolves to its directory. */
export async function buildConsole(options: ConsoleBuildOptions = {}): Promise<string> {
  const sourceDir = options.sourceDir ?? join(PROJECT_ROOT, 'lib', 'console');
  const cacheDir = options.cacheDir ?? join(kitCacheDir(), 'console');
  const dir = join(cacheDir, consoleKey(sourceDir));
  if (isComplete(dir)) return dir;

  mkdirSync(cacheDir, { recursive: true });
  const tmp = join(cacheDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const result = await esbuild.build({
      ...OPTIONS,
      absWorkingDir: PROJECT_ROOT,
      entryPoints: { app: join(sourceDir, 'main.tsx') },
      outdir: join(tmp, 'console'),
      metafile: false,
    });
    if (result.errors.length > 0) throw new Error(result.errors.map((e) => e.text).join('\n'));
    copyFileSync(join(sourceDir, 'index.html'), join(tmp, 'index.html'));
    const sizes = Object.fromEntries(CONSOLE_FILES.map((f) => [f, statSync(join(tmp, f)).size]));
    writeFileSync(join(tmp, MANIFEST), `${JSON.stringify({ format: CACHE_FORMAT, sizes }, null, 2)}\n`);
    publishDir(tmp, dir, isComplete);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`the console could not be built: ${(e as Error).message}`, { cause: e });
  }
  return dir;
}

/** A finished build whose files have the sizes its manifest records. */
function isComplete(dir: string): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as { sizes?: Record<string, number> };
    return CONSOLE_FILES.every((f) => statSync(join(dir, f)).size === manifest.sizes?.[f]);
  } catch {
    return false;
  }
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}
