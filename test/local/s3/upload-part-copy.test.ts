/**
 * Copies over CopyObject's 5 GB: the pipelines' object store copies part by part (UploadPartCopy),
 * and the local S3 server answers UploadPartCopy as S3 does, both through the AWS SDK v3 client.
 * The threshold is lowered so an 11 MiB object takes the multipart path.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
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
