import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { layout } from '../../../lib/local/layout';
import { decodeAwsChunked } from '../../../lib/local/s3/aws-chunked';
import { S3Store } from '../../../lib/local/s3/store';

let stateDir: string;
beforeEach(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'mlops-s3-store-'));
});
afterEach(async () => {
  await rm(stateDir, { recursive: true, force: true });
});

describe('S3Store', () => {
  it('stores the object as a plain file and its sidecar outside the bucket tree', async () => {
    // prepare
    const store = await S3Store.open(stateDir, ['raw']);
    // act: keys that look like sidecars or bookkeeping must stay ordinary user keys
    await store.put('raw', 'wine.csv', 'a,b\n');
    await store.put('raw', 'wine.csv.json', '{"not":"a sidecar"}');
    await store.put('raw', '.meta', 'dot key');
    // assess
    expect(await readFile(join(layout(stateDir).bucket('raw'), 'wine.csv'), 'utf8')).toBe('a,b\n');
    expect((await readdir(layout(stateDir).bucket('raw'))).sort()).toEqual([
      '.meta',
      'wine.csv',
      'wine.csv.json',
    ]);
    expect((await store.getBytes('raw', 'wine.csv.json')).toString()).toBe('{"not":"a sidecar"}');
    expect((await store.getBytes('raw', '.meta')).toString()).toBe('dot key');
  });

  it('keeps ETag, version id and metadata across a restart', async () => {
    const first = await S3Store.open(stateDir, ['raw']);
    const put = await first.put('raw', 'k', 'hello', {
      contentType: 'text/plain',
      metadata: { Dataset: 'wine' },
    });
    expect(put.etag).toBe('"5d41402abc4b2a76b9719d911017c592"'); // md5('hello')

    const reopened = await S3Store.open(stateDir, ['raw']);
    const head = await reopened.head('raw', 'k');
    expect(head).toMatchObject({
      etag: put.etag,
      versionId: put.versionId,
      contentType: 'text/plain',
      size: 5,
    });
    expect(head.metadata).toEqual({ dataset: 'wine' });
  });

  it('gives each put a new version id and keeps the old version readable', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    const v1 = await store.put('raw', 'k', 'one');
    const v2 = await store.put('raw', 'k', 'two');
    expect(v2.versionId).not.toBe(v1.versionId);
    expect((await store.getBytes('raw', 'k')).toString()).toBe('two');
    expect((await store.getBytes('raw', 'k', v1.versionId)).toString()).toBe('one');
    await expect(store.head('raw', 'k', 'nosuchversion')).rejects.toMatchObject({ code: 'NoSuchVersion' });
  });

  it('lets exactly one of many concurrent If-None-Match creates win', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => store.put('raw', 'lock', `writer ${i}`, { ifNoneMatch: '*' })),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(won).toHaveLength(1);
    expect(lost.map((r) => r.reason.code)).toEqual(Array(7).fill('PreconditionFailed'));
    const winner = (won[0] as PromiseFulfilledResult<{ etag: string }>).value;
    expect((await store.head('raw', 'lock')).etag).toBe(winner.etag);
  });

  it('rebuilds a stale sidecar from the file instead of trusting it', async () => {
    // A crash between the data rename and the sidecar rename, or a file copied in by hand.
    const store = await S3Store.open(stateDir, ['raw']);
    const put = await store.put('raw', 'k', 'old', { contentType: 'text/plain' });
    await writeFile(join(layout(stateDir).bucket('raw'), 'k'), 'hello');
    const head = await store.head('raw', 'k');
    expect(head.etag).toBe('"5d41402abc4b2a76b9719d911017c592"');
    expect(head.size).toBe(5);
    expect(head.versionId).not.toBe(put.versionId);
    expect((await store.head('raw', 'k')).versionId).toBe(head.versionId); // persisted, stable
  });

  it('serves byte ranges', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    await store.put('raw', 'k', '0123456789');
    const read = async (range: string) => {
      const { stream, range: served } = await store.get('raw', 'k', { range });
      let text = '';
      for await (const c of stream) text += c;
      return { text, served };
    };
    expect(await read('bytes=2-4')).toEqual({ text: '234', served: { first: 2, last: 4 } });
    expect((await read('bytes=-3')).text).toBe('789');
    expect((await read('bytes=7-100')).text).toBe('789');
    await expect(store.get('raw', 'k', { range: 'bytes=10-' })).rejects.toMatchObject({
      code: 'InvalidRange',
    });
  });

  it('lists in UTF-8 byte order with prefixes, delimiters and pages', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    const keys = ['b/2', 'a', 'b/1', 'c/x/y', 'Z', 'é', '\u{1F600}', '\uFF5E', 'b0'];
    for (const k of keys) await store.put('raw', k, k);

    const all = await store.list('raw');
    expect(all.contents.map((o) => o.key)).toEqual([
      'Z',
      'a',
      'b/1',
      'b/2',
      'b0',
      'c/x/y',
      'é',
      '\uFF5E',
      '\u{1F600}',
    ]);

    const grouped = await store.list('raw', { delimiter: '/' });
    expect(grouped.contents.map((o) => o.key)).toEqual(['Z', 'a', 'b0', 'é', '\uFF5E', '\u{1F600}']);
    expect(grouped.commonPrefixes).toEqual(['b/', 'c/']);

    // Pages of two, with a common prefix on a page boundary: every entry exactly once.
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await store.list('raw', {
        delimiter: '/',
        maxKeys: 2,
        ...(token ? { continuationToken: token } : {}),
      });
      seen.push(...page.contents.map((o) => o.key), ...page.commonPrefixes);
      token = page.nextContinuationToken;
      expect(page.isTruncated).toBe(token !== undefined);
    } while (token);
    expect(seen.sort()).toEqual([...grouped.contents.map((o) => o.key), ...grouped.commonPrefixes].sort());

    expect((await store.list('raw', { prefix: 'b/', startAfter: 'b/1' })).contents.map((o) => o.key)).toEqual(
      ['b/2'],
    );
  });

  it('removes emptied folders on delete so a key can reuse the name', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    await store.put('raw', 'a/b/c', 'x');
    await expect(store.put('raw', 'a', 'y')).rejects.toMatchObject({ code: 'InvalidArgument' });
    await store.delete('raw', 'a/b/c');
    await store.put('raw', 'a', 'y');
    expect((await store.getBytes('raw', 'a')).toString()).toBe('y');
    // A versioned bucket answers a delete of a missing key with a delete marker, as S3 does.
    await expect(store.delete('raw', 'missing')).resolves.toMatchObject({ deleteMarker: true });
  });

  it('fails if the bucket is not one of the template buckets', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    await expect(store.put('other', 'k', 'x')).rejects.toMatchObject({ code: 'NoSuchBucket', status: 404 });
  });

  it('leaves no partial object when the body stream fails mid-write', async () => {
    const store = await S3Store.open(stateDir, ['raw']);
    await store.put('raw', 'k', 'good');
    async function* broken() {
      yield Buffer.from('partial');
      throw new Error('client went away');
    }
    const { Readable } = await import('node:stream');
    await expect(store.put('raw', 'k', Readable.from(broken()))).rejects.toThrow('client went away');
    expect((await store.getBytes('raw', 'k')).toString()).toBe('good');
    expect(await readdir(join(layout(stateDir).s3, '.tmp'))).toEqual([]);
  });
});

describe('decodeAwsChunked', () => {
  it('strips signed chunk framing and collects trailers, across arbitrary splits', async () => {
    const framed =
      '5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=000\r\n' +
      'x-amz-checksum-crc32:AAAA\r\n\r\n';
    // Feed it one byte at a time: chunk boundaries must not depend on TCP packet boundaries.
    const trailers: Record<string, string> = {};
    const out: Buffer[] = [];
    for await (const b of decodeAwsChunked(
      [...Buffer.from(framed)].map((c) => Buffer.from([c])),
      trailers,
    ))
      out.push(b);
    expect(Buffer.concat(out).toString()).toBe('hello world');
    expect(trailers).toEqual({ 'x-amz-checksum-crc32': 'AAAA' });
  });

  it('fails if the body is cut off', async () => {
    const run = async () => {
      for await (const _ of decodeAwsChunked([Buffer.from('a\r\nhel')])) void _;
    };
    await expect(run()).rejects.toMatchObject({ code: 'IncompleteBody' });
  });
});
