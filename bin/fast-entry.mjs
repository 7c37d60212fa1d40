// The bundled `mlops train`/`mlops predict` entry (bin/mlops-train.ts), kept in
// node_modules/.cache/mlops-kit/cli/ and rebuilt only when what went into it changed.
//
// Why: under tsx every start compiles the whole CLI (every command's modules and what they import),
// 1–2.5 s on a 2-core machine, which is most of a 200,000-row training job. The bundle is plain
// JavaScript of the kit's own modules (packages stay external, resolved from node_modules as usual).
//
// Freshness: the manifest records every input esbuild read (from its metafile) with its size, mtime
// and content hash. A start stats those inputs (~20 files); only when one differs are they hashed,
// and only when a content hash differs is the bundle rebuilt (one esbuild call, ~0.3 s). Bundles are
// named by the hash of their inputs and appear by rename, so a concurrent or killed build never leaves
// a partial bundle to run. Any failure here falls back to the tsx launcher.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ENTRY = join(ROOT, 'bin', 'mlops-train.ts');
const FORMAT = 1;
// This file's own text decides how bundles are built: a change to it makes every bundle stale.
const BUILDER = createHash('sha256').update(readFileSync(fileURLToPath(import.meta.url))).digest('hex');

const cacheDir = () =>
  join(process.env['MLOPS_CACHE_DIR'] || join(ROOT, 'node_modules', '.cache', 'mlops-kit'), 'cli');

const sha256 = (data) => createHash('sha256').update(data).digest('hex');

function fresh(manifest) {
  if (manifest?.format !== FORMAT || manifest.builder !== BUILDER) return false;
  if (!existsSync(join(cacheDir(), manifest.bundle))) return false;
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

async function build(manifestFile) {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    absWorkingDir: ROOT,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    // No inline source map: its text would stay in the heap of every training process (~10 MB).
    metafile: true,
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles[0].contents;
  const inputs = Object.keys(result.metafile.inputs).map((path) => {
    const abs = join(ROOT, path);
    const st = statSync(abs);
    return { path: relative(ROOT, abs), size: st.size, mtimeMs: st.mtimeMs, sha256: sha256(readFileSync(abs)) };
  });
  const key = sha256(JSON.stringify([BUILDER, esbuild.version, inputs.map((i) => [i.path, i.sha256])]));
  const bundle = `train-${key.slice(0, 16)}.mjs`;
  const dir = cacheDir();
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${bundle}.${process.pid}.tmp`);
  writeFileSync(tmp, code);
  renameSync(tmp, join(dir, bundle));
  writeFileSync(`${manifestFile}.${process.pid}.tmp`, JSON.stringify({ format: FORMAT, builder: BUILDER, bundle, inputs }));
  renameSync(`${manifestFile}.${process.pid}.tmp`, manifestFile);
  // Earlier bundles are dead weight; one a concurrent start is about to import stays readable on
  // POSIX until it is closed.
  for (const name of readdirSync(dir)) {
    if (/^train-[0-9a-f]{16}\.mjs$/.test(name) && name !== bundle) rmSync(join(dir, name), { force: true });
  }
  return bundle;
}

/** The path of a current bundle of bin/mlops-train.ts, built if needed; undefined if it cannot be. */
export async function trainBundle() {
  const manifestFile = join(cacheDir(), 'train.json');
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
    const bundle = state ? manifest.bundle : await build(manifestFile);
    return pathToFileURL(join(cacheDir(), bundle)).href;
  } catch {
    return undefined;
  }
}
