/** `GET /metrics`: Prometheus text after a known mix of requests. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P99_WINDOW_MS, ServingMetrics } from '../../lib/serving/metrics';
import { compileModel } from '../../lib/serving/model';
import { type ModelServer, startModelServer } from '../../lib/serving/server';
import { call, TINY } from './helpers';

let server: ModelServer;

beforeAll(async () => {
  server = await startModelServer({ model: compileModel(TINY, { name: 'tiny', version: '2' }), port: 0 });
});
afterAll(async () => {
  await server.close();
});

/** The samples of a Prometheus text body, as `name{labels}` → value. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

describe('metrics', () => {
  it('counts requests, errors, latency and rows by model, version, protocol, route and status', async () => {
    for (let i = 0; i < 3; i++)
      await call(server.url, 'POST', '/api/v1.0/predictions', {
        data: {
          ndarray: [
            [1, 2],
            [3, 4],
          ],
        },
      });
    await call(server.url, 'POST', '/api/v1.0/predictions', '{"data":');
    await call(server.url, 'POST', '/v2/models/tiny/infer', {
      inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [1, 2] }],
    });
    await call(server.url, 'POST', '/v2/models/nope/infer', { inputs: [] });
    await call(server.url, 'POST', '/api/v1.0/feedback', { reward: 0.5 });
    await call(server.url, 'POST', '/api/v1.0/feedback', { reward: 1 });

    const res = await call(server.url, 'GET', '/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    // Every sample line is `name{labels} value` or `name value` with a numeric value.
    for (const line of res.text.trim().split('\n')) {
      if (!line.startsWith('#')) expect(line).toMatch(/^[a-z_][a-z0-9_]*(\{.*\})? -?[\d.e+-]+$/);
    }
    const s = samples(res.text);
    const seldon = 'model="tiny",version="2",protocol="seldon",route="/api/v1.0/predictions"';
    expect(s.get(`mlops_serving_requests_total{${seldon},code="200"}`)).toBe(3);
    expect(s.get(`mlops_serving_requests_total{${seldon},code="400"}`)).toBe(1);
    expect(s.get(`mlops_serving_request_errors_total{${seldon},code="400"}`)).toBe(1);
    expect(s.has(`mlops_serving_request_errors_total{${seldon},code="200"}`)).toBe(false);
    expect(
      s.get(
        'mlops_serving_requests_total{model="tiny",version="2",protocol="oip",route="/v2/models/{model}/infer",code="200"}',
      ),
    ).toBe(1);
    expect(
      s.get(
        'mlops_serving_requests_total{model="tiny",version="2",protocol="oip",route="/v2/models/{model}/infer",code="404"}',
      ),
    ).toBe(1);
    expect(s.get(`mlops_serving_request_duration_seconds_count{${seldon},code="200"}`)).toBe(3);
    expect(s.get(`mlops_serving_request_duration_seconds_bucket{${seldon},code="200",le="+Inf"}`)).toBe(3);
    // Buckets are cumulative.
    const buckets = [...s]
      .filter(([k]) => k.startsWith(`mlops_serving_request_duration_seconds_bucket{${seldon},code="200"`))
      .map(([, v]) => v);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    expect(s.get(`mlops_serving_request_duration_seconds_sum{${seldon},code="200"}`)).toBeGreaterThan(0);
    expect(s.get('mlops_serving_prediction_rows_total{model="tiny",version="2",protocol="seldon"}')).toBe(6);
    expect(s.get('mlops_serving_prediction_rows_total{model="tiny",version="2",protocol="oip"}')).toBe(1);
    expect(s.get('mlops_serving_feedback_total{model="tiny",version="2"}')).toBe(2);
    expect(s.get('mlops_serving_feedback_reward_total{model="tiny",version="2"}')).toBe(1.5);
    expect(s.get('mlops_serving_request_log_records_total{model="tiny",version="2",outcome="dropped"}')).toBe(
      0,
    );
  });

  it('escapes label values', async () => {
    const odd = await startModelServer({ model: compileModel(TINY, { name: 'a"b\\c' }), port: 0 });
    try {
      await call(odd.url, 'GET', '/live');
      const text = (await call(odd.url, 'GET', '/metrics')).text;
      expect(text).toContain('model="a\\"b\\\\c",version=""');
    } finally {
      await odd.close();
    }
  });

  it('counts prediction requests per model, version and protocol, never per route or status', async () => {
    const own = await startModelServer({ model: compileModel(TINY, { name: 'tiny', version: '7' }), port: 0 });
    try {
      const row = { data: { ndarray: [[1, 2]] } };
      await call(own.url, 'POST', '/api/v1.0/predictions', row);
      await call(own.url, 'POST', '/api/v0.1/predictions', row);
      await call(own.url, 'POST', '/predict', row);
      await call(own.url, 'POST', '/api/v1.0/predictions', '{"data":');
      await call(own.url, 'POST', '/v2/models/tiny/versions/7/infer', {
        inputs: [{ name: 'input-0', shape: [1, 2], datatype: 'FP64', data: [1, 2] }],
      });
      // Not predictions: they stay out of the per-model series.
      await call(own.url, 'GET', '/health/ping');
      await call(own.url, 'POST', '/api/v1.0/feedback', { reward: 1 });
      const s = samples((await call(own.url, 'GET', '/metrics')).text);
      const seldon = 'model="tiny",version="7",protocol="seldon"';
      const oip = 'model="tiny",version="7",protocol="oip"';
      expect(s.get(`mlops_model_requests_total{${seldon}}`)).toBe(4);
      expect(s.get(`mlops_model_errors_total{${seldon}}`)).toBe(1);
      expect(s.get(`mlops_model_requests_total{${oip}}`)).toBe(1);
      expect(s.get(`mlops_model_errors_total{${oip}}`)).toBe(0);
      expect(s.get(`mlops_model_request_duration_seconds_count{${seldon}}`)).toBe(4);
      expect(s.get(`mlops_model_request_duration_seconds_bucket{${seldon},le="+Inf"}`)).toBe(4);
      expect(s.get(`mlops_model_latency_p99_seconds{${seldon}}`)).toBeGreaterThan(0);
      // Bounded cardinality: one series per protocol, however many routes and statuses were seen.
      const names = [...s.keys()].filter((k) => k.startsWith('mlops_model_requests_total{'));
      expect(names.sort()).toEqual([`mlops_model_requests_total{${oip}}`, `mlops_model_requests_total{${seldon}}`]);
    } finally {
      await own.close();
    }
  });

  it('fails if rows predicted are lost or misattributed when protocols alternate', () => {
    const m = new ServingMetrics(compileModel(TINY, { name: 'm', version: '1' }));
    for (const [protocol, rows] of [['oip', 2], ['seldon', 1], ['seldon', 3], ['oip', 5], ['seldon', 7]] as const) m.predicted(protocol, rows);
    const lines = m.render().split('\n').filter((l) => l.startsWith('mlops_serving_prediction_rows_total{'));
    // First use decides the order, as before the counters were cached.
    expect(lines).toEqual([
      'mlops_serving_prediction_rows_total{model="m",version="1",protocol="oip"} 7',
      'mlops_serving_prediction_rows_total{model="m",version="1",protocol="seldon"} 11',
    ]);
  });

  it('fails if a request is counted under the status of the one before it on the same route', () => {
    const m = new ServingMetrics(compileModel(TINY, { name: 'm', version: '1' }));
    const id = m.route({ protocol: 'seldon', route: '/predict' });
    const other = m.route({ protocol: 'oip', route: '/v2' });
    for (const [route, code] of [[id, 200], [id, 400], [other, 200], [id, 400], [id, 200], [id, 200]] as const) m.observe(route, code, 0.0002);
    const s = samples(m.render());
    const labels = (protocol: string, route: string, code: number) =>
      `model="m",version="1",protocol="${protocol}",route="${route}",code="${code}"`;
    expect(s.get(`mlops_serving_requests_total{${labels('seldon', '/predict', 200)}}`)).toBe(3);
    expect(s.get(`mlops_serving_requests_total{${labels('seldon', '/predict', 400)}}`)).toBe(2);
    expect(s.get(`mlops_serving_requests_total{${labels('oip', '/v2', 200)}}`)).toBe(1);
    expect(s.get(`mlops_serving_request_errors_total{${labels('seldon', '/predict', 400)}}`)).toBe(2);
  });

  it('takes the p99 over the last window only, interpolated inside its bucket', () => {
    let now = 1_000_000;
    const m = new ServingMetrics(compileModel(TINY, { name: 'm', version: '1' }), () => now);
    const id = m.route({ protocol: 'seldon', route: '/predict', predicts: true });
    const p99 = () => samples(m.render()).get('mlops_model_latency_p99_seconds{model="m",version="1",protocol="seldon"}');
    expect(p99()).toBeUndefined();
    // 100 requests in (0.001, 0.0025]: rank 99 of 100 → 0.001 + 0.0015 × 99/100.
    for (let i = 0; i < 100; i++) m.observe(id, 200, 0.002);
    expect(p99()).toBeCloseTo(0.001 + 0.0015 * 0.99, 12);
    now += 30_000;
    expect(p99()).toBeCloseTo(0.001 + 0.0015 * 0.99, 12);
    // A minute later the slow requests below are the only ones in the window.
    now += P99_WINDOW_MS + 1;
    for (let i = 0; i < 10; i++) m.observe(id, 200, 0.3);
    expect(p99()).toBeCloseTo(0.25 + 0.75 * 0.99, 12);
    // Beyond the last bound: the last bound, as histogram_quantile answers.
    now += 2 * P99_WINDOW_MS;
    m.observe(id, 500, 9);
    expect(p99()).toBe(5);
  });
});
