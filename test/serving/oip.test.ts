/**
 * Open Inference Protocol v2 conformance (../shared/specs/oip-v2.md §6), case by case, against the
 * kit's linear model (the notes' `iris` classifier becomes a regressor with one output column).
 * Bodies are validated against the vendored OIP OpenAPI (open_inference_rest.yaml).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../../lib/serving/model';
import { type ModelServer, startModelServer } from '../../lib/serving/server';
import { call, expected, type Reply, TINY, WINE } from './helpers';
import { schemas } from './schemas';

let versioned: ModelServer;
let unversioned: ModelServer;

beforeAll(async () => {
  versioned = await startModelServer({ model: compileModel(TINY, { name: 'tiny', version: '1' }), port: 0 });
  unversioned = await startModelServer({ model: compileModel(WINE, { name: 'wine quality' }), port: 0 });
});
afterAll(async () => {
  await versioned.close();
  await unversioned.close();
});

function inferOk(r: Reply): any {
  expect(r.status, r.text).toBe(200);
  schemas.oipInferenceResponse(r.json);
  return r.json;
}

function oipError(r: Reply, status: number): string {
  expect(r.status, r.text).toBe(status);
  expect(r.headers['content-type']).toMatch(/^application\/json/);
  schemas.oipError(r.json);
  // The vendored schema does not mark `error` required; the prose does.
  expect(Object.keys(r.json)).toEqual(['error']);
  expect(typeof r.json.error).toBe('string');
  return r.json.error;
}

const input = (shape: number[], data: unknown[], datatype = 'FP32', name = 'input-0') => ({
  name,
  shape,
  datatype,
  data,
});

describe('OIP v2 conformance', () => {
  it('case 1: live, ready and server metadata', async () => {
    const live = await call(versioned.url, 'GET', '/v2/health/live');
    expect([live.status, live.json]).toEqual([200, { live: true }]);
    const ready = await call(versioned.url, 'GET', '/v2/health/ready');
    expect([ready.status, ready.json]).toEqual([200, { ready: true }]);
    for (const path of ['/v2', '/v2/']) {
      const meta = await call(versioned.url, 'GET', path);
      expect(meta.status).toBe(200);
      schemas.oipServerMetadata(meta.json);
      expect(meta.json).toEqual({ name: expect.any(String), version: expect.any(String), extensions: [] });
    }
  });

  it('case 2: model ready, and 404 for an unknown model or version', async () => {
    for (const path of ['/v2/models/tiny/ready', '/v2/models/tiny/versions/1/ready']) {
      const r = await call(versioned.url, 'GET', path);
      expect([r.status, r.json]).toEqual([200, { name: 'tiny', ready: true }]);
    }
    expect(oipError(await call(versioned.url, 'GET', '/v2/models/nope/ready'), 404)).toBe(
      'Model nope not found',
    );
    expect(oipError(await call(versioned.url, 'GET', '/v2/models/tiny/versions/999/ready'), 404)).toBe(
      'Model tiny with version 999 not found',
    );
  });

  it('case 3: model metadata, with and without versions, and 404 for an unknown model', async () => {
    const v = await call(versioned.url, 'GET', '/v2/models/tiny');
    schemas.oipModelMetadata(v.json);
    expect(v.json).toMatchObject({
      name: 'tiny',
      versions: ['1'],
      platform: expect.any(String),
      inputs: [{ name: 'input-0', datatype: 'FP64', shape: [-1, 2] }],
      outputs: [{ name: 'output-0', datatype: 'FP64', shape: [-1, 1] }],
    });
    expect((await call(versioned.url, 'GET', '/v2/models/tiny/versions/1')).json).toEqual(v.json);
    // A name with a space, percent-encoded in the path; unversioned metadata has no `versions`.
    const u = await call(unversioned.url, 'GET', '/v2/models/wine%20quality');
    schemas.oipModelMetadata(u.json);
    expect(u.json.versions).toBeUndefined();
    expect(u.json.inputs[0].shape).toEqual([-1, 11]);
    oipError(await call(versioned.url, 'GET', '/v2/models/nope'), 404);
  });

  it('case 4: basic infer echoes the id; model_version only when versioned', async () => {
    const req = { id: '42', inputs: [input([1, 2], [5.1, 3.5])] };
    schemas.oipInferenceRequest(req);
    const body = inferOk(await call(versioned.url, 'POST', '/v2/models/tiny/infer', req));
    expect(body).toEqual({
      model_name: 'tiny',
      model_version: '1',
      id: '42',
      outputs: [{ name: 'output-0', datatype: 'FP64', shape: [1, 1], data: [expected(TINY, [5.1, 3.5])] }],
    });
    const row = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];
    const u = inferOk(
      await call(unversioned.url, 'POST', '/v2/models/wine%20quality/infer', {
        inputs: [input([1, 11], row, 'FP64')],
      }),
    );
    expect('model_version' in u).toBe(false);
    expect('id' in u).toBe(false);
    expect(u.outputs[0].data[0]).toBeCloseTo(expected(WINE, row), 12);
  });

  it('case 5: nested data is read row-major like flat data', async () => {
    const nested = inferOk(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [
          input(
            [2, 2],
            [
              [1, 2],
              [3, 4],
            ],
          ),
        ],
      }),
    );
    const flat = inferOk(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([2, 2], [1, 2, 3, 4])] }),
    );
    expect(nested).toEqual(flat);
    expect(nested.outputs[0]).toMatchObject({
      shape: [2, 1],
      data: [expected(TINY, [1, 2]), expected(TINY, [3, 4])],
    });
  });

  it('case 5b: one tensor per feature (the columnar form), in any order', async () => {
    const body = inferOk(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [input([2], [10, 20], 'FP64', 'b'), input([2, 1], [1, 2], 'INT32', 'a')],
      }),
    );
    expect(body.outputs[0].data).toEqual([expected(TINY, [1, 10]), expected(TINY, [2, 20])]);
  });

  it('case 6: the versioned path answers for the served version and 404 for another', async () => {
    const req = { id: '42', inputs: [input([1, 2], [1, 1])] };
    expect(
      inferOk(await call(versioned.url, 'POST', '/v2/models/tiny/versions/1/infer', req)).model_version,
    ).toBe('1');
    expect(
      oipError(await call(versioned.url, 'POST', '/v2/models/tiny/versions/999/infer', req), 404),
    ).toMatch(/version 999/);
    // An unversioned server serves no version at all.
    oipError(await call(unversioned.url, 'POST', '/v2/models/wine%20quality/versions/1/infer', req), 404);
  });

  it('case 7: malformed JSON is 400 {"error"}', async () => {
    expect(oipError(await call(versioned.url, 'POST', '/v2/models/tiny/infer', '{"inputs": ['), 400)).toMatch(
      /not valid JSON/,
    );
  });

  it('case 8: missing required fields are 400', async () => {
    oipError(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [{ name: 'input-0', shape: [1, 2], data: [1, 2] }],
      }),
      400,
    );
    oipError(await call(versioned.url, 'POST', '/v2/models/tiny/infer', {}), 400);
    oipError(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP32' }],
      }),
      400,
    );
  });

  it('case 9: shape/data mismatch is 400', async () => {
    expect(
      oipError(
        await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([2, 2], [1, 2, 3])] }),
        400,
      ),
    ).toMatch(/needs 4 values/);
    oipError(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([1, 2], [1, 2, 3])] }),
      400,
    );
    expect(
      oipError(
        await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([1, 3], [1, 2, 3])] }),
        400,
      ),
    ).toMatch(/\[N, 2\]/);
  });

  it('case 10: an unknown datatype is 400', async () => {
    expect(
      oipError(
        await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
          inputs: [input([1, 2], [1, 2], 'FLOAT32')],
        }),
        400,
      ),
    ).toMatch(/unknown datatype "FLOAT32"/);
  });

  it('case 11: mixed element types are 400', async () => {
    oipError(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [input([2, 2], [1.0, 'a', true, 2])],
      }),
      400,
    );
  });

  it('case 11b: each numeric datatype accepts its own domain and rejects values outside it', async () => {
    const infer = (datatype: string, data: unknown[]) =>
      call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([1, 2], data, datatype)] });
    const good: [string, unknown[], number[]][] = [
      ['BOOL', [true, false], [1, 0]],
      ['UINT8', [255, 0], [255, 0]],
      ['UINT16', [65535, 1], [65535, 1]],
      ['UINT32', [4294967295, 1], [4294967295, 1]],
      ['UINT64', [2 ** 53, 1], [2 ** 53, 1]],
      ['INT8', [-128, 127], [-128, 127]],
      ['INT16', [-32768, 32767], [-32768, 32767]],
      ['INT32', [-2147483648, 2147483647], [-2147483648, 2147483647]],
      ['INT64', [-(2 ** 53), 7], [-(2 ** 53), 7]],
      ['FP16', [65504, -1.5], [65504, -1.5]],
      ['FP32', [3.4e38, 0.1], [3.4e38, 0.1]],
      ['FP64', [1e300, 0.1], [1e300, 0.1]],
    ];
    for (const [datatype, data, row] of good) {
      expect(inferOk(await infer(datatype, data)).outputs[0].data, datatype).toEqual([expected(TINY, row)]);
    }
    const bad: [string, unknown[]][] = [
      ['BOOL', [1, 0]],
      ['UINT8', [256, 0]],
      ['UINT8', [-1, 0]],
      ['UINT32', [1.5, 0]],
      ['INT8', [128, 0]],
      ['INT16', [-32769, 0]],
      ['INT32', [2147483648, 0]],
      ['FP16', [65520, 0]],
      ['FP32', [1e39, 0]],
      ['FP64', ['1.0', 0]],
      ['FP64', [null, 0]],
      ['BYTES', ['a', 'b']],
    ];
    for (const [datatype, data] of bad) oipError(await infer(datatype, data), 400);
  });

  it('case 12: an empty batch answers shape [0, 1] and no data', async () => {
    const body = inferOk(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([0, 2], [])] }),
    );
    expect(body.outputs).toEqual([{ name: 'output-0', datatype: 'FP64', shape: [0, 1], data: [] }]);
  });

  it('case 13: a 10,000-row batch', async () => {
    const data = Array.from({ length: 10_000 }, (_, i) => [i % 13, (i * 7) % 11]);
    const body = inferOk(
      await call(versioned.url, 'POST', '/v2/models/tiny/infer', { inputs: [input([10_000, 2], data)] }),
    );
    expect(body.outputs[0].shape).toEqual([10_000, 1]);
    expect(body.outputs[0].data).toEqual(data.map((r) => expected(TINY, r)));
  });

  it('case 14: requested outputs and parameters', async () => {
    const req = {
      inputs: [input([1, 2], [1, 2])],
      outputs: [{ name: 'output-0' }],
      parameters: { foo: 'bar' },
    };
    schemas.oipInferenceRequest(req);
    const body = inferOk(await call(versioned.url, 'POST', '/v2/models/tiny/infer', req));
    expect(body.outputs.map((o: { name: string }) => o.name)).toEqual(['output-0']);
    const missing = { ...req, outputs: [{ name: 'does-not-exist' }] };
    expect(oipError(await call(versioned.url, 'POST', '/v2/models/tiny/infer', missing), 400)).toMatch(
      /does-not-exist/,
    );
    oipError(await call(versioned.url, 'POST', '/v2/models/tiny/infer', { ...req, parameters: 'x' }), 400);
  });

  it('case 15: BYTES input is 400 for a numeric model (the notes case assumes a text model)', async () => {
    expect(
      oipError(
        await call(versioned.url, 'POST', '/v2/models/tiny/infer', {
          inputs: [{ name: 'text', shape: [2], datatype: 'BYTES', data: ['hello', 'world'] }],
        }),
        400,
      ),
    ).toMatch(/BYTES/);
  });
});
