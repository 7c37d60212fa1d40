/**
 * The object-store ports of the cores over S3: the pipelines' {@link ObjectStore}, the model
 * server's {@link ModelObjects} (model loading, request-log batches) and the feature server's
 * offline appends, all one implementation of `@aws-sdk/client-s3`.
 *
 * @example
 * const objects = s3Objects(s3Client(env));
 * const { body, versionId } = await objects.get('raw-bucket', 'datasets/wine/wine.csv');
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { ArtifactExistsError } from '../../pipelines/errors';
import { isDataKey, type ObjectStore } from '../../pipelines/objects';
import type { ModelObjects } from '../../serving/load';

/** Every object-store port the cores declare, over one client. */
export type S3Objects = ObjectStore & ModelObjects;

/** S3 reports `null` as the version id of objects written while versioning was off. */
const versionOf = (v: string | undefined) => (v && v !== 'null' ? v : undefined);

/** S3's answers to `If-None-Match: *` on an existing key (412), or a concurrent create of it (409). */
function alreadyExists(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'PreconditionFailed' || e.name === 'ConditionalRequestConflict' || e.$metadata?.httpStatusCode === 412;
}

async function sha256Of(body: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of body) hash.update(chunk);
  return hash.digest('hex');
}

/** CopyObject copies at most 5 GiB; above that an object is copied part by part (UploadPartCopy). */
export const COPY_OBJECT_LIMIT = 5 * 1024 ** 3;

export interface S3ObjectsOptions {
  /** Objects larger than this are copied with a multipart upload. @default COPY_OBJECT_LIMIT */
  readonly multipartCopyAbove?: number;
  /** Bytes per copied part (at least S3's 5 MiB; raised so no copy needs over 10,000 parts). @default 512 MiB */
  readonly partSize?: number;
}

export function s3Objects(client: S3Client, options: S3ObjectsOptions = {}): S3Objects {
  const multipartAbove = options.multipartCopyAbove ?? COPY_OBJECT_LIMIT;
  /** After a refused create: the existing object's version when it holds `sha256`, else the error. */
  const existing = async (bucket: string, key: string, sha256: string): Promise<{ versionId?: string }> => {
    const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    if ((await sha256Of(out.Body as AsyncIterable<Uint8Array>)) !== sha256) {
      throw new ArtifactExistsError(
        `s3://${bucket}/${key} already exists with other content: artifacts are written once, so it is not replaced`,
      );
    }
    const versionId = versionOf(out.VersionId);
    return versionId ? { versionId } : {};
  };
  return {
    async list(bucket, prefix, options = {}) {
      const limit = options.limit ?? Number.POSITIVE_INFINITY;
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key && isDataKey(o.Key)) keys.push(o.Key);
        // S3 lists in key order: the first `limit` data keys are known once a page holds them.
        if (keys.length >= limit) break;
      }
      return keys.sort().slice(0, limit);
    },
    async stream(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      // In Node the SDK's body is a Readable, which is an async iterable of chunks.
      return out.Body as unknown as AsyncIterable<Uint8Array>;
    },
    async get(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = await out.Body!.transformToByteArray();
      const versionId = versionOf(out.VersionId);
      return { body, ...(versionId ? { versionId } : {}), ...(out.ETag ? { etag: out.ETag } : {}) };
    },
    async find(bucket, key, versionId) {
      try {
        const out = await client.send(
          new GetObjectCommand({ Bucket: bucket, Key: key, ...(versionId === undefined ? {} : { VersionId: versionId }) }),
        );
        return await out.Body!.transformToByteArray();
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchVersion') return undefined;
        throw err;
      }
    },
    async head(bucket, key) {
      const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      const versionId = versionOf(out.VersionId);
      const size = out.ContentLength ?? 0;
      return { ...(versionId ? { versionId } : {}), ...(out.ETag ? { etag: out.ETag } : {}), size };
    },
    async read(bucket, key, start, end) {
      if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start)) {
        throw new RangeError(`a ranged read needs whole numbers 0 <= start < end, but [${start}, ${end}) was provided`);
      }
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${start}-${end - 1}` }));
        const body = await out.Body!.transformToByteArray();
        // `Content-Range: bytes 0-99/1234`: the object's whole size.
        const size = Number(/\/(\d+)$/.exec(out.ContentRange ?? '')?.[1] ?? start + body.byteLength);
        const versionId = versionOf(out.VersionId);
        return { body, size, ...(versionId ? { versionId } : {}), ...(out.ETag ? { etag: out.ETag } : {}) };
      } catch (err) {
        // Any range of an empty object is unsatisfiable (416): read from 0, the object is empty.
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (start === 0 && (e.name === 'InvalidRange' || e.$metadata?.httpStatusCode === 416)) return { body: new Uint8Array(), size: 0 };
        throw err;
      }
    },
    async countLines(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      let lines = 0;
      let last = 10;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        for (let i = 0; i < chunk.length; i++) if (chunk[i] === 10) lines++;
        if (chunk.length > 0) last = chunk[chunk.length - 1]!;
      }
      return last === 10 ? lines : lines + 1;
    },
    async put(bucket, key, body, contentType) {
      const out = await client.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }),
      );
      const versionId = versionOf(out.VersionId);
      return versionId ? { versionId } : {};
    },
    async putOnce(bucket, key, body, contentType) {
      try {
        const out = await client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType, IfNoneMatch: '*' }),
        );
        const versionId = versionOf(out.VersionId);
        return versionId ? { versionId } : {};
      } catch (err) {
        if (!alreadyExists(err)) throw err;
        return existing(bucket, key, createHash('sha256').update(body).digest('hex'));
      }
    },
    async copyOnce(from, to) {
      const head = await client.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key }));
      const size = head.ContentLength ?? 0;
      // The source's hash, for a refused create: is what is there already these bytes?
      const sourceSha256 = async () => {
        const again = await client.send(new GetObjectCommand({ Bucket: from.bucket, Key: from.key, ...pinnedVersion(head.VersionId) }));
        return sha256Of(again.Body as AsyncIterable<Uint8Array>);
      };
      if (size > multipartAbove) {
        try {
          const out = await multipartCopy(client, copySource(from, head.VersionId), to, size, options.partSize ?? 512 * 1024 ** 2, {
            ifNoneMatch: true,
            contentType: head.ContentType,
          });
          const versionId = versionOf(out.VersionId);
          return versionId ? { versionId } : {};
        } catch (err) {
          if (!alreadyExists(err)) throw err;
          return existing(to.bucket, to.key, await sourceSha256());
        }
      }
      const source = await client.send(new GetObjectCommand({ Bucket: from.bucket, Key: from.key, ...pinnedVersion(head.VersionId) }));
      const hash = createHash('sha256');
      async function* hashed() {
        for await (const chunk of source.Body as AsyncIterable<Uint8Array>) {
          hash.update(chunk);
          yield chunk;
        }
      }
      try {
        const out = await client.send(
          new PutObjectCommand({
            Bucket: to.bucket,
            Key: to.key,
            Body: Readable.from(hashed()),
            ContentLength: source.ContentLength,
            ContentType: source.ContentType,
            IfNoneMatch: '*',
          }),
        );
        const versionId = versionOf(out.VersionId);
        return versionId ? { versionId } : {};
      } catch (err) {
        if (!alreadyExists(err)) throw err;
        // The refusal may come before the body was read: hash the source in full again.
        return existing(to.bucket, to.key, await sourceSha256());
      }
    },
    async copy(from, to) {
      const head = await client.send(new HeadObjectCommand({ Bucket: from.bucket, Key: from.key }));
      const size = head.ContentLength ?? 0;
      if (size <= multipartAbove) {
        await client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: copySource(from) }));
        return;
      }
      await multipartCopy(client, copySource(from, head.VersionId), to, size, options.partSize ?? 512 * 1024 ** 2);
    },
  };
}

/** `VersionId` of a read pinned to the version a HEAD saw (none for an unversioned object). */
const pinnedVersion = (v: string | undefined) => (v && v !== 'null' ? { VersionId: v } : {});

/**
 * `CopySource` of an object, pinned to `versionId` when given, so every part of a copy comes from
 * the version read first.
 */
function copySource(from: { bucket: string; key: string }, versionId?: string): string {
  const source = `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`;
  return versionId && versionId !== 'null' ? `${source}?versionId=${encodeURIComponent(versionId)}` : source;
}

/** Parts copied at once: S3 copies them server-side, so a few in flight keep the copy fast. */
const COPY_CONCURRENCY = 4;

/**
 * Copies `size` bytes of `source` into `to` as a multipart upload of UploadPartCopy parts; aborts on
 * failure. With `ifNoneMatch` the completion is conditional (`If-None-Match: *`): S3 answers 412
 * when the key exists by then, and the upload is aborted, so nothing replaces a written object.
 */
async function multipartCopy(
  client: S3Client,
  source: string,
  to: { bucket: string; key: string },
  size: number,
  requestedPartSize: number,
  options: { readonly ifNoneMatch?: boolean; readonly contentType?: string | undefined } = {},
): Promise<{ VersionId?: string | undefined }> {
  const partSize = Math.max(requestedPartSize, 5 * 1024 ** 2, Math.ceil(size / 10_000));
  const count = Math.ceil(size / partSize);
  const { UploadId } = await client.send(
    new CreateMultipartUploadCommand({
      Bucket: to.bucket,
      Key: to.key,
      ...(options.contentType ? { ContentType: options.contentType } : {}),
    }),
  );
  try {
    const etags: string[] = new Array(count);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < count; i = next++) {
        const first = i * partSize;
        const last = Math.min(size, first + partSize) - 1;
        const out = await client.send(
          new UploadPartCopyCommand({
            Bucket: to.bucket,
            Key: to.key,
            UploadId,
            PartNumber: i + 1,
            CopySource: source,
            CopySourceRange: `bytes=${first}-${last}`,
          }),
        );
        etags[i] = out.CopyPartResult!.ETag!;
      }
    };
    await Promise.all(Array.from({ length: Math.min(COPY_CONCURRENCY, count) }, worker));
    return await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: to.bucket,
        Key: to.key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        ...(options.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
      }),
    );
  } catch (err) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: to.bucket, Key: to.key, UploadId })).catch(() => undefined);
    throw err;
  }
}
