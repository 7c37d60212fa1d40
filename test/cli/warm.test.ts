/**
 * `npm run prepare` (what npm runs after `npm ci` in a clone: `mlops warm`) leaves a kit cache from
 * which a machine's first `mlops up` builds nothing: the `up` after it takes the local assembly from
 * the cache and adds no file to the cache. Run through the real npm and the real launcher, on a
 * kit cache of its own, after a warm killed -9 halfway.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kitCacheDir, PROJECT_ROOT } from '../../lib/constructs/bundling';

const work = mkdtempSync(join(tmpdir(), 'mlops-warm-'));
const cache = join(work, 'cache');
const env = { ...process.env, MLOPS_CACHE_DIR: cache };

/**
 * Every file under the cache, relative to it, but the launcher's V8 code caches: each command
 * writes its own after its first successful run (`<bundle>.<command>.code-cache`), which is not a
 * build a first start waits for.
 */
function cacheFiles(dir = cache): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? cacheFiles(join(dir, e.name)) : [relative(cache, join(dir, e.name))]))
    .filter((f) => !f.endsWith('.code-cache'))
    .sort();
}

const mlops = (args: string[]) =>
  spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'mlops.mjs'), ...args], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 300_000 });

/** `mlops up --no-startup` until its banner, then Ctrl-C; resolves with its output and exit code. */
function upOnce(stateDir: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'mlops.mjs'), 'up', '--no-startup', '--port', '0', '--state-dir', stateDir], {
      cwd: PROJECT_ROOT,
      env: { ...env, MLOPS_CLI_TRACE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (/local platform ready[\s\S]*Ctrl-C/.test(stdout)) child.kill('SIGINT');
    });
    child.once('close', (code) => resolve({ stdout, stderr, code }));
  });
}

beforeAll(() => {
  // The CLI's own bundle is the launcher's (test/cli/cli-bundle.test.ts); the handler bundles are
  // the synthesis's (test/infra/bundle-cache.test.ts). Both come from the suite's warm cache, so
  // this file pays for the local assembly, the console and the ASL checks, what `warm` adds.
  for (const part of ['cli', 'bundles']) {
    const from = join(kitCacheDir(), part);
    if (existsSync(from)) cpSync(from, join(cache, part), { recursive: true });
  }
  // A machine's first `up` has no code cache of its own: drop the ones the suite's other `up`s wrote.
  const cli = join(cache, 'cli');
  if (existsSync(cli))
    for (const e of readdirSync(cli, { withFileTypes: true }))
      if (e.isDirectory()) rmSync(join(cli, e.name, 'mlops.cjs.up.code-cache'), { force: true });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm run prepare (mlops warm)', () => {
  it('fills the kit cache with everything a first mlops up builds: up copies the assembly and adds nothing', { timeout: 600_000 }, async () => {
    // prepare: an earlier warm killed -9 (with its synthesis child) as soon as its scratch dir appeared
    const killed = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'mlops.mjs'), 'warm'], { cwd: PROJECT_ROOT, env, stdio: 'ignore', detached: true });
    const exited = new Promise((resolve) => killed.once('close', resolve));
    while (!existsSync(cache) || !readdirSync(cache).some((n) => n.startsWith('.warm-'))) {
      if (killed.exitCode !== null) throw new Error(`mlops warm ended (${killed.exitCode}) before its scratch dir appeared`);
      await new Promise((r) => setTimeout(r, 20));
    }
    process.kill(-killed.pid!, 'SIGKILL');
    await exited;
    expect(readdirSync(cache).some((n) => n.startsWith('.warm-'))).toBe(true);

    // act: what `npm ci` runs after installing
    const prepare = spawnSync('npm', ['run', '--silent', 'prepare'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 300_000 });
    expect(prepare.status, prepare.stderr).toBe(0);
    // The kill landed before anything was published, or (on a slow kill) after: either way the
    // cache is whole, as the first start below shows.
    expect(prepare.stdout).toMatch(/^mlops warm: local assembly (synthesized|already cached), console ready \(\d+\.\d s\)$/m);
    expect(prepare.stdout).not.toContain('warm failed');
    const warmed = cacheFiles();
    for (const part of ['assemblies/', 'console/', 'asl-valid/']) expect(warmed.some((f) => f.startsWith(part)), part).toBe(true);
    // Nothing of a scratch platform stays behind, the killed warm's included.
    expect(readdirSync(cache).filter((n) => n.startsWith('.warm-'))).toEqual([]);

    // act: a machine's first start
    const up = await upOnce(join(work, 'state'));
    // assess
    expect(up.code, up.stderr).toBe(0);
    const [trace, ...rest] = up.stderr.split('\n');
    expect(`${rest.join('\n')}${up.stdout}`.split('\n')[0]).toBe('mlops up: the local assembly of these sources comes from the synthesis cache (--synth to synthesize anyway)');
    expect(cacheFiles()).toEqual(warmed);
    // up has no code cache of its own yet: it compiled from the one warm left (the same platform
    // start), and wrote its own when Ctrl-C ended it.
    expect(trace).toBe('mlops launcher: code cache mlops.cjs.warm.code-cache accepted');
    // The launcher's current bundle, as its manifest names it: a developer's cache also holds the
    // bundles of earlier sources (pruned after a day), some with code caches of their own.
    const { dir: bundleDir } = JSON.parse(readFileSync(join(cache, 'cli', 'mlops.json'), 'utf8')) as { dir: string };
    expect(existsSync(join(cache, 'cli', bundleDir, 'mlops.cjs.warm.code-cache'))).toBe(true);
    expect(existsSync(join(cache, 'cli', bundleDir, 'mlops.cjs.up.code-cache'))).toBe(true);

    // A second warm finds it all.
    const again = mlops(['warm', '--json']);
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ assembly: 'cached', console: true });
    expect(cacheFiles()).toEqual(warmed);
  });

  it.each([
    [['warm', 'extra'], /too many arguments/],
    [['warm', '--json=yes'], /does not take an argument|unknown option/],
    [['warm', '--no-such-flag'], /unknown option '--no-such-flag'/],
  ])('%j exits 2 with a clear message and builds nothing', (args, message) => {
    const before = cacheFiles();
    const r = mlops(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(cacheFiles()).toEqual(before);
  });
});
