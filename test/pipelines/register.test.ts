/**
 * Register model against a loopback HTTP server that answers the MLflow REST calls the step makes,
 * from memory, and records each request (the real registry handler is tested on its own; the lead's
 * end-to-end run puts the two together).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RegistryError, RegistryUnavailableError } from '../../lib/pipelines/errors';
import { VERSION_TAGS } from '../../lib/shared/operations';
import { HttpMlflowClient, registryClient, sigv4Signer } from '../../lib/adapters/sigv4-http/mlflow-client';
import {
  EXECUTION_TAG,
  productionModel,
  type RegisterRequest,
  registerModel,
  TRIGGER_TAGS,
} from '../../lib/pipelines/register';

interface Recorded {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: Record<string, any>;
}

/** The MLflow state the fake keeps, and the requests it saw. */
class FakeMlflow {
  requests: Recorded[] = [];
  models = new Set<string>();
  experiments = new Map<string, string>();
  runs: {
    run_id: string;
    experiment_id: string;
    tags: Record<string, string>;
    status: string;
    metrics: { key: string; value: number }[];
  }[] = [];
  versions: { name: string; version: string; run_id: string; source: string; stage: string }[] = [];
  /** Answers 503 to the next N requests. */
  failNext = 0;

  reset(): void {
    Object.assign(this, new FakeMlflow());
  }

  handle(method: string, path: string, query: URLSearchParams, body: Record<string, any>): [number, unknown] {
    const notFound: [number, unknown] = [
      404,
      { error_code: 'RESOURCE_DOES_NOT_EXIST', message: 'not found' },
    ];
    const endpoint = path.replace(/^.*\/api\/2\.0\/mlflow\//, '');
    switch (`${method} ${endpoint}`) {
      case 'GET registered-models/get':
        return this.models.has(query.get('name')!)
          ? [200, { registered_model: { name: query.get('name') } }]
          : notFound;
      case 'POST registered-models/create':
        this.models.add(body['name']);
        return [200, { registered_model: { name: body['name'] } }];
      case 'GET experiments/get-by-name': {
        const id = this.experiments.get(query.get('experiment_name')!);
        return id ? [200, { experiment: { experiment_id: id } }] : notFound;
      }
      case 'POST experiments/create': {
        const id = String(this.experiments.size + 1);
        this.experiments.set(body['name'], id);
        return [200, { experiment_id: id }];
      }
      case 'POST runs/search': {
        const value = /= '([^']*)'/.exec(body['filter'])![1];
        const runs = this.runs.filter(
          (r) => body['experiment_ids'].includes(r.experiment_id) && r.tags[EXECUTION_TAG] === value,
        );
        return [200, { runs: runs.map((r) => ({ info: { run_id: r.run_id, status: r.status } })) }];
      }
      case 'POST runs/create': {
        const run = {
          run_id: `run${this.runs.length + 1}`,
          experiment_id: body['experiment_id'],
          tags: Object.fromEntries(body['tags'].map((t: { key: string; value: string }) => [t.key, t.value])),
          status: 'RUNNING',
          metrics: [],
        };
        this.runs.push(run);
        return [200, { run: { info: { run_id: run.run_id, status: run.status } } }];
      }
      case 'POST runs/log-batch':
        this.runs.find((r) => r.run_id === body['run_id'])!.metrics.push(...body['metrics']);
        return [200, {}];
      case 'POST runs/update':
        this.runs.find((r) => r.run_id === body['run_id'])!.status = body['status'];
        return [200, {}];
      case 'GET runs/get': {
        const run = this.runs.find((r) => r.run_id === query.get('run_id'));
        return run
          ? [200, { run: { info: { run_id: run.run_id }, data: { metrics: run.metrics } } }]
          : notFound;
      }
      case 'GET model-versions/search': {
        const [, name, runId] = /name = '([^']*)' and run_id = '([^']*)'/.exec(query.get('filter')!)!;
        return [200, { model_versions: this.versions.filter((v) => v.name === name && v.run_id === runId) }];
      }
      case 'POST model-versions/create': {
        const v = {
          name: body['name'],
          version: String(this.versions.length + 1),
          run_id: body['run_id'],
          source: body['source'],
          stage: 'None',
        };
        this.versions.push(v);
        return [200, { model_version: v }];
      }
      case 'GET registered-models/alias':
        // As MLflow answers: 404 for an unknown model, 400 for a model without that alias.
        if (!this.models.has(query.get('name') ?? '')) return notFound;
        return [
          400,
          { error_code: 'INVALID_PARAMETER_VALUE', message: `Registered model alias ${query.get('alias')} not found.` },
        ];
      case 'POST registered-models/get-latest-versions':
        if (!this.models.has(body['name'])) return notFound;
        return [
          200,
          {
            model_versions: this.versions.filter((v) => v.name === body['name'] && v.stage === 'Production'),
          },
        ];
      default:
        return [404, { error_code: 'ENDPOINT_NOT_FOUND', message: `${method} ${endpoint}` }];
    }
  }
}

const mlflow = new FakeMlflow();
let server: Server;
let baseUrl: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const body = text ? JSON.parse(text) : {};
      mlflow.requests.push({ method: req.method!, path: url.pathname, headers: req.headers, body });
      let answer: [number, unknown];
      if (mlflow.failNext > 0) {
        mlflow.failNext--;
        answer = [503, { message: 'busy' }];
      } else {
        answer = mlflow.handle(req.method!, url.pathname, url.searchParams, body);
      }
      const [status, payload] = answer;
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/prod/`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
afterEach(() => mlflow.reset());

const request: RegisterRequest = {
  model_name: 'wine-quality',
  execution: 'run-1',
  model_uri: 's3://artifacts/runs/wine-quality/run-1/training/train-run-1/output/model.tar.gz',
  training_job_name: 'train-run-1',
  hyperparameters: { alpha: '0.1', target: 'quality' },
  metrics: { rmse: 0.65, mae: 0.5, r2: 0.35, rows: 319 },
  dataset: { table: 'winequality_red_raw', location: 's3://raw/datasets/winequality-red/' },
  data_version: {
    uri: 's3://artifacts/runs/wine-quality/run-1/data-version.json',
    sha256: 'd'.repeat(64),
    objects: 1,
  },
};

describe('Register model', () => {
  it('creates the model, an experiment run with params, metrics and data version, and a version of the artifact', async () => {
    const client = new HttpMlflowClient({ baseUrl });
    const registration = await registerModel(client, request, () => 1000);
    expect(registration).toEqual({
      model_name: 'wine-quality',
      version: '1',
      run_id: 'run1',
      experiment_id: '1',
    });
    expect(mlflow.versions).toEqual([
      { name: 'wine-quality', version: '1', run_id: 'run1', source: request.model_uri, stage: 'None' },
    ]);
    const logBatch = mlflow.requests.find((r) => r.path.endsWith('/runs/log-batch'))!.body;
    expect(logBatch['params']).toEqual(
      expect.arrayContaining([
        { key: 'alpha', value: '0.1' },
        { key: 'dataset', value: 'winequality_red_raw' },
      ]),
    );
    expect(logBatch['metrics']).toEqual(
      expect.arrayContaining([{ key: 'holdout_rmse', value: 0.65, timestamp: 1000, step: 0 }]),
    );
    expect(logBatch['tags']).toContainEqual({
      key: 'mlops.data_version',
      value: JSON.stringify(request.data_version),
    });
    const create = mlflow.requests.find((r) => r.path.endsWith('/model-versions/create'))!;
    expect(create.headers['x-mlops-idempotent']).toBe('true');
    // The version names the data version object and its digest (never the list of input objects).
    expect(create.body['tags']).toEqual(
      expect.arrayContaining([
        { key: VERSION_TAGS.dataVersionUri, value: request.data_version.uri },
        { key: VERSION_TAGS.dataVersionSha256, value: request.data_version.sha256 },
      ]),
    );
    expect(mlflow.runs[0]!.status).toBe('FINISHED');
    // Unsigned when no signer is configured (REGISTRY_AUTH=none).
    expect(mlflow.requests.every((r) => r.headers['authorization'] === undefined)).toBe(true);
  });

  it("tags a triggered run with the event's reason, report and id (no report tag when the event named none)", async () => {
    const client = new HttpMlflowClient({ baseUrl });
    const trigger = { reason: 'DriftDetected', report_uri: 's3://curated/drift/wine-quality/report.json', event_id: 'e-1' };
    await registerModel(client, { ...request, trigger });
    const tags = mlflow.requests.find((r) => r.path.endsWith('/runs/log-batch'))!.body['tags'];
    expect(tags).toEqual(
      expect.arrayContaining([
        { key: TRIGGER_TAGS.reason, value: 'DriftDetected' },
        { key: TRIGGER_TAGS.reportUri, value: trigger.report_uri },
        { key: TRIGGER_TAGS.eventId, value: 'e-1' },
      ]),
    );
    await registerModel(client, { ...request, execution: 'run-q', model_uri: request.model_uri.replace('run-1', 'run-q'), trigger: { ...trigger, reason: 'ModelQualityBelowThreshold', report_uri: null } });
    const second = mlflow.requests.filter((r) => r.path.endsWith('/runs/log-batch'))[1]!.body['tags'] as { key: string }[];
    expect(second.map((t) => t.key)).toEqual(expect.arrayContaining([TRIGGER_TAGS.reason, TRIGGER_TAGS.eventId]));
    expect(second.map((t) => t.key)).not.toContain(TRIGGER_TAGS.reportUri);
  });

  it('records the artifact digest as the version tag mlops.artifact_sha256, and no tag when none is given', async () => {
    const client = new HttpMlflowClient({ baseUrl });
    const digest = 'a'.repeat(64);
    await registerModel(client, { ...request, artifact_sha256: digest, artifact_version_id: 'obj-v1' });
    const create = mlflow.requests.find((r) => r.path.endsWith('/model-versions/create'))!;
    expect(create.body['tags']).toContainEqual({ key: VERSION_TAGS.artifactSha256, value: digest });
    expect(create.body['tags']).toContainEqual({ key: VERSION_TAGS.artifactVersionId, value: 'obj-v1' });
    mlflow.reset();
    await registerModel(client, request);
    const plain = mlflow.requests.find((r) => r.path.endsWith('/model-versions/create'))!;
    expect((plain.body['tags'] as { key: string }[]).map((t) => t.key)).not.toContain(VERSION_TAGS.artifactSha256);
  });

  it('leaves one run and one version when the step is retried for the same execution', async () => {
    const client = new HttpMlflowClient({ baseUrl });
    const first = await registerModel(client, request);
    const again = await registerModel(client, request);
    expect(again).toEqual(first);
    expect(mlflow.runs).toHaveLength(1);
    expect(mlflow.versions).toHaveLength(1);
    expect(mlflow.requests.filter((r) => r.path.endsWith('/runs/log-batch'))).toHaveLength(1);
    // Another execution is another run and version.
    await registerModel(client, {
      ...request,
      execution: 'run-2',
      model_uri: request.model_uri.replace('run-1', 'run-2'),
    });
    expect(mlflow.versions.map((v) => v.version)).toEqual(['1', '2']);
  });

  it('signs every request with SigV4 for execute-api when REGISTRY_AUTH is iam', async () => {
    const client = new HttpMlflowClient({
      baseUrl,
      signer: sigv4Signer({
        region: 'eu-west-1',
        credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      }),
    });
    await registerModel(client, request);
    expect(mlflow.requests.length).toBeGreaterThan(5);
    for (const r of mlflow.requests) {
      expect(r.headers['authorization']).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
      );
      expect(r.headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
    }
  });

  it('builds a signing client from REGISTRY_AUTH=iam and an unsigned one from none', async () => {
    const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIDENV';
    process.env['AWS_SECRET_ACCESS_KEY'] = 'secret';
    try {
      await registryClient({ REGISTRY_URL: baseUrl, REGISTRY_AUTH: 'iam', AWS_REGION: 'us-east-1' })!
        .get('registered-models/get', { name: 'x' })
        .catch(() => undefined);
      await registryClient({ REGISTRY_URL: baseUrl, REGISTRY_AUTH: 'none' })!
        .get('registered-models/get', { name: 'x' })
        .catch(() => undefined);
    } finally {
      process.env['AWS_ACCESS_KEY_ID'] = saved.id;
      process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
      if (saved.id === undefined) delete process.env['AWS_ACCESS_KEY_ID'];
      if (saved.secret === undefined) delete process.env['AWS_SECRET_ACCESS_KEY'];
    }
    expect(mlflow.requests[0]!.headers['authorization']).toMatch(/Credential=AKIDENV\//);
    expect(mlflow.requests[1]!.headers['authorization']).toBeUndefined();
    expect(registryClient({})).toBeUndefined();
    expect(() => registryClient({ REGISTRY_URL: baseUrl, REGISTRY_AUTH: 'basic' })).toThrow(
      /REGISTRY_AUTH must be iam or none/,
    );
  });

  it('reports 5xx as RegistryUnavailableError (retried) and 4xx as RegistryError (not retried)', async () => {
    const client = new HttpMlflowClient({ baseUrl });
    mlflow.failNext = 1;
    await expect(registerModel(client, request)).rejects.toBeInstanceOf(RegistryUnavailableError);
    await expect(client.post('nope', {})).rejects.toBeInstanceOf(RegistryError);
    expect(mlflow.versions).toEqual([]);
  });
});

describe('productionModel', () => {
  it("finds the Production version and its run's holdout metrics, or null", async () => {
    const client = new HttpMlflowClient({ baseUrl });
    expect(await productionModel(client, 'wine-quality')).toBeNull();
    await registerModel(client, request);
    expect(await productionModel(client, 'wine-quality')).toBeNull();
    mlflow.versions[0]!.stage = 'Production';
    expect(await productionModel(client, 'wine-quality')).toEqual({
      version: '1',
      source: request.model_uri,
      run_id: 'run1',
      logged: { rmse: 0.65, mae: 0.5, r2: 0.35 },
    });
  });
});
