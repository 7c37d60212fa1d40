/**
 * Artifacts are written once (issue 18): the pipeline steps create their objects with
 * `If-None-Match: *` through the S3 adapter, against the local S3 engine. A retried step that finds
 * its own bytes succeeds; other bytes are refused with `ArtifactExistsError` and the object stays.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baselineKeyFor, runLocations } from '../../lib/pipelines/artifact-layout';
import { baselineUriFor, writeBaseline } from '../../lib/pipelines/baseline';
import { ArtifactExistsError, PipelineInputError } from '../../lib/pipelines/errors';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { BUCKETS, type LocalS3, startLocalS3 } from './helpers';
import { linearModel, modelArchive } from './models';

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.close();
});

const text = async (bucket: string, key: string) =>
  (await (await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString());

describe('putOnce', () => {
  it('creates, accepts a retry with the same bytes, and refuses other bytes leaving the object as it was', async () => {
    // act
    const first = await s3.objects.putOnce(BUCKETS.artifacts, 'runs/m/e1/profile.json', '{"rows":1}\n', 'application/json');
    const retry = await s3.objects.putOnce(BUCKETS.artifacts, 'runs/m/e1/profile.json', '{"rows":1}\n', 'application/json');
    const other = s3.objects.putOnce(BUCKETS.artifacts, 'runs/m/e1/profile.json', '{"rows":2}\n', 'application/json');
    // assess
    expect(retry).toEqual(first);
    await expect(other).rejects.toBeInstanceOf(ArtifactExistsError);
    await expect(other).rejects.toThrow(
      `s3://${BUCKETS.artifacts}/runs/m/e1/profile.json already exists with other content: artifacts are written once, so it is not replaced`,
    );
    expect(await text(BUCKETS.artifacts, 'runs/m/e1/profile.json')).toBe('{"rows":1}\n');
  });
});

describe('Stage training data', () => {
  it('streams the splits into data/ once; a retry passes; a changed result cannot replace a staged split', async () => {
    // prepare: two query results
    const csv = 'a,b,y\n1,2,3\n4,5,6\n';
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/train.csv', Body: csv }));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/holdout.csv', Body: csv }));
    const at = runLocations(BUCKETS.artifacts, 'm', 'e2');
    const request = {
      train: { result: `s3://${BUCKETS.results}/q/train.csv`, object: at.train_object },
      holdout: { result: `s3://${BUCKETS.results}/q/holdout.csv`, object: at.holdout_object },
    };
    // act
    const staged = await stageTrainingData(request, s3.objects);
    const again = await stageTrainingData(request, s3.objects);
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/train.csv', Body: `${csv}7,8,9\n` }));
    const swapped = stageTrainingData(request, s3.objects);
    // assess
    expect(again).toEqual(staged);
    expect(staged.train).toBe(`s3://${BUCKETS.artifacts}/data/m/e2/train/train.csv`);
    await expect(swapped).rejects.toBeInstanceOf(ArtifactExistsError);
    expect(await text(BUCKETS.artifacts, 'data/m/e2/train/train.csv')).toBe(csv);
  });
});

describe('Write baseline', () => {
  it('accepts a retry that computes the same baseline later, and refuses a different baseline leaving the first', async () => {
    // prepare: a model, the training value counts (a, b) and a holdout in the local S3
    const modelKey = 'models/m/e3/job/output/model.tar.gz';
    await s3.client.send(
      new PutObjectCommand({ Bucket: BUCKETS.artifacts, Key: modelKey, Body: await modelArchive(linearModel(['a', 'b'], [1, 2], 0.5)) }),
    );
    const counts = (bValue: number) => `g,c0,c1,n\n1,1,,2\n1,4,,1\n2,,${bValue},3\n`;
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/counts.csv', Body: counts(2) }));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/counts-other.csv', Body: counts(5) }));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.results, Key: 'q/holdout.csv', Body: 'a,b,y\n1,2,5\n4,2,8\n' }));
    const request = {
      model_name: 'm',
      model_uri: `s3://${BUCKETS.artifacts}/${modelKey}`,
      holdout_uri: `s3://${BUCKETS.results}/q/holdout.csv`,
      counts_uri: `s3://${BUCKETS.results}/q/counts.csv`,
      features: ['a', 'b'],
    };
    const at = (iso: string) => ({ objects: s3.objects, now: () => new Date(iso) });
    // act
    const first = await writeBaseline(request, at('2026-12-05T10:00:00Z'));
    const stored = await text(BUCKETS.artifacts, 'baselines/m/e3/job/output/baseline.json');
    const retry = await writeBaseline(request, at('2026-12-05T10:05:00Z'));
    const other = writeBaseline({ ...request, counts_uri: `s3://${BUCKETS.results}/q/counts-other.csv` }, at('2026-12-05T10:06:00Z'));
    // assess
    expect(retry).toEqual(first);
    expect(JSON.parse(stored).createdAt).toBe('2026-12-05T10:00:00.000Z');
    await expect(other).rejects.toBeInstanceOf(ArtifactExistsError);
    expect(await text(BUCKETS.artifacts, 'baselines/m/e3/job/output/baseline.json')).toBe(stored);
  });
});

describe('the artifact layout', () => {
  it('puts a baseline under baselines/ on its model path, and refuses a model outside models/', () => {
    expect(baselineKeyFor('models/m/e/job/output/model.tar.gz')).toBe('baselines/m/e/job/output/baseline.json');
    expect(baselineUriFor('s3://bkt/models/m/e/job/output/model.tar.gz')).toBe('s3://bkt/baselines/m/e/job/output/baseline.json');
    expect(() => baselineUriFor('s3://bkt/runs/m/e/training/job/output/model.tar.gz')).toThrow(PipelineInputError);
    expect(() => baselineUriFor('s3://bkt/runs/m/e/training/job/output/model.tar.gz')).toThrow(
      'model_uri must name a model under models/ (where training jobs write), but s3://bkt/runs/m/e/training/job/output/model.tar.gz was provided',
    );
  });
});
