/**
 * Every Lambda handler of the kit bundled by one esbuild call, cached by a content hash of what went
 * into each bundle, shared by every environment and every synthesis of the process (a memo) and by
 * every process on the machine (a directory). Free of aws-cdk-lib: `MlopsFunction` stages the bundles
 * into the cloud assembly, tests and benchmarks use this module alone.
 *
 * Why one in-process call instead of `NodejsFunction`: NodejsFunction spawns the esbuild binary once
 * per function per synthesis (~0.7 s each on a 2-core machine, ten handlers, three environments), and
 * the handlers do not depend on the environment. One `buildSync` with every stale entry point builds
 * them together in one esbuild service process; a warm cache builds nothing.
 *
 * The cache lives in `node_modules/.cache/mlops-kit/bundles/` (see {@link kitCacheDir}):
 * `node_modules/.cache` is where JavaScript tools keep derived files by convention (eslint, babel,
 * terser), so it is already ignored by git and by the trainer image's Docker context, it is per
 * checkout (two worktrees never mix their handlers), `rm -rf node_modules/.cache/mlops-kit` clears it,
 * and CI can keep it between runs as one directory (it survives `npm ci` only when restored, like any
 * cache). Layout:
 *
 *   entries/<entry>.json     the input list of the entry's last build (from esbuild's metafile)
 *   <input hash>/            index.mjs, index.mjs.map, bundle.json (hashes and sizes of both, written last)
 *
 * A bundle's key is the sha256 of the bundling options, the esbuild version, package.json,
 * package-lock.json, tsconfig.json and the path and contents of every input esbuild read for that
 * entry (handler, kit modules, node_modules files). A changed handler or dependency changes only the
 * keys of the bundles it feeds, and only those are rebuilt (still one esbuild call). Bundles appear
 * by `rename` of a finished directory, so a process killed mid-write leaves only a `.tmp-*` directory,
 * never a partial bundle; a bundle whose files do not have the sizes its `bundle.json` records (a
 * cache copied or damaged from outside) is rebuilt.
 *
 * @example
 * const cache = defaultBundleCache();
 * const bundle = cache.get(lambdaEntry('registry')); // { dir, hash } — built on the first call only
 * stageBundle(bundle, outputDir);                     // index.mjs + its map, paths relative to outputDir
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as esbuild from 'esbuild';
import { FUNCTION_ESBUILD_OPTIONS as BUILD_OPTIONS, kitCacheDir, PROJECT_ROOT } from './bundling';

/** Raised when the layout of the cache changes, so old entries are never read as new ones. */
const CACHE_FORMAT = 2;
const BUNDLE_FILE = 'index.mjs';
const MAP_FILE = 'index.mjs.map';
const META_FILE = 'bundle.json';
/** Leftovers of killed builds older than this are removed; younger ones may still be in flight. */
const STALE_TMP_MS = 10 * 60_000;

/** One built handler: its directory in the cache and the content hash CDK uses as the asset hash. */
export interface HandlerBundle {
  /** Absolute path of the handler module. */
  readonly entry: string;
  /** Cache directory holding `index.mjs` and `index.mjs.map`. */
  readonly dir: string;
  /** sha256 of `index.mjs` and the cached `index.mjs.map`: what the bundle is, whatever its inputs. */
  readonly hash: string;
}

export interface BundleCacheOptions {
  /**
   * The project whose handlers are bundled (tsconfig.json, package.json and package-lock.json are read
   * from it; esbuild runs with it as working directory, as NodejsFunction ran esbuild).
   * @default PROJECT_ROOT
   */
  readonly projectRoot?: string;
  /**
   * Where bundles are kept.
   * @default - `<kitCacheDir(projectRoot)>/bundles`
   */
  readonly cacheDir?: string;
  /**
   * The handlers built together on the first `get` of one of them; an entry outside this list is
   * built alone.
   * @default - every `*.ts` file directly under `<projectRoot>/lambdas/`
   */
  readonly entries?: readonly string[];
}

/** What this cache did, for tests and benchmarks. */
export interface BundleCacheStats {
  /** esbuild calls made (each builds every stale entry at once). */
  esbuildCalls: number;
  /** Entries built, in build order (absolute paths). */
  entriesBuilt: string[];
  /** Entries served from the cache directory without building. */
  entriesReused: string[];
}

interface EntryRecord {
  readonly format: number;
  readonly entry: string;
  readonly inputs: readonly string[];
}

interface BundleMeta {
  readonly format: number;
  readonly entry: string;
  readonly key: string;
  readonly hash: string;
  /** sha256 of each file. */
  readonly files: Record<string, string>;
  /** Byte size of each file. */
  readonly sizes: Record<string, number>;
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

export class BundleCache {
  readonly projectRoot: string;
  readonly cacheDir: string;
  readonly stats: BundleCacheStats = { esbuildCalls: 0, entriesBuilt: [], entriesReused: [] };
  private readonly entries: readonly string[];
  private readonly memo = new Map<string, HandlerBundle>();
  private readonly fileHashes = new Map<string, string>();
  private commonKey?: string;
  /** The entries the running {@link prefetch} builds, and its end. */
  private inFlight?: { readonly entries: ReadonlySet<string>; readonly done: Promise<void> };

  constructor(options: BundleCacheOptions = {}) {
    this.projectRoot = resolve(options.projectRoot ?? PROJECT_ROOT);
    this.cacheDir = resolve(options.cacheDir ?? join(kitCacheDir(this.projectRoot), 'bundles'));
    this.entries = (options.entries ?? defaultEntries(this.projectRoot)).map((e) => resolve(e));
  }

  /**
   * The bundle of `entry`. The first call resolves every known entry at once (one esbuild call for
   * all that are stale); later calls are answered from memory.
   */
  get(entry: string): HandlerBundle {
    const abs = resolve(entry);
    const known = this.memo.get(abs);
    if (known) return known;
    // A handler of the kit brings all of them (one call builds every stale one); any other module
    // (a test fixture) is built alone rather than paying for the kit's handlers.
    this.resolveAll(this.entries.includes(abs) ? this.entries.filter((e) => !this.memo.has(e)) : [abs]);
    return this.memo.get(abs)!;
  }

  /**
   * Builds every stale handler of the kit now, without blocking: esbuild works in its own process
   * (the other core) while this one goes on, e.g. loading aws-cdk-lib (bin/app.ts). After it
   * resolves, `get` answers from memory. On a warm cache it builds nothing.
   */
  async prefetch(): Promise<void> {
    const stale = this.lookupAll(this.entries.filter((e) => !this.memo.has(e)));
    if (stale.length === 0) return;
    const build = this.buildRequest(stale);
    const done = esbuild.build(build.options).then((result) => this.publish(stale, build, result));
    this.inFlight = { entries: new Set(stale), done };
    try {
      await done;
    } finally {
      this.inFlight = undefined;
    }
  }

  /**
   * While {@link prefetch} is building `entry`, the promise of that build's end (after which `get`
   * answers from memory); otherwise undefined. `MlopsFunction` uses it to build its function before
   * the bundle's hash is known (see `bindPendingBundles`).
   */
  building(entry: string): Promise<void> | undefined {
    const abs = resolve(entry);
    return this.inFlight?.entries.has(abs) && !this.memo.has(abs) ? this.inFlight.done : undefined;
  }

  private resolveAll(entries: string[]): void {
    const stale = this.lookupAll(entries);
    if (stale.length > 0) {
      const build = this.buildRequest(stale);
      this.publish(stale, build, esbuild.buildSync(build.options));
    }
  }

  /** Memoizes the cached bundles of `entries` and returns the entries that must be built. */
  private lookupAll(entries: string[]): string[] {
    const stale: string[] = [];
    for (const entry of entries) {
      const hit = this.lookup(entry);
      if (hit) {
        this.memo.set(entry, hit);
        this.stats.entriesReused.push(entry);
      } else stale.push(entry);
    }
    return stale;
  }

  /** The cached bundle of `entry` when its last build's inputs are unchanged and its files intact. */
  private lookup(entry: string): HandlerBundle | undefined {
    const record = readJson<EntryRecord>(this.recordPath(entry));
    if (!record || record.format !== CACHE_FORMAT || record.entry !== this.rel(entry)) return undefined;
    const key = this.keyOf(entry, record.inputs);
    return key ? this.bundleAt(entry, key) : undefined;
  }

  /** The bundle published under `key`, when whole. */
  private bundleAt(entry: string, key: string): HandlerBundle | undefined {
    const dir = join(this.cacheDir, key);
    const meta = readJson<BundleMeta>(join(dir, META_FILE));
    if (!meta || meta.format !== CACHE_FORMAT || meta.key !== key) return undefined;
    // Sizes, not hashes: files appear whole by rename, so what this catches is a cache damaged from
    // outside (a copy cut short, a full disk); re-hashing 20 MB of bundles each process would cost
    // more than the rest of the lookup.
    for (const [file, size] of Object.entries(meta.sizes ?? {})) {
      const path = join(dir, file);
      if (!existsSync(path) || statSync(path).size !== size) return undefined;
    }
    if (Object.keys(meta.sizes ?? {}).length !== 2) return undefined;
    return { entry, dir, hash: meta.hash };
  }

  /** The one esbuild call that builds `entries`. */
  private buildRequest(entries: string[]) {
    mkdirSync(this.cacheDir, { recursive: true });
    this.removeStaleTemporaries();
    const tag = `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    // Each output lands one level under the cache dir, the depth of its final `<key>/` directory,
    // so the map's relative source paths stay valid after the rename.
    const outs = entries.map((entry, i) => ({ in: entry, out: `${tag}-${i}/index` }));
    this.stats.esbuildCalls += 1;
    const options = {
      ...BUILD_OPTIONS,
      entryPoints: outs,
      outdir: this.cacheDir,
      outExtension: { '.js': '.mjs' },
      absWorkingDir: this.projectRoot,
      metafile: true,
      // esbuild writes the bundles into their temporary directories itself: 40 MB for the kit's 18
      // handlers, which this thread would otherwise receive through the service's pipe and write
      // out. In a cold synthesis the pipe is read only once the tree is built, when this thread is
      // the critical path: its profile had 0.18 s reading the pipe and 0.20 s publishing, now
      // 0.17 s publishing (reading and hashing the files). The files are what `write: false` returns.
      write: true,
      logLevel: 'warning',
    } satisfies esbuild.BuildOptions;
    return { tag, options, started: performance.now() };
  }

  /** Publishes what esbuild wrote for `entries` into the cache, each bundle whole. */
  private publish(
    entries: string[],
    { tag, started }: ReturnType<BundleCache['buildRequest']>,
    result: esbuild.BuildResult<{ metafile: true }>,
  ): void {
    this.fileHashes.clear();
    for (const [i, entry] of entries.entries()) {
      const tmp = join(this.cacheDir, `${tag}-${i}`);
      const written = (file: string) =>
        result.metafile.outputs[this.rel(join(tmp, file))] ? readFileOrUndefined(join(tmp, file)) : undefined;
      const js = written(BUNDLE_FILE);
      const map = written(MAP_FILE);
      if (!js || !map) throw new Error(`esbuild wrote no bundle for ${entry}`);
      const inputs = inputsOf(result.metafile, this.rel(entry));
      const key = this.keyOf(entry, inputs)!;
      const files = { [BUNDLE_FILE]: sha256(js), [MAP_FILE]: sha256(map) };
      const meta: BundleMeta = {
        format: CACHE_FORMAT,
        entry: this.rel(entry),
        key,
        hash: sha256(`${files[BUNDLE_FILE]}\n${files[MAP_FILE]}`),
        files,
        sizes: { [BUNDLE_FILE]: js.length, [MAP_FILE]: map.length },
      };
      writeFileSync(join(tmp, META_FILE), `${JSON.stringify(meta, null, 2)}\n`);
      const dir = join(this.cacheDir, key);
      publishDir(tmp, dir, () => this.bundleAt(entry, key) !== undefined);
      writeFileAtomic(
        this.recordPath(entry),
        `${JSON.stringify({ format: CACHE_FORMAT, entry: this.rel(entry), inputs } satisfies EntryRecord)}\n`,
      );
      this.memo.set(entry, { entry, dir, hash: meta.hash });
      this.stats.entriesBuilt.push(entry);
    }
    // What the cache did is visible where CDK's own "Bundling asset" lines go; a warm start says nothing.
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(
      `Bundled ${entries.length} handler${entries.length === 1 ? '' : 's'} in one esbuild call (${seconds} s) into ${this.cacheDir}\n`,
    );
  }

  /** The bundle key of `entry` over `inputs`, or undefined when an input is gone. */
  private keyOf(entry: string, inputs: readonly string[]): string | undefined {
    const h = createHash('sha256').update(this.common()).update(`entry ${this.rel(entry)}\n`);
    for (const input of inputs) {
      const hash = this.hashFile(join(this.projectRoot, input));
      if (!hash) return undefined;
      h.update(`${input} ${hash}\n`);
    }
    return h.digest('hex');
  }

  /** What every bundle depends on besides its own inputs. */
  private common(): string {
    if (this.commonKey === undefined) {
      const files = ['package.json', 'package-lock.json', 'tsconfig.json'].map(
        (f) => `${f} ${this.hashFile(join(this.projectRoot, f)) ?? '-'}`,
      );
      this.commonKey = [`format ${CACHE_FORMAT}`, `esbuild ${esbuild.version}`, JSON.stringify(BUILD_OPTIONS), ...files]
        .join('\n')
        .concat('\n');
    }
    return this.commonKey;
  }

  private hashFile(path: string): string | undefined {
    let hash = this.fileHashes.get(path);
    if (hash === undefined) {
      try {
        hash = sha256(readFileSync(path));
      } catch {
        return undefined;
      }
      this.fileHashes.set(path, hash);
    }
    return hash;
  }

  private rel(path: string): string {
    return relative(this.projectRoot, path).split(sep).join('/');
  }

  private recordPath(entry: string): string {
    return join(this.cacheDir, 'entries', `${this.rel(entry).replaceAll('/', '~')}.json`);
  }

  private removeStaleTemporaries(): void {
    const now = Date.now();
    for (const name of readdirSync(this.cacheDir)) {
      if (!name.startsWith('.tmp-')) continue;
      const path = join(this.cacheDir, name);
      try {
        if (now - statSync(path).mtimeMs > STALE_TMP_MS) rmSync(path, { recursive: true, force: true });
      } catch {
        // Another process removed it first.
      }
    }
  }
}

/**
 * Every file esbuild read for `entry`: its import graph in the metafile. Not the output's `inputs`,
 * which leaves out modules that contribute no bytes (a constant esbuild inlined), though editing one
 * changes the bundle.
 */
function inputsOf(metafile: esbuild.Metafile, entry: string): string[] {
  const seen = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const input = metafile.inputs[path];
    if (seen.has(path) || !input) continue;
    seen.add(path);
    for (const i of input.imports) if (!i.external) stack.push(i.path);
  }
  return [...seen].sort();
}

/**
 * Writes `bundle` into `outputDir` as esbuild would have written it there: `index.mjs` unchanged,
 * and the map's `sources` made relative to `outputDir` (esbuild writes them relative to the output
 * file, and the cache is elsewhere), so stack traces of a staged bundle name the real sources.
 */
export function stageBundle(bundle: HandlerBundle, outputDir: string): void {
  mkdirSync(outputDir, { recursive: true });
  copyFileSync(join(bundle.dir, BUNDLE_FILE), join(outputDir, BUNDLE_FILE));
  const map = readFileSync(join(bundle.dir, MAP_FILE), 'utf8');
  writeFileSync(join(outputDir, MAP_FILE), relocateSourceMap(map, bundle.dir, outputDir));
}

/**
 * Moves a finished directory into place. A directory already there that `keep` accepts was published
 * by another process for the same key (same inputs, same bytes) and may be being read: ours is
 * dropped. One `keep` refuses (damaged, or being refreshed) is replaced.
 */
export function publishDir(tmp: string, dir: string, keep: (dir: string) => boolean): void {
  try {
    if (existsSync(dir) && keep(dir)) {
      rmSync(tmp, { recursive: true, force: true });
      return;
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Writes `path` whole or not at all (a temporary file renamed into place). */
export function writeFileAtomic(path: string, data: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** The bytes of `path`, or undefined when it is missing. */
function readFileOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

/** The JSON in `path`, or undefined when it is missing or not JSON. */
export function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function defaultEntries(projectRoot: string): string[] {
  const dir = join(projectRoot, 'lambdas');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Rewrites a source map's `sources` (relative to `fromDir`) to be relative to `toDir`, touching no
 * other byte: esbuild prints the array on one line, `"sources": [...]`, each path a JSON string.
 */
export function relocateSourceMap(map: string, fromDir: string, toDir: string): string {
  if (resolve(fromDir) === resolve(toDir)) return map;
  const start = map.indexOf('"sources": [');
  if (start < 0) return map;
  const open = start + '"sources": '.length;
  const close = map.indexOf('],\n', open);
  if (close < 0) return map;
  const sources = JSON.parse(map.slice(open, close + 1)) as string[];
  const moved = sources.map((s) => {
    if (isAbsolute(s) || /^[a-z]+:/i.test(s)) return s;
    return relative(toDir, resolve(fromDir, s)).split(sep).join('/');
  });
  return `${map.slice(0, open)}[${moved.map((s) => JSON.stringify(s)).join(', ')}]${map.slice(close + 1)}`;
}

const caches = new Map<string, BundleCache>();

/**
 * The process-wide cache every `MlopsFunction` uses: one per cache directory, so that each
 * environment and each synthesis in the process shares the bundles built by the first.
 */
export function defaultBundleCache(): BundleCache {
  const probe = new BundleCache();
  const known = caches.get(probe.cacheDir);
  if (known) return known;
  caches.set(probe.cacheDir, probe);
  return probe;
}
