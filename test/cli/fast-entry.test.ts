/**
 * The cached bundle `mlops train`/`mlops predict` start from (bin/fast-entry.mjs): built once, reused
 * while its inputs are unchanged (a touched file with the same content included), rebuilt when an
 * input's content differs from what the bundle was built from.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliBundle, trainBundle } from '../../bin/fast-entry.mjs';

interface Manifest {
  bundle: string;
  inputs: { path: string; size: number; mtimeMs: number; sha256: string }[];
}

// The CLI's bundle in the suite's kit cache (test/global-setup.ts built it), before the tests
// below point the cache elsewhere.
const cli = await cliBundle();
let cache: string;
let previous: string | undefined;
const manifestFile = () => join(cache, 'cli', 'train.json');
const manifest = async () => JSON.parse(await readFile(manifestFile(), 'utf8')) as Manifest;

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'mlops-fast-entry-'));
  previous = process.env['MLOPS_CACHE_DIR'];
  process.env['MLOPS_CACHE_DIR'] = cache;
});
afterAll(async () => {
  if (previous === undefined) delete process.env['MLOPS_CACHE_DIR'];
  else process.env['MLOPS_CACHE_DIR'] = previous;
  await rm(cache, { recursive: true, force: true });
});

describe('the train/predict entry bundle', () => {
  it('is built once from the train commands and reused while its inputs are unchanged', async () => {
    // act
    const first = await trainBundle();
    const builtAt = (await stat(fileURLToPath(first!))).mtimeMs;
    const second = await trainBundle();
    // assess
    expect(second).toBe(first);
    expect((await stat(fileURLToPath(second!))).mtimeMs).toBe(builtAt);
    const paths = (await manifest()).inputs.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['bin/mlops-train.ts', 'lib/cli/train.ts', 'lib/trainer/fit-threads.ts']));
    expect(paths.some((p) => p.includes('lib/local/'))).toBe(false);
    // Its pure-JavaScript packages are in it; DuckDB's native addon (its bindings) stays outside.
    expect(paths.some((p) => p.startsWith('node_modules/zod/'))).toBe(true);
    expect(paths.some((p) => p.startsWith('node_modules/@duckdb/node-bindings'))).toBe(false);
  });

  it('keeps the bundle for a touched input with the same content, and rebuilds for other content', async () => {
    // prepare: the manifest as if an input had been touched (another mtime), then as if it had changed
    const bundle = await trainBundle();
    const m = await manifest();
    m.inputs[0]!.mtimeMs -= 1000;
    await writeFile(manifestFile(), JSON.stringify(m));
    // act + assess: a touch is recognised by content and the recorded mtime brought up to date
    expect(await trainBundle()).toBe(bundle);
    expect((await manifest()).inputs[0]!.mtimeMs).toBe(m.inputs[0]!.mtimeMs + 1000);
    const builtAt = (await stat(fileURLToPath(bundle!))).mtimeMs;
    const changed = await manifest();
    changed.inputs[0]!.mtimeMs -= 1000;
    changed.inputs[0]!.sha256 = '0'.repeat(64);
    await writeFile(manifestFile(), JSON.stringify(changed));
    await new Promise((r) => setTimeout(r, 20));
    // act + assess: a content change rebuilds (the same sources give the same name, a newer file)
    expect(await trainBundle()).toBe(bundle);
    expect((await stat(fileURLToPath(bundle!))).mtimeMs).toBeGreaterThan(builtAt);
    expect((await manifest()).inputs[0]!.sha256).not.toBe('0'.repeat(64));
  });
});

describe('the packages bundled into the CLI', () => {
  it('fails if bundled code needs a file beside its package (a module found at run time, __dirname, __filename)', async () => {
    // prepare: the bundle's `require()` calls as esbuild's parser finds them (one CommonJS script:
    // a `require("…")` in a string, an error message or a worker's source text, is no call), in
    // its body: the file is a function (its first line and its last `})`) that takes `require`
    const file = fileURLToPath(cli!);
    const text = await readFile(file, 'utf8');
    const body = text.slice(text.indexOf('\n') + 1, text.lastIndexOf('})'));
    const { metafile } = await build({
      stdin: { contents: body, sourcefile: file, loader: 'js' },
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      logLevel: 'silent',
      plugins: [{ name: 'all-external', setup: (b) => b.onResolve({ filter: /.*/ }, (a) => ({ path: a.path, external: true })) }],
    });
    const required = Object.values(metafile.inputs)
      .flatMap((input) => input.imports)
      .filter((i) => i.kind === 'require-call')
      .map((i) => JSON.stringify(i.path));
    // comments aside (esbuild keeps some doc comments); strings count (a worker's source text)
    const code = body.split('\n').filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line)).join('\n');
    // assess: a bundle in a cache anywhere requires Node's own modules by name and the packages it
    // leaves outside (native addons, files beside them) by absolute path, and nothing else
    const outside = /^"\/[^"]*\/node_modules\/(@duckdb\/node-bindings|dynalite|esbuild)\/[^"]+"$/;
    expect(required.filter((arg) => !/^"node:[\w/]+"$/.test(arg) && !outside.test(arg))).toEqual([]);
    // (@duckdb/node-api, bundled, requires its bindings from each of its modules)
    expect([...new Set(required.filter((arg) => outside.test(arg)).map((arg) => outside.exec(arg)![1]))].sort()).toEqual(['@duckdb/node-bindings', 'dynalite', 'esbuild']);
    expect(code).not.toMatch(/\b(__dirname|__filename)\b/);
  });
});
