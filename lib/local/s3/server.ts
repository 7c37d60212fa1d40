/**
 * An S3-compatible HTTP endpoint over {@link S3Store}, so `@aws-sdk/client-s3` (and handler code
 * using it) works unchanged with `endpoint` or `AWS_ENDPOINT_URL_S3` set to {@link S3Server.endpoint}.
 *
 * Addressing: the SDK uses path-style (`http://127.0.0.1:port/bucket/key`) on its own when the
 * endpoint host is an IP address, so no `forcePathStyle` is needed with the endpoint this server
 * advertises. With `http://localhost:port` the SDK would switch to virtual-hosted style
 * (`bucket.localhost`); that is understood too, but `*.localhost` does not resolve on every
 * machine, which is why the advertised endpoint is the IP.
 *
 * Served: ListBuckets, HeadBucket, GetBucketLocation, GetBucketVersioning, ListObjects(V2),
 * ListObjectVersions, PutObject (incl. aws-chunked bodies and `If-None-Match: *`), GetObject
 * (Range, If-Match, If-None-Match, VersionId), HeadObject, DeleteObject (delete markers, as on a
 * versioned bucket), DeleteObjects, CopyObject, and Create/UploadPart/UploadPartCopy/Complete/AbortMultipartUpload.
 * Anything else answers 501 NotImplemented.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { decodeAwsChunked, isAwsChunked, storedContentEncoding } from './aws-chunked';
import {
  type ListResult,
  type ObjectAttributes,
  type ObjectInfo,
  parseRange,
  type S3Store,
  type VersionEntry,
} from './store';
import { S3Error } from './uri';
import { loopbackCors } from '../cors';
import { createGuardedServer, type ErrorRenderer, requestUrl } from '../http-guard';
import { listenOnLoopback } from '../listen';

/** Options of {@link startS3Server}. */
export interface S3ServerOptions {
  /** The store to serve. */
  readonly store: S3Store;
  /** @default 0 (an ephemeral port) */
  readonly port?: number;
  /** The region answered by GetBucketLocation / HeadBucket. @default 'us-east-1' */
  readonly region?: string;
  /** Where unexpected (500) errors are reported. @default console.error */
  readonly onError?: (err: unknown) => void;
}

/** A running S3 endpoint. */
export interface S3Server {
  /** `http://127.0.0.1:<port>`: pass as the client's `endpoint` or `AWS_ENDPOINT_URL_S3`. */
  readonly endpoint: string;
  readonly port: number;
  /** Stops listening, drops open connections and frees the port. */
  close(): Promise<void>;
}

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** Errors the guard answers itself (malformed HTTP, a crash), as S3's XML `<Error>`. */
const s3XmlError: ErrorRenderer = (status, message) => {
  const code =
    status === 431
      ? 'RequestHeaderSectionTooLarge'
      : status === 413
        ? 'EntityTooLarge'
        : status >= 500
          ? 'InternalError'
          : 'InvalidRequest';
  return {
    contentType: 'application/xml',
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${x(message)}</Message><RequestId>${randomBytes(8).toString('hex').toUpperCase()}</RequestId></Error>`,
  };
};

/**
 * Starts the S3 endpoint on 127.0.0.1.
 *
 * @example
 * const store = await S3Store.open(stateDir, ['datalake-raw']);
 * const s3 = await startS3Server({ store });
 * const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
 * // … later
 * await s3.close();
 */
/** A local disk fault named in the 500's message, so the caller's error says why (a full disk). */
function diskFault(err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code && ['ENOSPC', 'EDQUOT', 'EIO', 'EROFS', 'EMFILE'].includes(code)
    ? ` (the local store could not write: ${(err as Error).message})`
    : '';
}

export async function startS3Server(options: S3ServerOptions): Promise<S3Server> {
  const region = options.region ?? 'us-east-1';
  const onError = options.onError ?? ((err: unknown) => console.error('[s3]', err));
  const server: Server = createGuardedServer(
    (req, res) => {
      const requestId = randomBytes(8).toString('hex').toUpperCase();
      res.setHeader('x-amz-request-id', requestId);
      res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
      // The console reads reports from the lake across origins (see lib/local/cors.ts).
      if (loopbackCors(req, res, ['ETag', 'x-amz-request-id', 'x-amz-version-id'])) return;
      return handle(options.store, region, req, res).catch((err: unknown) => {
        const s3err =
          err instanceof S3Error
            ? err
            : new S3Error('InternalError', `We encountered an internal error. Please try again.${diskFault(err)}`, 500);
        if (!(err instanceof S3Error)) onError(err);
        sendError(req, res, s3err, requestId);
      });
    },
    { error: s3XmlError, onError },
  );
  const port = await listenOnLoopback(server, options.port);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Splits a request into bucket and key, from the path or a `<bucket>.localhost` host. */
function target(req: IncomingMessage): { bucket?: string; key: string; query: URLSearchParams } {
  const url = requestUrl(req);
  if (!url) throw new S3Error('InvalidURI', "Couldn't parse the specified URI.", 400);
  const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  const path = url.pathname;
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new S3Error('InvalidURI', "Couldn't parse the specified URI.", 400);
    }
  };
  if (host.endsWith('.localhost')) {
    return {
      bucket: host.slice(0, -'.localhost'.length),
      key: decode(path.slice(1)),
      query: url.searchParams,
    };
  }
  const match = /^\/([^/]+)(?:\/(.*))?$/s.exec(path);
  if (!match) return { key: '', query: url.searchParams };
  return { bucket: decode(match[1]!), key: decode(match[2] ?? ''), query: url.searchParams };
}

async function handle(
  store: S3Store,
  region: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { bucket, key, query } = target(req);
  const method = req.method ?? 'GET';

  if (bucket === undefined) {
    if (method === 'GET') return sendXml(res, 200, listBucketsXml(store.buckets));
    throw notImplemented();
  }
  store.assertBucket(bucket);

  if (key === '') {
    switch (method) {
      case 'HEAD':
        res.setHeader('x-amz-bucket-region', region);
        res.writeHead(200).end();
        return;
      case 'GET':
        if (query.has('location')) {
          return sendXml(
            res,
            200,
            `<LocationConstraint xmlns="${XMLNS}">${region === 'us-east-1' ? '' : x(region)}</LocationConstraint>`,
          );
        }
        if (query.has('versioning')) {
          return sendXml(
            res,
            200,
            `<VersioningConfiguration xmlns="${XMLNS}"><Status>Enabled</Status></VersioningConfiguration>`,
          );
        }
        if (query.has('versions')) return listObjectVersions(store, bucket, query, res);
        if ([...query.keys()].some((k) => !LIST_PARAMS.has(k))) throw notImplemented();
        return listObjects(store, bucket, query, res);
      case 'POST':
        if (query.has('delete')) return deleteObjects(store, bucket, await readBody(req), res);
        throw notImplemented();
      case 'PUT':
        throw new S3Error(
          'BucketAlreadyOwnedByYou',
          'Your previous request to create the named bucket succeeded and you already own it. (Local buckets come from the template.)',
          409,
          { BucketName: bucket },
        );
      default:
        throw notImplemented();
    }
  }

  const uploadId = query.get('uploadId') ?? undefined;
  const versionId = query.get('versionId') ?? undefined;
  switch (method) {
    case 'PUT': {
      if (req.headers['x-amz-copy-source'] !== undefined) {
        if (uploadId !== undefined) return uploadPartCopy(store, bucket, key, uploadId, Number(query.get('partNumber')), req, res);
        return copyObject(store, bucket, key, req, res);
      }
      const body = requestBody(req);
      if (uploadId !== undefined) {
        const etag = await store.uploadPart(bucket, key, uploadId, Number(query.get('partNumber')), body);
        res.setHeader('ETag', etag);
        res.writeHead(200).end();
        return;
      }
      const info = await store.put(bucket, key, body, {
        ...attributesFrom(req),
        ...ifNoneMatchFrom(req),
        ...(typeof req.headers['content-md5'] === 'string' ? { contentMd5: req.headers['content-md5'] } : {}),
      });
      res.setHeader('ETag', info.etag);
      res.setHeader('x-amz-version-id', info.versionId);
      res.writeHead(200).end();
      return;
    }
    case 'GET':
    case 'HEAD': {
      if (uploadId !== undefined) throw notImplemented('ListParts');
      const range = typeof req.headers.range === 'string' ? req.headers.range : undefined;
      if (method === 'HEAD') {
        const info = await store.head(bucket, key, versionId);
        if (checkConditions(req, res, info)) return;
        const served = range === undefined ? undefined : parseRange(range, info.size);
        writeObjectHeaders(res, info, served);
        res.writeHead(served ? 206 : 200).end();
        return;
      }
      const object = await store.get(bucket, key, {
        ...(range !== undefined ? { range } : {}),
        ...(versionId !== undefined ? { versionId } : {}),
      });
      if (checkConditions(req, res, object.info)) {
        object.stream.destroy();
        return;
      }
      writeObjectHeaders(res, object.info, object.range);
      res.writeHead(object.range ? 206 : 200);
      object.stream.on('error', (err: Error) => res.destroy(err));
      object.stream.pipe(res);
      return;
    }
    case 'DELETE': {
      if (uploadId !== undefined) {
        await store.abortMultipartUpload(bucket, key, uploadId);
        res.writeHead(204).end();
        return;
      }
      const deleted = await store.delete(bucket, key, versionId);
      if (deleted.versionId !== undefined) res.setHeader('x-amz-version-id', deleted.versionId);
      if (deleted.deleteMarker) res.setHeader('x-amz-delete-marker', 'true');
      res.writeHead(204).end();
      return;
    }
    case 'POST': {
      if (query.has('uploads')) {
        const id = await store.createMultipartUpload(bucket, key, attributesFrom(req));
        return sendXml(
          res,
          200,
          `<InitiateMultipartUploadResult xmlns="${XMLNS}"><Bucket>${x(bucket)}</Bucket><Key>${x(key)}</Key><UploadId>${x(id)}</UploadId></InitiateMultipartUploadResult>`,
        );
      }
      if (uploadId !== undefined) {
        const xml = await readBody(req);
        const parts = [...xml.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((m) => ({
          partNumber: Number(element(m[1]!, 'PartNumber')),
          etag: element(m[1]!, 'ETag') ?? '',
        }));
        const info = await store.completeMultipartUpload(bucket, key, uploadId, parts, ifNoneMatchFrom(req));
        res.setHeader('x-amz-version-id', info.versionId);
        return sendXml(
          res,
          200,
          `<CompleteMultipartUploadResult xmlns="${XMLNS}"><Location>http://${x(req.headers.host ?? '')}/${x(bucket)}/${x(encodeKey(key))}</Location><Bucket>${x(bucket)}</Bucket><Key>${x(key)}</Key><ETag>${x(info.etag)}</ETag></CompleteMultipartUploadResult>`,
        );
      }
      throw notImplemented();
    }
    default:
      throw notImplemented();
  }
}

const LIST_PARAMS = new Set([
  'list-type',
  'prefix',
  'delimiter',
  'max-keys',
  'continuation-token',
  'start-after',
  'fetch-owner',
  'encoding-type',
  'marker',
]);

async function listObjects(
  store: S3Store,
  bucket: string,
  query: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const v2 = query.get('list-type') === '2';
  const maxKeys = maxKeysOf(query);
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const urlEncoded = query.get('encoding-type') === 'url';
  const enc = (s: string) => x(urlEncoded ? encodeKey(s) : s);
  const token = query.get('continuation-token') ?? undefined;
  const startAfter = (v2 ? query.get('start-after') : query.get('marker')) ?? undefined;
  const result: ListResult = await store.list(bucket, {
    prefix,
    delimiter,
    maxKeys,
    ...(v2 && token !== undefined ? { continuationToken: token } : {}),
    ...(startAfter !== undefined ? { startAfter } : {}),
  });
  const owner =
    query.get('fetch-owner') === 'true' || !v2
      ? '<Owner><ID>local</ID><DisplayName>local</DisplayName></Owner>'
      : '';
  const contents = result.contents
    .map(
      (o: ObjectInfo) =>
        `<Contents><Key>${enc(o.key)}</Key><LastModified>${o.lastModified.toISOString()}</LastModified><ETag>${x(o.etag)}</ETag><Size>${o.size}</Size>${owner}<StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join('');
  const prefixes = result.commonPrefixes
    .map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`)
    .join('');
  const paging = v2
    ? `<KeyCount>${result.contents.length + result.commonPrefixes.length}</KeyCount>` +
      (token !== undefined ? `<ContinuationToken>${x(token)}</ContinuationToken>` : '') +
      (result.nextContinuationToken
        ? `<NextContinuationToken>${x(result.nextContinuationToken)}</NextContinuationToken>`
        : '') +
      (startAfter !== undefined ? `<StartAfter>${enc(startAfter)}</StartAfter>` : '')
    : `<Marker>${enc(startAfter ?? '')}</Marker>` +
      (result.isTruncated && result.lastMarker !== undefined
        ? `<NextMarker>${enc(result.lastMarker)}</NextMarker>`
        : '');
  sendXml(
    res,
    200,
    `<ListBucketResult xmlns="${XMLNS}"><Name>${x(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>${paging}<MaxKeys>${maxKeys}</MaxKeys>` +
      (delimiter !== '' ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '') +
      (urlEncoded ? '<EncodingType>url</EncodingType>' : '') +
      `<IsTruncated>${result.isTruncated}</IsTruncated>${contents}${prefixes}</ListBucketResult>`,
  );
}

const VERSION_LIST_PARAMS = new Set([
  'versions',
  'prefix',
  'delimiter',
  'max-keys',
  'key-marker',
  'version-id-marker',
  'encoding-type',
]);

async function listObjectVersions(
  store: S3Store,
  bucket: string,
  query: URLSearchParams,
  res: ServerResponse,
): Promise<void> {
  const unknown = [...query.keys()].find((k) => !VERSION_LIST_PARAMS.has(k));
  if (unknown !== undefined) throw notImplemented(`ListObjectVersions with "${unknown}"`);
  const maxKeys = maxKeysOf(query);
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const keyMarker = query.get('key-marker') ?? '';
  const versionIdMarker = query.get('version-id-marker') ?? '';
  if (versionIdMarker !== '' && keyMarker === '') {
    throw new S3Error(
      'InvalidArgument',
      'A version-id marker cannot be specified without a key marker.',
      400,
      { ArgumentName: 'version-id-marker', ArgumentValue: versionIdMarker },
    );
  }
  const urlEncoded = query.get('encoding-type') === 'url';
  const enc = (s: string) => x(urlEncoded ? encodeKey(s) : s);
  const result = await store.listVersions(bucket, {
    prefix,
    delimiter,
    maxKeys,
    ...(keyMarker !== '' ? { keyMarker } : {}),
    ...(versionIdMarker !== '' ? { versionIdMarker } : {}),
  });
  const owner = '<Owner><ID>local</ID><DisplayName>local</DisplayName></Owner>';
  const entry = (v: VersionEntry) => {
    const common = `<Key>${enc(v.key)}</Key><VersionId>${x(v.versionId)}</VersionId><IsLatest>${v.isLatest}</IsLatest><LastModified>${v.lastModified.toISOString()}</LastModified>`;
    return v.deleteMarker
      ? `<DeleteMarker>${common}${owner}</DeleteMarker>`
      : `<Version>${common}<ETag>${x(v.etag)}</ETag><Size>${v.size}</Size>${owner}<StorageClass>STANDARD</StorageClass></Version>`;
  };
  sendXml(
    res,
    200,
    `<ListVersionsResult xmlns="${XMLNS}"><Name>${x(bucket)}</Name><Prefix>${enc(prefix)}</Prefix>` +
      `<KeyMarker>${enc(keyMarker)}</KeyMarker><VersionIdMarker>${x(versionIdMarker)}</VersionIdMarker>` +
      (result.nextKeyMarker !== undefined ? `<NextKeyMarker>${enc(result.nextKeyMarker)}</NextKeyMarker>` : '') +
      (result.nextVersionIdMarker !== undefined
        ? `<NextVersionIdMarker>${x(result.nextVersionIdMarker)}</NextVersionIdMarker>`
        : '') +
      `<MaxKeys>${maxKeys}</MaxKeys>` +
      (delimiter !== '' ? `<Delimiter>${enc(delimiter)}</Delimiter>` : '') +
      (urlEncoded ? '<EncodingType>url</EncodingType>' : '') +
      `<IsTruncated>${result.isTruncated}</IsTruncated>` +
      result.versions.map(entry).join('') +
      result.commonPrefixes.map((p) => `<CommonPrefixes><Prefix>${enc(p)}</Prefix></CommonPrefixes>`).join('') +
      `</ListVersionsResult>`,
  );
}

function maxKeysOf(query: URLSearchParams): number {
  const raw = query.get('max-keys');
  const maxKeys = raw === null ? 1000 : Number(raw);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', 400, {
      ArgumentName: 'max-keys',
      ArgumentValue: raw ?? '',
    });
  }
  return maxKeys;
}

async function deleteObjects(
  store: S3Store,
  bucket: string,
  body: Buffer,
  res: ServerResponse,
): Promise<void> {
  const xml = body.toString('utf8');
  const quiet = element(xml, 'Quiet') === 'true';
  const objects = [...xml.matchAll(/<Object>([\s\S]*?)<\/Object>/g)].map((m) => ({
    key: element(m[1]!, 'Key') ?? '',
    versionId: element(m[1]!, 'VersionId'),
  }));
  if (objects.length > 1000)
    throw new S3Error(
      'MalformedXML',
      'The XML you provided was not well-formed or did not validate against our published schema',
      400,
    );
  let out = '';
  for (const o of objects) {
    try {
      const deleted = await store.delete(bucket, o.key, o.versionId);
      if (!quiet) {
        const version =
          o.versionId !== undefined && deleted.versionId !== undefined
            ? `<VersionId>${x(deleted.versionId)}</VersionId>`
            : '';
        const marker = deleted.deleteMarker
          ? `<DeleteMarker>true</DeleteMarker>` +
            (o.versionId === undefined && deleted.versionId !== undefined
              ? `<DeleteMarkerVersionId>${x(deleted.versionId)}</DeleteMarkerVersionId>`
              : '')
          : '';
        out += `<Deleted><Key>${x(o.key)}</Key>${version}${marker}</Deleted>`;
      }
    } catch (err) {
      const e =
        err instanceof S3Error ? err : new S3Error('InternalError', 'We encountered an internal error.', 500);
      out += `<Error><Key>${x(o.key)}</Key><Code>${x(e.code)}</Code><Message>${x(e.message)}</Message></Error>`;
    }
  }
  sendXml(res, 200, `<DeleteResult xmlns="${XMLNS}">${out}</DeleteResult>`);
}

async function copyObject(
  store: S3Store,
  bucket: string,
  key: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { source, sourceVersion, sourceInfo } = await copySourceOf(store, req);
  const directive = req.headers['x-amz-metadata-directive'] === 'REPLACE' ? 'REPLACE' : 'COPY';
  const info = await store.copy(
    { ...source, ...(sourceVersion !== undefined ? { versionId: sourceVersion } : {}) },
    { bucket, key },
    { ...attributesFrom(req), ...ifNoneMatchFrom(req), metadataDirective: directive },
  );
  res.setHeader('x-amz-version-id', info.versionId);
  res.setHeader('x-amz-copy-source-version-id', sourceInfo.versionId);
  sendXml(
    res,
    200,
    `<CopyObjectResult xmlns="${XMLNS}"><LastModified>${info.lastModified.toISOString()}</LastModified><ETag>${x(info.etag)}</ETag></CopyObjectResult>`,
  );
}

/**
 * UploadPartCopy: a part of a multipart upload from a byte range of another object (how objects
 * over CopyObject's 5 GB are copied). The range is `bytes=first-last`, inside the source.
 */
async function uploadPartCopy(
  store: S3Store,
  bucket: string,
  key: string,
  uploadId: string,
  partNumber: number,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { source, sourceVersion, sourceInfo } = await copySourceOf(store, req);
  const rangeHeader = req.headers['x-amz-copy-source-range'];
  let range: string | undefined;
  if (rangeHeader !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(String(rangeHeader));
    if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= sourceInfo.size) {
      throw new S3Error(
        'InvalidArgument',
        `The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy, within the source's ${sourceInfo.size} bytes`,
        400,
        { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: String(rangeHeader) },
      );
    }
    range = String(rangeHeader);
  }
  const object = await store.get(source.bucket, source.key, {
    ...(range !== undefined ? { range } : {}),
    ...(sourceVersion !== undefined ? { versionId: sourceVersion } : {}),
  });
  const etag = await store.uploadPart(bucket, key, uploadId, partNumber, object.stream);
  res.setHeader('x-amz-copy-source-version-id', object.info.versionId);
  sendXml(
    res,
    200,
    `<CopyPartResult xmlns="${XMLNS}"><LastModified>${object.info.lastModified.toISOString()}</LastModified><ETag>${x(etag)}</ETag></CopyPartResult>`,
  );
}

/**
 * The bucket, key and version an `x-amz-copy-source` header names (`bucket/key?versionId=…`), and
 * that version's info. A copy request has no body: it is drained.
 */
async function copySourceOf(
  store: S3Store,
  req: IncomingMessage,
): Promise<{ source: { bucket: string; key: string }; sourceVersion: string | undefined; sourceInfo: ObjectInfo }> {
  req.resume();
  const header = String(req.headers['x-amz-copy-source']);
  const [pathPart, queryPart] = header.replace(/^\//, '').split('?', 2) as [string, string | undefined];
  let sourcePath: string;
  try {
    sourcePath = decodeURIComponent(pathPart);
  } catch {
    throw new S3Error(
      'InvalidArgument',
      'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
      400,
    );
  }
  const slash = sourcePath.indexOf('/');
  if (slash <= 0) {
    throw new S3Error(
      'InvalidArgument',
      'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
      400,
      {
        ArgumentName: 'x-amz-copy-source',
        ArgumentValue: header,
      },
    );
  }
  const sourceVersion = new URLSearchParams(queryPart ?? '').get('versionId') ?? undefined;
  const source = { bucket: sourcePath.slice(0, slash), key: sourcePath.slice(slash + 1) };
  store.assertBucket(source.bucket);
  return { source, sourceVersion, sourceInfo: await store.head(source.bucket, source.key, sourceVersion) };
}

/** The payload bytes of a request, unwrapping aws-chunked framing. */
function requestBody(req: IncomingMessage): Readable {
  return isAwsChunked(req.headers) ? Readable.from(decodeAwsChunked(req)) : req;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of requestBody(req)) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function attributesFrom(req: IncomingMessage): ObjectAttributes {
  const h = req.headers;
  const str = (v: string | string[] | undefined) => (typeof v === 'string' ? v : undefined);
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(h)) {
    if (name.startsWith('x-amz-meta-') && typeof value === 'string')
      metadata[name.slice('x-amz-meta-'.length)] = value;
  }
  const contentEncoding = storedContentEncoding(str(h['content-encoding']));
  const attributes: Record<string, unknown> = {
    metadata,
    contentType: str(h['content-type']),
    contentEncoding,
    contentDisposition: str(h['content-disposition']),
    contentLanguage: str(h['content-language']),
    cacheControl: str(h['cache-control']),
  };
  return Object.fromEntries(
    Object.entries(attributes).filter(([, v]) => v !== undefined),
  ) as ObjectAttributes;
}

function ifNoneMatchFrom(req: IncomingMessage): { ifNoneMatch?: '*' } {
  const value = req.headers['if-none-match'];
  if (value === undefined) return {};
  if (value.trim() !== '*') {
    throw new S3Error(
      'NotImplemented',
      'A header you provided implies functionality that is not implemented',
      501,
      {
        Header: 'If-None-Match',
      },
    );
  }
  return { ifNoneMatch: '*' };
}

/** Applies If-Match / If-None-Match to a read; returns true when it answered 304/412 itself. */
function checkConditions(req: IncomingMessage, res: ServerResponse, info: ObjectInfo): boolean {
  const matches = (header: string | undefined) =>
    header
      ?.split(',')
      .some((t) => t.trim() === '*' || t.trim().replaceAll('"', '') === info.etag.replaceAll('"', ''));
  const ifMatch = req.headers['if-match'];
  if (ifMatch !== undefined && !matches(ifMatch)) {
    throw new S3Error(
      'PreconditionFailed',
      'At least one of the pre-conditions you specified did not hold',
      412,
      {
        Condition: 'If-Match',
      },
    );
  }
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined && matches(ifNoneMatch)) {
    res.setHeader('ETag', info.etag);
    res.setHeader('Last-Modified', info.lastModified.toUTCString());
    res.writeHead(304).end();
    return true;
  }
  return false;
}

function writeObjectHeaders(
  res: ServerResponse,
  info: ObjectInfo,
  range: { first: number; last: number } | undefined,
): void {
  res.setHeader('Content-Type', info.contentType);
  res.setHeader('Content-Length', range ? range.last - range.first + 1 : info.size);
  if (range) res.setHeader('Content-Range', `bytes ${range.first}-${range.last}/${info.size}`);
  res.setHeader('ETag', info.etag);
  res.setHeader('Last-Modified', info.lastModified.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('x-amz-version-id', info.versionId);
  if (info.contentEncoding !== undefined) res.setHeader('Content-Encoding', info.contentEncoding);
  if (info.contentDisposition !== undefined) res.setHeader('Content-Disposition', info.contentDisposition);
  if (info.contentLanguage !== undefined) res.setHeader('Content-Language', info.contentLanguage);
  if (info.cacheControl !== undefined) res.setHeader('Cache-Control', info.cacheControl);
  for (const [k, v] of Object.entries(info.metadata)) res.setHeader(`x-amz-meta-${k}`, v);
}

function listBucketsXml(buckets: readonly string[]): string {
  const items = buckets
    .map((b) => `<Bucket><Name>${x(b)}</Name><CreationDate>1970-01-01T00:00:00.000Z</CreationDate></Bucket>`)
    .join('');
  return `<ListAllMyBucketsResult xmlns="${XMLNS}"><Owner><ID>local</ID><DisplayName>local</DisplayName></Owner><Buckets>${items}</Buckets></ListAllMyBucketsResult>`;
}

function sendXml(res: ServerResponse, status: number, body: string): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}

function sendError(req: IncomingMessage, res: ServerResponse, err: S3Error, requestId: string): void {
  // Stop reading an upload we are refusing; the connection is closed after the answer.
  req.resume();
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value);
  if (req.method === 'HEAD') {
    // HEAD answers carry no body, so S3 puts nothing but the status (the SDK reports NotFound etc.).
    res.writeHead(err.status).end();
    return;
  }
  const details = Object.entries(err.details)
    .map(([k, v]) => `<${k}>${x(v)}</${k}>`)
    .join('');
  sendXml(
    res,
    err.status,
    `<Error><Code>${x(err.code)}</Code><Message>${x(err.message)}</Message>${details}<RequestId>${requestId}</RequestId></Error>`,
  );
}

function notImplemented(what?: string): S3Error {
  return new S3Error(
    'NotImplemented',
    `${what ?? 'This operation'} is not implemented by the local S3 engine.`,
    501,
  );
}

/** The text of the first `<name>` element in `xml`, entity-decoded. */
function element(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? unescapeXml(m[1]!) : undefined;
}

function x(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => `&${{ '&': 'amp', '<': 'lt', '>': 'gt', '"': 'quot', "'": 'apos' }[c]};`,
  );
}

function unescapeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(Number.parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(Number(e.slice(1)));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

function encodeKey(key: string): string {
  return key.split('/').map(encodeURIComponent).join('/');
}
