// The bundled entries of the `mlops` CLI, kept in node_modules/.cache/mlops-kit/cli/ (or
// $MLOPS_CACHE_DIR/cli/) and rebuilt only when what went into them changed:
//
//   mlops   bin/mlops.ts, the whole CLI: a command initializes its own modules when it runs
//           (esbuild's lazily initialized modules at the CLI's dynamic imports)
//   train   bin/mlops-train.ts, `mlops train`/`mlops predict` alone (what a training job starts)
//
// Each is one CommonJS file run as a `vm.Script` with V8's code cache of what the same command
// compiled on its last successful run (`<entry>.<command>.code-cache` beside it, written after the
// command ends, by rename). Node 20 keeps no compile cache for ES modules: split into ES module
// chunks, `executions` compiled ~5 MB of them on every start (~15% of its CPU), where the cache is
// deserialized instead. A cache V8 rejects (another Node, other flags) is only slower, and replaced.
//
// Why: under tsx every start compiles each module the CLI imports through tsx's loader, 1–2.5 s on
// a 2-core machine. A bundle is plain JavaScript of the kit's own modules and of the pure-JavaScript
// packages they import (the AWS SDK, aws-local-stepfunctions, zod, commander, ...): Node would
// otherwise resolve, read, sniff the format of and lex for exports each of their ~700 files on
// every start (about 0.3–0.4 s of CPU per command). The packages in KEEP_EXTERNAL stay external,
// imported by the absolute URL they resolve to from the project (so the cache may live anywhere).
// `import.meta.url`/`dirname`/`filename` in each module are its own source file's, as under tsx,
// so the paths the kit and the packages derive from them are unchanged.
//
// Freshness: the manifest records every input esbuild read (from its metafile), with package.json,
// package-lock.json and tsconfig.json, each with its size, mtime and content hash. A start stats
// those inputs; only when one differs are they hashed, and only when a content hash differs is the
// bundle rebuilt (one esbuild call, ~0.3 s). A bundle is a directory named by the hash of its
// inputs; its files appear by rename, the entry last, so a concurrent or killed build never leaves
// a partial bundle to run. Bundles unused for a day are removed (a running process may still load
// a chunk of its own bundle later). Any failure here falls back to the tsx launcher.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import vm from 'node:vm';
import { packageName, sourceLocationsPlugin } from './compiled.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRIES = { mlops: join(ROOT, 'bin', 'mlops.ts'), train: join(ROOT, 'bin', 'mlops-train.ts') };
/** Not read by esbuild, but they decide what the external imports resolve to and how TS compiles. */
const PROJECT_FILES = ['package.json', 'package-lock.json', 'tsconfig.json'];
const FORMAT = 4;
/**
 * Packages a bundle must not carry: each finds files relative to its own directory at run time.
 * Whatever they import stays theirs (resolved from node_modules as Node resolves it). All three are
 * CommonJS: a kit module's static import of one is a `require()` of its file (compiled.mjs).
 */
const KEEP_EXTERNAL = new Set([
  // DuckDB's native addon: the bindings package requires its platform package's `duckdb.node`,
  // found from its install directory. The API above it (@duckdb/node-api, ~180 CommonJS files that
  // require the bindings by name and nothing beside them) goes into the bundle.
  '@duckdb/node-bindings',
  // Runs its platform binary, found from its own package directory.
  'esbuild',
  // Its storage (`level` -> `classic-level`) loads a native addon, it requires each action by a
  // computed path, and it reads its TLS files from `__dirname`.
  'dynalite',
]);
const bundled = (name) => !KEEP_EXTERNAL.has(name);

/**
 * The names a Node `import()` of each of `specifiers` gives (from the project, where the kit's
 * modules resolve them), read in one child process: importing a package runs it.
 */
const importNames = (specifiers) =>
  new Promise((resolve, reject) => {
    // An `-e` module resolves from the working directory.
    const code = `const out = {}; for (const s of process.argv.slice(1)) out[s] = Object.keys(await import(s));
process.stdout.write(JSON.stringify(out));`;
    execFile(process.execPath, ['--no-warnings', '--input-type=module', '-e', code, ...specifiers], { cwd: ROOT }, (err, stdout) =>
      err ? reject(err) : resolve(JSON.parse(stdout)),
    );
  });

/**
 * `import('<package>')` in a kit module, of a bundled package, as Node answers it. Split at a
 * dynamic import, esbuild gives a CommonJS package's chunk a default export only
 * (evanw/esbuild#3245), where Node gives its named exports too (`const { stringify } = await
 * import('yaml')`). Such an import goes to a module of this plugin's that re-exports, statically,
 * the names Node's own `import()` of the package lists, so esbuild links each name as a static
 * import would. The names are read in a child process, the specifiers a build asks for within 50
 * ms in one, and kept in `<cache>/export-names.json` while package-lock.json is unchanged.
 */
function dynamicImports(cacheFile) {
  return {
    name: 'mlops-kit-dynamic-imports',
    setup(b) {
      const lock = sha256(readFileSync(join(ROOT, 'package-lock.json')));
      let known = {};
      try {
        const saved = JSON.parse(readFileSync(cacheFile, 'utf8'));
        if (saved.lock === lock) known = saved.names;
      } catch {
        // none yet
      }
      let batch;
      const namesOf = (specifier) => {
        if (known[specifier]) return Promise.resolve(known[specifier]);
        if (!batch) {
          const specifiers = [];
          const read = new Promise((r) => setTimeout(r, 50)).then(() => {
            batch = undefined;
            return importNames(specifiers);
          });
          batch = { specifiers, read };
        }
        const { specifiers, read } = batch;
        if (!specifiers.includes(specifier)) specifiers.push(specifier);
        return read.then((names) => {
          known = { ...known, [specifier]: names[specifier] };
          writeFileSync(`${cacheFile}.${process.pid}.tmp`, JSON.stringify({ lock, names: known }));
          renameSync(`${cacheFile}.${process.pid}.tmp`, cacheFile);
          return names[specifier];
        });
      };
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (args.kind !== 'dynamic-import' || isBuiltin(args.path) || !bundled(packageName(args.path))) return undefined;
        // A package's own `import()`s are of its ES module builds.
        if (args.importer.includes(`${sep}node_modules${sep}`)) return undefined;
        return { path: args.path, namespace: 'mlops-kit-dynamic-import' };
      });
      b.onLoad({ filter: /.*/, namespace: 'mlops-kit-dynamic-import' }, async (args) => {
        const names = (await namesOf(args.path)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
        return { loader: 'js', resolveDir: ROOT, contents: `export { ${names.join(', ')} } from ${JSON.stringify(args.path)};` };
      });
    },
  };
}

/**
 * What a bundle's function (the whole file) takes, in the order runBundle passes them: no
 * `__dirname` or `__filename`, which bundled code must not use (test/cli/fast-entry.test.ts).
 */
const SCRIPT_PARAMETERS = 'exports, require, module, __kitMeta_resolve';

const DAY_MS = 24 * 3600_000;
// This file's text and compiled.mjs's (the source-locations plugin) decide how bundles are built: a
// change to either makes every bundle stale.
const BUILDER = createHash('sha256')
  .update(readFileSync(fileURLToPath(import.meta.url)))
  .update(readFileSync(fileURLToPath(new URL('./compiled.mjs', import.meta.url))))
  .digest('hex');

const cacheDir = () =>
  join(process.env['MLOPS_CACHE_DIR'] || join(ROOT, 'node_modules', '.cache', 'mlops-kit'), 'cli');

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

function fresh(manifest) {
  if (manifest?.format !== FORMAT || manifest.builder !== BUILDER) return false;
  if (!existsSync(join(cacheDir(), manifest.dir, manifest.entry))) return false;
  let touched = false;
  for (const input of manifest.inputs) {
    let st;
    try {
      st = statSync(join(ROOT, input.path));
    } catch {
      return false;
    }
    if (st.size === input.size && st.mtimeMs === input.mtimeMs) continue;
    if (sha256(readFileSync(join(ROOT, input.path))) !== input.sha256) return false;
    input.size = st.size;
    input.mtimeMs = st.mtimeMs;
    touched = true;
  }
  return touched ? 'touched' : true;
}

async function build(name, manifestFile) {
  const esbuild = await import('esbuild');
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [ENTRIES[name]],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // A script, which V8 can cache compiled (see runBundle); the function the banner opens takes `require`.
    format: 'cjs',
    entryNames: name,
    outExtension: { '.js': '.cjs' },
    outdir: join(dir, 'build'),
    // The one `import.meta` a CommonJS file has no stand-in for (sourceLocationsPlugin defines the others).
    define: { 'import.meta.resolve': '__kitMeta_resolve' },
    // No source map: its text would stay in the heap of every process (~10 MB for a training job).
    metafile: true,
    write: false,
    logLevel: 'silent',
    // The file is the function runBundle calls (no 8 MB copy to wrap it at every start): given what
    // a CommonJS module is given, and `import.meta.resolve`.
    banner: { js: `(function (${SCRIPT_PARAMETERS}) {` },
    footer: { js: '})' },
    plugins: [dynamicImports(join(dir, 'export-names.json')), sourceLocationsPlugin({ bundled, required: (name) => KEEP_EXTERNAL.has(name) })],
  });
  const read = Object.keys(result.metafile.inputs)
    .filter((p) => !p.includes(':'))
    .map((p) => relative(ROOT, join(ROOT, p)).split(sep).join('/'));
  const inputs = [...new Set([...read, ...PROJECT_FILES])].sort().map((path) => {
    const abs = join(ROOT, path);
    const st = statSync(abs);
    return { path, size: st.size, mtimeMs: st.mtimeMs, sha256: sha256(readFileSync(abs)) };
  });
  const key = sha256(JSON.stringify([BUILDER, esbuild.version, inputs.map((i) => [i.path, i.sha256])]));
  const bundleDir = `${name}-${key.slice(0, 16)}`;
  const entry = `${name}.cjs`;
  mkdirSync(join(dir, bundleDir), { recursive: true });
  // Chunks first, the entry last: a bundle whose entry exists is whole. The same key is the same
  // content, so replacing a file another process is reading changes nothing it sees.
  const files = result.outputFiles.sort((a, b) => Number(basename(a.path) === entry) - Number(basename(b.path) === entry));
  for (const file of files) {
    const target = join(dir, bundleDir, basename(file.path));
    writeFileSync(`${target}.${process.pid}.tmp`, file.contents);
    renameSync(`${target}.${process.pid}.tmp`, target);
  }
  writeFileSync(`${manifestFile}.${process.pid}.tmp`, JSON.stringify({ format: FORMAT, builder: BUILDER, dir: bundleDir, entry, inputs }));
  renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
  // Earlier bundles are dead weight once nothing has started from them for a day.
  for (const other of readdirSync(dir)) {
    if (!other.startsWith(`${name}-`) || other === bundleDir) continue;
    try {
      if (Date.now() - statSync(join(dir, other)).mtimeMs > DAY_MS) rmSync(join(dir, other), { recursive: true, force: true });
    } catch {
      // removed by a concurrent build
    }
  }
  return { dir: bundleDir, entry };
}

/** The file URL of a current bundle of entry `name`, built if needed; undefined if it cannot be. */
async function bundle(name) {
  const manifestFile = join(cacheDir(), `${name}.json`);
  try {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    } catch {
      manifest = undefined;
    }
    const state = fresh(manifest);
    if (state === 'touched') {
      writeFileSync(`${manifestFile}.${process.pid}.tmp`, JSON.stringify(manifest));
      renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
    }
    const { dir, entry } = state ? manifest : await build(name, manifestFile);
    const bundleDir = join(cacheDir(), dir);
    // In use: the age the pruning above goes by, refreshed at most hourly.
    if (state && Date.now() - statSync(bundleDir).mtimeMs > DAY_MS / 24) utimesSync(bundleDir, new Date(), new Date());
    return pathToFileURL(join(bundleDir, entry)).href;
  } catch {
    return undefined;
  }
}

/** The file URL of a current bundle of bin/mlops.ts (the whole CLI), built if needed; undefined if it cannot be. */
export const cliBundle = () => bundle('mlops');

/** The file URL of a current bundle of bin/mlops-train.ts, built if needed; undefined if it cannot be. */
export const trainBundle = () => bundle('train');

/**
 * Runs the bundle at file URL `url` (from cliBundle or trainBundle): its `main()`, compiled from the
 * code cache `command` left, if any. Resolves false, having run nothing, when the bundle cannot be
 * read (pruned by a concurrent rebuild); whatever the command throws propagates.
 */
export async function runBundle(url, command) {
  const file = fileURLToPath(url);
  const code = readScript(file);
  if (code === undefined) return false;
  const { script, cacheFile, cached } = compile(file, code, command);
  const module = { exports: {} };
  // `import.meta.resolve` of the kit's modules (a package's entry: `tsx`) from bin/, beside lib/.
  const resolve = (specifier) => import.meta.resolve(specifier);
  script.runInThisContext()(module.exports, createRequire(file), module, resolve);
  await module.exports.main();
  // After a successful run the functions it compiled are in the cache; a failed command may have
  // been a typo, whose cache would never be used.
  if (!cached && (process.exitCode ?? 0) === 0) {
    try {
      writeFileSync(`${cacheFile}.${process.pid}.tmp`, script.createCachedData());
      renameSync(`${cacheFile}.${process.pid}.tmp`, cacheFile);
    } catch {
      // a read-only or vanished cache: the next start compiles again
    }
  }
  return true;
}

/**
 * The bundle compiled with the best code cache there is: the command's own, or for `up` without
 * one, the cache `mlops warm` left. `cached`: the command's own cache served (else the caller writes
 * it after a successful run). The cache buffers are garbage once this returns (`up` runs for hours).
 */
function compile(file, code, command) {
  // A command name, or `-` for none (`--help`, a typo of an option): one cache per command.
  const cacheFile = `${file}.${/^[a-z][a-z-]{0,31}$/.test(command ?? '') ? command : '-'}.code-cache`;
  const own = readCache(cacheFile);
  // `up` writes its own cache only when it ends cleanly (Ctrl-C), so the first `npm start` after
  // `npm ci` compiles from warm's: warm starts the same platform, so it compiled most of what up
  // does (up --no-startup to ready, loaded: ~0.1-0.25 s of CPU less than no cache).
  const fallback = own === undefined && command === 'up' ? `${file}.warm.code-cache` : undefined;
  const script = new vm.Script(code, {
    filename: file,
    cachedData: own ?? (fallback === undefined ? undefined : readCache(fallback)),
    // The bundle's `import()`s left to Node (its own modules) resolve as the launcher's would.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  // cachedDataRejected: undefined without a cache, true for one V8 rejected.
  const rejected = script.cachedDataRejected;
  const cached = own !== undefined && rejected === false;
  if (process.env.MLOPS_CLI_TRACE === '1') {
    // Which cache the script was compiled with, and whether V8 took it (the tests read this).
    const used = rejected === undefined ? 'none' : basename(own !== undefined || fallback === undefined ? cacheFile : fallback);
    process.stderr.write(`mlops launcher: code cache ${used}${rejected === undefined ? '' : rejected ? ' rejected' : ' accepted'}\n`);
  }
  return { script, cacheFile, cached };
}

function readScript(file) {
  try {
    // esbuild escapes every non-ASCII character of the code (its default charset), so Latin-1 reads
    // it into a one-byte string (~3x cheaper than UTF-8 here); only a few kept comments differ.
    return readFileSync(file, 'latin1');
  } catch {
    return undefined;
  }
}

function readCache(file) {
  try {
    return readFileSync(file);
  } catch {
    return undefined; // not cached yet
  }
}
