/**
 * The handler bundle cache (lib/constructs/bundle-cache.ts): one esbuild call for every stale
 * handler, nothing rebuilt when warm, exactly the edited handler rebuilt, damaged or half-written
 * entries rebuilt, concurrent processes safe, and the real app's synthesis warm through `bin/app.ts`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, describe, expect, it } from 'vitest';
import { BundleCache, relocateSourceMap, stageBundle } from '../../lib/constructs/bundle-cache';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { bindPendingBundles, MlopsFunction } from '../../lib/constructs/mlops-function';

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A project of three handlers: a and b share lib/shared.ts, a alone uses lib/only-a.ts. */
function project(): { root: string; cacheDir: string; entries: string[] } {
  const root = mkdtempSync(join(tmpdir(), 'mlops-bundle-cache-'));
  temps.push(root);
  const write = (path: string, text: string) => {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  write('package.json', '{ "type": "module" }\n');
  write('package-lock.json', '{ "lockfileVersion": 3 }\n');
  write('tsconfig.json', '{ "compilerOptions": { "strict": true } }\n');
  write('lib/shared.ts', 'export const greet = (who: string): string => `hello ${who}`;\n');
  write('lib/only-a.ts', 'export const A = "a";\n');
  write(
    'lambdas/a.ts',
    "import { greet } from '../lib/shared';\nimport { A } from '../lib/only-a';\nexport const handler = async () => greet(A);\n",
  );
  write('lambdas/b.ts', "import { greet } from '../lib/shared';\nexport const handler = async () => greet('b');\n");
  write('lambdas/c.ts', 'export const handler = async () => 42;\n');
  const entries = ['a', 'b', 'c'].map((n) => join(root, 'lambdas', `${n}.ts`));
  return { root, cacheDir: join(root, 'cache'), entries };
}

/** A fresh cache over the same directory: what the next process (the next `cdk synth`) sees. */
const open = (p: ReturnType<typeof project>) =>
  new BundleCache({ projectRoot: p.root, cacheDir: p.cacheDir, entries: p.entries });

const names = (paths: readonly string[]) => paths.map((p) => p.replace(/^.*\//, '')).sort();

function fileTimes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p] = statSync(p).mtimeMs;
    }
  };
  walk(dir);
  return out;
}

describe('BundleCache', () => {
  it('builds every handler in one esbuild call, then nothing while the inputs are unchanged', () => {
    // prepare
    const p = project();
    // act
    const cold = open(p);
    const a = cold.get(p.entries[0]!);
    for (const e of p.entries) cold.get(e);
    const times = fileTimes(p.cacheDir);
    const warm = open(p);
    const again = warm.get(p.entries[0]!);
    for (const e of p.entries) warm.get(e);
    // assess
    expect(cold.stats.esbuildCalls).toBe(1);
    expect(names(cold.stats.entriesBuilt)).toEqual(['a.ts', 'b.ts', 'c.ts']);
    expect(warm.stats.esbuildCalls).toBe(0);
    expect(warm.stats.entriesBuilt).toEqual([]);
    expect(names(warm.stats.entriesReused)).toEqual(['a.ts', 'b.ts', 'c.ts']);
    expect(again).toEqual(a);
    expect(fileTimes(p.cacheDir)).toEqual(times);
    const js = readFileSync(join(a.dir, 'index.mjs'), 'utf8');
    expect(js.startsWith("import { createRequire as __cr } from 'node:module'")).toBe(true);
    expect(js).toContain('//# sourceMappingURL=index.mjs.map');
    const map = JSON.parse(readFileSync(join(a.dir, 'index.mjs.map'), 'utf8'));
    expect(map.sourcesContent).toBeUndefined();
    // only-a.ts is inlined to a constant: no source of the map, yet an input of the bundle (next test).
    expect(map.sources).toEqual(['../../lib/shared.ts', '../../lambdas/a.ts']);
  });

  it('prefetches without blocking: the same bundles in one esbuild call, after which get builds nothing', async () => {
    // prepare: the bundles a synchronous build makes, in a cache of their own
    const p = project();
    const sync = open(p);
    const expected = p.entries.map((e) => sync.get(e).hash);
    rmSync(p.cacheDir, { recursive: true, force: true });
    // act
    const cache = open(p);
    const pending = cache.prefetch();
    const before = cache.stats.entriesBuilt.length;
    await pending;
    const hashes = p.entries.map((e) => cache.get(e).hash);
    const warm = open(p);
    await warm.prefetch();
    // assess
    expect(before).toBe(0);
    expect(cache.stats.esbuildCalls).toBe(1);
    expect(names(cache.stats.entriesBuilt)).toEqual(['a.ts', 'b.ts', 'c.ts']);
    expect(hashes).toEqual(expected);
    expect(warm.stats.esbuildCalls).toBe(0);
    expect(names(warm.stats.entriesReused)).toEqual(['a.ts', 'b.ts', 'c.ts']);
  });

  it('rebuilds exactly the handler that was edited, in one call, and leaves the others untouched', () => {
    const p = project();
    const first = open(p);
    const before = Object.fromEntries(p.entries.map((e) => [e, first.get(e)]));
    const times = fileTimes(p.cacheDir);
    writeFileSync(p.entries[1]!, "import { greet } from '../lib/shared';\nexport const handler = async () => greet('B');\n");

    const next = open(p);
    const after = Object.fromEntries(p.entries.map((e) => [e, next.get(e)]));

    expect(next.stats.esbuildCalls).toBe(1);
    expect(names(next.stats.entriesBuilt)).toEqual(['b.ts']);
    expect(after[p.entries[0]!]).toEqual(before[p.entries[0]!]);
    expect(after[p.entries[2]!]).toEqual(before[p.entries[2]!]);
    expect(after[p.entries[1]!]!.hash).not.toBe(before[p.entries[1]!]!.hash);
    expect(readFileSync(join(after[p.entries[1]!]!.dir, 'index.mjs'), 'utf8')).toContain('"B"');
    // The untouched bundles' files were not rewritten.
    for (const e of [p.entries[0]!, p.entries[2]!]) {
      for (const f of ['index.mjs', 'index.mjs.map', 'bundle.json']) {
        const path = join(before[e]!.dir, f);
        expect(statSync(path).mtimeMs).toBe(times[path]);
      }
    }
  });

  it('rebuilds what a changed dependency feeds: a kit module, then the lockfile', () => {
    const p = project();
    for (const e of p.entries) open(p).get(e);
    writeFileSync(join(p.root, 'lib/only-a.ts'), 'export const A = "A!";\n');
    const afterModule = open(p);
    for (const e of p.entries) afterModule.get(e);
    writeFileSync(join(p.root, 'lib/shared.ts'), 'export const greet = (who: string): string => `hi ${who}`;\n');
    const afterShared = open(p);
    for (const e of p.entries) afterShared.get(e);
    writeFileSync(join(p.root, 'package-lock.json'), '{ "lockfileVersion": 3, "packages": {} }\n');
    const afterLock = open(p);
    for (const e of p.entries) afterLock.get(e);

    expect(names(afterModule.stats.entriesBuilt)).toEqual(['a.ts']);
    expect(names(afterShared.stats.entriesBuilt)).toEqual(['a.ts', 'b.ts']);
    expect(afterShared.stats.esbuildCalls).toBe(1);
    expect(names(afterLock.stats.entriesBuilt)).toEqual(['a.ts', 'b.ts', 'c.ts']);
  });

  it('detects a damaged bundle and rebuilds it, and ignores what a killed build left behind', () => {
    const p = project();
    const a = open(p).get(p.entries[0]!);
    const good = readFileSync(join(a.dir, 'index.mjs'));
    // A bundle cut short (a copy interrupted, a full disk) and a build killed before its rename.
    writeFileSync(join(a.dir, 'index.mjs'), good.subarray(0, good.length >> 1));
    mkdirSync(join(p.cacheDir, '.tmp-99999-deadbeef-0'), { recursive: true });
    writeFileSync(join(p.cacheDir, '.tmp-99999-deadbeef-0', 'index.mjs'), 'export const half');

    const next = open(p);
    const rebuilt = next.get(p.entries[0]!);

    expect(names(next.stats.entriesBuilt)).toContain('a.ts');
    expect(rebuilt.hash).toBe(a.hash);
    expect(readFileSync(join(rebuilt.dir, 'index.mjs'))).toEqual(good);
    expect(open(p).get(p.entries[0]!)).toEqual(a);
  });

  it('survives a build process killed mid-write: the next process finds whole bundles or builds them', async () => {
    const p = project();
    const script = builderScript(p);
    // Kill the builder as soon as its temporary directory appears (bounded wait).
    const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT, stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      if (existsSync(p.cacheDir) && readdirSync(p.cacheDir).some((n) => n.startsWith('.tmp-'))) break;
      await new Promise((r) => setTimeout(r, 5));
    }
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }

    // Whatever moment the kill met: every published bundle directory is whole.
    for (const name of existsSync(p.cacheDir) ? readdirSync(p.cacheDir) : []) {
      if (name.startsWith('.') || name === 'entries') continue;
      const meta = JSON.parse(readFileSync(join(p.cacheDir, name, 'bundle.json'), 'utf8'));
      for (const [file, size] of Object.entries(meta.sizes)) expect(statSync(join(p.cacheDir, name, file)).size).toBe(size);
    }
    const next = open(p);
    const bundles = p.entries.map((e) => next.get(e));
    for (const b of bundles) {
      const meta = JSON.parse(readFileSync(join(b.dir, 'bundle.json'), 'utf8'));
      expect(meta.hash).toBe(b.hash);
    }
    expect(open(p).stats.esbuildCalls).toBe(0);
    const warm = open(p);
    for (const e of p.entries) warm.get(e);
    expect(warm.stats.esbuildCalls).toBe(0);
  }, 60_000);

  it('lets two processes fill the same cache at once without damaging it', async () => {
    const p = project();
    const script = builderScript(p);
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: PROJECT_ROOT });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`builder exited ${code}`))));
      });
    const [one, two] = await Promise.all([run(), run()]);

    expect(JSON.parse(one)).toEqual(JSON.parse(two));
    const warm = open(p);
    const bundles = p.entries.map((e) => warm.get(e));
    expect(warm.stats.esbuildCalls).toBe(0);
    expect(bundles.map((b) => b.hash)).toEqual(JSON.parse(one));
    expect(readdirSync(p.cacheDir).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
  }, 60_000);

  it('stages a bundle with its source paths relative to where it is staged', () => {
    const p = project();
    const a = open(p).get(p.entries[0]!);
    const out = join(p.root, 'cdk.out', 'deeper', 'asset.x');
    stageBundle(a, out);
    expect(readFileSync(join(out, 'index.mjs'))).toEqual(readFileSync(join(a.dir, 'index.mjs')));
    const map = JSON.parse(readFileSync(join(out, 'index.mjs.map'), 'utf8'));
    expect(map.sources).toEqual(['../../../lib/shared.ts', '../../../lambdas/a.ts']);
    expect(existsSync(join(out, 'bundle.json'))).toBe(false);
    expect(relocateSourceMap('{\n  "version": 3,\n  "sources": ["../x.ts"],\n  "names": []\n}', '/a/b', '/a/c/d')).toBe(
      '{\n  "version": 3,\n  "sources": ["../../x.ts"],\n  "names": []\n}',
    );
  });
});

/** A script that builds the temp project's handlers and prints their hashes. */
function builderScript(p: ReturnType<typeof project>): string {
  const script = join(p.root, 'build.ts');
  writeFileSync(
    script,
    `import { BundleCache } from ${JSON.stringify(join(PROJECT_ROOT, 'lib/constructs/bundle-cache.ts'))};\n` +
      `const entries = ${JSON.stringify(p.entries)};\n` +
      `const cache = new BundleCache({ projectRoot: ${JSON.stringify(p.root)}, cacheDir: ${JSON.stringify(p.cacheDir)}, entries });\n` +
      'process.stdout.write(JSON.stringify(entries.map((e) => cache.get(e).hash)));\n',
  );
  return script;
}

describe('MlopsFunction during a prefetch', () => {
  /** A stack of two functions whose bundles come from `cache`, and the construct paths of its tree in order. */
  const stackOf = (p: ReturnType<typeof project>, cache: BundleCache) => {
    const stack = new Stack(new App(), 'Functions');
    for (const [i, entry] of p.entries.slice(0, 2).entries()) {
      new MlopsFunction(stack, `Fn${i}`, { entry, description: `handler ${i}`, bundleCache: cache });
    }
    return stack;
  };
  const paths = (stack: Stack) => stack.node.findAll().map((c) => c.node.path);

  it('fails if a function built before its bundle is ready synthesizes differently once bindPendingBundles has bound it', async () => {
    // prepare
    const p = project();
    const cache = open(p);
    const prefetch = cache.prefetch();
    // act: the tree is built while esbuild builds the bundles
    const early = stackOf(p, cache);
    const unbound = stackOf(p, cache);
    const tooSoon = (() => {
      try {
        Template.fromStack(unbound);
        return undefined;
      } catch (err) {
        return (err as Error).message;
      }
    })();
    await bindPendingBundles();
    await prefetch;
    const late = stackOf(p, cache);
    // assess: built after the bundles are ready, the same stack
    expect(tooSoon).toMatch(/Functions\/Fn0\/Function: the bundle of .*a\.ts is still being built; await bindPendingBundles\(\) before synthesizing/);
    expect(cache.stats.esbuildCalls).toBe(1);
    expect(cache.building(p.entries[0]!)).toBeUndefined();
    expect(Template.fromStack(early).toJSON()).toEqual(Template.fromStack(late).toJSON());
    expect(paths(early)).toEqual(paths(late));
    const code = Template.fromStack(early).findResources('AWS::Lambda::Function');
    const keys = Object.values(code).map((r) => r.Properties.Code.S3Key as string);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{64}\.zip$/);
    expect(keys[0]).not.toBe(keys[1]);
  });

  it('fails if a failed build is not thrown by bindPendingBundles', async () => {
    const p = project();
    writeFileSync(p.entries[1]!, 'export const handler = async () => {\n');
    const cache = open(p);
    const prefetch = cache.prefetch();
    prefetch.catch(() => undefined);
    stackOf(p, cache);
    await expect(bindPendingBundles()).rejects.toThrow(/Build failed/);
    await expect(prefetch).rejects.toThrow(/Build failed/);
  });
});

describe('the app through bin/app.ts', () => {
  it('a second synthesis with a warm cache builds no bundle and rewrites no cached file', () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'mlops-bundle-cache-app-'));
    temps.push(cacheDir);
    const synth = () => {
      const outdir = mkdtempSync(join(tmpdir(), 'mlops-bundle-cache-out-'));
      temps.push(outdir);
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
        cwd: PROJECT_ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          MLOPS_CACHE_DIR: cacheDir,
          CDK_OUTDIR: outdir,
          CDK_CONTEXT_JSON: JSON.stringify({ env: 'local', nag: 'false' }),
          CDK_VALIDATION: 'false',
        },
      });
      expect(r.status, r.stderr).toBe(0);
      return { stderr: r.stderr, outdir };
    };
    const handlers = readdirSync(join(PROJECT_ROOT, 'lambdas')).filter((f) => f.endsWith('.ts')).length;

    const cold = synth();
    const times = fileTimes(join(cacheDir, 'bundles'));
    const warm = synth();

    expect(cold.stderr).toContain(`Bundled ${handlers} handlers in one esbuild call`);
    expect(warm.stderr).not.toContain('Bundled');
    expect(fileTimes(join(cacheDir, 'bundles'))).toEqual(times);
    const assets = (dir: string) => readdirSync(dir).filter((n) => n.startsWith('asset.')).sort();
    expect(assets(warm.outdir)).toEqual(assets(cold.outdir));
    // Cold, the tree was built while esbuild ran (each function's code bound after it: bindPendingBundles);
    // warm, with the bundles ready: the same templates and the same tree.
    const texts = (dir: string) =>
      Object.fromEntries(
        readdirSync(join(dir, 'assembly-mlops-local'))
          .filter((n) => n.endsWith('.template.json'))
          .map((n) => [n, readFileSync(join(dir, 'assembly-mlops-local', n), 'utf8')]),
      );
    expect(Object.keys(texts(cold.outdir)).length).toBeGreaterThan(5);
    expect(texts(warm.outdir)).toEqual(texts(cold.outdir));
    expect(readFileSync(join(warm.outdir, 'tree.json'), 'utf8')).toBe(readFileSync(join(cold.outdir, 'tree.json'), 'utf8'));
  }, 300_000);
});
