/** The request path's reusable Float64Array storage, and the codecs and prediction that use it. */
import { describe, expect, it } from 'vitest';
import { compileModel, predictBatch } from '../../lib/serving/model';
import { decodeOipRequest } from '../../lib/serving/oip';
import { type LogBatch, RequestLogger } from '../../lib/serving/request-log';
import { Float64Scratch } from '../../lib/serving/scratch';
import { decodeSeldonRequest } from '../../lib/serving/seldon';
import { startModelServer } from '../../lib/serving/server';
import { call, expected, TINY } from './helpers';

const tiny = compileModel(TINY, { name: 'tiny' });

describe('Float64Scratch', () => {
  it('serves every take from one buffer, zeroed, with the length asked for', () => {
    const scratch = new Float64Scratch();
    const a = scratch.take(11);
    a.fill(7);
    const b = scratch.take(5);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(5);
    expect(Array.from(b)).toEqual([0, 0, 0, 0, 0]);
    // The earlier view is the same memory: it is the caller's to copy what outlives the request.
    expect(a[0]).toBe(0);
    expect(a[6]).toBe(7);
  });

  it('fails if a repeated take of one length hands back the values of the last request', () => {
    const scratch = new Float64Scratch();
    scratch.take(3).fill(9);
    expect(Array.from(scratch.take(3))).toEqual([0, 0, 0]);
    // A staged write read back through view, at the length of the last take: what was written.
    scratch.staging(3)!.set([1, 2, 3]);
    expect(Array.from(scratch.view(3))).toEqual([1, 2, 3]);
    // After the buffer grows, a view of that length is of the new buffer.
    const grown = scratch.take(1000);
    expect(scratch.view(3).buffer).toBe(grown.buffer);
  });

  it('claims the reused buffer without zeroing it, and allocates a claim past maxReused', () => {
    const scratch = new Float64Scratch(100);
    const taken = scratch.take(4);
    taken.fill(5);
    const claimed = scratch.claim(4);
    expect(claimed.buffer).toBe(taken.buffer);
    expect(Array.from(claimed)).toEqual([5, 5, 5, 5]);
    const large = scratch.claim(101);
    expect(large.length).toBe(101);
    expect(large.buffer).not.toBe(taken.buffer);
    // A claim that grows the buffer is of the new buffer, with the length asked for.
    const grown = scratch.claim(60);
    expect(grown.length).toBe(60);
    expect(scratch.view(60)).toBe(grown);
  });

  it('grows by doubling up to maxReused, then allocates past it without giving up the buffer', () => {
    const scratch = new Float64Scratch(1000);
    const small = scratch.take(10);
    const grown = scratch.take(300);
    expect(grown.buffer).not.toBe(small.buffer);
    expect(grown.buffer.byteLength).toBe(8 * 512);
    expect(scratch.take(400).buffer).toBe(grown.buffer);
    expect(scratch.take(900).buffer.byteLength).toBe(8 * 1000);
    const large = scratch.take(1001);
    expect(large.length).toBe(1001);
    const again = scratch.take(1000);
    expect(again.buffer).not.toBe(large.buffer);
    expect(again.buffer.byteLength).toBe(8 * 1000);
  });

  it('is what the decoders and predictBatch fill when given one, with the same values as without', () => {
    const xs = new Float64Scratch();
    const ys = new Float64Scratch();
    const seldon = decodeSeldonRequest({ data: { ndarray: [[1, 2], [3, 4]] } }, tiny, undefined, xs);
    expect(Array.from(seldon.x)).toEqual(Array.from(decodeSeldonRequest({ data: { ndarray: [[1, 2], [3, 4]] } }, tiny).x));
    const y = predictBatch(tiny, seldon.x, seldon.rows, ys)!;
    expect(Array.from(y)).toEqual([expected(TINY, [1, 2]), expected(TINY, [3, 4])]);
    expect(y.buffer).toBe(ys.take(0).buffer);

    for (const body of [
      { data: { names: ['b', 'a'], tensor: { shape: [1, 2], values: [2, 1] } } },
      { jsonData: { b: 2, a: 1 } },
      { jsonData: [{ b: 2, a: 1 }] },
    ]) {
      const r = decodeSeldonRequest(body, tiny, undefined, xs);
      expect(r.x.buffer).toBe(xs.take(0).buffer);
      expect(Array.from(r.x)).toEqual([1, 2]);
    }
    const oip = decodeOipRequest({ inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [5, 6] }] }, tiny, xs);
    expect(oip.x.buffer).toBe(xs.take(0).buffer);
    expect(Array.from(oip.x)).toEqual([5, 6]);
    // Columns are copied into a new x: each column needs its own storage meanwhile.
    const columns = decodeOipRequest(
      {
        inputs: [
          { name: 'b', shape: [1], datatype: 'FP64', data: [6] },
          { name: 'a', shape: [1], datatype: 'FP64', data: [5] },
        ],
      },
      tiny,
      xs,
    );
    expect(Array.from(columns.x)).toEqual([5, 6]);
  });
});

describe('the server on scratch storage', () => {
  it('logs each request with its own features and predictions, though the next request reuses the storage', async () => {
    const batches: LogBatch[] = [];
    const model = compileModel(TINY, { name: 'tiny' });
    const logger = new RequestLogger({
      sink: { write: async (b) => void batches.push(b) },
      model,
      flushIntervalMs: 60_000,
    });
    const server = await startModelServer({ model, port: 0, logger });
    try {
      const seldon = await call(server.url, 'POST', '/api/v1.0/predictions', {
        data: { ndarray: [[1, 2], [3, 4]] },
      });
      const oip = await call(server.url, 'POST', '/v2/models/tiny/infer', {
        inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [5, 6] }],
      });
      const again = await call(server.url, 'POST', '/api/v1.0/predictions', { data: { ndarray: [[7, 8]] } });
      expect(seldon.json.data.ndarray).toEqual([expected(TINY, [1, 2]), expected(TINY, [3, 4])]);
      expect(oip.json.outputs[0].data).toEqual([expected(TINY, [5, 6])]);
      expect(again.json.data.ndarray).toEqual([expected(TINY, [7, 8])]);
    } finally {
      await server.close();
    }
    const lines = batches.flatMap((b) => b.body.trimEnd().split('\n').map((l) => JSON.parse(l)));
    expect(lines.map((l) => [l.features, l.prediction])).toEqual(
      [
        [1, 2],
        [3, 4],
        [5, 6],
        [7, 8],
      ].map(([a, b]) => [{ a, b }, expected(TINY, [a!, b!])]),
    );
  });
});
