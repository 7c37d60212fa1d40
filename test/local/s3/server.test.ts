import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type S3Server, S3Store, startS3Server } from '../../../lib/local/s3';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
let stateDir: string;
let server: S3Server;
let s3: S3Client;

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'mlops-s3-server-'));
  server = await startS3Server({ store: await S3Store.open(stateDir, ['raw', 'curated']) });
  // No forcePathStyle: the SDK picks path-style by itself for an IP endpoint.
  s3 = new S3Client({ endpoint: server.endpoint, region: 'eu-west-1', credentials });
});
afterAll(async () => {
  s3.destroy();
  await server.close();
  await rm(stateDir, { recursive: true, force: true });
});

const md5 = (b: Uint8Array | string) => createHash('md5').update(b).digest('hex');
const text = async (key: string, bucket = 'raw') =>
  (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToString();
const errorOf = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; $metadata: { httpStatusCode: number } };
    return { name: e.name, status: e.$metadata.httpStatusCode };
  }
  throw new Error('expected the call to fail');
};

describe('S3 endpoint through @aws-sdk/client-s3', () => {
  it('round-trips an object with content type, user metadata, MD5 ETag and a version id', async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'raw',
        Key: 'wine/red v1.csv',
        Body: 'a,b\n1,2\n',
        ContentType: 'text/csv',
        Metadata: { dataset: 'wine', 'row-count': '1' },
      }),
    );
    expect(put.ETag).toBe(`"${md5('a,b\n1,2\n')}"`);
    expect(put.VersionId).toMatch(/^[\w-]{20,}$/);

    const got = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'wine/red v1.csv' }));
    expect(await got.Body!.transformToString()).toBe('a,b\n1,2\n');
    expect(got).toMatchObject({
      ContentType: 'text/csv',
      ETag: put.ETag,
      VersionId: put.VersionId,
      ContentLength: 8,
    });
    expect(got.Metadata).toEqual({ dataset: 'wine', 'row-count': '1' });

    const head = await s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'wine/red v1.csv' }));
    expect(head).toMatchObject({ ETag: put.ETag, ContentLength: 8, VersionId: put.VersionId });
  });

  it('decodes streamed (aws-chunked, trailing checksum) uploads byte for byte', async () => {
    const bytes = randomBytes(1024 * 1024 + 7);
    const chunks = [bytes.subarray(0, 1000), bytes.subarray(1000, 700_000), bytes.subarray(700_000)];
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: 'raw',
        Key: 'stream.bin',
        Body: Readable.from(chunks),
        ContentLength: bytes.length,
      }),
    );
    expect(put.ETag).toBe(`"${md5(bytes)}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'stream.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes)).toBe(true);
    expect(got.ContentEncoding).toBeUndefined(); // the aws-chunked framing is not part of the object
  });

  it('answers 412 PreconditionFailed for If-None-Match: * on an existing key', async () => {
    const create = () =>
      s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'once', Body: 'x', IfNoneMatch: '*' }));
    await create();
    expect(await errorOf(create())).toEqual({ name: 'PreconditionFailed', status: 412 });
  });

  it("answers S3's error codes", async () => {
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'missing' })))).toEqual({
      name: 'NoSuchKey',
      status: 404,
    });
    expect(await errorOf(s3.send(new HeadObjectCommand({ Bucket: 'raw', Key: 'missing' })))).toEqual({
      name: 'NotFound',
      status: 404,
    });
    expect(await errorOf(s3.send(new GetObjectCommand({ Bucket: 'nope', Key: 'k' })))).toEqual({
      name: 'NoSuchBucket',
      status: 404,
    });
    expect(await errorOf(s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'a//b', Body: 'x' })))).toEqual({
      name: 'InvalidArgument',
      status: 400,
    });
    await s3.send(new HeadBucketCommand({ Bucket: 'raw' }));
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).toEqual([
      'raw',
      'curated',
    ]);
  });

  it('serves ranges and reads old versions by id', async () => {
    const v1 = await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'v', Body: '0123456789' }));
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'v', Body: 'new' }));
    const ranged = await s3.send(
      new GetObjectCommand({ Bucket: 'raw', Key: 'v', VersionId: v1.VersionId, Range: 'bytes=3-5' }),
    );
    expect(await ranged.Body!.transformToString()).toBe('345');
    expect(ranged.ContentRange).toBe('bytes 3-5/10');
    expect(await text('v')).toBe('new');
  });

  it('copies and deletes objects', async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: 'raw', Key: 'src key', Body: 'copy me', Metadata: { a: '1' } }),
    );
    const copy = await s3.send(
      new CopyObjectCommand({ Bucket: 'curated', Key: 'dst', CopySource: 'raw/src%20key' }),
    );
    expect(copy.CopyObjectResult?.ETag).toBe(`"${md5('copy me')}"`);
    expect(await text('dst', 'curated')).toBe('copy me');
    expect((await s3.send(new HeadObjectCommand({ Bucket: 'curated', Key: 'dst' }))).Metadata).toEqual({
      a: '1',
    });

    await s3.send(new DeleteObjectCommand({ Bucket: 'curated', Key: 'dst' }));
    expect((await errorOf(text('dst', 'curated'))).name).toBe('NoSuchKey');

    await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'd1', Body: '1' }));
    await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'd2', Body: '2' }));
    const deleted = await s3.send(
      new DeleteObjectsCommand({
        Bucket: 'curated',
        Delete: { Objects: [{ Key: 'd1' }, { Key: 'd2' }, { Key: 'never' }] },
      }),
    );
    expect(deleted.Deleted?.map((d) => d.Key)).toEqual(['d1', 'd2', 'never']);
    expect((await s3.send(new ListObjectsV2Command({ Bucket: 'curated' }))).KeyCount).toBe(0);
  });

  it('keeps versions: DeleteObject leaves a delete marker, old versions stay readable, ?versionId= deletes for good', async () => {
    // prepare: two versions of one key, one of another
    const v1 = await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', Body: 'one' }));
    const v2 = await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', Body: 'two!' }));
    await s3.send(new PutObjectCommand({ Bucket: 'curated', Key: 'ds/z.csv', Body: 'x' }));
    // act: delete without a version id
    const deleted = await s3.send(new DeleteObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv' }));
    // assess: a marker, a 404 that says so, and the old versions intact
    expect(deleted.DeleteMarker).toBe(true);
    expect(deleted.VersionId).toMatch(/^[\w-]{20,}$/);
    expect([v1.VersionId, v2.VersionId]).not.toContain(deleted.VersionId);
    const gone = await s3.send(new GetObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv' })).catch((e) => e);
    expect(gone.name).toBe('NoSuchKey');
    expect(gone.$response?.headers?.['x-amz-delete-marker']).toBe('true');
    const old = await s3.send(new GetObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', VersionId: v1.VersionId }));
    expect(await old.Body!.transformToString()).toBe('one');
    expect((await errorOf(s3.send(new HeadObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', VersionId: deleted.VersionId })))).status).toBe(405);

    const listed = await s3.send(new ListObjectVersionsCommand({ Bucket: 'curated', Prefix: 'ds/w' }));
    expect(listed.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest])).toEqual([
      ['ds/wine.csv', deleted.VersionId, true],
    ]);
    expect(listed.Versions?.map((v) => [v.VersionId, v.IsLatest, v.Size, v.ETag])).toEqual([
      [v2.VersionId, false, 4, `"${md5('two!')}"`],
      [v1.VersionId, false, 3, `"${md5('one')}"`],
    ]);
    expect(listed.IsTruncated).toBe(false);

    // act: page one entry at a time with key-marker / version-id-marker
    const seen: string[] = [];
    let marker: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (let i = 0; i < 10; i++) {
      const page = await s3.send(new ListObjectVersionsCommand({ Bucket: 'curated', Prefix: 'ds/', MaxKeys: 1, ...marker }));
      seen.push(...(page.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`));
      seen.push(...(page.DeleteMarkers ?? []).map((m) => `${m.Key}@${m.VersionId}(marker)`));
      if (!page.IsTruncated) break;
      marker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
    expect(seen).toEqual([
      `ds/wine.csv@${deleted.VersionId}(marker)`,
      `ds/wine.csv@${v2.VersionId}`,
      `ds/wine.csv@${v1.VersionId}`,
      expect.stringMatching(/^ds\/z\.csv@/),
    ]);

    // act: remove the marker for good: the newest version is current again
    const unmarked = await s3.send(
      new DeleteObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', VersionId: deleted.VersionId }),
    );
    expect(unmarked).toMatchObject({ DeleteMarker: true, VersionId: deleted.VersionId });
    expect(await text('ds/wine.csv', 'curated')).toBe('two!');
    // act: delete the current version for good: the one before it becomes current
    await s3.send(new DeleteObjectCommand({ Bucket: 'curated', Key: 'ds/wine.csv', VersionId: v2.VersionId }));
    expect(await text('ds/wine.csv', 'curated')).toBe('one');
    const after = await s3.send(new ListObjectVersionsCommand({ Bucket: 'curated', Prefix: 'ds/w' }));
    expect(after.Versions?.map((v) => [v.VersionId, v.IsLatest])).toEqual([[v1.VersionId, true]]);
    expect(after.DeleteMarkers).toBeUndefined();
    // assess: bad paging input is a 400, not a 5xx
    expect(
      await errorOf(s3.send(new ListObjectVersionsCommand({ Bucket: 'curated', VersionIdMarker: 'abc' }))),
    ).toEqual({ name: 'InvalidArgument', status: 400 });
  });

  it('lists with prefix, delimiter and continuation tokens through the paginator', async () => {
    const keys = [
      'p/2024/01/a.csv',
      'p/2024/01/b.csv',
      'p/2024/02/a.csv',
      'p/2025/01/a.csv',
      'p/readme',
      'p/x&y<z>',
    ];
    for (const Key of keys) await s3.send(new PutObjectCommand({ Bucket: 'curated', Key, Body: Key }));

    const pages = [];
    for await (const page of paginateListObjectsV2(
      { client: s3, pageSize: 2 },
      { Bucket: 'curated', Prefix: 'p/', Delimiter: '/' },
    )) {
      pages.push(page);
    }
    expect(pages.length).toBe(2);
    expect(pages.flatMap((p) => p.CommonPrefixes ?? []).map((c) => c.Prefix)).toEqual(['p/2024/', 'p/2025/']);
    expect(pages.flatMap((p) => p.Contents ?? []).map((c) => c.Key)).toEqual(['p/readme', 'p/x&y<z>']);

    const after = await s3.send(
      new ListObjectsV2Command({ Bucket: 'curated', Prefix: 'p/2024/', StartAfter: 'p/2024/01/a.csv' }),
    );
    expect(after.Contents?.map((c) => [c.Key, c.Size])).toEqual([
      ['p/2024/01/b.csv', 15],
      ['p/2024/02/a.csv', 15],
    ]);
  });

  it('assembles multipart uploads with S3-style ETags and enforces the 5 MiB part minimum', async () => {
    const part1 = randomBytes(5 * 1024 * 1024);
    const part2 = randomBytes(1234);
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({
        Bucket: 'raw',
        Key: 'big.bin',
        ContentType: 'application/x-parquet',
      }),
    );
    const e1 = await s3.send(
      new UploadPartCommand({ Bucket: 'raw', Key: 'big.bin', UploadId, PartNumber: 1, Body: part1 }),
    );
    const e2 = await s3.send(
      new UploadPartCommand({ Bucket: 'raw', Key: 'big.bin', UploadId, PartNumber: 2, Body: part2 }),
    );
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'raw',
        Key: 'big.bin',
        UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: e1.ETag },
            { PartNumber: 2, ETag: e2.ETag },
          ],
        },
      }),
    );
    const expected = createHash('md5')
      .update(
        Buffer.concat([createHash('md5').update(part1).digest(), createHash('md5').update(part2).digest()]),
      )
      .digest('hex');
    expect(done.ETag).toBe(`"${expected}-2"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: 'raw', Key: 'big.bin' }));
    expect(got.ContentType).toBe('application/x-parquet');
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat([part1, part2]))).toBe(
      true,
    );

    const small = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'raw', Key: 'small.bin' }));
    const s1 = await s3.send(
      new UploadPartCommand({
        Bucket: 'raw',
        Key: 'small.bin',
        UploadId: small.UploadId,
        PartNumber: 1,
        Body: 'tiny',
      }),
    );
    const s2 = await s3.send(
      new UploadPartCommand({
        Bucket: 'raw',
        Key: 'small.bin',
        UploadId: small.UploadId,
        PartNumber: 2,
        Body: 'tiny',
      }),
    );
    const complete = s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: 'raw',
        Key: 'small.bin',
        UploadId: small.UploadId,
        MultipartUpload: {
          Parts: [
            { PartNumber: 1, ETag: s1.ETag },
            { PartNumber: 2, ETag: s2.ETag },
          ],
        },
      }),
    );
    expect(await errorOf(complete)).toEqual({ name: 'EntityTooSmall', status: 400 });
    await s3.send(
      new AbortMultipartUploadCommand({ Bucket: 'raw', Key: 'small.bin', UploadId: small.UploadId }),
    );
    const again = s3.send(
      new UploadPartCommand({
        Bucket: 'raw',
        Key: 'small.bin',
        UploadId: small.UploadId,
        PartNumber: 3,
        Body: 'x',
      }),
    );
    expect(await errorOf(again)).toEqual({ name: 'NoSuchUpload', status: 404 });
  });

  it('is reached through AWS_ENDPOINT_URL_S3 alone', async () => {
    const saved = process.env['AWS_ENDPOINT_URL_S3'];
    process.env['AWS_ENDPOINT_URL_S3'] = server.endpoint;
    try {
      const client = new S3Client({ region: 'us-east-1', credentials });
      await client.send(new PutObjectCommand({ Bucket: 'raw', Key: 'env', Body: 'via env' }));
      client.destroy();
      expect(await text('env')).toBe('via env');
    } finally {
      if (saved === undefined) delete process.env['AWS_ENDPOINT_URL_S3'];
      else process.env['AWS_ENDPOINT_URL_S3'] = saved;
    }
  });

  it('understands virtual-hosted requests on <bucket>.localhost', async () => {
    await s3.send(new PutObjectCommand({ Bucket: 'raw', Key: 'vh/key.txt', Body: 'virtual' }));
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/vh/key.txt',
          headers: { host: `raw.localhost:${server.port}` },
        },
        (res) => {
          let data = '';
          res.on('data', (c) => (data += c));
          res.on('end', () => resolve(`${res.statusCode} ${data}`));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('200 virtual');
  });
});

describe('S3 endpoint lifecycle', () => {
  it('closes with a keep-alive connection open and frees its port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-s3-close-'));
    const local = await startS3Server({ store: await S3Store.open(dir, ['raw']) });
    const client = new S3Client({ endpoint: local.endpoint, region: 'us-east-1', credentials });
    await client.send(new PutObjectCommand({ Bucket: 'raw', Key: 'k', Body: 'x' })); // leaves a pooled socket
    await local.close();
    const probe = createServer();
    await new Promise<void>((resolve, reject) =>
      probe.once('error', reject).listen(local.port, '127.0.0.1', resolve),
    );
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    client.destroy();
    await rm(dir, { recursive: true, force: true });
  });
});
