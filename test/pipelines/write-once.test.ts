/**
 * Artifacts are written once (issue 18): the pipeline steps create their objects with
 * `If-None-Match: *` through the S3 adapter, against the local S3 engine. A retried step that finds
 * its own bytes succeeds; other bytes are refused with `ArtifactExistsError` and the object stays.
 */
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baselineKeyFor, runLocations } from '../../lib/pipelines/artifact-layout';
import { baselineUriFor, writeBaseline } from '../../lib/pipelines/baseline';
import { ArtifactExistsError, DataValidationError, PipelineInputError } from '../../lib/pipelines/errors';
import { stageTrainingData } from '../../lib/pipelines/stage-data';
import { BUCKETS, type LocalS3, parquetOf, startLocalS3 } from './helpers';
import { linearModel, modelArchive } from './models';

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => {
  await s3?.close();
});

const bytes = async (bucket: string, key: string) =>
  (await (await s3.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
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

/** A Parquet file of `rows` rows (a, b, y), as an UNLOAD part. */
const parquet = (rows: number, offset = 0) =>
  parquetOf(`SELECT i * 1.0 AS a, i * 2.0 AS b, i * 3.0 AS y FROM range(${offset}, ${offset + rows}) t(i)`);

describe('Stage training data', () => {
  it('copies every UNLOAD part into data/ once; a retry passes; a changed part cannot replace a staged one', async () => {
    // prepare: two train parts (the second numbered 10, so number order is not text order) and one holdout part
    const put = async (key: string, body: Buffer) =>
      s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.curated, Key: key, Body: body }));
    await put('splits/t/e2/train/q_2.parquet', await parquet(3));
    await put('splits/t/e2/train/q_10.parquet', await parquet(2, 3));
    await put('splits/t/e2/holdout/q_0.parquet', await parquet(2));
    const at = runLocations(BUCKETS.artifacts, 'm', 'e2');
    const request = {
      train: { unloaded: `s3://${BUCKETS.curated}/splits/t/e2/train/`, channel: at.train },
      holdout: { unloaded: `s3://${BUCKETS.curated}/splits/t/e2/holdout/`, channel: at.holdout },
    };
    // act
    const staged = await stageTrainingData(request, s3.objects);
    const again = await stageTrainingData(request, s3.objects);
    await put('splits/t/e2/train/q_2.parquet', await parquet(4));
    const swapped = stageTrainingData(request, s3.objects);
    // assess
    expect(again).toEqual(staged);
    expect(staged).toEqual({
      train: `s3://${BUCKETS.artifacts}/data/m/e2/train/`,
      holdout: `s3://${BUCKETS.artifacts}/data/m/e2/holdout/`,
      train_rows: 5,
      holdout_rows: 2,
      train_parts: 2,
      holdout_parts: 1,
    });
    await expect(swapped).rejects.toBeInstanceOf(ArtifactExistsError);
    // q_2 before q_10: the writer's order
    expect(Buffer.from(await bytes(BUCKETS.artifacts, 'data/m/e2/train/part-00000.parquet')).equals(await parquet(3))).toBe(true);
    expect(Buffer.from(await bytes(BUCKETS.artifacts, 'data/m/e2/train/part-00001.parquet')).equals(await parquet(2, 3))).toBe(true);
  });

  it('fails with a DataValidationError naming a part that is not Parquet, before copying anything', async () => {
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.curated, Key: 'splits/t/e3/train/q_0.parquet', Body: 'a,b,y\n1,2,3\n' }));
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.curated, Key: 'splits/t/e3/holdout/q_0.parquet', Body: await parquet(1) }));
    const at = runLocations(BUCKETS.artifacts, 'm', 'e3');
    const err = await stageTrainingData(
      {
        train: { unloaded: `s3://${BUCKETS.curated}/splits/t/e3/train/`, channel: at.train },
        holdout: { unloaded: `s3://${BUCKETS.curated}/splits/t/e3/holdout/`, channel: at.holdout },
      },
      s3.objects,
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataValidationError);
    expect((err as Error).message).toMatch(/^s3:\/\/[^ ]+\/splits\/t\/e3\/train\/q_0\.parquet cannot be read as Parquet: /);
    expect((await s3.keys(BUCKETS.artifacts)).filter((k) => k.startsWith('data/m/e3/'))).toEqual([]);
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
    const holdout = await parquetOf('SELECT * FROM (VALUES (1.0::DOUBLE, 2.0::DOUBLE, 5.0::DOUBLE), (4.0, 2.0, 8.0)) t(a, b, y)');
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKETS.curated, Key: 'splits/m/e3/holdout/q_0.parquet', Body: holdout }));
    const request = {
      model_name: 'm',
      model_uri: `s3://${BUCKETS.artifacts}/${modelKey}`,
      holdout_uri: `s3://${BUCKETS.curated}/splits/m/e3/holdout/`,
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
