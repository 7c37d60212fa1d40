/** A bounded loopback load test: 2,000 requests over 16 keep-alive connections, both protocols. */
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileModel } from '../../lib/serving/model';
import { type ModelServer, startModelServer } from '../../lib/serving/server';
import { call, expected, WINE, WINE_FEATURES } from './helpers';

let server: ModelServer;
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

beforeAll(async () => {
  server = await startModelServer({ model: compileModel(WINE, { name: 'wine-quality' }), port: 0 });
});
afterAll(async () => {
  agent.destroy();
  await server.close();
});

describe('load', () => {
  it('answers 2,000 concurrent requests correctly with zero errors', async () => {
    const total = 2000;
    const row = (i: number) => WINE_FEATURES.map((_, j) => ((i * 17 + j * 3) % 41) / 4);
    let next = 0;
    let wrong = 0;
    const sockets = new Set<unknown>();
    // 16 workers, each sending its next request when the last one is answered.
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const oip = i % 2 === 1;
        const r = oip
          ? await call(
              server.url,
              'POST',
              '/v2/models/wine-quality/infer',
              {
                id: String(i),
                inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: row(i) }],
              },
              {},
              { agent },
            )
          : await call(
              server.url,
              'POST',
              '/api/v1.0/predictions',
              { meta: { puid: String(i) }, data: { ndarray: [row(i)] } },
              {},
              { agent },
            );
        const y = oip ? r.json?.outputs?.[0]?.data?.[0] : r.json?.data?.ndarray?.[0];
        const id = oip ? r.json?.id : r.json?.meta?.puid;
        if (r.status !== 200 || id !== String(i) || Math.abs(y - expected(WINE, row(i))) > 1e-12) wrong++;
      }
    };
    agent.on('free', (s) => sockets.add(s));
    await Promise.all(Array.from({ length: 16 }, worker));
    expect(wrong).toBe(0);
    expect(next).toBe(total);
    // Keep-alive held: far fewer sockets than requests.
    expect(sockets.size).toBeLessThanOrEqual(16);
    const metrics = (await call(server.url, 'GET', '/metrics')).text;
    expect(metrics).toContain('route="/api/v1.0/predictions",code="200"} 1000');
    expect(metrics).toContain('route="/v2/models/{model}/infer",code="200"} 1000');
  });
});
