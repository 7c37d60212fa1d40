/**
 * S3 addresses → `{bucket, key}` → a file under the state dir.
 *
 * The local store keeps each object as a plain file at `<stateDir>/s3/<bucket>/<key>` so other
 * engines (DuckDB for Athena, the model loader) can read objects straight from disk. That makes
 * the key a file-system path, so every key is checked here before it gets near `fs`: S3 accepts
 * keys like `a/../b` or `a//b`, but on disk they would escape the bucket or alias another key.
 */
import { resolve, sep } from 'node:path';
import { layout } from '../layout';

/** A bucket and a key inside it. */
export interface S3Location {
  readonly bucket: string;
  readonly key: string;
}

/** An S3 error with the code and HTTP status S3 itself answers with. */
export class S3Error extends Error {
  override readonly name = 'S3Error';
  constructor(
    /** S3's error code, e.g. `NoSuchKey`. */
    readonly code: string,
    message: string,
    /** The HTTP status S3 answers this error with. */
    readonly status: number,
    /** Extra elements for the XML error body (`Key`, `BucketName`, …). */
    readonly details: Readonly<Record<string, string>> = {},
    /** Response headers S3 sends with this error (e.g. `x-amz-delete-marker`). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

// S3's rules for new buckets: 3–63 characters of lowercase letters, digits, dots and hyphens,
// starting and ending with a letter or digit. Anything else cannot be a bucket name, which is also
// why the store can keep its own bookkeeping in `.`-prefixed directories next to the buckets.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Throws unless `bucket` is a valid S3 bucket name.
 *
 * @example
 * assertBucketName('datalake-raw'); // ok
 * assertBucketName('../etc');       // throws S3Error InvalidBucketName
 */
export function assertBucketName(bucket: string): void {
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new S3Error(
      'InvalidBucketName',
      `The specified bucket is not valid: bucket names must be 3-63 lowercase letters, digits, dots and hyphens, but "${bucket}" was provided.`,
      400,
      { BucketName: bucket },
    );
  }
}

/**
 * Throws unless `key` can be stored as a file without escaping or aliasing: non-empty, at most
 * 1024 UTF-8 bytes (S3's limit), no NUL, no leading `/`, no empty, `.` or `..` segment, and not
 * ending in `/` (a "folder marker" would need to be a file and a directory at once).
 *
 * @example
 * assertKey('raw/2024/wine.csv'); // ok
 * assertKey('raw/../../secret');  // throws S3Error InvalidArgument
 */
export function assertKey(key: string): void {
  const invalid = (why: string): never => {
    throw new S3Error('InvalidArgument', `The local S3 engine cannot store key "${key}": ${why}.`, 400, {
      ArgumentName: 'key',
      ArgumentValue: key,
    });
  };
  if (key.length === 0) invalid('the key is empty');
  if (Buffer.byteLength(key) > 1024) {
    throw new S3Error('KeyTooLongError', 'Your key is too long', 400, { Key: key });
  }
  if (key.includes('\0')) invalid('it contains a NUL character');
  if (key.startsWith('/')) invalid('it starts with "/"');
  if (key.endsWith('/')) invalid('keys ending in "/" (folder markers) are not supported locally');
  for (const segment of key.split('/')) {
    if (segment === '') invalid('it contains an empty path segment ("//")');
    if (segment === '.' || segment === '..') invalid(`it contains a "${segment}" path segment`);
    if (Buffer.byteLength(segment) > 255) invalid('a path segment is longer than 255 bytes');
  }
}

/**
 * The file that holds `bucket/key` under `root` (the bucket tree or one of the store's parallel
 * trees), after checking the key cannot escape it.
 *
 * @example
 * keyPath('/state/s3/raw', 'a/b.csv'); // '/state/s3/raw/a/b.csv'
 */
export function keyPath(root: string, key: string): string {
  assertKey(key);
  const path = resolve(root, key);
  // Belt and braces: assertKey already rules out every way out of the root.
  if (!path.startsWith(root + sep)) {
    throw new S3Error('InvalidArgument', `Key "${key}" resolves outside its bucket.`, 400, { Key: key });
  }
  return path;
}

/**
 * The local file of an object: `<stateDir>/s3/<bucket>/<key>`.
 *
 * @example
 * objectPath('.mlops/local', { bucket: 'raw', key: 'wine.csv' }); // '<abs>/.mlops/local/s3/raw/wine.csv'
 */
export function objectPath(stateDir: string, location: S3Location): string {
  assertBucketName(location.bucket);
  return keyPath(layout(stateDir).bucket(location.bucket), location.key);
}

/**
 * Parses any of the S3 address forms the kit meets into `{bucket, key}`:
 * `s3://bucket/key`, path-style `https://s3.<region>.amazonaws.com/bucket/key` (and the legacy
 * `s3.amazonaws.com` / `s3-<region>` hosts) and virtual-hosted `https://<bucket>.s3.<region>.amazonaws.com/key`.
 * Keys in `s3://` URIs are taken literally (as the AWS CLI does); keys in `https://` URLs are
 * percent-decoded. The key may be empty (a bucket address) but is otherwise validated with
 * {@link assertKey}.
 *
 * @example
 * parseS3Url('s3://datalake-raw/wine/red.csv');
 * // { bucket: 'datalake-raw', key: 'wine/red.csv' }
 * parseS3Url('https://datalake-raw.s3.eu-west-1.amazonaws.com/wine/red%20v2.csv');
 * // { bucket: 'datalake-raw', key: 'wine/red v2.csv' }
 */
export function parseS3Url(url: string): S3Location {
  const location = splitS3Url(url);
  assertBucketName(location.bucket);
  if (location.key !== '') assertKey(location.key);
  return location;
}

function splitS3Url(url: string): S3Location {
  const s3Uri = /^s3:\/\/([^/]+)(?:\/(.*))?$/s.exec(url);
  if (s3Uri) return { bucket: s3Uri[1]!, key: s3Uri[2] ?? '' };

  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw notAnS3Url(url);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw notAnS3Url(url);
  const host = parsed.hostname.toLowerCase();
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw notAnS3Url(url);
    }
  };
  // `s3.amazonaws.com`, `s3.<region>.amazonaws.com`, `s3-<region>.amazonaws.com`, with an
  // optional `dualstack.` and the China partition's `.com.cn`.
  const endpoint = /^s3(?:[.-]dualstack)?(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$/;
  const pathPart = parsed.pathname.replace(/^\//, '');
  if (endpoint.test(host)) {
    const slash = pathPart.indexOf('/');
    if (pathPart === '') throw notAnS3Url(url);
    return slash < 0
      ? { bucket: decode(pathPart), key: '' }
      : { bucket: decode(pathPart.slice(0, slash)), key: decode(pathPart.slice(slash + 1)) };
  }
  const virtualHost = /^(.+)\.(s3(?:[.-]dualstack)?(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?)$/.exec(host);
  if (virtualHost && endpoint.test(virtualHost[2]!)) {
    return { bucket: virtualHost[1]!, key: decode(pathPart) };
  }
  throw notAnS3Url(url);
}

function notAnS3Url(url: string): S3Error {
  return new S3Error(
    'InvalidArgument',
    `S3 address must be s3://bucket/key or an https://…amazonaws.com S3 URL, but "${url}" was provided.`,
    400,
  );
}
