/**
 * Client mistakes on every route: malformed, empty, wrong-typed, deeply nested and oversized
 * bodies, wrong methods, unknown paths, broken HTTP. None may answer 5xx or crash the server, and
 * every error body is in the protocol of its path (OIP `{"error"}` under /v2, Seldon `{"status"}` elsewhere).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ModelServer } from '../../lib/serving/server';
import { call, type Reply, startTiny } from './helpers';
import { schemas } from './schemas';

let server: ModelServer;
const errors: unknown[] = [];

beforeAll(async () => {
  server = await startTiny(64 * 1024, errors);
});
afterAll(async () => {
  await server.close();
});

const POST_ROUTES = [
  '/api/v1.0/predictions',
  '/api/v0.1/predictions',
  '/predict',
  '/api/v1.0/feedback',
  '/api/v0.1/feedback',
  '/send-feedback',
  '/v2/models/tiny/infer',
  '/v2/models/tiny/versions/1/infer',
];
const GET_ROUTES = [
  '/health/ping',
  '/health/status',
  '/api/v1.0/health/status',
  '/ready',
  '/live',
  '/metadata',
  '/api/v1.0/metadata',
  '/api/v1.0/metadata/tiny',
  '/metrics',
  '/v2',
  '/v2/health/live',
  '/v2/health/ready',
  '/v2/models/tiny',
  '/v2/models/tiny/ready',
  '/v2/models/tiny/versions/1',
  '/v2/models/tiny/versions/1/ready',
];

/** Asserts a 4xx in the protocol of `path`. */
function clientError(r: Reply, path: string, status?: number): void {
  expect(r.status, `${path}: ${r.text}`).toBeGreaterThanOrEqual(400);
  expect(r.status, `${path}: ${r.text}`).toBeLessThan(500);
  if (status !== undefined) expect(r.status, path).toBe(status);
  if (path.startsWith('/v2')) {
    schemas.oipError(r.json);
    expect(typeof r.json.error, path).toBe('string');
  } else {
    schemas.seldonMessage(r.json);
    expect(r.json.status.status, path).toBe('FAILURE');
    expect(r.json.status.info.length, path).toBeGreaterThan(0);
  }
}

const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const BAD_BODIES: [string, string | Buffer][] = [
  ['empty', ''],
  ['malformed', '{"data":'],
  ['not JSON', 'hello'],
  ['array', '[1,2]'],
  ['string', '"x"'],
  ['number', '42'],
  ['null', 'null'],
  ['true', 'true'],
  ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d])],
  ['deeply nested', deep(20_000)],
  ['deep meta', `{"meta":{"tags":{"a":${deep(20_000)}}},"data":{"ndarray":[[1,2]]}}`],
  ['wrong-typed data', '{"data":"x","inputs":"x","request":5,"reward":"r"}'],
  [
    'nested rows',
    `{"data":{"ndarray":${deep(30)}},"inputs":[{"name":"input-0","shape":[1,2],"datatype":"FP64","data":${deep(30)}}]}`,
  ],
  // Deep enough to overflow the stack of a naive recursive flattener, within the 64 KiB limit.
  [
    'deeply nested tensor data',
    `{"inputs":[{"name":"input-0","shape":[1,2],"datatype":"FP64","data":${deep(32_000)}}]}`,
  ],
  [
    'Infinity via exponent',
    '{"data":{"ndarray":[[1e999,1]]},"inputs":[{"name":"input-0","shape":[1,2],"datatype":"FP64","data":[1e999,1]}]}',
  ],
  ['NaN literal', '{"data":{"ndarray":[[NaN,1]]}}'],
  ['huge shape', '{"inputs":[{"name":"input-0","shape":[4294967296,2],"datatype":"FP64","data":[1,2]}]}'],
  ['null row', '{"data":{"ndarray":[null]},"inputs":[null]}'],
  [
    'prototype keys',
    '{"__proto__":{"data":1},"jsonData":{"__proto__":1,"a":1,"b":2},"inputs":[{"name":"__proto__","shape":[1,2],"datatype":"FP64","data":[1,2]}],"outputs":[{"name":"constructor"}]}',
  ],
];

describe('bad input never answers 5xx', () => {
  it.each(POST_ROUTES)('POST %s: every malformed body is a 4xx in the protocol shape', async (path) => {
    for (const [what, body] of BAD_BODIES) {
      // A feedback message may legitimately be almost anything with a reward or a request; what
      // matters for all routes is "never 5xx, always the shape", so 200s are only allowed there.
      const r = await call(server.url, 'POST', path, body);
      if (r.status === 200 && path.includes('feedback')) continue;
      try {
        clientError(r, path);
      } catch (err) {
        throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
      }
    }
  });

  it.each(POST_ROUTES)('POST %s: an oversized body is 413 in the protocol shape', async (path) => {
    const big = JSON.stringify({ data: { ndarray: Array.from({ length: 20_000 }, () => [1, 2]) } });
    clientError(await call(server.url, 'POST', path, big), path, 413);
    clientError(await call(server.url, 'POST', path, big, { 'content-length': '' }), path, 413);
  });

  it('fails if a declared length is judged by its digit count rather than its value', async () => {
    const path = '/api/v1.0/predictions';
    const body = JSON.stringify({ data: { ndarray: [[1, 2]] } });
    // More digits than the 64 KiB limit has, a small value: served.
    const padded = String(Buffer.byteLength(body)).padStart(12, '0');
    expect((await call(server.url, 'POST', path, body, { 'content-length': padded })).status).toBe(200);
    // One byte past the limit, declared: refused before the body is read.
    clientError(await call(server.url, 'POST', path, body, { 'content-length': String(64 * 1024 + 1) }), path, 413);
  });

  it.each([
    ...POST_ROUTES.filter((p) => !['/predict', '/send-feedback'].includes(p)).map((p) => ['GET', p]),
    ...GET_ROUTES.map((p) => ['DELETE', p]),
  ])('%s %s is 405 with an Allow header', async (method, path) => {
    const r = await call(server.url, method!, path!);
    clientError(r, path!, 405);
    expect(r.headers.allow).toBeTruthy();
  });

  it('unknown paths are 404 in the protocol of their prefix', async () => {
    for (const path of [
      '/nope',
      '/api/v1.0/nope',
      '/v2/nope',
      '/v2/models/tiny/explain',
      '/v2/models/tiny/versions',
      '/v2/models/%E0%A4%A/infer',
      '/seldon/ns',
    ]) {
      clientError(await call(server.url, 'GET', path), path, 404);
    }
  });

  it('GET routes ignore a stray body and still answer', async () => {
    for (const path of GET_ROUTES) {
      const r = await call(server.url, 'GET', path, '{"data":');
      expect(r.status, path).toBe(200);
    }
  });

  it('random JSON on the prediction routes never answers 5xx (deterministic fuzz)', async () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const atoms = [0, -1, 1.5, 1e308, 'a', '', true, false, null, [], {}];
    const value = (depth: number): unknown => {
      const r = rand();
      if (depth > 3 || r < 0.4) return atoms[Math.floor(rand() * atoms.length)];
      if (r < 0.7) return Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
      const keys = [
        'data',
        'ndarray',
        'tensor',
        'shape',
        'values',
        'names',
        'jsonData',
        'meta',
        'inputs',
        'outputs',
        'datatype',
        'name',
        'id',
        'parameters',
        'a',
        'b',
      ];
      return Object.fromEntries(
        Array.from({ length: Math.floor(rand() * 4) }, () => [
          keys[Math.floor(rand() * keys.length)]!,
          value(depth + 1),
        ]),
      );
    };
    for (let i = 0; i < 300; i++) {
      const body = JSON.stringify(value(0)) ?? 'null';
      for (const path of ['/api/v1.0/predictions', '/v2/models/tiny/infer']) {
        const r = await call(server.url, 'POST', path, body);
        expect(r.status, `${path} ${body}`).toBeLessThan(500);
        if (r.status !== 200) clientError(r, path);
      }
    }
  });

  it('broken HTTP gets a 400 and the server keeps serving', async () => {
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('BLAH /x HTTP/9\r\n\r\n'));
      let data = '';
      socket.on('data', (c) => {
        data += c.toString();
      });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect(
      (await call(server.url, 'POST', '/api/v1.0/predictions', { data: { ndarray: [[1, 2]] } })).status,
    ).toBe(200);
  });

  it('fails if a body is not answered however it arrives: with its headers, in parts, chunked, or empty', async () => {
    // The raw answers to one request written as `parts`, each after the server read the one before.
    const exchange = (parts: string[]) =>
      new Promise<string>((resolve, reject) => {
        let raw = '';
        const socket = connect(server.port, '127.0.0.1', () => {
          parts.forEach((p, k) => setTimeout(() => socket.write(p), 40 * k));
        });
        socket.setEncoding('latin1');
        socket.on('data', (d: string) => {
          raw += d;
          const h = raw.indexOf('\r\n\r\n');
          const len = Number(/content-length: (\d+)/i.exec(raw)?.[1] ?? NaN);
          if (h >= 0 && raw.length >= h + 4 + len) {
            socket.destroy();
            resolve(raw);
          }
        });
        socket.on('error', reject);
        setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(parts)}`)), 3000).unref();
      });
    const body = '{"data":{"ndarray":[[1,2]]}}';
    const head = (length: string) =>
      `POST /api/v1.0/predictions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${length}\r\n\r\n`;
    const whole = head(`Content-Length: ${body.length}`);
    const answers = [
      await exchange([whole + body]),
      await exchange([whole + body.slice(0, 9), body.slice(9)]),
      await exchange([whole, body.slice(0, 9), body.slice(9)]),
      await exchange([head('Transfer-Encoding: chunked') + `9\r\n${body.slice(0, 9)}\r\n`, `${(body.length - 9).toString(16)}\r\n${body.slice(9)}\r\n0\r\n\r\n`]),
    ];
    for (const raw of answers) {
      expect(raw.startsWith('HTTP/1.1 200'), raw).toBe(true);
      expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).data.ndarray).toEqual([9]);
    }
    for (const length of ['Content-Length: 0', 'Content-Length: 00', 'Transfer-Encoding: chunked']) {
      const raw = await exchange([head(length) + (length.startsWith('Transfer') ? '0\r\n\r\n' : '')]);
      expect(raw.startsWith('HTTP/1.1 400'), `${length}: ${raw}`).toBe(true);
      expect(raw).toContain("Can't find JSON in data");
    }
  });

  it('fails if pipelined requests with declared lengths are not each answered from their own body', async () => {
    // Two requests in one write, then a third whose body trails its headers: each body is
    // complete at its declared length, and none may be read into another's.
    const bodies = ['{"data":{"ndarray":[[1,2]]}}', '{"data":{"ndarray":[[3,4]]}}', '{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP64","data":[5,6]}]}'];
    const request = (path: string, body: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const raw = await new Promise<string>((resolve, reject) => {
      let text = '';
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write(request('/api/v1.0/predictions', bodies[0]!) + request('/api/v1.0/predictions', bodies[1]!));
        const third = request('/v2/models/tiny/infer', bodies[2]!);
        setTimeout(() => socket.write(third.slice(0, -10)), 40);
        setTimeout(() => socket.write(third.slice(-10)), 80);
      });
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        text += d;
        if ((text.match(/HTTP\/1\.1 /g) ?? []).length === 3 && text.endsWith('}')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      setTimeout(() => reject(new Error(`three answers expected, got ${JSON.stringify(text)}`)), 3000).unref();
    });
    const answers = raw.split(/(?=HTTP\/1\.1 )/).map((a) => JSON.parse(a.slice(a.indexOf('\r\n\r\n') + 4)));
    const expected = await Promise.all([
      call(server.url, 'POST', '/api/v1.0/predictions', JSON.parse(bodies[0]!)),
      call(server.url, 'POST', '/api/v1.0/predictions', JSON.parse(bodies[1]!)),
      call(server.url, 'POST', '/v2/models/tiny/infer', JSON.parse(bodies[2]!)),
    ]);
    expect(answers[0].data.ndarray).toEqual(expected[0]!.json.data.ndarray);
    expect(answers[1].data.ndarray).toEqual(expected[1]!.json.data.ndarray);
    expect(answers[1].data.ndarray).not.toEqual(answers[0].data.ndarray);
    expect(answers[2].outputs[0].data).toEqual(expected[2]!.json.outputs[0].data);
  });

  it('a client hanging up mid-body takes nothing down: the server keeps serving, nothing reported', async () => {
    for (const path of ['/api/v1.0/predictions', '/v2/models/tiny/infer']) {
      await new Promise<void>((resolve) => {
        const socket = connect(server.port, '127.0.0.1', () => {
          socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"data":`);
          // Let the server read the partial body before the hang-up.
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
        });
      });
    }
    expect(
      (await call(server.url, 'POST', '/api/v1.0/predictions', { data: { ndarray: [[1, 2]] } })).status,
    ).toBe(200);
  });

  it('headers past the parser limit get 431, not a bare 400 or a reset', async () => {
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () =>
        socket.write(`GET /health/ping HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(40_000)}\r\n\r\n`),
      );
      let data = '';
      socket.on('data', (c) => {
        data += c.toString();
      });
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 431/);
  });

  it('reported no unexpected (500) errors', () => {
    expect(errors).toEqual([]);
  });
});
