/**
 * The release machine's objects over S3: the source environment's artifacts read with the source's
 * client (an assumed role on AWS, the source platform's S3 endpoint locally), the target's
 * artifacts zone written with the function's own. Bodies stream through; nothing is held whole.
 *
 * @example
 * const objects = releaseObjects({ source: sourceS3, target: s3Client(env), targetBucket: env.ARTIFACTS_BUCKET });
 */
import { Readable } from 'node:stream';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { ReleaseObjects } from '../../release/release';

export function releaseObjects(options: { source: S3Client; target: S3Client; targetBucket: string }): ReleaseObjects {
  const { source, target, targetBucket } = options;
  return {
    targetBucket,
    async readSource(uri) {
      const out = await source.send(new GetObjectCommand({ Bucket: uri.bucket, Key: uri.key }));
      return {
        body: out.Body as AsyncIterable<Uint8Array>,
        ...(out.ContentLength !== undefined ? { length: out.ContentLength } : {}),
      };
    },
    async writeTarget(key, body, length) {
      await target.send(
        new PutObjectCommand({
          Bucket: targetBucket,
          Key: key,
          Body: Readable.from(body),
          ...(length !== undefined ? { ContentLength: length } : {}),
        }),
      );
    },
    async copyTarget(fromKey, toKey) {
      const copySource = `${targetBucket}/${fromKey.split('/').map(encodeURIComponent).join('/')}`;
      const out = await target.send(new CopyObjectCommand({ Bucket: targetBucket, Key: toKey, CopySource: copySource }));
      return out.VersionId && out.VersionId !== 'null' ? { versionId: out.VersionId } : {};
    },
    async deleteTarget(keys) {
      for (const key of keys) await target.send(new DeleteObjectCommand({ Bucket: targetBucket, Key: key }));
    },
    async listTarget(prefix) {
      const keys: string[] = [];
      for await (const page of paginateListObjectsV2({ client: target }, { Bucket: targetBucket, Prefix: prefix })) {
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      }
      return keys;
    },
  };
}
