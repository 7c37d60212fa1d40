/**
 * Serving metrics and model quality on the local stage, through the doors: the model served by
 * `npm start`'s start-up, predictions over the Seldon route with request ids the test chooses, the
 * `/metrics` the banner names scraped over HTTP, labels written into the lake with an S3 client
 * (as `aws s3 cp` would) and by Seldon feedback, then `mlops quality` runs the `quality` state
 * machine (Lambda → Athena on DuckDB → Lambda) and its RMSE/MAE/R² match the ones computed here
 * from the responses and the labels.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../lib/adapters/clients';
import { upBanner } from '../../lib/cli/up-banner';
import { WINE_CSV_PATH } from '../../lib/datasets/wine';
import { layout } from '../../lib/local/layout';
import { type LocalPlatform, startPlatform } from '../../lib/local/platform';
import { lakeBucket, runStartup } from '../../lib/local/startup';
import { assemblyDirOf, synthLocalStage } from '../../lib/local/synth';
import { runMlops } from './mlops-cli';
import { copyTrainedState } from './trained-state';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-quality-'));
let platform: LocalPlatform;
const mlops = (...argv: string[]) => runMlops(stateDir, ...argv);

/** The bundled CSV's first rows: 11 measurements, then the quality a taster gave (the label). */
const WINES = readFileSync(WINE_CSV_PATH, 'utf8')
  .trim()
  .split('\n')
  .slice(1, 41)
  .map((line) => line.split(';').map(Number));

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${platform.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

/** Lines in the local request log of wine-quality (the lake's prediction_log). */
function loggedLines(): { request_id: string | null; kind?: string }[] {
  const dir = join(layout(stateDir).bucket(lakeBucket(platform, 'raw')), 'predictions', 'deployment=wine-quality');
  let files: string[];
  try {
    files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.jsonl'));
  } catch {
    return [];
  }
  return files.flatMap((f) =>
    readFileSync(join(dir, f), 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
  );
}

beforeAll(async () => {
  // The run's first start (seeded, wine-quality v1 trained); start-up on it only serves the champion.
  await copyTrainedState(stateDir);
  synthLocalStage(stateDir);
  // Every prediction logged (locally the config samples 10 %), so the test knows each one.
  platform = await startPlatform({ stateDir, assemblyDir: assemblyDirOf(stateDir), requestLog: { sampleRate: 1 } });
  await runStartup(platform);
  platform.publish(); // the CLI finds this platform through runtime.json
}, 300_000);

afterAll(async () => {
  await platform?.close();
  rmSync(stateDir, { recursive: true, force: true });
});

/** What the test sent and got back: request id → [prediction, label]. */
const scored = new Map<string, [number, number]>();

describe('serving metrics on the local platform', () => {
  it('the banner names /metrics; after predictions it holds the per-version series', async () => {
    const banner = upBanner(platform, { synthMs: 0, enginesMs: 0, startupMs: 0, readyMs: 0 }, 'log');
    const url = /^ {2}metrics\s+GET\s+(\S+)/m.exec(banner)?.[1];
    expect(url, banner).toMatch(/\/seldon\/seldon\/wine-quality\/metrics$/);
    for (let i = 0; i < 3; i++) {
      const r = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [WINES[i]!.slice(0, 11)] } });
      expect(r.status).toBe(200);
    }
    await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [[1, 2]] } });
    const res = await fetch(url!);
    expect(res.status).toBe(200);
    const text = await res.text();
    const sample = (name: string) =>
      Number(new RegExp(`^${name}\\{model="wine-quality",version="1",protocol="seldon"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(sample('mlops_model_requests_total')).toBeGreaterThanOrEqual(4);
    expect(sample('mlops_model_errors_total')).toBeGreaterThanOrEqual(1);
    expect(sample('mlops_model_request_duration_seconds_count')).toBe(sample('mlops_model_requests_total'));
    expect(sample('mlops_model_latency_p99_seconds')).toBeGreaterThan(0);
  });
});

describe('model quality on the local platform', () => {
  it('joins predictions (ids chosen by the caller) with labels from the lake and from feedback: RMSE as computed here', async () => {
    // 30 predictions with meta.puid, 5 with x-request-id, 5 through OIP with an id.
    for (const [i, wine] of WINES.entries()) {
      const x = wine.slice(0, 11);
      const id = `quality-test-${i}`;
      let y: number;
      if (i < 30) {
        const r = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [x] }, meta: { puid: id } });
        expect(r.body.meta.puid).toBe(id);
        y = r.body.data.ndarray[0];
      } else if (i < 35) {
        const r = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [x] } }, { 'x-request-id': id });
        expect(r.headers.get('x-request-id')).toBe(id);
        y = r.body.data.ndarray[0];
      } else {
        const r = await post('/v2/models/wine-quality/infer', { id, inputs: [{ name: 'input-0', shape: [1, 11], datatype: 'FP64', data: x }] });
        expect(r.body.id).toBe(id);
        y = r.body.outputs[0].data[0];
      }
      scored.set(id, [y, wine[11]!]);
    }
    // Labels: the first 38 as a JSON Lines file in labels/ (what `aws s3 cp labels.jsonl s3://<raw>/labels/` does),
    // a superseded earlier label for one of them, and the last two by Seldon feedback.
    const ids = [...scored.keys()];
    const now = new Date().toISOString();
    const lines = [
      JSON.stringify({ request_id: ids[0], label: 0, ts: '2020-01-01T00:00:00.000Z' }),
      ...ids.slice(0, 38).map((id) => JSON.stringify({ request_id: id, label: scored.get(id)![1], ts: now })),
    ];
    const s3 = s3Client(
      { AWS_ENDPOINT_URL_S3: platform.info.s3Endpoint, AWS_REGION: 'us-east-1' },
      { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
    );
    await s3.send(
      new PutObjectCommand({ Bucket: lakeBucket(platform, 'raw'), Key: 'labels/quality-test.jsonl', Body: `${lines.join('\n')}\n` }),
    );
    for (const id of ids.slice(38)) {
      const r = await post('/seldon/seldon/wine-quality/api/v1.0/feedback', {
        response: { meta: { puid: id } },
        truth: { data: { ndarray: [[scored.get(id)![1]]] } },
        reward: 1,
      });
      expect(r.status).toBe(200);
    }
    // The request log is written in batches (every second).
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const logged = loggedLines();
      const predicted = new Set(logged.filter((l) => l.kind === undefined).map((l) => l.request_id));
      if (ids.every((id) => predicted.has(id)) && logged.filter((l) => l.kind === 'feedback').length >= 2) break;
      await new Promise((r) => setTimeout(r, 250));
    }

    const r = await mlops('quality', '--model', 'wine-quality', '--json');
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    const pairs = [...scored.values()];
    const e = pairs.map(([y, label]) => y - label);
    const labels = pairs.map(([, label]) => label);
    const mean = labels.reduce((a, b) => a + b, 0) / labels.length;
    const rmse = Math.sqrt(e.reduce((a, b) => a + b * b, 0) / e.length);
    const mae = e.reduce((a, b) => a + Math.abs(b), 0) / e.length;
    const r2 = 1 - e.reduce((a, b) => a + b * b, 0) / labels.reduce((a, b) => a + (b - mean) ** 2, 0);
    const v1 = report.versions.find((v: { version: string }) => v.version === '1');
    expect(v1).toMatchObject({ version: '1', labeled: 40 });
    expect(v1.rmse).toBeCloseTo(rmse, 9);
    expect(v1.mae).toBeCloseTo(mae, 9);
    expect(v1.r2).toBeCloseTo(r2, 9);
    expect(report.versions.at(-1)).toMatchObject({ version: '*', labeled: 40 });
    expect(['ok', 'below-threshold']).toContain(report.status);

    const text = await mlops('quality', '--model', 'wine-quality');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^version\s+labeled\s+RMSE\s+MAE\s+R2\s+status$/m);
    expect(text.stdout).toMatch(new RegExp(`^1\\s+40\\s+${Number(rmse.toPrecision(4))}\\s`, 'm'));
  });

  it('a window without labeled predictions is a clear result, not an error', async () => {
    const r = await mlops('quality', '--model', 'wine-quality', '--start', '2020-01-01', '--end', '2020-01-02', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'no-labels',
      versions: [],
      message: expect.stringMatching(/^no labeled predictions of wine-quality from 2020-01-01T00:00:00.000Z to 2020-01-02T00:00:00.000Z/),
    });
  });

  it('a malformed window fails before any execution; an unknown model fails with a clear error', async () => {
    const before = JSON.parse((await mlops('executions', '--json')).stdout).length;
    const bad = await mlops('quality', '--model', 'wine-quality', '--start', 'yesterday');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/start must be an ISO 8601 date or UTC time such as 2026-12-04 .*, but "yesterday" was provided/);
    const backwards = await mlops('quality', '--model', 'wine-quality', '--start', '2026-12-05', '--end', '2026-12-04');
    expect(backwards.code).toBe(2);
    expect(backwards.stderr).toMatch(/start must be before end/);
    expect(JSON.parse((await mlops('executions', '--json')).stdout)).toHaveLength(before);

    const unknown = await mlops('quality', '--model', 'no-such-model');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/model must be a registered model, but "no-such-model" is not in the registry/);
  });

  it('below the thresholds: says which, and puts ModelQualityBelowThreshold on the platform bus', async () => {
    const [bus] = platform.stage.resourcesOfType('AWS::Events::EventBus').map((r) => platform.stage.physicalName(r));
    const received: Record<string, any>[] = [];
    platform.events.addRule({
      name: 'quality-test',
      eventBusName: bus,
      eventPattern: { source: ['mlops-kit.quality'], 'detail-type': ['ModelQualityBelowThreshold'] },
      target: async (event) => void received.push(event),
    });
    // 40 more predictions whose labels are 3 above them: the window's RMSE goes well past rmseMax.
    const lines: string[] = [];
    for (const [i, wine] of WINES.entries()) {
      const id = `quality-bad-${i}`;
      const r = await post('/seldon/seldon/wine-quality/api/v1.0/predictions', { data: { ndarray: [wine.slice(0, 11)] }, meta: { puid: id } });
      lines.push(JSON.stringify({ request_id: id, label: r.body.data.ndarray[0] + 3, ts: new Date().toISOString() }));
    }
    const s3 = s3Client(
      { AWS_ENDPOINT_URL_S3: platform.info.s3Endpoint, AWS_REGION: 'us-east-1' },
      { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } },
    );
    await s3.send(new PutObjectCommand({ Bucket: lakeBucket(platform, 'raw'), Key: 'labels/quality-bad.jsonl', Body: `${lines.join('\n')}\n` }));
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && loggedLines().filter((l) => l.request_id?.startsWith('quality-bad-')).length < 40) {
      await new Promise((r) => setTimeout(r, 250));
    }

    const r = await mlops('quality', '--model', 'wine-quality');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^wine-quality v1: RMSE [0-9.]+ > rmseMax 0\.9/m);
    expect(r.stdout).toContain('1 ModelQualityBelowThreshold event(s) put on the platform bus');
    await platform.events.settled();
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      source: 'mlops-kit.quality',
      'detail-type': 'ModelQualityBelowThreshold',
      detail: { environment: 'local', model: 'wine-quality', modelVersion: '1', labeled: 80, breaches: expect.arrayContaining([expect.stringMatching(/^RMSE /)]) },
    });
  });
});
