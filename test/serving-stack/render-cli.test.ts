import { spawnSync } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { buildProgram, EXIT, runProgram } from '../../lib/cli/program';
import { imagePlaceholder, renderCommands } from '../../lib/cli/render';
import type { SeldonDeploymentManifest } from '../../lib/serving-infra/seldon';
import { crdErrors } from './crd';

let out: MockInstance;
let err: MockInstance;
beforeEach(() => {
  out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function mlops(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const code = await runProgram(buildProgram([renderCommands]), argv);
  const text = (m: MockInstance) => m.mock.calls.map((c) => String(c[0])).join('');
  return { code, stdout: text(out), stderr: text(err) };
}

describe('mlops render seldon', () => {
  it('prints the production deployment as YAML, sized by the production config (exit 0)', async () => {
    const run = await mlops([
      'render',
      'seldon',
      '--model',
      'wine-quality',
      '--version',
      '5',
      '--env',
      'production',
    ]);
    expect(run.code).toBe(EXIT.ok);
    const docs = parseAllDocuments(run.stdout).map((d) => d.toJS() as SeldonDeploymentManifest);
    expect(docs).toHaveLength(1);
    expect(docs[0]!.kind).toBe('SeldonDeployment');
    expect(docs[0]!.spec.predictors.map((p) => [p.name, p.traffic, p.replicas])).toEqual([['v5', 100, 3]]);
    // Without --image the image is a placeholder that says where the real one comes from.
    expect(run.stdout).toContain(imagePlaceholder('production'));
  });

  it('prints a canary with --canary-of at the environment canary share, as JSON with --format json', async () => {
    const run = await mlops([
      'render',
      'seldon',
      '--model',
      'wine-quality',
      '--version',
      '5',
      '--canary-of',
      '4',
      '--env',
      'staging',
      '--format',
      'json',
      '--image',
      'registry.example/model-server:1',
      '--artifact-uri',
      's3://a/5/model.tar.gz',
    ]);
    expect(run.code).toBe(EXIT.ok);
    const sdep = JSON.parse(run.stdout) as SeldonDeploymentManifest;
    expect(sdep.spec.predictors.map((p) => [p.name, p.traffic])).toEqual([
      ['v4', 80],
      ['v5', 20],
    ]);
    expect(JSON.stringify(sdep)).toContain('s3://a/5/model.tar.gz');
    expect(parse(JSON.stringify(sdep))).toEqual(sdep);
  });

  it("pins the new version to its registered digest and object version, and refuses a digest that is not one", async () => {
    const sha = 'f'.repeat(64);
    const args = ['render', 'seldon', '--model', 'wine-quality', '--version', '5', '--env', 'staging', '--format', 'json'];
    const run = await mlops([...args, '--artifact-sha256', sha, '--artifact-version-id', 'obj-5']);
    expect(run.code).toBe(EXIT.ok);
    const sdep = JSON.parse(run.stdout) as SeldonDeploymentManifest;
    const env = (sdep.spec.predictors[0]!.componentSpecs[0]!.spec as { containers: { env: { name: string; value: string }[] }[] }).containers[0]!.env;
    expect(env).toEqual(expect.arrayContaining([{ name: 'MODEL_SHA256', value: sha }, { name: 'MODEL_VERSION_ID', value: 'obj-5' }]));
    out.mockClear();
    const bad = await mlops([...args, '--artifact-sha256', 'latest']);
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toMatch(/must be 64 lowercase hex digits, but "latest" was provided/);
  });

  it('fails with exit 2 and the valid environments for an unknown --env', async () => {
    const run = await mlops(['render', 'seldon', '--model', 'm', '--version', '1', '--env', 'prod']);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toContain(
      "Unknown environment 'prod': valid environments are local, staging, production",
    );
    expect(run.stdout).toBe('');
  });

  it.each([
    [['--version', '1', '--env', 'staging'], /--model/],
    [['--model', 'm', '--env', 'staging'], /--version/],
    [['--model', 'm', '--version', '1'], /--env/],
  ])('fails with exit 2 if a required flag is missing (%o)', async (flags, message) => {
    const run = await mlops(['render', 'seldon', ...flags]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toMatch(message);
  });

  it.each([
    [['--format', 'xml'], /--format must be yaml or json, but "xml"/],
    [['--canary-of', '1'], /canary.version must differ from the stable version/],
    [['--version', 'v2'], /version must be a registry version number/],
  ])('fails with exit 2 for a bad value (%o)', async (flags, message) => {
    const run = await mlops([
      'render',
      'seldon',
      '--model',
      'm',
      '--version',
      '1',
      '--env',
      'staging',
      ...flags,
    ]);
    expect(run.code).toBe(EXIT.usage);
    expect(run.stderr).toMatch(message);
  });
});

describe('npx mlops render seldon, the real binary', () => {
  const render = (args: string[]) =>
    spawnSync(process.execPath, ['bin/mlops.mjs', 'render', 'seldon', ...args], { encoding: 'utf8', timeout: 120_000 });

  it.each([
    ['the README example (a canary in production)', ['--model', 'wine-quality', '--version', '2', '--env', 'production', '--canary-of', '1']],
    ['a plain staging deployment, with an artifact and image', [
      '--model', 'wine-quality', '--version', '3', '--env', 'staging',
      '--artifact-uri', 's3://artifacts/training/job-3/output/model.tar.gz',
      '--image', '123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:abc',
    ]],
  ])('prints a SeldonDeployment the vendored 1.17.1 CRD accepts: %s', (_, args) => {
    const r = render(args);
    expect(r.status, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as SeldonDeploymentManifest);
    expect(docs.map((d) => d.kind)).toEqual(['SeldonDeployment']);
    expect(crdErrors(docs[0])).toEqual([]);
  });

  it('answers a bad flag with exit 2 and nothing on stdout', () => {
    const r = render(['--model', 'wine-quality', '--version', 'two', '--env', 'production']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/version must be a registry version number/);
  });
});
