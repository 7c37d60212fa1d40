/**
 * The local S3 object store: plain files at `<stateDir>/s3/<bucket>/<key>`, so DuckDB and the
 * model loader read objects straight from disk, with S3's semantics layered on top.
 *
 * Layout under `<stateDir>/s3/` (bucket names cannot start with `.`, so the store's own trees can
 * never clash with a bucket, and keeping them out of the bucket tree means no user key can ever
 * clash with a sidecar):
 *
 *   <bucket>/<key>                          the object's bytes, exactly as uploaded
 *   .meta/<bucket>/<key>                    its sidecar (JSON: ETag, version id, content type, metadata)
 *   .versions/<bucket>/<sha256(key)>/<id>   noncurrent versions (hard links, so no copy) + `<id>.json`;
 *                                           a delete marker is a `<id>.json` alone
 *   .uploads/<uploadId>/                    multipart uploads in progress
 *   .tmp/                                   uploads being written
 *
 * Durability: every write goes to `.tmp`, is fsynced, then renamed (or hard-linked, for
 * `If-None-Match: *`) into place, so a crash or Ctrl-C never leaves a half-written object. The
 * sidecar records the data file's inode, size and mtime; a sidecar that does not match its file
 * (a crash between the two renames, or a file copied in by hand) is rebuilt from the file on the
 * next read instead of being trusted.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import {
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  unlink,
} from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { layout } from '../layout';
import { assertBucketName, keyPath, S3Error } from './uri';

/** What S3 answers for an object: its size, ETag, version and the headers stored with it. */
export interface ObjectInfo {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  /** MD5 hex of the bytes in double quotes (`"<md5>-<parts>"` for multipart uploads), as S3 sends it. */
  readonly etag: string;
  readonly lastModified: Date;
  /** The version id S3 would assign; stable for as long as the object is not overwritten. */
  readonly versionId: string;
  readonly contentType: string;
  readonly contentEncoding?: string;
  readonly contentDisposition?: string;
  readonly contentLanguage?: string;
  readonly cacheControl?: string;
  /** User metadata (`x-amz-meta-*`), keys lower-cased as S3 returns them. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** Headers a writer may store with an object. */
export interface ObjectAttributes {
  /** @default 'binary/octet-stream' (S3's default) */
  readonly contentType?: string;
  readonly contentEncoding?: string;
  readonly contentDisposition?: string;
  readonly contentLanguage?: string;
  readonly cacheControl?: string;
  /** @default {} */
  readonly metadata?: Readonly<Record<string, string>>;
}

/** Options of {@link S3Store.put}. */
export interface PutOptions extends ObjectAttributes {
  /** `'*'`: create only if the key does not exist, else fail with 412 PreconditionFailed. */
  readonly ifNoneMatch?: '*';
  /** Base64 MD5 the body must have (`Content-MD5`), else 400 BadDigest. */
  readonly contentMd5?: string;
}

/** An inclusive byte range, as in `Range: bytes=first-last`. */
export interface ByteRange {
  readonly first: number;
  readonly last: number;
}

/** A readable object: its info, the byte range served and a stream of those bytes. */
export interface ObjectBody {
  readonly info: ObjectInfo;
  /** The range actually served (clamped to the object), when a range was asked for. */
  readonly range?: ByteRange;
  readonly stream: ReadStream | Readable;
}

/** Options of {@link S3Store.list}, named after ListObjectsV2's parameters. */
export interface ListOptions {
  readonly prefix?: string;
  readonly delimiter?: string;
  /** @default 1000 (also S3's maximum) */
  readonly maxKeys?: number;
  readonly continuationToken?: string;
  readonly startAfter?: string;
}

/** One page of a listing. */
export interface ListResult {
  readonly contents: readonly ObjectInfo[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextContinuationToken?: string;
  /** The last key or common prefix in this page (ListObjects v1's NextMarker). */
  readonly lastMarker?: string;
}

/** Options of {@link S3Store.listVersions}, named after ListObjectVersions' parameters. */
export interface ListVersionsOptions {
  readonly prefix?: string;
  readonly delimiter?: string;
  /** @default 1000 (also S3's maximum) */
  readonly maxKeys?: number;
  readonly keyMarker?: string;
  readonly versionIdMarker?: string;
}

/** One entry of a version listing: an object version or a delete marker. */
export type VersionEntry =
  | (ObjectInfo & { readonly deleteMarker: false; readonly isLatest: boolean })
  | {
      readonly deleteMarker: true;
      readonly bucket: string;
      readonly key: string;
      readonly versionId: string;
      readonly lastModified: Date;
      readonly isLatest: boolean;
    };

/** One page of a version listing. */
export interface ListVersionsResult {
  /** Keys in UTF-8 byte order, each key's versions newest first. */
  readonly versions: readonly VersionEntry[];
  readonly commonPrefixes: readonly string[];
  readonly isTruncated: boolean;
  readonly nextKeyMarker?: string;
  readonly nextVersionIdMarker?: string;
}

/** What {@link S3Store.delete} did, as DeleteObject's headers say it. */
export interface DeleteResult {
  /** The version removed, or the delete marker created. */
  readonly versionId?: string;
  /** True when a delete marker was created, or the version removed was one. */
  readonly deleteMarker?: boolean;
}

/** A part as CompleteMultipartUpload names it. */
export interface CompletedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/** Options of {@link S3Store.open}. */
export interface S3StoreOptions {
  /**
   * Keep overwritten and deleted versions (hard links, so free until the current one changes) so
   * a recorded dataset version id stays readable with `GetObject` + `VersionId`.
   * @default true
   */
  readonly keepNoncurrentVersions?: boolean;
}

interface Sidecar {
  readonly etag: string;
  readonly versionId: string;
  readonly lastModified: string;
  readonly contentType: string;
  readonly contentEncoding?: string;
  readonly contentDisposition?: string;
  readonly contentLanguage?: string;
  readonly cacheControl?: string;
  readonly metadata: Record<string, string>;
  // Identity of the data file this sidecar describes.
  readonly size: number;
  readonly ino: number;
  readonly mtimeMs: number;
  /** The key, recorded once the version is noncurrent (its directory is a hash of the key). */
  readonly key?: string;
  /** Orders a key's versions, newest highest (sidecars written before it order by lastModified). */
  readonly seq?: number;
}

/** A delete marker's record under `.versions`. */
interface MarkerRecord {
  readonly deleteMarker: true;
  readonly key: string;
  readonly versionId: string;
  readonly lastModified: string;
  readonly seq: number;
}

type VersionRecord = (Sidecar & { readonly deleteMarker?: undefined }) | MarkerRecord;

let lastSeq = 0;
/** Strictly increasing within the process, and after any earlier one (micro-seconds of the clock). */
function nextSeq(): number {
  lastSeq = Math.max(Date.now() * 1000, lastSeq + 1);
  return lastSeq;
}

const seqOf = (r: VersionRecord): number => r.seq ?? Date.parse(r.lastModified) * 1000;

interface TempFile {
  readonly path: string;
  readonly size: number;
  readonly md5: Buffer;
  readonly ino: number;
  readonly mtimeMs: number;
}

/** S3's smallest part size for every part but the last. */
const MIN_PART_SIZE = 5 * 1024 * 1024;
const DEFAULT_CONTENT_TYPE = 'binary/octet-stream';

/**
 * S3 semantics over a directory tree. Open one per state dir (it clears leftover temp files).
 *
 * @example
 * const store = await S3Store.open('.mlops/local', ['datalake-raw']);
 * const { versionId } = await store.put('datalake-raw', 'wine.csv', 'a,b\n1,2\n', { contentType: 'text/csv' });
 * const { stream } = await store.get('datalake-raw', 'wine.csv');
 */
export class S3Store {
  private readonly root: string;
  private readonly locks = new Map<string, Promise<void>>();

  private constructor(
    private readonly stateDir: string,
    private readonly bucketNames: ReadonlySet<string>,
    private readonly keepVersions: boolean,
  ) {
    this.root = layout(stateDir).s3;
  }

  /**
   * Creates the bucket directories (keeping existing objects) and returns the store.
   * Buckets not in `buckets` answer NoSuchBucket, as a bucket not in the template would.
   */
  static async open(
    stateDir: string,
    buckets: readonly string[],
    options: S3StoreOptions = {},
  ): Promise<S3Store> {
    for (const bucket of buckets) assertBucketName(bucket);
    const store = new S3Store(stateDir, new Set(buckets), options.keepNoncurrentVersions ?? true);
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    for (const bucket of buckets) {
      await mkdir(layout(stateDir).bucket(bucket), { recursive: true });
      await mkdir(join(store.root, '.meta', bucket), { recursive: true });
    }
    return store;
  }

  /** The bucket names this store serves, in the order given to {@link S3Store.open}. */
  get buckets(): readonly string[] {
    return [...this.bucketNames];
  }

  /** Throws NoSuchBucket unless the store serves `bucket`. */
  assertBucket(bucket: string): void {
    if (!this.bucketNames.has(bucket)) {
      throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
    }
  }

  /** The file holding `bucket/key` (the object need not exist). */
  pathOf(bucket: string, key: string): string {
    this.assertBucket(bucket);
    return keyPath(layout(this.stateDir).bucket(bucket), key);
  }

  /** Stores an object atomically. With `ifNoneMatch: '*'` the create is race-safe: one writer wins. */
  async put(
    bucket: string,
    key: string,
    body: Readable | Uint8Array | string,
    options: PutOptions = {},
  ): Promise<ObjectInfo> {
    this.pathOf(bucket, key); // validate before reading the body
    const temp = await this.writeTemp(typeof body === 'string' || body instanceof Uint8Array ? [body] : body);
    try {
      if (options.contentMd5 !== undefined && options.contentMd5 !== temp.md5.toString('base64')) {
        throw new S3Error('BadDigest', 'The Content-MD5 you specified did not match what we received.', 400);
      }
      return await this.commit(bucket, key, temp, `"${temp.md5.toString('hex')}"`, options);
    } finally {
      await rm(temp.path, { force: true });
    }
  }

  /** The object's info; NoSuchKey if absent, NoSuchVersion if `versionId` is not one of its versions. */
  async head(bucket: string, key: string, versionId?: string): Promise<ObjectInfo> {
    const path = this.pathOf(bucket, key);
    if (versionId !== undefined) {
      const current = await this.headCurrent(bucket, key, path).catch(() => undefined);
      if (current?.versionId === versionId) return current;
      const record = await this.noncurrentSidecar(bucket, key, versionId);
      if (record.deleteMarker) {
        throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405, {
          Method: 'GET',
          ResourceType: 'DeleteMarker',
        }, { 'x-amz-delete-marker': 'true', 'x-amz-version-id': versionId });
      }
      return this.toInfo(bucket, key, record);
    }
    try {
      return await this.headCurrent(bucket, key, path);
    } catch (err) {
      // A key whose latest version is a delete marker says so, as S3 does.
      const latest = err instanceof S3Error && err.code === 'NoSuchKey' ? (await this.noncurrent(bucket, key))[0] : undefined;
      if (!latest?.deleteMarker || !(err instanceof S3Error)) throw err;
      throw new S3Error(err.code, err.message, err.status, err.details, {
        'x-amz-delete-marker': 'true',
        'x-amz-version-id': latest.versionId,
      });
    }
  }

  /** Opens the object (or a byte range of it) for reading. The stream sees one consistent version. */
  async get(
    bucket: string,
    key: string,
    options: { readonly range?: string; readonly versionId?: string } = {},
  ): Promise<ObjectBody> {
    let info: ObjectInfo;
    let file: FileHandle;
    const path = this.pathOf(bucket, key);
    for (let attempt = 0; ; attempt++) {
      info = await this.head(bucket, key, options.versionId);
      if (options.range !== undefined) parseRange(options.range, info.size); // fail before opening
      const noncurrent =
        options.versionId !== undefined && (await this.sidecarOf(bucket, key))?.versionId !== info.versionId;
      const filePath = noncurrent ? this.versionPath(bucket, key, info.versionId) : path;
      try {
        file = await open(filePath, 'r');
      } catch (err) {
        if (errno(err) === 'ENOENT' && attempt < 3) continue; // deleted between head and open
        throw noSuchKey(key);
      }
      // A writer may have replaced the file between head and open: the open handle pins one
      // inode, so check it is the one `info` describes, else look again.
      const stats = await file.stat();
      if (noncurrent || (stats.size === info.size && stats.ino === (await this.sidecarOf(bucket, key))?.ino))
        break;
      await file.close();
      if (attempt >= 3)
        throw new S3Error('InternalError', `Object ${key} kept changing while being read.`, 500);
    }
    const range = options.range === undefined ? undefined : parseRange(options.range, info.size);
    const stream = createReadStream('', {
      fd: file,
      ...(range ? { start: range.first, end: range.last } : {}),
    });
    return range ? { info, range, stream } : { info, stream };
  }

  /** Reads a whole object into memory (for small objects and tests). */
  async getBytes(bucket: string, key: string, versionId?: string): Promise<Buffer> {
    const { stream } = await this.get(bucket, key, versionId === undefined ? {} : { versionId });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * DeleteObject on a versioned bucket: without `versionId`, the current version becomes noncurrent
   * and a delete marker becomes the latest version (even for a key that does not exist, as in S3);
   * with `versionId`, that version (or marker) is removed for good, and if it was the latest the
   * next newest takes its place. A store that keeps no versions just deletes the object.
   */
  async delete(bucket: string, key: string, versionId?: string): Promise<DeleteResult> {
    const path = this.pathOf(bucket, key);
    if (versionId !== undefined) this.versionPath(bucket, key, versionId); // validate the id
    return this.withLock(bucket, key, async () => {
      const current = await this.sidecarOf(bucket, key);
      const hasFile = (await stat(path).catch(() => undefined))?.isFile() ?? false;
      if (versionId !== undefined && !(hasFile && current?.versionId === versionId)) {
        const record = await this.readVersionRecord(bucket, key, versionId);
        const wasLatest = !hasFile && record !== undefined && (await this.noncurrent(bucket, key))[0]?.versionId === versionId;
        await rm(this.versionPath(bucket, key, versionId), { force: true });
        await rm(this.versionPath(bucket, key, versionId) + '.json', { force: true });
        if (wasLatest) await this.promoteNewest(bucket, key, path);
        return record?.deleteMarker ? { versionId, deleteMarker: true } : { versionId };
      }
      let removed: Sidecar | undefined;
      if (hasFile) {
        // Not headCurrent: it may take this same (non-reentrant) lock to rebuild a sidecar.
        removed = await this.validSidecar(bucket, key, path);
        if (this.keepVersions && versionId === undefined) await this.keepAsNoncurrent(bucket, key, path);
        await rm(path, { force: true });
        await rm(this.metaPath(bucket, key), { force: true });
        await this.pruneEmptyDirs(layout(this.stateDir).bucket(bucket), dirname(path));
        await this.pruneEmptyDirs(join(this.root, '.meta', bucket), dirname(this.metaPath(bucket, key)));
      }
      if (versionId !== undefined) {
        await this.promoteNewest(bucket, key, path);
        return { versionId };
      }
      if (!this.keepVersions) return removed ? { versionId: removed.versionId } : {};
      const marker: MarkerRecord = {
        deleteMarker: true,
        key,
        versionId: randomBytes(24).toString('base64url'),
        lastModified: new Date().toISOString(),
        seq: nextSeq(),
      };
      const target = this.versionPath(bucket, key, marker.versionId);
      await mkdir(dirname(target), { recursive: true });
      await writeFileDurably(`${target}.json`, JSON.stringify(marker), this.tmpDir);
      return { versionId: marker.versionId, deleteMarker: true };
    });
  }

  /**
   * One page of every version and delete marker, like ListObjectVersions: keys in UTF-8 byte order,
   * each key's versions newest first, resuming after `keyMarker` (+ `versionIdMarker`).
   */
  async listVersions(bucket: string, options: ListVersionsOptions = {}): Promise<ListVersionsResult> {
    this.assertBucket(bucket);
    const prefix = options.prefix ?? '';
    const delimiter = options.delimiter || undefined;
    const maxKeys = Math.min(Math.max(options.maxKeys ?? 1000, 0), 1000);
    const bucketDir = layout(this.stateDir).bucket(bucket);
    const prefixDir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const currentKeys = (await walk(prefixDir === '' ? bucketDir : join(bucketDir, prefixDir), bucketDir)).filter((k) =>
      k.startsWith(prefix),
    );
    // Noncurrent versions live under a hash of their key; the record names the key (older records
    // without it are matched to a current key by hash).
    const byHash = new Map(currentKeys.map((k) => [createHash('sha256').update(k).digest('hex'), k]));
    const versionsDir = join(this.root, '.versions', bucket);
    const groups = new Map<string, VersionEntry[]>();
    const add = (key: string, entry: VersionEntry & { seq: number }) => {
      const list = groups.get(key) ?? [];
      list.push(entry);
      groups.set(key, list);
    };
    for (const key of currentKeys) {
      const sidecar = await this.validSidecar(bucket, key, keyPath(bucketDir, key));
      const info = sidecar ? this.toInfo(bucket, key, sidecar) : await this.head(bucket, key).catch(() => undefined);
      if (!info) continue; // deleted while listing
      add(key, { ...info, deleteMarker: false, isLatest: true, seq: Number.POSITIVE_INFINITY });
    }
    for (const hash of await readdir(versionsDir).catch(() => [] as string[])) {
      for (const file of await readdir(join(versionsDir, hash)).catch(() => [] as string[])) {
        if (!file.endsWith('.json')) continue;
        const record = await readJson<VersionRecord>(join(versionsDir, hash, file));
        const key = record?.key ?? byHash.get(hash);
        if (!record || key === undefined || !key.startsWith(prefix)) continue;
        const common = {
          bucket,
          key,
          versionId: record.versionId,
          lastModified: new Date(record.lastModified),
          isLatest: false,
          seq: seqOf(record),
        };
        add(
          key,
          record.deleteMarker
            ? { ...common, deleteMarker: true }
            : { ...this.toInfo(bucket, key, record), ...common, deleteMarker: false },
        );
      }
    }

    const versions: VersionEntry[] = [];
    const commonPrefixes: string[] = [];
    let isTruncated = false;
    let last: { key: string; versionId?: string } | undefined;
    const keys = [...groups.keys()].sort(byteCompare);
    const { keyMarker, versionIdMarker } = options;
    outer: for (const key of keys) {
      if (keyMarker !== undefined && byteCompare(key, keyMarker) < 0) continue;
      const entries = (groups.get(key)! as (VersionEntry & { seq: number })[]).sort((a, b) => b.seq - a.seq);
      let start = 0;
      if (keyMarker !== undefined && key === keyMarker) {
        // S3 resumes after the marker version; a key marker alone skips the whole key.
        if (versionIdMarker === undefined || versionIdMarker === '') continue;
        const at = entries.findIndex((e) => e.versionId === versionIdMarker);
        if (at < 0) {
          throw new S3Error('InvalidArgument', 'Invalid version id specified', 400, {
            ArgumentName: 'version-id-marker',
            ArgumentValue: versionIdMarker,
          });
        }
        start = at + 1;
      }
      if (delimiter !== undefined) {
        const at = key.indexOf(delimiter, prefix.length);
        if (at >= 0) {
          const common = key.slice(0, at + delimiter.length);
          if (commonPrefixes.at(-1) === common) continue;
          if (versions.length + commonPrefixes.length >= maxKeys) {
            isTruncated = true;
            break;
          }
          commonPrefixes.push(common);
          last = { key: common };
          continue;
        }
      }
      entries.forEach((e, i) => Object.assign(e, { isLatest: i === 0 }));
      for (const { seq: _seq, ...entry } of entries.slice(start)) {
        if (versions.length + commonPrefixes.length >= maxKeys) {
          isTruncated = true;
          break outer;
        }
        versions.push(entry as VersionEntry);
        last = { key, versionId: entry.versionId };
      }
    }
    return {
      versions,
      commonPrefixes,
      isTruncated,
      ...(isTruncated && last
        ? { nextKeyMarker: last.key, ...(last.versionId ? { nextVersionIdMarker: last.versionId } : {}) }
        : {}),
    };
  }

  /** Copies an object; `metadataDirective: 'REPLACE'` takes `attributes` instead of the source's. */
  async copy(
    source: { readonly bucket: string; readonly key: string; readonly versionId?: string },
    target: { readonly bucket: string; readonly key: string },
    options: PutOptions & { readonly metadataDirective?: 'COPY' | 'REPLACE' } = {},
  ): Promise<ObjectInfo> {
    this.pathOf(target.bucket, target.key);
    const { info, stream } = await this.get(
      source.bucket,
      source.key,
      source.versionId === undefined ? {} : { versionId: source.versionId },
    );
    const attributes: PutOptions =
      options.metadataDirective === 'REPLACE'
        ? options
        : { ...attributesOf(info), ...(options.ifNoneMatch ? { ifNoneMatch: options.ifNoneMatch } : {}) };
    return this.put(target.bucket, target.key, stream, attributes);
  }

  /** One page of keys in lexicographic (UTF-8 byte) order, like ListObjectsV2. */
  async list(bucket: string, options: ListOptions = {}): Promise<ListResult> {
    this.assertBucket(bucket);
    const prefix = options.prefix ?? '';
    const delimiter = options.delimiter || undefined;
    const maxKeys = Math.min(Math.max(options.maxKeys ?? 1000, 0), 1000);
    const marker =
      options.continuationToken !== undefined ? decodeToken(options.continuationToken) : undefined;
    const after = marker?.m ?? options.startAfter;

    const bucketDir = layout(this.stateDir).bucket(bucket);
    // Only walk the directory the prefix names, not the whole bucket.
    const prefixDir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const keys = (await walk(prefixDir === '' ? bucketDir : join(bucketDir, prefixDir), bucketDir))
      .filter((k) => k.startsWith(prefix) && (after === undefined || byteCompare(k, after) > 0))
      .filter((k) => !(marker?.p && k.startsWith(marker.m)))
      .sort(byteCompare);

    const contents: ObjectInfo[] = [];
    const commonPrefixes: string[] = [];
    let last: { m: string; p: boolean } | undefined;
    let isTruncated = false;
    for (const key of keys) {
      let common: string | undefined;
      if (delimiter !== undefined) {
        const at = key.indexOf(delimiter, prefix.length);
        if (at >= 0) common = key.slice(0, at + delimiter.length);
      }
      if (common !== undefined && last?.p && last.m === common) continue;
      if (contents.length + commonPrefixes.length >= maxKeys) {
        isTruncated = true;
        break;
      }
      if (common !== undefined) {
        commonPrefixes.push(common);
        last = { m: common, p: true };
      } else {
        const info = await this.head(bucket, key).catch(() => undefined);
        if (!info) continue; // deleted while listing
        contents.push(info);
        last = { m: key, p: false };
      }
    }
    return {
      contents,
      commonPrefixes,
      isTruncated,
      ...(isTruncated && last ? { nextContinuationToken: encodeToken(last) } : {}),
      ...(last ? { lastMarker: last.m } : {}),
    };
  }

  /** Starts a multipart upload and returns its id. */
  async createMultipartUpload(
    bucket: string,
    key: string,
    attributes: ObjectAttributes = {},
  ): Promise<string> {
    this.pathOf(bucket, key);
    const uploadId = randomBytes(24).toString('base64url');
    const dir = this.uploadDir(uploadId);
    await mkdir(dir, { recursive: true });
    await writeFileDurably(
      join(dir, 'upload.json'),
      JSON.stringify({ bucket, key, attributes, initiated: new Date().toISOString() }),
      this.tmpDir,
    );
    return uploadId;
  }

  /** Stores one part (1–10000) and returns its quoted MD5 ETag. */
  async uploadPart(
    bucket: string,
    key: string,
    uploadId: string,
    partNumber: number,
    body: Readable | Uint8Array | string,
  ): Promise<string> {
    await this.upload(bucket, key, uploadId);
    if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > 10_000) {
      throw new S3Error(
        'InvalidArgument',
        'Part number must be an integer between 1 and 10000, inclusive',
        400,
        {
          ArgumentName: 'partNumber',
          ArgumentValue: String(partNumber),
        },
      );
    }
    const temp = await this.writeTemp(typeof body === 'string' || body instanceof Uint8Array ? [body] : body);
    try {
      const etag = `"${temp.md5.toString('hex')}"`;
      await rename(temp.path, join(this.uploadDir(uploadId), `part-${partNumber}`));
      await writeFileDurably(join(this.uploadDir(uploadId), `part-${partNumber}.etag`), etag, this.tmpDir);
      return etag;
    } finally {
      await rm(temp.path, { force: true });
    }
  }

  /** Assembles the parts into the object (ETag `"<md5 of part md5s>-<n>"`, as S3 computes it). */
  async completeMultipartUpload(
    bucket: string,
    key: string,
    uploadId: string,
    parts: readonly CompletedPart[],
    options: { readonly ifNoneMatch?: '*' } = {},
  ): Promise<ObjectInfo> {
    const upload = await this.upload(bucket, key, uploadId);
    if (parts.length === 0) {
      throw new S3Error('MalformedXML', 'You must specify at least one part.', 400);
    }
    const dir = this.uploadDir(uploadId);
    const files: string[] = [];
    const md5s: Buffer[] = [];
    for (const [i, part] of parts.entries()) {
      if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber) {
        throw new S3Error('InvalidPartOrder', 'The list of parts was not in ascending order.', 400);
      }
      const file = join(dir, `part-${part.partNumber}`);
      const etag = await readFile(`${file}.etag`, 'utf8').catch(() => undefined);
      if (etag === undefined || etag.replaceAll('"', '') !== part.etag.replaceAll('"', '')) {
        throw new S3Error(
          'InvalidPart',
          "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
          400,
          { UploadId: uploadId, PartNumber: String(part.partNumber) },
        );
      }
      if (i < parts.length - 1 && (await stat(file)).size < MIN_PART_SIZE) {
        throw new S3Error(
          'EntityTooSmall',
          'Your proposed upload is smaller than the minimum allowed object size.',
          400,
          {
            PartNumber: String(part.partNumber),
          },
        );
      }
      files.push(file);
      md5s.push(Buffer.from(etag.replaceAll('"', ''), 'hex'));
    }
    const temp = await this.writeTemp(concatFiles(files));
    try {
      const etag = `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${parts.length}"`;
      const info = await this.commit(bucket, key, temp, etag, { ...upload.attributes, ...options });
      await rm(dir, { recursive: true, force: true });
      return info;
    } finally {
      await rm(temp.path, { force: true });
    }
  }

  /** Drops a multipart upload and its parts. */
  async abortMultipartUpload(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.upload(bucket, key, uploadId);
    await rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }

  // ---- internals -------------------------------------------------------------------------------

  private get tmpDir(): string {
    return join(this.root, '.tmp');
  }

  private metaPath(bucket: string, key: string): string {
    return keyPath(join(this.root, '.meta', bucket), key);
  }

  private versionPath(bucket: string, key: string, versionId: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(versionId)) {
      throw new S3Error('InvalidArgument', 'Invalid version id specified', 400, {
        ArgumentName: 'versionId',
        ArgumentValue: versionId,
      });
    }
    // Hash the key: a directory per key mirrored from the key itself could clash with a longer key.
    const hashed = createHash('sha256').update(key).digest('hex');
    return join(this.root, '.versions', bucket, hashed, versionId);
  }

  private uploadDir(uploadId: string): string {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(uploadId)) throw noSuchUpload(uploadId);
    return join(this.root, '.uploads', uploadId);
  }

  private async upload(
    bucket: string,
    key: string,
    uploadId: string,
  ): Promise<{ bucket: string; key: string; attributes: ObjectAttributes }> {
    this.pathOf(bucket, key);
    const raw = await readFile(join(this.uploadDir(uploadId), 'upload.json'), 'utf8').catch(() => undefined);
    const upload =
      raw === undefined
        ? undefined
        : (JSON.parse(raw) as { bucket: string; key: string; attributes: ObjectAttributes });
    if (!upload || upload.bucket !== bucket || upload.key !== key) throw noSuchUpload(uploadId);
    return upload;
  }

  /** Streams `chunks` into a fresh file under `.tmp`, fsynced, hashing as it goes. */
  private async writeTemp(chunks: AsyncIterable<unknown> | Iterable<unknown>): Promise<TempFile> {
    const path = join(this.tmpDir, randomBytes(12).toString('hex'));
    const file = await open(path, 'wx');
    const hash = createHash('md5');
    let size = 0;
    try {
      for await (const chunk of chunks as AsyncIterable<unknown>) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        hash.update(bytes);
        size += bytes.length;
        await file.write(bytes);
      }
      await file.sync();
      const stats = await file.stat();
      return { path, size, md5: hash.digest(), ino: stats.ino, mtimeMs: stats.mtimeMs };
    } catch (err) {
      await rm(path, { force: true });
      throw err;
    } finally {
      await file.close();
    }
  }

  /** Moves a finished temp file into place and writes its sidecar, under the key's lock. */
  private async commit(
    bucket: string,
    key: string,
    temp: TempFile,
    etag: string,
    options: PutOptions,
  ): Promise<ObjectInfo> {
    const path = this.pathOf(bucket, key);
    const metaPath = this.metaPath(bucket, key);
    return this.withLock(bucket, key, async () => {
      const sidecar: Sidecar = {
        etag,
        versionId: randomBytes(24).toString('base64url'),
        lastModified: new Date().toISOString(),
        seq: nextSeq(),
        ...attributesOf({ contentType: DEFAULT_CONTENT_TYPE, metadata: {}, ...options }),
        metadata: lowerKeys(options.metadata ?? {}),
        size: temp.size,
        ino: temp.ino,
        mtimeMs: temp.mtimeMs,
      };
      await this.mkdirFor(path, key);
      await this.mkdirFor(metaPath, key);
      try {
        if (options.ifNoneMatch === '*') {
          // link(2) fails with EEXIST if the key exists, atomically across processes, and the
          // object appears complete or not at all (an `open(…, 'wx')` on the target would expose
          // a half-written file to readers and leave it behind on a crash).
          await link(temp.path, path);
        } else {
          if (this.keepVersions) await this.keepAsNoncurrent(bucket, key, path);
          await rename(temp.path, path);
        }
      } catch (err) {
        if (errno(err) === 'EEXIST' && options.ifNoneMatch === '*') {
          throw new S3Error(
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
            412,
            {
              Condition: 'If-None-Match',
            },
          );
        }
        throw conflictOrRethrow(err, key);
      }
      await writeFileDurably(metaPath, JSON.stringify(sidecar), this.tmpDir);
      return this.toInfo(bucket, key, sidecar);
    });
  }

  /** Hard-links the current version (if it has a valid sidecar) into `.versions`. */
  private async keepAsNoncurrent(bucket: string, key: string, path: string): Promise<void> {
    const current = await this.validSidecar(bucket, key, path);
    if (!current) return;
    const target = this.versionPath(bucket, key, current.versionId);
    await mkdir(dirname(target), { recursive: true });
    const record: Sidecar = { ...current, key, seq: seqOf(current) };
    await writeFileDurably(`${target}.json`, JSON.stringify(record), this.tmpDir);
    await link(path, target).catch((err) => {
      if (errno(err) !== 'EEXIST') throw err;
    });
  }

  private async noncurrentSidecar(bucket: string, key: string, versionId: string): Promise<VersionRecord> {
    const record = await this.readVersionRecord(bucket, key, versionId);
    if (record === undefined) {
      throw new S3Error('NoSuchVersion', 'The specified version does not exist.', 404, {
        Key: key,
        VersionId: versionId,
      });
    }
    return record;
  }

  private readVersionRecord(bucket: string, key: string, versionId: string): Promise<VersionRecord | undefined> {
    return readJson<VersionRecord>(`${this.versionPath(bucket, key, versionId)}.json`);
  }

  /** The key's noncurrent versions and delete markers, newest first. */
  private async noncurrent(bucket: string, key: string): Promise<VersionRecord[]> {
    const dir = dirname(this.versionPath(bucket, key, 'x'));
    const records: VersionRecord[] = [];
    for (const file of await readdir(dir).catch(() => [] as string[])) {
      if (!file.endsWith('.json')) continue;
      const record = await readJson<VersionRecord>(join(dir, file));
      if (record) records.push(record);
    }
    return records.sort((a, b) => seqOf(b) - seqOf(a));
  }

  /**
   * After the latest version was removed for good: the newest remaining version becomes current
   * again (its file linked back, no copy); a delete marker stays where it is. Called under the lock.
   */
  private async promoteNewest(bucket: string, key: string, path: string): Promise<void> {
    if ((await stat(path).catch(() => undefined))?.isFile()) return;
    const newest = (await this.noncurrent(bucket, key))[0];
    if (!newest || newest.deleteMarker) return;
    const versionFile = this.versionPath(bucket, key, newest.versionId);
    const { key: _key, ...sidecar } = newest;
    await this.mkdirFor(path, key);
    await this.mkdirFor(this.metaPath(bucket, key), key);
    await link(versionFile, path);
    await writeFileDurably(this.metaPath(bucket, key), JSON.stringify(sidecar), this.tmpDir);
    await rm(versionFile, { force: true });
    await rm(`${versionFile}.json`, { force: true });
  }

  private async headCurrent(bucket: string, key: string, path: string): Promise<ObjectInfo> {
    const valid = await this.validSidecar(bucket, key, path);
    if (valid) return this.toInfo(bucket, key, valid);
    // Missing or stale sidecar: rebuild it under the lock, after checking again (a put may be
    // between its two renames right now and about to write the right one).
    return this.withLock(bucket, key, async () => {
      const again = await this.validSidecar(bucket, key, path);
      if (again) return this.toInfo(bucket, key, again);
      const stats = await stat(path).catch(() => undefined);
      if (!stats?.isFile()) throw noSuchKey(key);
      const previous = await this.sidecarOf(bucket, key);
      const hash = createHash('md5');
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
      const rebuilt: Sidecar = {
        ...(previous ?? { contentType: DEFAULT_CONTENT_TYPE, metadata: {} }),
        etag: `"${hash.digest('hex')}"`,
        versionId: randomBytes(24).toString('base64url'),
        lastModified: stats.mtime.toISOString(),
        size: stats.size,
        ino: stats.ino,
        mtimeMs: stats.mtimeMs,
      };
      await this.mkdirFor(this.metaPath(bucket, key), key);
      await writeFileDurably(this.metaPath(bucket, key), JSON.stringify(rebuilt), this.tmpDir);
      return this.toInfo(bucket, key, rebuilt);
    });
  }

  private async sidecarOf(bucket: string, key: string): Promise<Sidecar | undefined> {
    const raw = await readFile(this.metaPath(bucket, key), 'utf8').catch(() => undefined);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as Sidecar;
    } catch {
      return undefined;
    }
  }

  private async validSidecar(bucket: string, key: string, path: string): Promise<Sidecar | undefined> {
    const [sidecar, stats] = await Promise.all([
      this.sidecarOf(bucket, key),
      stat(path).catch(() => undefined),
    ]);
    if (!sidecar || !stats?.isFile()) return undefined;
    return sidecar.ino === stats.ino && sidecar.size === stats.size && sidecar.mtimeMs === stats.mtimeMs
      ? sidecar
      : undefined;
  }

  private toInfo(bucket: string, key: string, s: Sidecar): ObjectInfo {
    return {
      bucket,
      key,
      size: s.size,
      etag: s.etag,
      lastModified: new Date(s.lastModified),
      versionId: s.versionId,
      ...attributesOf(s),
    };
  }

  private async mkdirFor(path: string, key: string): Promise<void> {
    try {
      await mkdir(dirname(path), { recursive: true });
    } catch (err) {
      throw conflictOrRethrow(err, key);
    }
  }

  /** Removes now-empty directories from `dir` up to (not including) `root`. */
  private async pruneEmptyDirs(root: string, dir: string): Promise<void> {
    while (dir.startsWith(root + sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or gone): stop
      }
      dir = dirname(dir);
    }
  }

  /** Serialises commits to one key in this process, so a data file and its sidecar stay paired. */
  private async withLock<T>(bucket: string, key: string, fn: () => Promise<T>): Promise<T> {
    const id = `${bucket}/${key}`;
    const previous = this.locks.get(id) ?? Promise.resolve();
    let release!: () => void;
    const current = new Promise<void>((r) => {
      release = r;
    });
    const chained = previous.then(() => current);
    this.locks.set(id, chained);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.locks.get(id) === chained) this.locks.delete(id);
    }
  }
}

/**
 * Parses an HTTP `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) against an object size,
 * clamping the end as S3 does; throws InvalidRange (416) when unsatisfiable.
 *
 * @example
 * parseRange('bytes=0-9', 100);  // { first: 0, last: 9 }
 * parseRange('bytes=-10', 100);  // { first: 90, last: 99 }
 */
export function parseRange(header: string, size: number): ByteRange | undefined {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  // S3 ignores ranges it cannot parse (including multi-range requests) and sends the whole object.
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  const unsatisfiable = () =>
    new S3Error('InvalidRange', 'The requested range is not satisfiable', 416, {
      RangeRequested: header,
      ActualObjectSize: String(size),
    });
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) throw unsatisfiable();
    return { first: Math.max(size - suffix, 0), last: size - 1 };
  }
  const first = Number(match[1]);
  const last = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (first >= size || last < first) throw unsatisfiable();
  return { first, last };
}

/** Compares strings by their UTF-8 bytes: S3's listing order. */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** Writes `data` to `path` via an fsynced temp file and a rename: all or nothing. */
async function writeFileDurably(path: string, data: string, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, randomBytes(12).toString('hex'));
  const file = await open(tmp, 'wx');
  try {
    await file.writeFile(data);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

async function readJson<T>(path: string): Promise<T | undefined> {
  const raw = await readFile(path, 'utf8').catch(() => undefined);
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return undefined; // torn by a crash: treated as absent, as a missing sidecar is
  }
}

async function* concatFiles(files: readonly string[]): AsyncGenerator<Buffer> {
  for (const file of files) {
    for await (const chunk of createReadStream(file)) yield chunk as Buffer;
  }
}

/** Every regular file under `dir`, as a `/`-separated path relative to `base`. */
async function walk(dir: string, base: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const entry of entries) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await walk(full, base)));
    else if (entry.isFile()) out.push(relative(base, full).split(sep).join('/'));
  }
  return out;
}

function encodeToken(marker: { m: string; p: boolean }): string {
  return Buffer.from(JSON.stringify(marker)).toString('base64url');
}

function decodeToken(token: string): { m: string; p: boolean } {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { m: unknown; p: unknown };
    if (typeof parsed.m === 'string' && typeof parsed.p === 'boolean') return { m: parsed.m, p: parsed.p };
  } catch {
    // fall through
  }
  throw new S3Error('InvalidArgument', 'The continuation token provided is incorrect', 400, {
    ArgumentName: 'continuation-token',
  });
}

function attributesOf(
  s: ObjectAttributes,
): ObjectAttributes & { contentType: string; metadata: Record<string, string> } {
  return {
    contentType: s.contentType ?? DEFAULT_CONTENT_TYPE,
    metadata: { ...(s.metadata ?? {}) },
    ...(s.contentEncoding !== undefined ? { contentEncoding: s.contentEncoding } : {}),
    ...(s.contentDisposition !== undefined ? { contentDisposition: s.contentDisposition } : {}),
    ...(s.contentLanguage !== undefined ? { contentLanguage: s.contentLanguage } : {}),
    ...(s.cacheControl !== undefined ? { cacheControl: s.cacheControl } : {}),
  };
}

function lowerKeys(record: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** A key that is a file where another key needs a directory (or the reverse). */
function conflictOrRethrow(err: unknown, key: string): unknown {
  const code = errno(err);
  if (code === 'EISDIR' || code === 'ENOTDIR' || code === 'EEXIST' || code === 'ENOTEMPTY') {
    return new S3Error(
      'InvalidArgument',
      `The local S3 engine stores keys as files, so "${key}" cannot exist alongside a key that uses it as a folder (or the reverse).`,
      400,
      { Key: key },
    );
  }
  if (code === 'ENAMETOOLONG')
    return new S3Error('KeyTooLongError', 'Your key is too long', 400, { Key: key });
  return err;
}

function noSuchKey(key: string): S3Error {
  return new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
}

function noSuchUpload(uploadId: string): S3Error {
  return new S3Error(
    'NoSuchUpload',
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
    404,
    { UploadId: uploadId },
  );
}
