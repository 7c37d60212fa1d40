/**
 * `npx cdk synth -c env=delivery` as a user runs it: the real CDK CLI, offline, with no
 * credentials, cdk-nag on (a finding stops synthesis), placeholder accounts; and a bad delivery
 * setting refused with the setting named. The successful synthesis is the run's one shared run of
 * the README's command (test/cli-synth.ts), which the README test reads too.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { quietSynth, sharedSynth } from '../cli-synth';

const outdirs: string[] = [];
afterAll(() => {
  for (const d of outdirs) rmSync(d, { recursive: true, force: true });
});

function cdkSynth(...args: string[]) {
  const outdir = mkdtempSync(join(tmpdir(), 'mlops-delivery-synth-'));
  outdirs.push(outdir);
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_PROFILE: 'mlops-kit-no-such-profile', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };
  for (const k of Object.keys(env)) if (/^(MLOPS_(DELIVERY|STAGING|PRODUCTION)_|CDK_DEFAULT_)/.test(k)) delete env[k];
  const r = spawnSync(join(PROJECT_ROOT, 'node_modules/.bin/cdk'), ['synth', '-c', 'env=delivery', ...args, '-q', '-o', outdir], {
    cwd: PROJECT_ROOT,
    env,
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { ...r, outdir };
}

describe('npx cdk synth -c env=delivery', () => {
  it('synthesizes the pipeline and the stages it deploys, offline, with zero unacknowledged cdk-nag findings', { timeout: 600_000 }, async () => {
    const r = await sharedSynth('delivery');
    expect(r.command).toBe(quietSynth('npx cdk synth -c env=delivery', r.outdir));
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stderr).not.toMatch(/^ERROR /m);
    expect(readdirSync(r.outdir).filter((f) => f.startsWith('assembly-')).sort()).toEqual([
      'assembly-mlops-delivery-mlops-production',
      'assembly-mlops-delivery-mlops-staging',
    ]);
    const template = JSON.parse(readFileSync(join(r.outdir, 'mlops-delivery.template.json'), 'utf8'));
    const pipelines = Object.values(template.Resources as Record<string, { Type: string }>).filter((x) => x.Type === 'AWS::CodePipeline::Pipeline');
    expect(pipelines).toHaveLength(2);
    expect(JSON.stringify(template)).toContain('example-org/mlops-kit');
  });

  it('refuses a malformed setting with the setting named, and writes nothing', { timeout: 300_000 }, () => {
    const r = cdkSynth('-c', 'delivery:connectionArn=arn:aws:s3:::not-a-connection');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('Invalid config for the delivery pipeline:');
    expect(r.stderr).toContain('delivery.connectionArn must be a CodeConnections connection ARN');
    expect(r.stderr).toContain('but "arn:aws:s3:::not-a-connection" was provided');
    expect(readdirSync(r.outdir).filter((f) => f.endsWith('.template.json'))).toEqual([]);
  });
});
