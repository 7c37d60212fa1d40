/**
 * The CDK CLI and aws-cdk-lib stay in step: the CLI refuses a cloud assembly whose schema major
 * is above the one it bundles ("Maximum schema version supported is 43.x.x, but found 55.0.0"),
 * which is how `aws-cdk ^3.0.0` once broke every `npx cdk synth`. The fast checks compare the
 * versions both packages record; one real `npx cdk ls` proves the pinned CLI reads the app.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Manifest } from 'aws-cdk-lib/cloud-assembly-schema';
import { afterAll, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = join(import.meta.dirname, '..', '..');
const cliDir = dirname(require.resolve('aws-cdk/package.json'));
const cliVersion = (JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as { version: string }).version;

/**
 * The schema revision the CLI validates manifests against. The CLI bundles its own copy of
 * `@aws-cdk/cloud-assembly-schema`, whose `schema/version.json` esbuild inlines as a module named
 * by that path; `Manifest.version()` there is `<revision>.0.0`.
 */
function cliMaxSchemaMajor(): number {
  const bundle = readFileSync(join(cliDir, 'lib', 'index.js'), 'utf8');
  const match = /cloud-assembly-schema\/schema\/version\.json"[\s\S]{0,600}?revision:\s*(\d+)/.exec(bundle);
  if (!match) throw new Error(`no bundled cloud-assembly-schema version.json found in ${cliDir}/lib/index.js`);
  return Number(match[1]);
}

const major = (version: string): number => Number(version.split('.')[0]);

/** Compares dotted numeric versions (`2.1149.0`), ignoring any pre-release tail. */
function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a, b].map((v) => v.split('-')[0]!.split('.').map(Number));
  for (let i = 0; i < Math.max(pa!.length, pb!.length); i++) {
    const d = (pa![i] ?? 0) - (pb![i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

describe('the CDK CLI reads the assembly aws-cdk-lib writes', () => {
  it('supports at least the schema major aws-cdk-lib writes', () => {
    const written = Manifest.version();
    expect(
      cliMaxSchemaMajor(),
      `aws-cdk ${cliVersion} reads cloud-assembly schema up to ${cliMaxSchemaMajor()}.x.x, but aws-cdk-lib writes ${written}: pin a newer aws-cdk`,
    ).toBeGreaterThanOrEqual(major(written));
  });

  it('is at least the CLI version aws-cdk-lib names as the minimum for its assemblies', () => {
    const minimum = Manifest.cliVersion();
    expect(minimum, 'aws-cdk-lib records a minimum CLI version').toMatch(/^\d+\.\d+\.\d+/);
    expect(
      compareVersions(cliVersion, minimum!),
      `aws-cdk must be at least ${minimum}, but ${cliVersion} is installed`,
    ).toBeGreaterThanOrEqual(0);
  });

  it('is pinned exactly in package.json, so a fresh `npm ci` gets the CLI this test checked', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      devDependencies: Record<string, string>;
    };
    const pinned = pkg.devDependencies['aws-cdk'];
    expect(pinned, 'aws-cdk must be an exact version such as 2.1149.0').toMatch(/^\d+\.\d+\.\d+$/);
    expect(pinned).toBe(cliVersion);
  });
});

describe('npx cdk', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'mlops-cdk-cli-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('lists the stacks offline with no AWS credentials', { timeout: 240_000 }, () => {
    // No credentials anywhere the SDK looks, and nothing that would reach a non-loopback address:
    // no instance metadata, no notices, telemetry or version check.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
    Object.assign(env, {
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(scratch, 'no-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(scratch, 'no-credentials'),
      CDK_DISABLE_CLI_TELEMETRY: 'true',
      CDK_DISABLE_VERSION_CHECK: 'true',
    });
    delete env['CDK_DEFAULT_ACCOUNT'];
    delete env['CDK_DEFAULT_REGION'];

    const r = spawnSync(
      'npx',
      ['cdk', 'ls', '-c', 'env=local', '-c', 'nag=false', '--no-notices', '-o', join(scratch, 'cdk.out')],
      { cwd: root, env, encoding: 'utf8', timeout: 230_000 },
    );

    expect(r.status, r.stderr).toBe(0);
    const stacks = r.stdout.trim().split('\n');
    expect(stacks).toContain('mlops-local/DataLake (mlops-local-DataLake)');
    for (const line of stacks) expect(line).toMatch(/^mlops-local\/\w+ \(mlops-local-\w+\)$/);
  });
});
