/**
 * The SHA-256 of an S3 object, computed while its body streams through: a model artifact may be
 * larger than a function's memory, so it is never held whole.
 *
 * @example
 * const hex = await sha256OfObject(s3Client(env), 'artifacts-bucket', 'runs/wine/e-1/output/model.tar.gz');
 */
import { createHash } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

export async function sha256OfObject(client: S3Client, bucket: string, key: string): Promise<string> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const hash = createHash('sha256');
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) hash.update(chunk);
  return hash.digest('hex');
}
