/**
 * `mlops smoke` through the doors: the real binary (`node bin/mlops.mjs smoke`) against a real
 * `mlops up` on random loopback ports — the same checks the delivery pipeline runs against staging,
 * pointed at the local gateway with no SigV4. It passes on a working platform and fails, with exit 1
 * and the failed check named, when a check cannot pass; a SigV4 run is checked against a loopback
 * server that records the Authorization header.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startUp, type UpProcess } from '../local/mlops-process';
import { copyTrainedState } from '../local/trained-state';

const stateDir = mkdtempSync(join(tmpdir(), 'mlops-smoke-'));
let platform: UpProcess;
let gateway: string;
let awsEndpoint: string;

/** The environment without anything that would point the CLI elsewhere. */
const cleanEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^(AWS_|PREDICTION_URL|TRAINING_STATE_MACHINE_ARN)/.test(k)) delete env[k];
  return { ...env, ...extra };
};

const mlops = (args: string[], env: NodeJS.ProcessEnv = cleanEnv()) => runCli(args, { env });

beforeAll(async () => {
  // prepare: the local platform as `npm start` brings it up (seeded, trained, serving wine-quality),
  // restarted on a copy of the run's first start
  platform = await startUp(await copyTrainedState(stateDir), [], { env: cleanEnv() });
  gateway = platform.url('gateway')!;
  awsEndpoint = platform.url('AWS endpoint')!;
}, 600_000);

afterAll(async () => {
  await platform?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

interface Report {
  ok: boolean;
  checks: { check: string; outcome: string; detail: string }[];
}

describe('mlops smoke against the local platform', () => {
  it('passes: the API is live, wine-quality predicts the README value, a short training run SUCCEEDS', async () => {
    // act
    const run = await mlops(['smoke', '--prediction-url', gateway, '--aws-endpoint', awsEndpoint, '--json']);
    // assess
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as Report;
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.check, c.outcome])).toEqual([
      ['live', 'passed'],
      ['predict', 'passed'],
      ['train', 'passed'],
    ]);
    const direct = (await (
      await fetch(`${gateway}/seldon/seldon/wine-quality/api/v1.0/predictions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ data: { ndarray: [[7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4]] } }),
      })
    ).json()) as { data: { ndarray: number[] } };
    expect(report.checks[1]!.detail).toBe(`wine-quality predicted ${direct.data.ndarray[0]} (Seldon v1)`);
    expect(report.checks[2]!.detail).toMatch(/^training SUCCEEDED: arn:aws:states:[^:]+:\d{12}:execution:[^:]*training[^:]*:smoke-/);
  }, 300_000);

  it('prints one line per check, then the verdict, in text mode', async () => {
    const run = await mlops(['smoke', '--prediction-url', gateway, '--no-training']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^✓ live {4}GET \/v2\/health\/live answered \{"live":true\} \(\d+\.\d s\)$/m);
    expect(run.stdout).toMatch(/^✓ predict {1}wine-quality predicted \d+\.\d+ \(Seldon v1\)/m);
    expect(run.stdout).toMatch(/^– train {3}--no-training/m);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toBe('smoke: passed');
  });

  it('fails if the deployment is not served, unless --allow-undeployed', async () => {
    const failed = await mlops(['smoke', '--prediction-url', gateway, '--model', 'no-such-model', '--no-training', '--json']);
    expect(failed.code).toBe(1);
    const report = JSON.parse(failed.stdout) as Report;
    expect(report.ok).toBe(false);
    expect(report.checks[1]).toMatchObject({ check: 'predict', outcome: 'failed' });
    expect(report.checks[1]!.detail).toMatch(/must answer 200 with a number in data\.ndarray, but 404 /);

    const allowed = await mlops(['smoke', '--prediction-url', gateway, '--model', 'no-such-model', '--no-training', '--allow-undeployed', '--json']);
    expect(allowed.code).toBe(0);
    expect((JSON.parse(allowed.stdout) as Report).checks[1]).toMatchObject({ check: 'predict', outcome: 'skipped' });
  });

  it('fails if the training execution does not succeed, naming its error', async () => {
    const run = await mlops([
      'smoke',
      '--prediction-url', gateway,
      '--aws-endpoint', awsEndpoint,
      '--training-input', '{"dataset":"no_such_table","target":"quality","model_name":"mlops-smoke"}',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const train = (JSON.parse(run.stdout) as Report).checks[2]!;
    expect(train.outcome).toBe('failed');
    expect(train.detail).toMatch(/^training must end SUCCEEDED, but FAILED \(\w+/);
  }, 300_000);

  it('fails if nothing answers at the URL, with the connection error', async () => {
    // prepare: a port that was free a moment ago (fetch refuses well-known ports such as 9 outright)
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const run = await mlops(['smoke', '--prediction-url', `http://127.0.0.1:${port}`, '--no-training', '--json']);
    expect(run.code).toBe(1);
    const [live] = (JSON.parse(run.stdout) as Report).checks;
    expect(live).toMatchObject({ check: 'live', outcome: 'failed' });
    expect(live!.detail).toMatch(/ECONNREFUSED/);
  });

  it('refuses bad flags with exit 2 and a sentence', async () => {
    // Four independent processes: at once, not one after another.
    const [notUrl, missing, badAuth, badInput] = await Promise.all([
      mlops(['smoke', '--prediction-url', 'not a url']),
      mlops(['smoke']),
      mlops(['smoke', '--prediction-url', gateway, '--auth', 'basic']),
      mlops(['smoke', '--prediction-url', gateway, '--training-input', '{nope']),
    ]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('--prediction-url must be a URL, but "not a url" was provided');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--prediction-url <url>.*not specified/);
    expect(badAuth.code).toBe(2);
    expect(badInput.code).toBe(2);
    expect(badInput.stderr).toContain('--training-input must be JSON');
  });
});

describe('mlops smoke with SigV4', () => {
  let server: Server;
  let url: string;
  const seen: { method?: string; url?: string; authorization?: string }[] = [];

  beforeAll(async () => {
    // prepare: a stand-in prediction API on loopback that answers as the router does
    server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      if (req.url === '/prod/v2/health/live') res.end('{"live":true}');
      else res.writeHead(404).end('{"error":"no model is deployed at this path"}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}/prod/`;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  it('signs every request for execute-api with the credential chain, under the API stage path', async () => {
    const run = await mlops(
      ['smoke', '--prediction-url', url, '--auth', 'iam', '--region', 'eu-west-1', '--no-training', '--allow-undeployed'],
      cleanEnv({ AWS_ACCESS_KEY_ID: 'AKIDSMOKETEST', AWS_SECRET_ACCESS_KEY: 'secret' }),
    );
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      'GET /prod/v2/health/live',
      'POST /prod/seldon/seldon/wine-quality/api/v1.0/predictions',
    ]);
    for (const s of seen) {
      expect(s.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDSMOKETEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/);
    }
  });
});
