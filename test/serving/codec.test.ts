/** The pure cores, without HTTP: codecs, prediction, configuration. */
import { describe, expect, it } from 'vitest';
import { describeValue } from '../../lib/serving/describe';
import { configFromEnv } from '../../lib/serving/main';
import { compileModel, jsonNumbers, predictBatch } from '../../lib/serving/model';
import { decodeOipRequest, encodeOipResponse, OipError, oipResponder } from '../../lib/serving/oip';
import { decodeSeldonRequest, encodeSeldonResponse, SeldonError } from '../../lib/serving/seldon';
import { expected, TINY, WINE } from './helpers';

const tiny = compileModel(TINY, { name: 'tiny' });

describe('prediction', () => {
  it('predicts row-major batches like the model description says', () => {
    const wine = compileModel(WINE, { name: 'w' });
    const rows = [Array.from({ length: 11 }, (_, j) => j + 1), Array.from({ length: 11 }, (_, j) => -j / 3)];
    expect(Array.from(predictBatch(wine, Float64Array.from(rows.flat()), 2)!)).toEqual(
      rows.map((r) => expected(WINE, r)),
    );
  });

  it('refuses non-finite predictions', () => {
    expect(predictBatch(tiny, new Float64Array([1e308, 1e308]), 1)).toBeUndefined();
  });

  it('writes numbers exactly as JSON.stringify does', () => {
    const values = new Float64Array([0, -0, 1.5, 1e21, 1e-7, -123.456, 0.1 + 0.2]);
    expect(jsonNumbers(values)).toBe(JSON.stringify(Array.from(values)));
    expect(jsonNumbers(new Float64Array(0))).toBe('[]');
    // The text around the array given: the same numbers between it.
    expect(jsonNumbers(values, '{"y":[', ']}')).toBe(JSON.stringify({ y: Array.from(values) }));
    expect(jsonNumbers(new Float64Array(0), '{"y":[', ']}')).toBe('{"y":[]}');
  });
});

describe('Seldon codec', () => {
  it('round-trips each payload form', () => {
    const y = new Float64Array([9]);
    expect(
      JSON.parse(encodeSeldonResponse(decodeSeldonRequest({ data: { ndarray: [[1, 2]] } }, tiny), y, tiny)),
    ).toEqual({
      data: { names: [], ndarray: [9] },
      meta: {},
    });
    expect(
      Array.from(
        decodeSeldonRequest({ data: { names: ['b', 'a'], tensor: { shape: [1, 2], values: [2, 1] } } }, tiny)
          .x,
      ),
    ).toEqual([1, 2]);
    expect(Array.from(decodeSeldonRequest({ jsonData: [{ b: 2, a: 1 }] }, tiny).x)).toEqual([1, 2]);
  });

  it.each([
    [{ data: { names: ['a', 'a'], ndarray: [[1, 2]] } }, /twice/],
    [{ data: { names: ['a'], ndarray: [[1, 2]] } }, /2 features/],
    [{ data: { ndarray: [1, 2] } }, /row 0 is not an array/],
    [{ data: { ndarray: [[1, 2, 3]] } }, /row 0 has 3/],
    [{ data: { tensor: { shape: [1, 2.5], values: [1, 2] } } }, /shape must be/],
    [{ data: { tftensor: {} } }, /tftensor is not supported/],
    [{ data: {} }, /must hold ndarray or tensor/],
    [{ meta: [], data: { ndarray: [] } }, /meta must be an object/],
    [{ meta: { puid: 5 }, data: { ndarray: [] } }, /puid must be a string/],
    [
      { meta: { metrics: [{ key: 'k', type: 'HISTOGRAM', value: 1 }] }, data: { ndarray: [] } },
      /meta\.metrics entries/,
    ],
  ])('rejects %j', (body, message) => {
    expect(() => decodeSeldonRequest(body, tiny)).toThrow(SeldonError);
    expect(() => decodeSeldonRequest(body, tiny)).toThrow(message);
  });
});

describe('Seldon codec, answers in a row', () => {
  it('fails if an ndarray answer carries the meta of the one before it', () => {
    const metas = ['{}', '{"puid":"p1"}', '{"puid":"p1"}', '{}', '{"puid":"p2","requestPath":{"a":"b"}}', '{}'];
    metas.forEach((metaJson, i) => {
      const y = new Float64Array([i, i + 0.25]);
      const answer = encodeSeldonResponse({ kind: 'ndarray', rows: 2, x: new Float64Array(4), metaJson, puid: undefined }, y, tiny);
      expect(JSON.parse(answer)).toEqual({ data: { names: [], ndarray: [i, i + 0.25] }, meta: JSON.parse(metaJson) });
    });
  });
});

describe('OIP codec', () => {
  it('fails if an answer carries the text of the one before it (row counts and ids changing between answers)', () => {
    const responder = oipResponder(compileModel(TINY, { name: 'n' }));
    const sequence: [number, string | undefined][] = [[1, undefined], [3, undefined], [3, 'a'], [1, undefined], [2, 'b'], [2, undefined], [1, undefined]];
    for (const [rows, id] of sequence) {
      const y = Float64Array.from({ length: rows }, (_, i) => i + 0.5);
      const request = { id, rows, x: new Float64Array(rows * 2) };
      expect(JSON.parse(encodeOipResponse(responder, request, y))).toEqual({
        model_name: 'n',
        ...(id === undefined ? {} : { id }),
        outputs: [{ name: 'output-0', datatype: 'FP64', shape: [rows, 1], data: [...y] }],
      });
    }
  });

  it('encodes the id and the version only when present', () => {
    const req = decodeOipRequest(
      { id: 'x"y', inputs: [{ name: 'i', shape: [1, 2], datatype: 'FP64', data: [1, 2] }] },
      tiny,
    );
    const body = JSON.parse(
      encodeOipResponse(
        oipResponder(compileModel(TINY, { name: 'n', version: 'v' })),
        req,
        new Float64Array([9]),
      ),
    );
    expect(body).toEqual({
      model_name: 'n',
      model_version: 'v',
      id: 'x"y',
      outputs: [{ name: 'output-0', datatype: 'FP64', shape: [1, 1], data: [9] }],
    });
  });

  it.each([
    [
      {
        inputs: [
          { name: 'a', shape: [1], datatype: 'FP64', data: [1] },
          { name: 'a', shape: [1], datatype: 'FP64', data: [1] },
        ],
      },
      /2 inputs/,
    ],
    [
      {
        inputs: [
          { name: 'a', shape: [1], datatype: 'FP64', data: [1] },
          { name: 'b', shape: [2], datatype: 'FP64', data: [1, 2] },
        ],
      },
      /\[1\] or \[1, 1\]/,
    ],
    [{ id: 5, inputs: [] }, /id must be a string/],
    // Names of Object.prototype members are unknown datatypes too (valueOf once threw a TypeError: a 500).
    [{ inputs: [{ name: 'i', shape: [1, 2], datatype: 'valueOf', data: [1, 2] }] }, /unknown datatype "valueOf"/],
    [{ inputs: [{ name: 'i', shape: [1, 2], datatype: 'toString', data: [1, 2] }] }, /unknown datatype "toString"/],
    [{ inputs: [{ name: 'i', shape: [-1, 2], datatype: 'FP64', data: [] }] }, /non-negative integers/],
    [
      { inputs: [{ name: 'i', shape: [1, 2], datatype: 'FP64', data: [1, 2], parameters: 3 }] },
      /parameters must be an object/,
    ],
  ])('rejects %j', (body, message) => {
    expect(() => decodeOipRequest(body, tiny)).toThrow(OipError);
    expect(() => decodeOipRequest(body, tiny)).toThrow(message);
  });
});

describe('describeValue', () => {
  it('keeps error messages short whatever the client sent', () => {
    expect(describeValue('x'.repeat(1000)).length).toBeLessThan(50);
    expect(describeValue([[1]])).toBe('an array');
    expect(describeValue({ a: 1 })).toBe('an object');
    expect(describeValue([1, 'a'])).toBe('[1,"a"]');
  });
});

describe('configFromEnv', () => {
  it('resolves defaults and lets the Seldon operator port win', () => {
    expect(configFromEnv({ MODEL_URI: 's3://b/k' })).toEqual({
      modelUri: 's3://b/k',
      modelName: 'model',
      port: 9000,
      host: '0.0.0.0',
      sampleRate: 1,
      maxBodyBytes: 8 * 1024 * 1024,
      drainDelayMs: 0,
    });
    const c = configFromEnv({
      MODEL_URI: '/m',
      MODEL_NAME: 'wine',
      MODEL_VERSION: '3',
      PORT: '8080',
      PREDICTIVE_UNIT_HTTP_SERVICE_PORT: '9001',
      PREDICTIVE_UNIT_ID: 'classifier',
      PREDICTIVE_UNIT_IMAGE: 'img:1',
      REQUEST_LOG_URI: 's3://lake/predictions/',
      REQUEST_LOG_SAMPLE_RATE: '0.1',
      MODEL_VERSION_UNUSED: '',
    });
    expect(c).toMatchObject({
      port: 9001,
      modelVersion: '3',
      requestPath: { classifier: 'img:1' },
      requestLog: 's3://lake/predictions/',
      sampleRate: 0.1,
    });
  });

  it('fails with a sentence naming the variable', () => {
    expect(() => configFromEnv({})).toThrow('MODEL_URI must be set');
    expect(() => configFromEnv({ MODEL_URI: '/m', REQUEST_LOG_SAMPLE_RATE: '2' })).toThrow(
      /REQUEST_LOG_SAMPLE_RATE is invalid.*"2"/,
    );
  });
});
