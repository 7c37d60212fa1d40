/**
 * Copies over CopyObject's 5 GB: the pipelines' object store copies part by part (UploadPartCopy),
 * and the local S3 server answers UploadPartCopy as S3 does, both through the AWS SDK v3 client.
 * The threshold is lowered so an 11 MiB object takes the multipart path. Write-once copies
 * (`copyOnce`) above it complete the upload with `If-None-Match: *`, which the local server honours.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Objects } from '../../../lib/adapters/s3/objects';
import { ArtifactExistsError } from '../../../lib/pipelines/errors';
import { type S3Server, S3Store, startS3Server } from '../../../lib/local/s3';

const MiB = 1024 ** 2;
let stateDir: string;
let server: S3Server;
let s3: S3Client;
const body = randomBytes(11 * MiB);
const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'mlops-s3-partcopy-'));
  server = await startS3Server({ store: await S3Store.open(stateDir, ['raw', 'curated']) });
  s3 = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'big/results.csv', Body: body }));
});
afterAll(async () => {
  s3.destroy();
  await server.close();
  await rm(stateDir, { recursive: true, force: true });
});

const bytesOf = async (bucket: string, key: string) =>
  (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray();

describe('multipart copy', () => {
  it('copies an object above the threshold in parts, byte for byte, with an S3 multipart ETag', async () => {
    // act: 5 MiB parts → 3 parts (5, 5, 1 MiB)
    await s3Objects(s3, { multipartCopyAbove: MiB, partSize: 5 * MiB }).copy(
      { bucket: 'raw', key: 'big/results.csv' },
      { bucket: 'curated', key: 'runs/m/train.csv' },
    );
    // assess
    expect(md5(await bytesOf('curated', 'runs/m/train.csv'))).toBe(md5(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'curated', Key: 'runs/m/train.csv' }));
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    expect(head.ContentLength).toBe(body.length);
  });

  it('copies an object at or below the threshold with one CopyObject', async () => {
    await s3Objects(s3, { multipartCopyAbove: body.length }).copy(
      { bucket: 'raw', key: 'big/results.csv' },
      { bucket: 'curated', key: 'runs/m/small.csv' },
    );
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'curated', Key: 'runs/m/small.csv' }));
    expect(head.ETag).toBe(`"${md5(body)}"`);
  });

  it('answers a copy-source range outside the source with 400 InvalidArgument', async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'curated', Key: 'bad' }));
    const err = await s3
      .send(
        new UploadPartCopyCommand({
          Bucket: 'curated',
          Key: 'bad',
          UploadId,
          PartNumber: 1,
          CopySource: 'raw/big/results.csv',
          CopySourceRange: `bytes=0-${body.length}`,
        }),
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(S3ServiceException);
    expect((err as S3ServiceException).name).toBe('InvalidArgument');
    expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(400);
  });
});

/** Multipart uploads the local store holds (a completed or aborted one is gone). */
async function uploadsInProgress(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (!e.isDirectory()) continue;
      if (e.name === '.uploads') found.push(...(await readdir(join(dir, e.name))));
      else await walk(join(dir, e.name));
    }
  };
  await walk(stateDir);
  return found;
}

describe('write-once multipart copy (copyOnce above the threshold)', () => {
  const objects = () => s3Objects(s3, { multipartCopyAbove: MiB, partSize: 5 * MiB });

  it('copies in UploadPartCopy parts completed with If-None-Match; a retry with the same bytes passes', async () => {
    const before = await uploadsInProgress();
    // act
    const first = await objects().copyOnce({ bucket: 'raw', key: 'big/results.csv' }, { bucket: 'curated', key: 'data/m/e/train/part-00000.parquet' });
    const retry = await objects().copyOnce({ bucket: 'raw', key: 'big/results.csv' }, { bucket: 'curated', key: 'data/m/e/train/part-00000.parquet' });
    // assess: the bytes, a multipart ETag (3 parts), the retry accepted, no upload left behind
    expect(md5(await bytesOf('curated', 'data/m/e/train/part-00000.parquet'))).toBe(md5(body));
    const head = await s3.send(new HeadObjectCommand({ Bucket: 'curated', Key: 'data/m/e/train/part-00000.parquet' }));
    expect(head.ETag).toMatch(/^"[0-9a-f]{32}-3"$/);
    expect(retry).toEqual(first);
    expect(await uploadsInProgress()).toEqual(before);
  });

  it('fails with ArtifactExistsError when other bytes are there, leaving the object and no upload', async () => {
    // prepare: other bytes at the destination
    await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'data/m/e/holdout/part-00000.parquet', Body: 'other' }));
    const before = await uploadsInProgress();
    // act
    const err = await objects()
      .copyOnce({ bucket: 'raw', key: 'big/results.csv' }, { bucket: 'curated', key: 'data/m/e/holdout/part-00000.parquet' })
      .catch((e: unknown) => e);
    // assess
    expect(err).toBeInstanceOf(ArtifactExistsError);
    expect((err as Error).message).toBe(
      's3://curated/data/m/e/holdout/part-00000.parquet already exists with other content: artifacts are written once, so it is not replaced',
    );
    expect(Buffer.from(await bytesOf('curated', 'data/m/e/holdout/part-00000.parquet')).toString()).toBe('other');
    expect(await uploadsInProgress()).toEqual(before);
  });

  it('answers CompleteMultipartUpload with If-None-Match: * on an existing key with 412 PreconditionFailed (SDK v3)', async () => {
    // prepare: an upload of one copied part, to a key that exists
    await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'taken', Body: 'first' }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'curated', Key: 'taken' }));
    const part = await s3.send(
      new UploadPartCopyCommand({ Bucket: 'curated', Key: 'taken', UploadId, PartNumber: 1, CopySource: 'raw/big/results.csv' }),
    );
    const complete = (IfNoneMatch?: string) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'curated',
          Key: 'taken',
          UploadId,
          MultipartUpload: { Parts: [{ ETag: part.CopyPartResult!.ETag!, PartNumber: 1 }] },
          ...(IfNoneMatch ? { IfNoneMatch } : {}),
        }),
      );
    // act
    const err = await complete('*').catch((e: unknown) => e);
    // assess: refused, the object as it was; without the condition the same upload completes
    expect(err).toBeInstanceOf(S3ServiceException);
    expect((err as S3ServiceException).name).toBe('PreconditionFailed');
    expect((err as S3ServiceException).$metadata.httpStatusCode).toBe(412);
    expect(Buffer.from(await bytesOf('curated', 'taken')).toString()).toBe('first');
    await complete();
    expect(md5(await bytesOf('curated', 'taken'))).toBe(md5(body));
  });
});
