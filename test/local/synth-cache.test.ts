/**
 * The local assembly cache (lib/local/synth.ts): keyed by the content of the synthesis's inputs (not
 * mtimes), shared by fresh state dirs, bypassed by MLOPS_SYNTH_CACHE=off; the child is
 * bin/synth-local.mjs (bin/synth-local.ts compiled).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { readAssembly } from '../../lib/local/assembly';
import {
  assemblyDirOf,
  LOCAL_STAGE,
  localAssemblyKey,
  planLocalAssembly,
  provideLocalAssembly,
  SYNTH_CACHE_ENV,
  synthLocalStage,
} from '../../lib/local/synth';
import { stageId } from '../../stacks/mlops-stage';

const temps: string[] = [];
const temp = (name: string) => {
  const dir = mkdtempSync(join(tmpdir(), `mlops-synth-cache-${name}-`));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

const templatesOf = (assembly: string) => {
  const nested = join(assembly, `assembly-${LOCAL_STAGE}`);
  return Object.fromEntries(
    readdirSync(nested)
      .filter((f) => f.endsWith('.template.json'))
      .map((f) => [f, readFileSync(join(nested, f), 'utf8')]),
  );
};

describe('localAssemblyKey', () => {
  it('changes with the content of a source, the lockfile or a new file under lib/, not with mtimes or node_modules', () => {
    // prepare: a copy of the inputs (not node_modules)
    const root = temp('key');
    for (const d of ['bin', 'lib', 'stacks', 'lambdas']) cpSync(join(PROJECT_ROOT, d), join(root, d), { recursive: true });
    for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(PROJECT_ROOT, f), join(root, f));
    mkdirSync(join(root, 'node_modules', 'x'), { recursive: true });
    // act / assess
    const k0 = localAssemblyKey(root);
    expect(localAssemblyKey(PROJECT_ROOT)).not.toBe(''); // the repo's own key is computable
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'stacks', 'mlops-app.ts'), later, later);
    writeFileSync(join(root, 'node_modules', 'x', 'index.js'), 'module.exports = 1;\n');
    expect(localAssemblyKey(root)).toBe(k0);
    const handler = join(root, 'lambdas', 'registry.ts');
    writeFileSync(handler, `${readFileSync(handler, 'utf8')}\n// edited\n`);
    const k1 = localAssemblyKey(root);
    expect(k1).not.toBe(k0);
    writeFileSync(join(root, 'lib', 'new-module.ts'), 'export const x = 1;\n');
    const k2 = localAssemblyKey(root);
    expect(k2).not.toBe(k1);
    writeFileSync(join(root, 'package-lock.json'), '{}\n');
    expect(localAssemblyKey(root)).not.toBe(k2);
  });

  it('LOCAL_STAGE is the stage id the stacks give the local environment', () => {
    expect(LOCAL_STAGE).toBe(stageId('local'));
  });
});

describe('the local assembly cache', () => {
  const cacheDir = temp('cache');
  const saved = { cache: process.env['MLOPS_CACHE_DIR'], bypass: process.env[SYNTH_CACHE_ENV] };
  let first: string;
  let synthMs: number;

  beforeAll(() => {
    process.env['MLOPS_CACHE_DIR'] = cacheDir;
    delete process.env[SYNTH_CACHE_ENV];
    first = temp('state');
    expect(planLocalAssembly(first).action).toBe('synthesize');
    const t = performance.now();
    synthLocalStage(first);
    synthMs = performance.now() - t;
  }, 300_000);
  afterAll(() => {
    for (const [k, v] of [['MLOPS_CACHE_DIR', saved.cache], [SYNTH_CACHE_ENV, saved.bypass]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('gives a fresh state dir the cached assembly of the same sources, which the local runtime reads', () => {
    const fresh = temp('state');
    expect(planLocalAssembly(fresh).action).toBe('cached');
    const t = performance.now();
    synthLocalStage(fresh);
    const copyMs = performance.now() - t;

    expect(templatesOf(assemblyDirOf(fresh))).toEqual(templatesOf(assemblyDirOf(first)));
    const stage = readAssembly(assemblyDirOf(fresh), { stage: LOCAL_STAGE });
    expect(stage.resources.filter((r) => r.type === 'AWS::Lambda::Function').length).toBeGreaterThan(5);
    expect(copyMs).toBeLessThan(synthMs);
    expect(planLocalAssembly(fresh).action).toBe('current');
    // Bundle source maps name the sources relative to where the copy is, as a synthesis there would.
    const asset = readdirSync(assemblyDirOf(fresh)).find((n) => n.startsWith('asset.') && readdirSync(join(assemblyDirOf(fresh), n)).includes('index.mjs.map'))!;
    const map = JSON.parse(readFileSync(join(assemblyDirOf(fresh), asset, 'index.mjs.map'), 'utf8'));
    const handler = (map.sources as string[]).find((s) => s.includes('lambdas/'))!;
    expect(statSync(join(assemblyDirOf(fresh), asset, handler)).isFile()).toBe(true);
  });

  it('touches the entry it reads (prune keeps the newest), and synthesizes when another process pruned it after the plan', async () => {
    const entry = join(cacheDir, 'assemblies', localAssemblyKey());
    const reader = temp('state');
    const before = Date.now() - 1000;
    utimesSync(entry, new Date(before - 60_000), new Date(before - 60_000));
    synthLocalStage(reader);
    expect(statSync(entry).mtimeMs).toBeGreaterThanOrEqual(before);

    const late = temp('state');
    const plan = planLocalAssembly(late);
    expect(plan.action).toBe('cached');
    rmSync(entry, { recursive: true, force: true });
    await provideLocalAssembly(plan, () => {});
    expect(templatesOf(assemblyDirOf(late))).toEqual(templatesOf(assemblyDirOf(first)));
    // The synthesis published the entry again, and left no partial copy in the state dir.
    expect(planLocalAssembly(temp('state')).action).toBe('cached');
    expect(readdirSync(late).filter((n) => n.startsWith('assembly.tmp-'))).toEqual([]);
  });

  it('synthesizes for real under MLOPS_SYNTH_CACHE=off, and neither reads nor writes the cache', () => {
    process.env[SYNTH_CACHE_ENV] = 'off';
    // What the synthesis child loads: a preload lists the CommonJS modules it had loaded at exit.
    const probeDir = temp('probe');
    const loaded = join(probeDir, 'loaded.json');
    writeFileSync(
      join(probeDir, 'probe.cjs'),
      `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, JSON.stringify(Object.keys(require.cache))));\n`,
    );
    const nodeOptions = process.env['NODE_OPTIONS'];
    process.env['NODE_OPTIONS'] = `${nodeOptions ?? ''} --require ${join(probeDir, 'probe.cjs')}`;
    try {
      const dir = temp('state');
      const cached = readdirSync(join(cacheDir, 'assemblies'));
      const times = cached.map((n) => statSync(join(cacheDir, 'assemblies', n)).mtimeMs);
      const current = planLocalAssembly(first);
      expect(current.action).toBe('synthesize');
      synthLocalStage(dir);
      expect(templatesOf(assemblyDirOf(dir))).toEqual(templatesOf(assemblyDirOf(first)));
      expect(readdirSync(join(cacheDir, 'assemblies'))).toEqual(cached);
      expect(cached.map((n) => statSync(join(cacheDir, 'assemblies', n)).mtimeMs)).toEqual(times);
      // No cdk-nag, no CloudFormation validation in the synthesis `mlops up` does for itself: not
      // run, and cdk-nag not even loaded (it and the service modules its rules read cost ~0.3 s).
      expect(readdirSync(assemblyDirOf(dir))).not.toContain('validation-report.json');
      const modules = JSON.parse(readFileSync(loaded, 'utf8')) as string[];
      expect(modules.some((m) => m.includes('/node_modules/aws-cdk-lib/'))).toBe(true);
      expect(modules.filter((m) => m.includes('/node_modules/cdk-nag/'))).toEqual([]);
    } finally {
      delete process.env[SYNTH_CACHE_ENV];
      if (nodeOptions === undefined) delete process.env['NODE_OPTIONS'];
      else process.env['NODE_OPTIONS'] = nodeOptions;
    }
  }, 300_000);
});
