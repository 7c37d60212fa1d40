/** The request id of a prediction: chosen by the caller or assigned, returned, and logged. */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../../lib/serving/model';
import { DirectorySink, RequestLogger } from '../../lib/serving/request-log';
import { type ModelServer, REQUEST_ID_HEADER, startModelServer } from '../../lib/serving/server';
import { call, TINY } from './helpers';

let server: ModelServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'request-id-'));
  const served = compileModel(TINY, { name: 'tiny', version: '3' });
  server = await startModelServer({
    model: served,
    port: 0,
    logger: new RequestLogger({ model: served, sink: new DirectorySink(dir), sampleRate: 1 }),
  });
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const seldonRow = { data: { ndarray: [[1, 2]] } };
const oipRow = { inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [1, 2] }] };

describe('request ids', () => {
  it("returns the caller's id (body first, then header) or a fresh one, and logs the same", async () => {
    const a = await call(server.url, 'POST', '/api/v1.0/predictions', { ...seldonRow, meta: { puid: 'seldon-1' } });
    expect(a.headers[REQUEST_ID_HEADER]).toBe('seldon-1');
    expect(a.json.meta.puid).toBe('seldon-1');
    const b = await call(server.url, 'POST', '/api/v1.0/predictions', seldonRow, { [REQUEST_ID_HEADER]: 'hdr-2' });
    expect(b.headers[REQUEST_ID_HEADER]).toBe('hdr-2');
    const c = await call(server.url, 'POST', '/v2/models/tiny/infer', { ...oipRow, id: 'oip-3' });
    expect(c.headers[REQUEST_ID_HEADER]).toBe('oip-3');
    expect(c.json.id).toBe('oip-3');
    const d = await call(server.url, 'POST', '/v2/models/tiny/infer', oipRow);
    const e = await call(server.url, 'POST', '/api/v1.0/predictions', seldonRow);
    const fresh = [d.headers[REQUEST_ID_HEADER], e.headers[REQUEST_ID_HEADER]] as string[];
    for (const id of fresh) expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(fresh[0]).not.toBe(fresh[1]);

    await server.close();
    const files = (await readdir(dir, { recursive: true })).filter((f) => f.endsWith('.jsonl'));
    const lines = (await Promise.all(files.map((f) => readFile(join(dir, f), 'utf8'))))
      .join('')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { request_id: string });
    expect(lines.map((l) => l.request_id).sort()).toEqual(['hdr-2', 'oip-3', 'seldon-1', ...fresh].sort());
  });
});

describe('request ids on a fresh server', () => {
  it('refuses a malformed x-request-id in the protocol error shape, logging nothing', async () => {
    const own = await startModelServer({ model: compileModel(TINY, { name: 'tiny' }), port: 0 });
    try {
      const long = 'x'.repeat(129);
      const s = await call(own.url, 'POST', '/api/v1.0/predictions', seldonRow, { [REQUEST_ID_HEADER]: long });
      expect(s.status).toBe(400);
      expect(s.json.status.info).toMatch(/x-request-id header must be 1 to 128 visible ASCII characters, but "x+/);
      const o = await call(own.url, 'POST', '/v2/models/tiny/infer', oipRow, { [REQUEST_ID_HEADER]: long });
      expect(o.status).toBe(400);
      expect(o.json.error).toMatch(/x-request-id header must be/);
    } finally {
      await own.close();
    }
  });
});

describe('requests to different paths in turn', () => {
  it('answers each from its own route and with its own id (nothing kept from the request before)', async () => {
    const own = await startModelServer({ model: compileModel(TINY, { name: 'tiny' }), port: 0 });
    try {
      const steps: [string, string, unknown, (r: Awaited<ReturnType<typeof call>>) => void][] = [
        ['POST', '/api/v1.0/predictions', seldonRow, (r) => expect(r.json.data.ndarray).toEqual([9])],
        ['POST', '/v2/models/tiny/infer', oipRow, (r) => expect(r.json.outputs[0].data).toEqual([9])],
        ['GET', '/api/v1.0/metadata/tiny', undefined, (r) => expect(r.json.name).toBe('tiny')],
        ['POST', '/api/v1.0/nowhere', seldonRow, (r) => expect(r.status).toBe(404)],
        ['POST', '/api/v1.0/predictions', seldonRow, (r) => expect(r.json.data.ndarray).toEqual([9])],
        ['POST', '/api/v1.0/predictions', seldonRow, (r) => expect(r.json.data.ndarray).toEqual([9])],
        ['POST', '/v2/models/other/infer', oipRow, (r) => expect(r.status).toBe(404)],
        ['POST', '/v2/models/tiny/infer', oipRow, (r) => expect(r.json.outputs[0].data).toEqual([9])],
        ['POST', '/seldon/ns/dep/api/v1.0/predictions', seldonRow, (r) => expect(r.json.data.ndarray).toEqual([9])],
      ];
      const ids: string[] = [];
      for (const [method, path, body, check] of steps) {
        const r = await call(own.url, method, path, body);
        check(r);
        if (r.status === 200 && method === 'POST') ids.push(r.headers[REQUEST_ID_HEADER] as string);
      }
      expect(ids).toHaveLength(6);
      expect(new Set(ids).size).toBe(6);
    } finally {
      await own.close();
    }
  });
});
