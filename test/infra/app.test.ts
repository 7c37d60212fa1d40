import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quietSynth, sharedSynth } from '../cli-synth';

const outdirs: string[] = [];
afterAll(() => {
  for (const d of outdirs) rmSync(d, { recursive: true, force: true });
});

/** Runs bin/app.ts the way the CDK CLI does: context in CDK_CONTEXT_JSON, output to CDK_OUTDIR. */
function runApp(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-app-'));
  outdirs.push(outdir);
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'bin/app.ts'], {
    env: {
      ...process.env,
      CDK_CONTEXT_JSON: JSON.stringify({ ...context, nag: 'false' }),
      CDK_OUTDIR: outdir,
      AWS_ACCESS_KEY_ID: '',
      AWS_SECRET_ACCESS_KEY: '',
      AWS_PROFILE: 'mlops-kit-no-such-profile',
    },
    encoding: 'utf8',
    timeout: 280_000,
  });
  return { ...result, outdir };
}

describe('bin/app.ts', () => {
  it('fails with the valid names for an unknown environment', { timeout: 300_000 }, async () => {
    // Through the CDK CLI as the README writes it (the run's one shared run, which the README test
    // reads too): the app's message on stderr, and its exit code 1 passed on by the CLI.
    const r = await sharedSynth('unknownEnvironment');
    expect(r.command).toBe(quietSynth('npx cdk synth -c env=qa', r.outdir));
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain("Unknown environment 'qa': valid environments are local, staging, production");
  });

  it('synthesizes only the named environment, offline, with no credentials', { timeout: 300_000 }, () => {
    const r = runApp({ env: 'staging' });
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(r.outdir, 'manifest.json'), 'utf8'));
    const stages = Object.keys(manifest.artifacts).filter(
      (a) => manifest.artifacts[a].type === 'cdk:cloud-assembly',
    );
    expect(stages).toEqual(['assembly-mlops-staging']);
    // A context lookup (the VPC's zones) would make the CDK CLI call AWS and synthesize twice.
    expect(manifest.missing, JSON.stringify(manifest.missing)).toBeUndefined();
    const stage = JSON.parse(readFileSync(join(r.outdir, 'assembly-mlops-staging', 'manifest.json'), 'utf8'));
    expect(stage.missing, JSON.stringify(stage.missing)).toBeUndefined();
    // CDK's CloudFormation validation stays on for the deployed environments (only the local stage
    // `mlops up` synthesizes for itself skips it: test/local/synth-cache.test.ts).
    const report = JSON.parse(readFileSync(join(r.outdir, 'validation-report.json'), 'utf8'));
    expect(report.pluginReports.map((p: { pluginName: string }) => p.pluginName)).toContain('CloudFormation Validate');
  });
});
