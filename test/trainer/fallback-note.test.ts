/**
 * A training job that runs the JavaScript kernels where it asked for SIMD says so on stderr, with
 * the reason (the fit is as exact, only slower), and says nothing when SIMD ran: the real `mlops
 * train` process, once with `MLOPS_FIT_SIMD=0`, once without.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../lib/constructs/bundling';
import { loadModelDir } from '../../lib/model/format';
import { WINE_CSV } from './helpers';

const work = mkdtempSync(join(tmpdir(), 'mlops-fallback-note-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function train(name: string, env: Record<string, string>) {
  const modelDir = join(work, name);
  const r = spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'bin', 'mlops.mjs'), 'train', '--train', WINE_CSV, '--target', 'quality', '--model-dir', modelDir],
    { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 },
  );
  return { code: r.status, stderr: r.stderr, modelDir };
}

describe('mlops train on the JavaScript kernels', () => {
  it('notes the fallback and its reason, and writes the same model as the SIMD fit', async () => {
    // act
    const simd = train('simd', {});
    const js = train('js', { MLOPS_FIT_SIMD: '0' });
    // assess
    expect(simd.code, simd.stderr).toBe(0);
    expect(simd.stderr).not.toMatch(/JavaScript kernels/);
    expect(js.code, js.stderr).toBe(0);
    expect(js.stderr).toContain(
      'note: the fit ran the JavaScript kernels, not SIMD (same results, slower): MLOPS_FIT_SIMD=0 asks for the JavaScript kernels',
    );
    const [a, b] = await Promise.all([loadModelDir(simd.modelDir), loadModelDir(js.modelDir)]);
    expect(b.coefficients).toEqual(a.coefficients);
    expect(b.intercept).toBe(a.intercept);
  });
});
