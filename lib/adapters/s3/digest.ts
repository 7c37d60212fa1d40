/**
 * The SHA-256 of an S3 object, computed while its body streams through: a model artifact may be
 * larger than a function's memory, so it is never held whole. The object version read is returned
 * with it, so the digest and the version it belongs to are recorded together.
 *
 * @example
 * const { sha256, versionId } = await sha256OfObject(s3Client(env), 'artifacts-bucket', 'models/wine/e-1/job/output/model.tar.gz');
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export async function sha256OfObject(
  client: S3Client,
  bucket: string,
  key: string,
): Promise<{ sha256: string; versionId?: string }> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  // S3 reports "null" for an object written while versioning was off: no version to pin.
  const versionId = out.VersionId && out.VersionId !== 'null' ? out.VersionId : undefined;
  return { sha256: hash.digest('hex'), ...(versionId ? { versionId } : {}) };
}
