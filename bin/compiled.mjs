/**
 * A kit entry under bin/ (`<name>.ts`) compiled once into one ES module and run by plain Node:
 * bin/app.mjs (the CDK app, what cdk.json runs) and bin/synth-local.mjs (the local stage as
 * `mlops up` synthesizes it). tsx would transform and resolve each of the kit's ~110 modules through
 * its loader thread on every run (about 0.6 s of CPU on the 2-core machine); a compiled entry costs
 * a hash of its sources.
 *
 * The compiled entry is cached by a content hash of its inputs: every kit module esbuild read for it
 * (from the last build's metafile), package.json, package-lock.json (the versions of the packages it
 * imports, which stay outside the bundle and resolve from the project's node_modules as they did),
 * tsconfig.json, the esbuild version and the options below. A changed module rebuilds it (one
 * esbuild call, ~0.2 s). `import.meta.url` in each module is its own source file's URL, as under
 * tsx, so the paths the kit derives from it (the project root, handler entries) are unchanged; with
 * `--enable-source-maps` stack traces name the TypeScript sources.
 *
 * Layout, under `<kit cache>/<name>/` (`MLOPS_CACHE_DIR` or node_modules/.cache/mlops-kit):
 *
 *   inputs.json   the inputs of the last build
 *   <key>/        app.mjs, its chunks and their maps, published by rename
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Raised when the layout or the build changes in a way the key does not show. */
const FORMAT = 2;
const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * A `require()` for the bundled CommonJS code and the required packages (esbuild's shim reaches
 * for the global one), which an ES module does not have: each chunk declares one.
 */
export const REQUIRE_BANNER =
  "import { createRequire as __kitCreateRequire } from 'node:module'; const require = __kitCreateRequire(import.meta.url);";
// Split at the entry's dynamic imports, so aws-cdk-lib loads where it does under tsx (bin/app.ts:
// after the handler bundling has started).
const OPTIONS = {
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'linked',
  sourcesContent: false,
  entryNames: 'app',
  outExtension: { '.js': '.mjs' },
  banner: { js: REQUIRE_BANNER },
};

const sha256 = (data) => createHash('sha256').update(data).digest('hex');
const readJson = (path) => {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
};

/** The key of a build over `inputs` (paths relative to the project), or undefined when one is gone. */
function keyOf(inputs) {
  const esbuildVersion = readJson(join(root, 'node_modules', 'esbuild', 'package.json'))?.version;
  const h = createHash('sha256').update(`format ${FORMAT}\nesbuild ${esbuildVersion}\n${JSON.stringify(OPTIONS)}\n`);
  for (const file of ['package.json', 'package-lock.json', 'tsconfig.json', ...inputs]) {
    try {
      h.update(`${file} ${sha256(readFileSync(join(root, file)))}\n`);
    } catch {
      return undefined;
    }
  }
  return h.digest('hex');
}

/** Compiles `entry` into `cacheDir` and returns its key. */
async function build(entry, cacheDir) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    ...OPTIONS,
    entryPoints: [entry],
    // At the depth of its final `<key>/` directory, so the maps' relative source paths stay valid.
    outdir: join(cacheDir, 'build'),
    absWorkingDir: root,
    metafile: true,
    write: false,
    logLevel: 'warning',
    plugins: [sourceLocationsPlugin({ required: (name) => APP_REQUIRED.has(name) })],
  });
  const inputs = Object.keys(result.metafile.inputs)
    .filter((p) => !p.startsWith('node_modules/') && !p.includes(':'))
    .map((p) => relative(root, join(root, p)).split(sep).join('/'))
    .sort();
  const key = keyOf(inputs);
  const tmp = join(cacheDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(tmp, { recursive: true });
  for (const file of result.outputFiles) writeFileSync(join(tmp, basename(file.path)), file.contents);
  const dir = join(cacheDir, key);
  try {
    renameSync(tmp, dir);
  } catch {
    // Another process published the same build first.
    rmSync(tmp, { recursive: true, force: true });
  }
  const record = join(cacheDir, `inputs.json.${process.pid}.tmp`);
  writeFileSync(record, JSON.stringify({ format: FORMAT, inputs }));
  renameSync(record, join(cacheDir, 'inputs.json'));
  return key;
}

/**
 * The esbuild plugin that keeps a bundled module's view of where it is (bin/fast-entry.mjs uses it
 * too). Packages stay outside, resolved as the kit's modules resolve them (bin/ and lib/ share
 * node_modules), by absolute URL: a bundle lives in a cache that may be anywhere; `bundled(name)`
 * names the packages (by their package name) that go into the bundle instead. Node's own modules
 * always stay outside. A kit module's static import of a CommonJS package that `required(name)`
 * names becomes a `require()` of the file Node resolves it to, by absolute path (see
 * {@link REQUIRE}). Each module keeps its own URL, as tsx runs it: `import.meta.url` (an
 * expression, never text in a string) names a constant each module that reads it declares, on its
 * first line (the plugin sets the build's `define` for it), so the source map's lines stay the
 * source's.
 */
export function sourceLocationsPlugin({ bundled = () => false, required = () => false } = {}) {
  return {
    name: 'mlops-kit-source-locations',
    setup(b) {
      // Each `import.meta.*` expression names the constant the module declares below.
      b.initialOptions.define = {
        ...b.initialOptions.define,
        'import.meta.url': '__kitMeta_url',
        'import.meta.dirname': '__kitMeta_dirname',
        'import.meta.filename': '__kitMeta_filename',
      };
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        if (!isBuiltin(args.path) && bundled(packageName(args.path))) return undefined;
        const url = import.meta.resolve(args.path);
        const kitImport = args.kind === 'import-statement' && !args.importer.includes(`${sep}node_modules${sep}`);
        if (kitImport && url.startsWith('file:') && required(packageName(args.path)) && isCommonJs(fileURLToPath(url))) {
          return { path: fileURLToPath(url), namespace: REQUIRE };
        }
        // A `require()` (in a bundled CommonJS package) takes a path, not a file URL.
        const path = args.kind === 'require-call' && url.startsWith('file:') ? fileURLToPath(url) : url;
        return { path, external: true };
      });
      b.onLoad({ filter: /.*/, namespace: REQUIRE }, (args) => ({
        loader: 'js',
        contents: `module.exports = require(${JSON.stringify(args.path)});`,
      }));
      b.onResolve({ filter: /.*/, namespace: REQUIRE }, (args) => ({ path: args.path, external: true }));
      // A bundled package's ES modules (.js, .mjs) keep theirs the same way.
      b.onLoad({ filter: /\.(ts|m?js)$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        if (!source.includes('import.meta')) return undefined;
        const meta = { url: pathToFileURL(args.path).href, dirname: dirname(args.path), filename: args.path };
        const consts = Object.entries(meta).map(([k, v]) => `const __kitMeta_${k} = ${JSON.stringify(v)};`).join(' ');
        return { loader: args.path.endsWith('.ts') ? 'ts' : 'js', contents: `${consts} ${source}` };
      });
    },
  };
}

/**
 * The namespace of the one-line CommonJS modules that stand for a package's static import:
 * `module.exports = require("<the file Node resolves the import to>")`. Imported as an ES module,
 * a CommonJS file is lexed for its export names, and the namespace Node builds reads each of
 * them, which for aws-cdk-lib's index loads the modules it defers (node -e, the 37 aws-cdk-lib,
 * constructs and cdk-nag modules the kit imports, none used: 0.94 s of CPU imported against 0.20 s
 * required; a warm synthesis of all three environments, which uses most of them, 4.5–4.9 against
 * 5.0 s, loaded). esbuild's interop gives the importing module the same names, read when used, and
 * `default` is `module.exports`, as Node gives it.
 */
const REQUIRE = 'mlops-kit-require';

/** Whether Node loads `file` as CommonJS: `.cjs`, or `.js` in a package that is not `"type": "module"` and has no `import`/`export` statement (Node 20 detects those). */
function isCommonJs(file) {
  if (file.endsWith('.cjs')) return true;
  if (!file.endsWith('.js')) return false;
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    let pkg;
    try {
      pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (pkg.type === 'module') return false;
    break;
  }
  return !/^[ \t]*(import[ \t]*[{*'"]|import[ \t]+[\w$]|export[ \t]+[\w{*])/m.test(readFileSync(file, 'utf8'));
}

/**
 * The CommonJS packages the compiled kit entries (the CDK app, the local stage's synthesis)
 * require rather than import: aws-cdk-lib, constructs, cdk-nag and what else the app imports.
 */
const APP_REQUIRED = new Set(['aws-cdk-lib', 'constructs', 'cdk-nag', '@aws-cdk/lambda-layer-kubectl-v36', 'esbuild']);

/** The package a bare specifier names: `@scope/name` or `name`. */
export const packageName = (specifier) => specifier.split('/', specifier.startsWith('@') ? 2 : 1).join('/');

/**
 * How the esbuild service of this process manages its memory: Go's collector stays off until the
 * heap nears 1 GiB (`GOGC=off GOMEMLIMIT=1GiB`, read by the service when it is spawned, on the first
 * esbuild call: this app's compile or the handler bundles). The processes runCompiled runs are
 * one-shot (a `cdk synth`, the local stage's synthesis), as esbuild's own CLI is, which switches its
 * collector off for a build. A cold build of the 18 handler bundles then costs ~3.2 s of esbuild CPU
 * instead of ~4.0 s, with the same peak (~1.0 GB, the default collector's too) and the same bytes
 * (`GOGC=off` alone: ~3.0 s but 1.4 GB). A user's own GOGC or GOMEMLIMIT is left as it is.
 */
function oneShotEsbuildMemory() {
  if (process.env.GOGC !== undefined || process.env.GOMEMLIMIT !== undefined) return;
  process.env.GOGC = 'off';
  process.env.GOMEMLIMIT = '1GiB';
}

/**
 * Runs `bin/<name>.ts` compiled, from `<kit cache>/<name>/` (`MLOPS_CACHE_DIR` or
 * node_modules/.cache/mlops-kit), compiling it first when its sources changed since the last build;
 * then `globalThis.mlopsKitAppBuilt` is true (bin/app.ts expects new templates).
 */
export async function runCompiled(name) {
  oneShotEsbuildMemory();
  const entry = join(root, 'bin', `${name}.ts`);
  const cacheDir = join(process.env.MLOPS_CACHE_DIR || join(root, 'node_modules', '.cache', 'mlops-kit'), name);
  const last = readJson(join(cacheDir, 'inputs.json'));
  let key = last?.format === FORMAT ? keyOf(last.inputs) : undefined;
  if (!key || !existsSync(join(cacheDir, key, 'app.mjs'))) {
    key = await build(entry, cacheDir);
    globalThis.mlopsKitAppBuilt = true;
  }
  await import(pathToFileURL(join(cacheDir, key, 'app.mjs')).href);
}
