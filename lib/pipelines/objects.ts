/**
 * The few S3 operations the pipeline steps perform, behind an interface the cores receive, with
 * one implementation over `@aws-sdk/client-s3` (which the tests point at the local S3 engine).
 *
 * @example
 * const objects = s3Objects(new S3Client({}));
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

export interface ObjectStore {
  /** Keys under a prefix in key order, skipping names Athena skips (`_…`, `.…`) and folder markers. */
  list(bucket: string, prefix: string): Promise<string[]>;
  get(bucket: string, key: string): Promise<{ body: Uint8Array; versionId?: string }>;
  /** The object's current version, without reading it. */
  head(bucket: string, key: string): Promise<{ versionId?: string }>;
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
}

/** Whether Athena (and so the pipelines) reads an object under a table's location. */
export function isDataKey(key: string): boolean {
  const name = key.split('/').pop() ?? '';
  return name !== '' && !name.startsWith('_') && !name.startsWith('.');
}

/** S3 reports `null` as the version id of objects written while versioning was off. */
const versionOf = (v: string | undefined) => (v && v !== 'null' ? v : undefined);

export function s3Objects(client: S3Client): ObjectStore {
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
