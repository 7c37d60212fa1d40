/**
 * The object-store ports of the cores over S3: the pipelines' {@link ObjectStore}, the model
 * server's {@link ModelObjects} (model loading, request-log batches) and the feature server's
 * offline appends, all one implementation of `@aws-sdk/client-s3`.
 *
 * @example
 * const objects = s3Objects(s3Client(env));
 * const { body, versionId } = await objects.get('raw-bucket', 'datasets/wine/wine.csv');
 */
import {
  CopyObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isDataKey, type ObjectStore } from '../../pipelines/objects';
import type { ModelObjects } from '../../serving/load';

/** Every object-store port the cores declare, over one client. */
export type S3Objects = ObjectStore & ModelObjects;

/** S3 reports `null` as the version id of objects written while versioning was off. */
const versionOf = (v: string | undefined) => (v && v !== 'null' ? v : undefined);

export function s3Objects(client: S3Client): S3Objects {
  return {
    async list(bucket, prefix) {
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client }, { Bucket: bucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key && isDataKey(o.Key)) keys.push(o.Key);
      }
      return keys.sort();
    },
    async get(bucket, key) {
      const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = await out.Body!.transformToByteArray();
      const versionId = versionOf(out.VersionId);
      return versionId ? { body, versionId } : { body };
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
      return versionId ? { versionId } : {};
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
    async copy(from, to) {
      const source = `${from.bucket}/${from.key.split('/').map(encodeURIComponent).join('/')}`;
      await client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.key, CopySource: source }));
    },
  };
}
