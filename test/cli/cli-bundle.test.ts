/**
 * The cached bundle the `mlops` launcher runs (bin/fast-entry.mjs): through the real launcher, in a
 * copy of the project's bin/ and lib/ (node_modules linked), so that editing a CLI source is seen
 * by the next start (rebuilt, never stale), a command starts from V8's code cache of its last run,
 * and MLOPS_CLI_TSX=1 still runs the TypeScript sources.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';

let copy: string;
const cache = () => join(copy, 'cache');

/** `node bin/mlops.mjs <args>` in the copy, with a kit cache of its own. */
function mlops(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [join(copy, 'bin', 'mlops.mjs'), ...args], {
    cwd: copy,
    env: { ...process.env, MLOPS_CACHE_DIR: cache(), ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Help text with commander's line wrapping undone. */
const oneLine = (text: string) => text.replace(/\s+/g, ' ');

const bundles = () => readdirSync(join(cache(), 'cli')).filter((f) => f.startsWith('mlops-')).sort();
const manifest = () => JSON.parse(readFileSync(join(cache(), 'cli', 'mlops.json'), 'utf8')) as { dir: string; inputs: { path: string }[] };

beforeAll(() => {
  copy = mkdtempSync(join(tmpdir(), 'mlops-cli-bundle-'));
  for (const f of ['bin', 'lib']) cpSync(join(PROJECT_ROOT, f), join(copy, f), { recursive: true });
  for (const f of ['package.json', 'package-lock.json', 'tsconfig.json']) cpSync(join(PROJECT_ROOT, f), join(copy, f));
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(copy, 'node_modules'));
});
afterAll(() => rmSync(copy, { recursive: true, force: true }));

describe('the mlops CLI bundle', () => {
  it('is built on first use, reused while its sources are unchanged, and rebuilt when a CLI source changes', { timeout: 300_000 }, () => {
    // act: the first start builds, the second reuses
    const first = mlops(['--help']);
    expect(first.code, first.stderr).toBe(0);
    expect(oneLine(first.stdout)).toContain('print what the platform would deploy, without deploying it');
    const built = bundles();
    expect(built).toHaveLength(1);
    expect(mlops(['--help']).stdout).toBe(first.stdout);
    expect(bundles()).toEqual(built);
    // The entry's own inputs: every command module, none of the engines (they load when a command runs).
    const inputs = manifest().inputs.map((i) => i.path);
    expect(inputs).toEqual(expect.arrayContaining(['bin/mlops.ts', 'lib/cli/render.ts', 'lib/cli/up.ts', 'lib/local/platform.ts', 'package-lock.json']));

    // act: a user edits a command's description
    const render = join(copy, 'lib', 'cli', 'render.ts');
    writeFileSync(render, readFileSync(render, 'utf8').replace('without deploying it', 'without deploying it (edited)'));
    const edited = mlops(['--help']);
    // assess: the next start ran the edited source, from a new bundle
    expect(edited.code, edited.stderr).toBe(0);
    expect(oneLine(edited.stdout)).toContain('without deploying it (edited)');
    expect(bundles()).toHaveLength(2);
    expect(manifest().dir).not.toBe(built[0]);
  });

  it('runs a command from its lazily loaded modules, and the sources under tsx with MLOPS_CLI_TSX=1', { timeout: 300_000 }, () => {
    const args = ['render', 'seldon', '--model', 'wine-quality', '--version', '2', '--env', 'production', '--canary-of', '1'];
    const bundled = mlops(args);
    expect(bundled.code, bundled.stderr).toBe(0);
    expect(bundled.stdout).toContain('kind: SeldonDeployment');
    const tsx = mlops(args, { MLOPS_CLI_TSX: '1' });
    expect(tsx.code, tsx.stderr).toBe(0);
    expect(tsx.stdout).toBe(bundled.stdout);
  });

  it('fails a wrong command with the same usage error and exit code as under tsx', { timeout: 300_000 }, () => {
    const bundled = mlops(['no-such-command']);
    expect(bundled.code).toBe(2);
    expect(bundled.stderr).toContain("unknown command 'no-such-command'");
    const tsx = mlops(['no-such-command'], { MLOPS_CLI_TSX: '1' });
    expect({ code: tsx.code, stderr: tsx.stderr }).toEqual({ code: bundled.code, stderr: bundled.stderr });
  });

  it('starts a command from the code cache its last successful run left, and replaces one V8 rejects', { timeout: 300_000 }, () => {
    // prepare: the current bundle, the cache of a run without a command (`--help`) removed
    const first = mlops(['--help']);
    const dir = join(cache(), 'cli', manifest().dir);
    const codeCache = join(dir, 'mlops.cjs.-.code-cache');
    rmSync(codeCache, { force: true });
    // act: a first run writes the cache, a second uses it (a rejected cache would be written again)
    expect(mlops(['--help']).stdout).toBe(first.stdout);
    const written = statSync(codeCache).mtimeMs;
    expect(mlops(['--help']).stdout).toBe(first.stdout);
    // assess
    expect(statSync(codeCache).mtimeMs).toBe(written);
    // a failed command (a typo) leaves no cache behind
    expect(mlops(['no-such-command']).code).toBe(2);
    expect(readdirSync(dir).filter((f) => f.includes('no-such-command'))).toEqual([]);
    // act: a cache that is not V8's (a foreign or damaged file) is only slower, and replaced
    writeFileSync(codeCache, Buffer.alloc(4096, 7));
    const damaged = mlops(['--help']);
    // assess
    expect({ code: damaged.code, stdout: damaged.stdout }).toEqual({ code: 0, stdout: first.stdout });
    expect(readFileSync(codeCache).equals(Buffer.alloc(4096, 7))).toBe(false);
  });
});
