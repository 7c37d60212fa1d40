/**
 * Prediction answers carry their UTF-8 length: the server takes a body's character count for it
 * only when the body is known to be ASCII (lib/serving/server.ts, replyPrediction), so names,
 * request paths and ids outside ASCII must still get their byte length.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../../lib/serving/model';
import { type ModelServer, startModelServer } from '../../lib/serving/server';
import { call, type Reply, TINY } from './helpers';

let ascii: ModelServer;
let wide: ModelServer;

beforeAll(async () => {
  ascii = await startModelServer({ model: compileModel(TINY, { name: 'tiny' }), port: 0 });
  wide = await startModelServer({
    model: compileModel(TINY, { name: 'vin-qualité', version: 'v-ü' }),
    port: 0,
    requestPath: { unité: 'image:ß' },
  });
});
afterAll(async () => {
  await ascii.close();
  await wide.close();
});

function exact(r: Reply): void {
  expect(r.status, r.text).toBe(200);
  expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(r.text));
  expect(() => JSON.parse(r.text)).not.toThrow();
}

const seldon = { data: { ndarray: [[1, 2]] } };
const tensor = (extra: Record<string, unknown> = {}) => ({
  ...extra,
  inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP64', data: [1, 2] }],
});

describe('prediction answers', () => {
  it('fails if an ASCII answer does not carry its length', async () => {
    exact(await call(ascii.url, 'POST', '/api/v1.0/predictions', seldon));
    exact(await call(ascii.url, 'POST', '/v2/models/tiny/infer', tensor()));
    exact(await call(ascii.url, 'POST', '/api/v1.0/predictions', { data: { tensor: { shape: [1, 2], values: [1, 2] } } }));
  });

  it('fails if a non-ASCII request path, model name, version, puid or id is counted in characters', async () => {
    const plain = await call(wide.url, 'POST', '/api/v1.0/predictions', seldon);
    exact(plain);
    expect(plain.json.meta.requestPath).toEqual({ unité: 'image:ß' });
    exact(await call(wide.url, 'POST', '/api/v1.0/predictions', { ...seldon, meta: { puid: 'é' } }));
    exact(await call(ascii.url, 'POST', '/api/v1.0/predictions', { ...seldon, meta: { puid: 'pü' } }));
    const oip = await call(wide.url, 'POST', `/v2/models/${encodeURIComponent('vin-qualité')}/infer`, tensor());
    exact(oip);
    expect(oip.json.model_version).toBe('v-ü');
    exact(await call(ascii.url, 'POST', '/v2/models/tiny/infer', tensor({ id: 'idé' })));
    exact(await call(ascii.url, 'POST', '/v2/models/tiny/infer', tensor({ id: 'plain' })));
  });
});
