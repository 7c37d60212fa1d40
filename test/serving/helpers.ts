/**
 * Test helpers for the model server: model descriptions written to temp dirs, a server per test
 * file, and a small HTTP client on node:http (raw bodies, any method, any header).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LinearModel, MODEL_FILE, MODEL_FORMAT, parseModel } from '../../lib/model/format';
import { compileModel } from '../../lib/serving/model';
import { type ModelServer, startModelServer } from '../../lib/serving/server';

/** The wine data's 11 features, in the CSV's order. */
export const WINE_FEATURES = [
  'fixed acidity',
  'volatile acidity',
  'citric acid',
  'residual sugar',
  'chlorides',
  'free sulfur dioxide',
  'total sulfur dioxide',
  'density',
  'pH',
  'sulphates',
  'alcohol',
];

/** A valid model description with the given parameters. */
export function modelJson(
  features: readonly string[],
  coefficients: readonly number[],
  intercept: number,
  target = 'quality',
): LinearModel {
  return parseModel({
    format: MODEL_FORMAT,
    algorithm: 'elasticnet',
    features,
    target,
    coefficients,
    intercept,
    hyperparameters: { alpha: 0.5, l1_ratio: 0.5, max_iter: 1000, tol: 1e-4 },
    metrics: { train: { rmse: 0.7, mae: 0.5, r2: 0.3, rows: 1599 } },
    fit: { iterations: 12, converged: true, dual_gap: 1e-6, seconds: 0.01 },
    data_version: null,
    warnings: [],
    created_at: '2026-11-03T10:00:00.000Z',
  });
}

/** y = 1 + 2·a + 3·b: small enough to check answers by hand. */
export const TINY = modelJson(['a', 'b'], [2, 3], 1, 'y');
/** A wine-shaped model with distinct, non-trivial coefficients. */
export const WINE = modelJson(
  WINE_FEATURES,
  [0.03, -1.1, -0.2, 0.01, -1.7, 0.004, -0.003, -0.5, -0.4, 0.9, 0.29],
  3.1,
);

/** The prediction a linear model should make, computed independently of the server. */
export function expected(model: LinearModel, row: readonly number[]): number {
  return row.reduce((y, v, j) => y + v * model.coefficients[j]!, model.intercept);
}

/** Writes `model` as `<new temp dir>/model.json` and returns the directory. */
export async function writeModelDir(model: LinearModel): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-serving-'));
  await writeFile(join(dir, MODEL_FILE), JSON.stringify(model));
  return dir;
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or `undefined` when it is not JSON. */
  readonly json: any;
}

const agent = new Agent({ keepAlive: true, maxSockets: 16 });

/** Sends one request; `body` objects are sent as JSON. */
export function call(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  options: { agent?: Agent | false } = {},
): Promise<Reply> {
  const payload =
    body === undefined
      ? undefined
      : typeof body === 'string' || Buffer.isBuffer(body)
        ? body
        : JSON.stringify(body);
  const url = new URL(path, base);
  const merged: Record<string, string | number> = {
    ...(payload === undefined
      ? {}
      : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
    ...headers,
  };
  // '' means "do not send this header" (e.g. no content type, or no length for a chunked body).
  for (const [k, v] of Object.entries(merged)) if (v === '') delete merged[k];
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method,
        path: url.pathname + url.search,
        agent: options.agent ?? agent,
        headers: merged,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode!, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/**
 * Starts a model server for {@link TINY} (named `tiny`, version `1`) on a free port, with the body
 * limit `maxBodyBytes`; what the server reports goes to `errors`.
 */
export function startTiny(maxBodyBytes: number, errors: unknown[]): Promise<ModelServer> {
  return startModelServer({
    model: compileModel(TINY, { name: 'tiny', version: '1' }),
    port: 0,
    maxBodyBytes,
    onError: (err) => errors.push(err),
  });
}
