/** Test helper: a real model.tar.gz (the trainer's format, packed as SageMaker does) in the local S3. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packModelDir } from '../../lib/model/archive';
import { type LinearModel, MODEL_FORMAT } from '../../lib/model/format';

export function linearModel(
  features: string[],
  coefficients: number[],
  intercept: number,
  target = 'y',
): LinearModel {
  return {
    format: MODEL_FORMAT,
    algorithm: 'elasticnet',
    features,
    target,
    coefficients,
    intercept,
    hyperparameters: { alpha: 0.1, l1_ratio: 0.5, max_iter: 1000, tol: 1e-4 },
    metrics: { train: { rmse: 0, mae: 0, r2: 1, rows: 10 } },
    fit: { iterations: 1, converged: true, dual_gap: 0, seconds: 0 },
    data_version: null,
    warnings: [],
    created_at: '2026-11-02T00:00:00Z',
  };
}

export async function modelArchive(model: unknown): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-model-'));
  try {
    await writeFile(join(dir, 'model.json'), JSON.stringify(model));
    return await packModelDir(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
