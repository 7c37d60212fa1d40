import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModelFormatError } from '../../lib/model/format';
import { evaluateCandidate, gateVerdict } from '../../lib/pipelines/evaluate';
import { BUCKETS, type LocalS3, parquetOf, startLocalS3 } from './helpers';
import { linearModel, modelArchive } from './models';

let s3: LocalS3;
const uri = (key: string) => `s3://${BUCKETS.artifacts}/${key}`;
// y = 2a + b + 1 exactly, so the exact model scores RMSE 0 and an offset one RMSE = MAE = the offset;
// as two Parquet parts, as the holdout UNLOAD leaves it.
const holdoutPart = (from: number, to: number) =>
  parquetOf(`SELECT i * 1.0 AS a, (i % 3) * 1.0 AS b, (2 * i + i % 3 + 1) * 1.0 AS y FROM range(${from}, ${to}) t(i)`);

beforeAll(async () => {
  s3 = await startLocalS3();
  await s3.objects.put(BUCKETS.artifacts, 'data/m/r/holdout/part-00000.parquet', await holdoutPart(0, 6), 'application/x-parquet');
  await s3.objects.put(BUCKETS.artifacts, 'data/m/r/holdout/part-00001.parquet', await holdoutPart(6, 10), 'application/x-parquet');
  await s3.objects.put(
    BUCKETS.artifacts,
    'runs/m/exact/model.tar.gz',
    await modelArchive(linearModel(['a', 'b'], [2, 1], 1)),
    'application/gzip',
  );
  await s3.objects.put(
    BUCKETS.artifacts,
    'runs/m/offset/model.tar.gz',
    await modelArchive(linearModel(['b', 'a'], [1, 2], 1.5)),
    'application/gzip',
  );
  await s3.objects.put(
    BUCKETS.artifacts,
    'runs/m/broken/model.tar.gz',
    await modelArchive({ format: 'other' }),
    'application/gzip',
  );
});
afterAll(() => s3.close());

const request = (model: string, thresholds = {}) => ({
  model_uri: uri(`runs/m/${model}/model.tar.gz`),
  holdout_uri: uri('data/m/r/holdout/'),
  thresholds,
});

describe('Evaluate model', () => {
  it('scores the candidate from its model.tar.gz on the holdout split, matching features by name', async () => {
    const exact = await evaluateCandidate(request('exact', { max_rmse: 0.1, min_r2: 0.99 }), {
      objects: s3.objects,
    });
    expect(exact.metrics).toEqual({ rmse: 0, mae: 0, r2: 1, rows: 10 });
    expect(exact.verdict.passed).toBe(true);
    expect(exact.production).toBeNull();
    const offset = await evaluateCandidate(request('offset'), { objects: s3.objects });
    expect(offset.metrics.rmse).toBeCloseTo(0.5, 12);
    expect(offset.metrics.mae).toBeCloseTo(0.5, 12);
  });

  it('rejects a candidate above max_rmse, saying why', async () => {
    const result = await evaluateCandidate(request('offset', { max_rmse: 0.4 }), { objects: s3.objects });
    expect(result.verdict).toEqual({
      passed: false,
      reasons: ['holdout RMSE 0.5000 is above max_rmse 0.4'],
      summary: 'rejected: holdout RMSE 0.5000 is above max_rmse 0.4',
    });
  });

  it('re-scores the production model on the same holdout and rejects a worse candidate', async () => {
    const result = await evaluateCandidate(request('offset'), {
      objects: s3.objects,
      production: async () => ({
        version: '3',
        source: uri('runs/m/exact/model.tar.gz'),
        logged: { rmse: 9 },
      }),
    });
    expect(result.production).toEqual({ version: '3', basis: 'rescored', rmse: 0, mae: 0, r2: 1 });
    expect(result.verdict.passed).toBe(false);
    expect(result.verdict.reasons).toEqual([
      "holdout RMSE 0.5000 is worse than the production model's 0.0000 (version 3, rescored)",
    ]);
  });

  it("falls back to the production run's logged metrics when its artifact cannot be read", async () => {
    const result = await evaluateCandidate(request('offset'), {
      objects: s3.objects,
      production: async () => ({
        version: '2',
        source: uri('runs/m/missing/model.tar.gz'),
        logged: { rmse: 0.7 },
      }),
    });
    expect(result.production).toMatchObject({ version: '2', basis: 'logged', rmse: 0.7 });
    expect(result.production?.note).toMatch(/not re-scored/);
    expect(result.verdict.passed).toBe(true);
  });

  it('fails if the artifact is not a model', async () => {
    await expect(evaluateCandidate(request('broken'), { objects: s3.objects })).rejects.toBeInstanceOf(
      ModelFormatError,
    );
  });
});

describe('gateVerdict', () => {
  const metrics = { rmse: 0.6, mae: 0.5, r2: 0.3, rows: 100 };
  it('passes with no thresholds and no production model', () => {
    expect(gateVerdict(metrics, {}, null).passed).toBe(true);
  });
  it('lists every failed check', () => {
    const v = gateVerdict(
      metrics,
      { max_rmse: 0.5, max_mae: 0.4, min_r2: 0.35 },
      { version: '1', basis: 'logged', rmse: 0.55 },
    );
    expect(v.reasons).toHaveLength(4);
  });
  it('passes a candidate exactly as good as production: re-training on the same input registers again', () => {
    expect(gateVerdict(metrics, {}, { version: '1', basis: 'rescored', rmse: 0.6 }).passed).toBe(true);
    expect(gateVerdict(metrics, {}, { version: '1', basis: 'rescored', rmse: 0.6 - 1e-12 }).passed).toBe(false);
  });
  it('does not compare with a production model that has no RMSE', () => {
    expect(gateVerdict(metrics, {}, { version: '1', basis: 'logged' }).passed).toBe(true);
  });
});
