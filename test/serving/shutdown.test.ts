/** Graceful shutdown: in-flight requests finish, readiness goes false, the drain is bounded. */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { compileModel } from '../../lib/serving/model';
import { startModelServer } from '../../lib/serving/server';
import { call, expected, TINY } from './helpers';

const model = compileModel(TINY, { name: 'tiny' });

/** Opens a raw connection and sends the head and the first part of a prediction request. */
async function startSlowRequest(
  port: number,
  body: string,
  sendFirst: number,
): Promise<{ socket: Socket; response: Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let data = '';
  const response = new Promise<string>((resolve) => {
    socket.on('data', (c) => {
      data += c.toString();
    });
    socket.on('close', () => resolve(data));
    socket.on('error', () => resolve(data));
  });
  socket.write(
    `POST /api/v1.0/predictions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, sendFirst)}`,
  );
  return { socket, response };
}

const refused = (url: string) =>
  call(url, 'GET', '/live', undefined, {}, { agent: false }).then(
    () => false,
    (err: NodeJS.ErrnoException) => err.code === 'ECONNREFUSED',
  );

describe('graceful shutdown', () => {
  it('lets an in-flight request finish, answers it with connection: close, then stops listening', async () => {
    const server = await startModelServer({ model, port: 0 });
    const body = JSON.stringify({ data: { ndarray: [[3, 4]] } });
    const { socket, response } = await startSlowRequest(server.port, body, 10);
    await new Promise((r) => setTimeout(r, 50));
    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.draining).toBe(true);
    expect(closed).toBe(false);
    socket.write(body.slice(10));
    const raw = await response;
    await closing;
    expect(raw).toMatch(/^HTTP\/1\.1 200/);
    expect(raw.toLowerCase()).toContain('connection: close');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toEqual({
      data: { names: [], ndarray: [expected(TINY, [3, 4])] },
      meta: {},
    });
    expect(await refused(server.url)).toBe(true);
  });

  it('answers not-ready while it drains (drainDelayMs) and keeps serving predictions meanwhile', async () => {
    const server = await startModelServer({ model, port: 0, drainDelayMs: 400 });
    expect((await call(server.url, 'GET', '/ready', undefined, {}, { agent: false })).status).toBe(200);
    const closing = server.close();
    await new Promise((r) => setTimeout(r, 50));
    expect((await call(server.url, 'GET', '/ready', undefined, {}, { agent: false })).status).toBe(503);
    const v2 = await call(server.url, 'GET', '/v2/health/ready', undefined, {}, { agent: false });
    expect([v2.status, v2.json]).toEqual([503, { ready: false }]);
    expect(
      (await call(server.url, 'GET', '/v2/models/tiny/ready', undefined, {}, { agent: false })).json,
    ).toEqual({ name: 'tiny', ready: false });
    const p = await call(
      server.url,
      'POST',
      '/api/v1.0/predictions',
      { data: { ndarray: [[1, 1]] } },
      {},
      { agent: false },
    );
    expect([p.status, p.headers.connection]).toEqual([200, 'close']);
    await closing;
    expect(await refused(server.url)).toBe(true);
  });

  it('bounds the drain: a request that never completes is cut off after drainTimeoutMs', async () => {
    const server = await startModelServer({ model, port: 0, drainTimeoutMs: 200 });
    const { response } = await startSlowRequest(
      server.port,
      JSON.stringify({ data: { ndarray: [[3, 4]] } }),
      5,
    );
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await response).toBe('');
  });

  it('close() is idempotent', async () => {
    const server = await startModelServer({ model, port: 0 });
    await Promise.all([server.close(), server.close()]);
    await server.close();
    expect(await refused(server.url)).toBe(true);
  });
});
