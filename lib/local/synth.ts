/**
 * The local stage's cloud assembly for `mlops up` and the transient platforms of other commands:
 * synthesized by `bin/synth-local.ts` (compiled: bin/synth-local.mjs) in a child process (this
 * module never loads the stacks), and cached kit-wide by a content hash of everything the synthesis reads, so a fresh state dir (and
 * every test that starts a platform) copies the assembly instead of synthesizing it again.
 *
 * The cache key is the sha256 of every file under bin/, lib/, stacks/ and lambdas/, package.json,
 * package-lock.json, tsconfig.json, cdk.json and .dockerignore, and the child's settings (local
 * stage, no cdk-nag, no validation). All of lib/ and not only the modules the synthesis loads: the
 * trainer image's Docker context holds lib/ directories the synthesis does not load
 * (lib/constructs/image-context.ts), and its fingerprint is part of the assembly, so every file
 * under lib/ is an input. node_modules counts
 * through package-lock.json. Contents, never mtimes: a checkout, a `touch` or a copy keeps the key.
 *
 * Cache: `<kitCacheDir()>/assemblies/<key>/` (default `node_modules/.cache/mlops-kit/assemblies`,
 * the three newest kept). `MLOPS_SYNTH_CACHE=off` bypasses it for tests that must observe a real
 * synthesis (synthesized straight into the state dir, nothing read from or written to the cache);
 * `mlops up --synth` synthesizes anyway and refreshes the cache.
 *
 * @example
 * const plan = planLocalAssembly('.mlops/local');           // 'current' | 'cached' | 'synthesize'
 * await provideLocalAssembly(plan, (chunk) => log.writeRaw(chunk));
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join, relative, sep } from 'node:path';
import { publishDir, relocateSourceMap } from '../constructs/bundle-cache';
import { kitCacheDir, PROJECT_ROOT } from '../constructs/bundling';

/** The local stage's id: `stageId('local')` of stacks/mlops-stage.ts (a test holds them equal). */
export const LOCAL_STAGE = 'mlops-local';

/** Where `mlops up` keeps the local cloud assembly. */
export const assemblyDirOf = (stateDir: string): string => join(stateDir, 'assembly');

/** Set to `off` to synthesize for real, bypassing the assembly cache. */
export const SYNTH_CACHE_ENV = 'MLOPS_SYNTH_CACHE';

/** Raised when the cache layout or the child's settings change. */
const SETTINGS = 'format 1; bin/synth-local.mjs; stage local; nag off; validation off';
const KEY_FILE = 'mlops-assembly.json';
const SOURCE_DIRS = ['bin', 'lib', 'stacks', 'lambdas'];
const SOURCE_FILES = ['package.json', 'package-lock.json', 'tsconfig.json', 'cdk.json', '.dockerignore'];
const KEEP = 3;

export interface LocalAssemblyOptions {
  /**
   * Synthesize even when the state dir or the cache holds an assembly of the same sources (and
   * refresh the cache with the result).
   * @default false
   */
  readonly fresh?: boolean;
}

/** What {@link provideLocalAssembly} will do, decided without loading the CDK. */
export interface LocalAssemblyPlan {
  readonly stateDir: string;
  /** Content hash of the synthesis's inputs. */
  readonly key: string;
  /**
   * `current`: the state dir's assembly is of these sources; `cached`: copied from the cache;
   * `synthesize`: the child synthesizes.
   */
  readonly action: 'current' | 'cached' | 'synthesize';
  /** False when {@link SYNTH_CACHE_ENV} is `off`. */
  readonly useCache: boolean;
  /** Asked to synthesize whatever the caches hold ({@link LocalAssemblyOptions.fresh}). */
  readonly fresh: boolean;
}

export function planLocalAssembly(stateDir: string, options: LocalAssemblyOptions = {}): LocalAssemblyPlan {
  const key = localAssemblyKey();
  const useCache = process.env[SYNTH_CACHE_ENV] !== 'off';
  let action: LocalAssemblyPlan['action'] = 'synthesize';
  if (useCache && !options.fresh) {
    if (keyOf(assemblyDirOf(stateDir)) === key) action = 'current';
    else if (keyOf(cachedDir(key)) === key) action = 'cached';
  }
  return { stateDir, key, action, useCache, fresh: options.fresh ?? false };
}

/** Carries out `plan`, synthesizing in a child whose output goes to `onOutput`; resolves to the assembly dir. */
export async function provideLocalAssembly(
  plan: LocalAssemblyPlan,
  onOutput: (chunk: Buffer) => void,
): Promise<string> {
  if (plan.action === 'synthesize' || (plan.action === 'cached' && !fromCache(plan))) {
    const outdir = synthesisDir(plan);
    await runChild(outdir, onOutput);
    finishSynthesis(plan, outdir);
  }
  return assemblyDirOf(plan.stateDir);
}

/**
 * The local assembly in `<stateDir>/assembly`, synchronously (tests, transient platforms): from the
 * state dir or the cache when the sources are unchanged, else synthesized in a child process.
 */
export function synthLocalStage(stateDir: string, options: LocalAssemblyOptions = {}): string {
  const plan = planLocalAssembly(stateDir, options);
  if (plan.action === 'synthesize' || (plan.action === 'cached' && !fromCache(plan))) {
    const outdir = synthesisDir(plan);
    const r = spawnSync(process.execPath, childArgs(outdir), { env: childEnv(), encoding: 'utf8' });
    if (r.status !== 0) {
      rmSync(outdir, { recursive: true, force: true });
      throw synthesisFailed(r.signal, r.status, `${r.stdout}${r.stderr}`);
    }
    finishSynthesis(plan, outdir);
  }
  return assemblyDirOf(stateDir);
}

/** The content hash of everything the local synthesis reads (see the module comment). */
export function localAssemblyKey(root: string = PROJECT_ROOT): string {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules') continue;
      const path = join(dir, e.name);
      if (e.isDirectory()) walk(path);
      else if (e.isFile()) files.push(path);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(join(root, d))) walk(join(root, d));
  for (const f of SOURCE_FILES) if (existsSync(join(root, f))) files.push(join(root, f));
  const h = createHash('sha256').update(`${SETTINGS}\n`);
  for (const path of files.map((f) => relative(root, f).split(sep).join('/')).sort()) {
    h.update(`${path} ${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}\n`);
  }
  return h.digest('hex');
}

const cacheRoot = (): string => join(kitCacheDir(), 'assemblies');
const cachedDir = (key: string): string => join(cacheRoot(), key);

function keyOf(assemblyDir: string): string | undefined {
  try {
    const k = (JSON.parse(readFileSync(join(assemblyDir, KEY_FILE), 'utf8')) as { key?: unknown }).key;
    return typeof k === 'string' && existsSync(join(assemblyDir, 'manifest.json')) ? k : undefined;
  } catch {
    return undefined;
  }
}

const tmpName = (): string => `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;

/** Where the child writes: a temporary dir in the cache, or (bypassed) one beside the state's assembly. */
function synthesisDir(plan: LocalAssemblyPlan): string {
  const parent = plan.useCache ? cacheRoot() : plan.stateDir;
  mkdirSync(parent, { recursive: true });
  return join(parent, plan.useCache ? tmpName() : `assembly${tmpName()}`);
}

/** Records the key, then publishes the new assembly by rename: a killed synthesis leaves only a `.tmp-*` dir. */
function finishSynthesis(plan: LocalAssemblyPlan, outdir: string): void {
  writeFileSync(join(outdir, KEY_FILE), `${JSON.stringify({ key: plan.key })}\n`);
  if (!plan.useCache) {
    replaceDir(outdir, assemblyDirOf(plan.stateDir));
    return;
  }
  const target = cachedDir(plan.key);
  // `up --synth` refreshes the entry; otherwise one published meanwhile by another process is kept.
  publishDir(outdir, target, (dir) => !plan.fresh && keyOf(dir) === plan.key);
  prune();
  copyIntoState(target, plan.stateDir);
}

/**
 * Copies the plan's cached assembly into the state dir; false when another process pruned the entry
 * since the plan saw it (the caller then synthesizes). The entry is touched first: `prune` keeps the
 * newest entries, so one in use is not among those it removes.
 */
function fromCache(plan: LocalAssemblyPlan): boolean {
  const dir = cachedDir(plan.key);
  try {
    const now = new Date();
    utimesSync(dir, now, now);
    copyIntoState(dir, plan.stateDir);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Copies a cached assembly into the state dir (a copy, not links: the state dir is the user's and
 * may be removed, moved or written to). Source maps of the staged bundles are rewritten for their new
 * place, as a synthesis straight into the state dir would have written them.
 */
function copyIntoState(from: string, stateDir: string): void {
  mkdirSync(stateDir, { recursive: true });
  const tmp = join(stateDir, `assembly${tmpName()}`);
  try {
    cpSync(from, tmp, { recursive: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  for (const name of readdirSync(tmp)) {
    const map = join(tmp, name, 'index.mjs.map');
    if (!name.startsWith('asset.') || !existsSync(map)) continue;
    const final = join(assemblyDirOf(stateDir), name);
    writeFileSync(map, relocateSourceMap(readFileSync(map, 'utf8'), join(from, name), final));
  }
  replaceDir(tmp, assemblyDirOf(stateDir));
}

function replaceDir(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  renameSync(from, to);
}

/** Keeps the newest few assemblies (each holds the handler bundles, ~25 MB) and no stale temporaries. */
function prune(): void {
  const root = cacheRoot();
  const now = Date.now();
  const entries = readdirSync(root).map((name) => ({ name, mtime: statSync(join(root, name)).mtimeMs }));
  const kept = entries.filter((e) => !e.name.startsWith('.')).sort((a, b) => b.mtime - a.mtime);
  const doomed = [
    ...kept.slice(KEEP),
    ...entries.filter((e) => e.name.startsWith('.tmp-') && now - e.mtime > 30 * 60_000),
  ];
  for (const e of doomed) rmSync(join(root, e.name), { recursive: true, force: true });
}

function childArgs(outdir: string): string[] {
  // bin/synth-local.ts compiled (bin/compiled.mjs), run by plain Node instead of through tsx's loader.
  return ['--enable-source-maps', join(PROJECT_ROOT, 'bin', 'synth-local.mjs'), outdir];
}

/** The synthesis reads no context or output dir from the caller's environment: the key covers all it reads. */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['CDK_CONTEXT_JSON'];
  delete env['CDK_OUTDIR'];
  return env;
}

function synthesisFailed(signal: string | null, code: number | null, output: string): Error {
  const last = output.trimEnd().split('\n').slice(-15).join('\n');
  return new Error(`synthesis ${signal ? `was killed (${signal})` : `exited ${code}`}:\n${last}`);
}

function runChild(outdir: string, onOutput: (chunk: Buffer) => void): Promise<void> {
  const child = spawn(process.execPath, childArgs(outdir), { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() });
  let tail = '';
  const collect = (chunk: Buffer) => {
    onOutput(chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else {
        rmSync(outdir, { recursive: true, force: true });
        reject(synthesisFailed(signal, code, tail));
      }
    });
  });
}
