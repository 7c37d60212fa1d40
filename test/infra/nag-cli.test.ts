/**
 * `npx cdk synth` fails on an unacknowledged cdk-nag finding, whether the stage was just checked or
 * its report comes from the nag cache: the real CDK CLI, offline, on the kit's app
 * (test/fixtures/apps/nag-finding.ts) with a kit cache of its own.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const scratch = mkdtempSync(join(tmpdir(), 'mlops-nag-cli-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cdkSynth(unacknowledged: number) {
  const r = spawnSync(
    'npx',
    ['cdk', 'synth', '--quiet', '--no-notices', '--app', 'node --import tsx test/fixtures/apps/nag-finding.ts', '-o', join(scratch, 'cdk.out')],
    {
      cwd: root,
      env: {
        ...process.env,
        MLOPS_CACHE_DIR: join(scratch, 'cache'),
        MLOPS_TEST_UNACKNOWLEDGED_BUCKETS: String(unacknowledged),
        CDK_DISABLE_CLI_TELEMETRY: 'true',
        CDK_DISABLE_VERSION_CHECK: 'true',
      },
      encoding: 'utf8',
      timeout: 280_000,
    },
  );
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** The nag cache's entries and when each was written. */
const entries = () => {
  const dir = join(scratch, 'cache', 'nag');
  return Object.fromEntries(readdirSync(dir).map((f) => [f, statSync(join(dir, f)).mtimeMs]));
};

/** Synthesis failed, naming the rule and the added bucket. */
function expectFindingFailed(r: ReturnType<typeof cdkSynth>): void {
  expect(r.status, r.output).not.toBe(0);
  expect(r.output).toMatch(/AwsSolutions-S1/);
  expect(r.output).toContain('mlops-local/DataLake/Unacknowledged0');
}

describe('npx cdk synth with cdk-nag', () => {
  it('fails on a new unacknowledged finding, and again when the report comes from the cache', { timeout: 600_000 }, () => {
    const clean = cdkSynth(0);
    expect(clean.status, clean.output).toBe(0);
    const checked = entries();
    expect(Object.keys(checked)).toHaveLength(1);

    // The stage changed: checked again, and the new finding fails synthesis.
    expectFindingFailed(cdkSynth(1));
    const recorded = entries();
    expect(Object.keys(recorded)).toHaveLength(2);

    // Unchanged: the report is the cache's (no entry written), and it fails synthesis the same way.
    expectFindingFailed(cdkSynth(1));
    expect(entries()).toEqual(recorded);
  });
});
