/**
 * `npx mlops` as the README writes it runs the link npm made in `node_modules/.bin`, not npm's
 * self-install path. When the root package.json itself declares a `mlops` bin, npx (npm 10 and 11)
 * installs the project into its `_npx` cache on every call to link that bin, loading the whole
 * local tree with Arborist first: about 0.5 s of CPU per command before the CLI starts. The bin
 * lives in the `bin/cli` workspace instead, which `npm ci` links like any dependency's bin (with
 * `--ignore-scripts` too). The marker of the slow path is the `_npx` directory it creates in npm's
 * cache, so each case runs npx with a cache of its own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';

const caches: string[] = [];
afterAll(() => {
  for (const c of caches) rmSync(c, { recursive: true, force: true });
});

/** `npx mlops <args>` from `cwd` with an empty npm cache, offline: what it printed and whether npx used `_npx`. */
function npx(args: string[], cwd: string) {
  const cache = mkdtempSync(join(tmpdir(), 'mlops-npx-cache-'));
  caches.push(cache);
  const r = spawnSync('npx', ['mlops', ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_cache: cache, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, selfInstalled: existsSync(join(cache, '_npx')) };
}

describe('npx mlops', () => {
  it('runs the bin/cli workspace link, never installing the project into the npx cache', () => {
    // act
    const run = npx(['--help'], PROJECT_ROOT);
    // assess
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Usage: mlops');
    expect(run.selfInstalled, 'npx took its self-install path (a `bin` in the root package.json?)').toBe(false);
    expect(realpathSync(join(PROJECT_ROOT, 'node_modules', '.bin', 'mlops'))).toBe(join(PROJECT_ROOT, 'bin', 'cli', 'mlops.mjs'));
  });

  it('works the same from a subdirectory of the project', () => {
    const run = npx(['--help'], join(PROJECT_ROOT, 'lib', 'cli'));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Usage: mlops');
    expect(run.selfInstalled).toBe(false);
  });

  it('keeps usage errors as the CLI gives them: exit 2 and commander’s message', () => {
    const run = npx(['no-such-command'], PROJECT_ROOT);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/unknown command 'no-such-command'/);
    expect(run.selfInstalled).toBe(false);
  });

  it('declares the bin only in the workspace, which the root lists', () => {
    const root = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8'));
    const cli = JSON.parse(readFileSync(join(PROJECT_ROOT, 'bin', 'cli', 'package.json'), 'utf8'));
    expect(root.bin).toBeUndefined();
    expect(root.workspaces).toContain('bin/cli');
    expect(cli.bin).toEqual({ mlops: 'mlops.mjs' });
  });
});
