/**
 * The few object-store operations the pipeline steps perform: the port the cores receive. Its
 * implementation over S3 is `s3Objects` in lib/adapters/s3/objects.ts (which the tests point at
 * the local S3 engine).
 *
 * @example
 * const objects: ObjectStore = s3Objects(s3Client(env));
 * const { body, versionId } = await objects.get('raw-bucket', 'datasets/wine/wine.csv');
 */

export interface ObjectStore {
  /**
   * Keys under a prefix in key order, skipping names Athena skips (`_…`, `.…`) and folder markers;
   * with `limit`, the first `limit` of them (listing stops there).
   */
  list(bucket: string, prefix: string, options?: { readonly limit?: number }): Promise<string[]>;
  /** The object, its version and its ETag (S3's, quoted as S3 sends it). */
  get(bucket: string, key: string): Promise<{ body: Uint8Array; versionId?: string; etag?: string }>;
  /** The object's body as it arrives, in chunks: for objects too large to hold whole. */
  stream(bucket: string, key: string): Promise<AsyncIterable<Uint8Array>>;
  /** The object's current version, ETag and size, without reading it. */
  head(bucket: string, key: string): Promise<{ versionId?: string; etag?: string; size?: number }>;
  /**
   * Bytes `[start, end)` of the object (a ranged GET: no more is sent; fewer when the object ends
   * first) and the object's whole size: for formats read from their footer (Parquet) and for an
   * object's first bytes, without holding the whole object. An empty object read from 0 gives an
   * empty body of size 0. The version and ETag are those of the object the bytes came from (none
   * for an empty object, which has no satisfiable range).
   */
  read(
    bucket: string,
    key: string,
    start: number,
    end: number,
  ): Promise<{ body: Uint8Array; size: number; versionId?: string; etag?: string }>;
  /** Counts the object's lines (a last line without `\n` counts), streaming: the body is never held. */
  countLines(bucket: string, key: string): Promise<number>;
  put(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    contentType: string,
  ): Promise<{ versionId?: string }>;
  /** A server-side copy: the bytes never pass through the caller. */
  copy(from: { bucket: string; key: string }, to: { bucket: string; key: string }): Promise<void>;
  /**
   * Creates an object that must not exist yet (`If-None-Match: *`). A retried step that finds its
   * own bytes there succeeds; other bytes throw `ArtifactExistsError` and the object stays.
   */
  putOnce(
    bucket: string,
    key: string,
    body: string | Uint8Array,
    contentType: string,
  ): Promise<{ versionId?: string }>;
  /**
   * {@link putOnce} with another object's bytes: S3 refuses CopyObject where a bucket policy
   * enforces conditional writes, so an object up to the adapter's multipart threshold is streamed
   * through the caller (a conditional PUT, never held whole), and a larger one is copied server side
   * as a multipart upload of `UploadPartCopy` parts completed with `If-None-Match: *` (the one
   * conditional request a multipart write makes). Either way a retried step that finds the same
   * bytes there succeeds and other bytes throw `ArtifactExistsError`.
   */
  copyOnce(from: { bucket: string; key: string }, to: { bucket: string; key: string }): Promise<{ versionId?: string }>;
}

/** Whether Athena (and so the pipelines) reads an object under a table's location. */
export function isDataKey(key: string): boolean {
  const name = key.split('/').pop() ?? '';
  return name !== '' && !name.startsWith('_') && !name.startsWith('.');
}
