/**
 * Tag-based releases: `release/<model>/<version>` parsed (and refused with a sentence when it is
 * not one), and the release build's script (`bin/release-tag.ts`) run as CodeBuild runs it, in a
 * real git repository with real tags, with `npx` replaced on PATH by a recorder so the
 * `mlops release` invocations it makes can be read back.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseReleaseTag, releaseCommand, releaseRefs, ReleaseTagError } from '../../lib/cli/release-tag';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';

describe('parseReleaseTag', () => {
  it.each([
    ['release/wine-quality/3', 'wine-quality', '3'],
    ['refs/tags/release/wine-quality/12', 'wine-quality', '12'],
    ['release/churn_v2.1/1', 'churn_v2.1', '1'],
  ])('reads %s', (tag, model, version) => {
    expect(parseReleaseTag(tag)).toMatchObject({ model, version });
  });

  it.each([
    ['v1.0.0', /must start with release\//],
    ['release/wine-quality', /must be release\/<model>\/<version>, but "release\/wine-quality" was provided/],
    ['release/wine-quality/3/extra', /must be release\/<model>\/<version>/],
    ['release/wine-quality/v3', /version in a release tag must be a registry version \(1, 2, …\), but "v3" was provided/],
    ['release/wine-quality/0', /but "0" was provided/],
    ['release/-rm/1', /model in a release tag must be letters, digits/],
    ['release/a;b/1', /but "a;b" was provided/],
  ])('refuses %s', (tag, message) => {
    expect(() => parseReleaseTag(tag)).toThrow(ReleaseTagError);
    expect(() => parseReleaseTag(tag)).toThrow(message);
  });

  it('keeps the release tags among others, once each', () => {
    expect(releaseRefs(['v1.2.0', 'release/a/1', 'release/b/2', 'release/a/1']).map((r) => r.tag)).toEqual(['release/a/1', 'release/b/2']);
  });

  it('builds the mlops release invocation', () => {
    expect(releaseCommand({ model: 'wine-quality', version: '3' }, { from: 'staging', to: 'production' }).join(' ')).toBe(
      'npx mlops release --model wine-quality --version 3 --from staging --to production --from-profile staging --to-profile production',
    );
  });
});

describe('bin/release-tag.ts in a tagged checkout', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-release-tag-'));
  const repo = join(dir, 'repo');
  const bin = join(dir, 'bin');
  const calls = join(dir, 'calls.txt');
  const tsx = import.meta.resolve('tsx');

  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  };
  /** The script as the release build runs it, with the recording npx first on PATH. */
  const run = (args: string[], npxExit = 0) => {
    const r = spawnSync(process.execPath, ['--import', tsx, join(PROJECT_ROOT, 'bin/release-tag.ts'), ...args], {
      cwd: repo,
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env['PATH']}`, NPX_EXIT: String(npxExit) },
    });
    let recorded: string[] = [];
    try {
      recorded = readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    } catch {
      // no call made
    }
    rmSync(calls, { force: true });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr, recorded };
  };

  beforeAll(() => {
    // prepare: a repository with one commit, and an npx that records its arguments
    mkdirSync(repo);
    mkdirSync(bin);
    writeFileSync(join(bin, 'npx'), `#!/bin/sh\necho "npx $*" >> ${JSON.stringify(calls)}\nexit $NPX_EXIT\n`);
    chmodSync(join(bin, 'npx'), 0o755);
    git('init', '-q');
    git('-c', 'user.email=ci@example.com', '-c', 'user.name=ci', 'commit', '-q', '--allow-empty', '-m', 'one');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fails with exit 2 when no release tag points at the commit', () => {
    git('tag', 'v1.0.0');
    const r = run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no release/<model>/<version> tag at this commit (tags: v1.0.0)');
    expect(r.recorded).toEqual([]);
  });

  it('releases the version the pushed tag names, from staging to production', () => {
    git('tag', 'release/wine-quality/3');
    const r = run(['--from', 'staging', '--to', 'production']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.recorded).toEqual(['npx mlops release --model wine-quality --version 3 --from staging --to production --from-profile staging --to-profile production']);
    expect(r.stdout).toContain('release/wine-quality/3: npx mlops release --model wine-quality --version 3');
  });

  it('releases every version tagged at the commit, and stops at the first failure with exit 1', () => {
    git('tag', 'release/churn/7');
    expect(run([]).recorded).toEqual([
      'npx mlops release --model churn --version 7 --from staging --to production --from-profile staging --to-profile production',
      'npx mlops release --model wine-quality --version 3 --from staging --to production --from-profile staging --to-profile production',
    ]);
    const failed = run([], 1);
    expect(failed.code).toBe(1);
    expect(failed.recorded).toHaveLength(1);
    expect(failed.stderr).toContain('release-tag: release/churn/7 failed (exit 1)');
  });

  it('refuses a malformed release tag with exit 2 before releasing anything', () => {
    git('tag', 'release/wine-quality/latest');
    const r = run([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('the version in a release tag must be a registry version (1, 2, …), but "latest" was provided');
    expect(r.recorded).toEqual([]);
    git('tag', '-d', 'release/wine-quality/latest');
  });

  it('takes --tag instead of the checkout, and only prints with --dry-run', () => {
    const r = run(['--tag', 'release/wine-quality/4', '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('release/wine-quality/4: npx mlops release --model wine-quality --version 4 --from staging --to production --from-profile staging --to-profile production\n');
    expect(r.recorded).toEqual([]);
  });
});
