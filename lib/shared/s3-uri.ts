/**
 * `s3://bucket/key` URIs, the one way the platform names objects across its cores, handlers and
 * local engines.
 *
 * @example
 * parseS3Uri('s3://models/wine/model.tar.gz'); // { bucket: 'models', key: 'wine/model.tar.gz' }
 * parseS3Uri('./model');                      // undefined: not an S3 URI
 */

/** A bucket and a key. */
export interface S3Uri {
  readonly bucket: string;
  readonly key: string;
}

/** S3's rule for bucket names (3–63 lowercase letters, digits, dots and hyphens). */
export const S3_BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Splits an `s3://bucket/key` URI (the key may be empty); `undefined` for anything else. */
export function parseS3Uri(uri: string): S3Uri | undefined {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  return m === null ? undefined : { bucket: m[1]!, key: m[2]! };
}
