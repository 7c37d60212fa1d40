/**
 * Model loading: directories, model.tar.gz files and S3 (model.tar.gz as SageMaker writes it,
 * model.json, a prefix) through @aws-sdk/client-s3 against a loopback server imitating GetObject.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../lib/adapters/clients';
import { s3Objects } from '../../lib/adapters/s3/objects';
import { listArchive, ModelArchiveError } from '../../lib/model/archive';
import { ModelFormatError } from '../../lib/model/format';
import { loadModel } from '../../lib/serving/load';
import { parseS3Uri } from '../../lib/shared/s3-uri';
import { TINY, WINE, writeModelDir } from './helpers';

/** A ustar archive writer for tests: regular files, optional PAX path records. */
function tar(files: { name: string; data: string | Buffer; pax?: boolean; type?: string }[]): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, type: string) => {
    const h = Buffer.alloc(512);
    h.write(name.slice(0, 100), 0, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(size.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write(type, 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    return h;
  };
  const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
  for (const f of files) {
    const data = Buffer.from(f.data);
    if (f.pax) {
      const rec = (len: number) => `${len} path=${f.name}\n`;
      let len = rec(0).length;
      while (rec(len).length !== len) len = rec(len).length;
      const body = Buffer.from(rec(len));
      blocks.push(header('PaxHeader', body.length, 'x'), pad(body));
      blocks.push(header('truncated-name', data.length, f.type ?? '0'), pad(data));
    } else {
      blocks.push(header(f.name, data.length, f.type ?? '0'), pad(data));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const tinyJson = JSON.stringify(TINY);

// The model server reads archives with the one tar reader of lib/model/archive.ts.
describe('tar reader', () => {
  const files = (tgz: Buffer) =>
    listArchive(tgz)
      .filter((e) => e.type === 'file')
      .map((e) => ({ name: e.path, data: e.data }));

  it('finds model.json at the top, with or without ./, through PAX long names, skipping directories', () => {
    const found = files(
      gzipSync(
        tar([
          { name: './', data: '', type: '5' },
          { name: './model.json', data: tinyJson },
          { name: `deep/${'x'.repeat(150)}.txt`, data: 'hi', pax: true },
        ]),
      ),
    );
    expect(found.map((f) => f.name)).toEqual(['model.json', `deep/${'x'.repeat(150)}.txt`]);
    expect(found[0]!.data.toString()).toBe(tinyJson);
  });

  it('reads archives made by GNU tar', async () => {
    const dir = await writeModelDir(TINY);
    const tgz = execFileSync('tar', ['-czf', '-', '-C', dir, '.']);
    expect(files(tgz).find((f) => f.name === 'model.json')?.data.toString()).toBe(tinyJson);
    expect(files(tgz).find((f) => f.name === 'nope.json')).toBeUndefined();
  });

  it('fails clearly on a corrupt archive', () => {
    const good = tar([{ name: 'model.json', data: tinyJson }]);
    const corrupt = Buffer.from(good);
    corrupt[10] = 0x41;
    expect(() => listArchive(gzipSync(corrupt))).toThrow(/checksum/);
    expect(() => listArchive(gzipSync(good.subarray(0, 700)))).toThrow(ModelArchiveError);
    expect(() => listArchive(Buffer.from('not gzip'))).toThrow(/not a gzip archive/);
  });
});

describe('loadModel from disk', () => {
  it('loads a directory, a model.tar.gz file and a model.json file', async () => {
    const dir = await writeModelDir(TINY);
    expect(await loadModel(dir)).toEqual(TINY);
    const tgz = join(dir, 'model.tar.gz');
    await writeFile(tgz, gzipSync(tar([{ name: 'model.json', data: tinyJson }])));
    expect(await loadModel(tgz)).toEqual(TINY);
    expect(await loadModel(join(dir, 'model.json'))).toEqual(TINY);
  });

  it('fails with ModelFormatError naming the place', async () => {
    await expect(loadModel('/nonexistent/model')).rejects.toThrow(/cannot read \/nonexistent\/model/);
    const dir = await mkdtemp(join(tmpdir(), 'mlops-bad-'));
    await writeFile(join(dir, 'model.tar.gz'), gzipSync(tar([{ name: 'other.json', data: '{}' }])));
    await expect(loadModel(join(dir, 'model.tar.gz'))).rejects.toThrow(/must hold model\.json at its root, but it holds other\.json/);
    await writeFile(join(dir, 'bad.tar.gz'), gzipSync(tar([{ name: 'model.json', data: '{"format":"x"}' }])));
    await expect(loadModel(join(dir, 'bad.tar.gz'))).rejects.toThrow(ModelFormatError);
  });
});

describe('loadModel from S3', () => {
  const objects = new Map<string, Buffer>();
  const seen: { host: string; path: string }[] = [];
  let s3: Server;
  let endpoint: string;

  beforeAll(async () => {
    // GetObject and nothing else: 200 with the bytes, or S3's NoSuchKey XML.
    s3 = createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url!, 'http://x').pathname);
      seen.push({ host: req.headers.host!, path });
      const body = objects.get(path);
      if (req.method !== 'GET' || body === undefined) {
        res.writeHead(404, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>',
        );
        return;
      }
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': body.length,
        etag: '"e"',
      });
      res.end(body);
    });
    await new Promise<void>((r) => s3.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(s3.address() as AddressInfo).port}`;
    objects.set(
      '/artifacts/job-1/output/model.tar.gz',
      gzipSync(tar([{ name: 'model.json', data: JSON.stringify(WINE) }])),
    );
    objects.set('/artifacts/plain/model.json', Buffer.from(tinyJson));
    objects.set('/artifacts/packed/model.tar.gz', gzipSync(tar([{ name: './model.json', data: tinyJson }])));
  });
  afterAll(() => {
    s3.close();
  });

  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
  const client = (url: string) =>
    s3Objects(s3Client({ AWS_ENDPOINT_URL_S3: url, AWS_REGION: 'us-east-1' }, { credentials }));

  it('parses s3 URIs', () => {
    expect(parseS3Uri('s3://b/k/x.tar.gz')).toEqual({ bucket: 'b', key: 'k/x.tar.gz' });
    expect(parseS3Uri('s3://b')).toEqual({ bucket: 'b', key: '' });
    expect(parseS3Uri('/tmp/x')).toBeUndefined();
  });

  it('loads SageMaker model.tar.gz, a model.json, and a prefix holding either', async () => {
    const local = client(endpoint);
    expect(await loadModel('s3://artifacts/job-1/output/model.tar.gz', { objects: local })).toEqual(WINE);
    expect(await loadModel('s3://artifacts/plain/model.json', { objects: local })).toEqual(TINY);
    expect(await loadModel('s3://artifacts/plain', { objects: local })).toEqual(TINY);
    // The prefix has no model.json: the archive is tried next.
    expect(await loadModel('s3://artifacts/packed/', { objects: local })).toEqual(TINY);
    await expect(loadModel('s3://artifacts/missing/model.tar.gz', { objects: local })).rejects.toThrow(
      /does not exist/,
    );
    await expect(loadModel('s3://artifacts/nothing-here', { objects: local })).rejects.toThrow(/holds neither/);
  });

  it('addresses buckets path-style for an IP endpoint (SDK default) and for a host name (forced)', async () => {
    seen.length = 0;
    await loadModel('s3://artifacts/plain/model.json', { objects: client(endpoint) });
    await loadModel('s3://artifacts/plain/model.json', {
      objects: client(endpoint.replace('127.0.0.1', 'localhost')),
    });
    expect(seen.map((s) => s.path)).toEqual(['/artifacts/plain/model.json', '/artifacts/plain/model.json']);
    expect(seen[1]!.host).toMatch(/^localhost:/);
    // Without forcing, the SDK would ask for artifacts.localhost, which does not resolve.
    const unforced = new S3Client({
      endpoint: endpoint.replace('127.0.0.1', 'localhost'),
      region: 'us-east-1',
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    await expect(loadModel('s3://artifacts/plain/model.json', { objects: s3Objects(unforced) })).rejects.toThrow(
      /artifacts\.localhost/,
    );
  });
});
