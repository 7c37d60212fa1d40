/**
 * `mlops smoke`: is a deployed environment working? What the delivery pipeline runs after each
 * deployment (staging: all three checks; production: the prediction API only), and what anyone can
 * run against any environment, the local platform included:
 *
 * 1. **live**: `GET <prediction API>/v2/health/live` answers `{"live": true}` (API Gateway, the VPC
 *    link, the NLB and the router, or the local gateway);
 * 2. **predict**: a Seldon v1 prediction of the first red wine by deployment `--model` is a number
 *    (`--allow-undeployed` accepts a 404 — no model deployed yet — in a new environment);
 * 3. **train**: a training execution with a small input runs to SUCCEEDED (`--no-training` skips it).
 *
 * Requests are SigV4-signed with the default credential chain (`AWS_PROFILE`) unless `--auth none`
 * (the default for a loopback URL, as the local gateway is unauthenticated).
 *
 * @example
 *   npx mlops smoke --prediction-url http://127.0.0.1:8080 --aws-endpoint http://127.0.0.1:8081
 *   AWS_PROFILE=staging npx mlops smoke --prediction-url https://abc.execute-api.eu-west-1.amazonaws.com/prod/ \
 *     --training-state-machine arn:aws:states:eu-west-1:111122223333:stateMachine:mlops-staging-training…
 */
import type { SFNClient } from '@aws-sdk/client-sfn';
import { InvalidArgumentError, Option } from 'commander';
import type { RequestSigner } from '../adapters/sigv4-http/mlflow-client';
import { DEFAULT_SCHEDULED_INPUT } from '../pipelines/training-states';
import { jsonOption, readJsonArg } from './local';
import { CliError, type CommandModule, EXIT } from './program';

/** The first red wine of the UCI set (the README's example request). */
export const SMOKE_ROW = [7.4, 0.7, 0, 1.9, 0.076, 11, 34, 0.9978, 3.51, 0.56, 9.4];

/**
 * A short training: the example dataset under a model name of its own, so a smoke run never adds a
 * version to the model users serve.
 */
export const SMOKE_TRAINING_INPUT = {
  ...DEFAULT_SCHEDULED_INPUT,
  model_name: 'mlops-smoke',
  hyperparameters: { ...DEFAULT_SCHEDULED_INPUT.hyperparameters, max_iter: 200 },
};

export interface SmokeOptions {
  /** The prediction API's base URL (the gateway locally). */
  readonly predictionUrl: string;
  readonly auth: 'iam' | 'none';
  /** For signing and Step Functions. */
  readonly region: string;
  /** Step Functions endpoint; the SDK default (AWS) when absent. */
  readonly awsEndpoint?: string;
  readonly namespace: string;
  readonly model: string;
  readonly allowUndeployed: boolean;
  /** ARN, name or part of a name; absent: the one machine whose name contains "training". */
  readonly trainingStateMachine?: string;
  /** No training check. */
  readonly skipTraining: boolean;
  readonly trainingInput: unknown;
  readonly timeoutMs: number;
  /** Each check's line as it ends. */
  readonly progress?: (result: CheckResult) => void;
  readonly fetch?: typeof fetch;
}

export interface CheckResult {
  readonly check: 'live' | 'predict' | 'train';
  readonly outcome: 'passed' | 'failed' | 'skipped';
  readonly detail: string;
  readonly ms: number;
}

const isLoopback = (url: URL) => ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);

/** Runs the checks in order; a failed check does not stop the next one (the report names them all). */
export async function runSmoke(options: SmokeOptions): Promise<CheckResult[]> {
  const base = new URL(options.predictionUrl.endsWith('/') ? options.predictionUrl : `${options.predictionUrl}/`);
  // The signer and the SDK are loaded when a check needs them (see lib/cli/local.ts).
  const signer =
    options.auth === 'iam' ? (await import('../adapters/sigv4-http/mlflow-client')).sigv4Signer({ region: options.region }) : undefined;
  const call = http(options.fetch ?? fetch, signer);
  const results: CheckResult[] = [];
  const record = async (check: CheckResult['check'], run: () => Promise<Omit<CheckResult, 'check' | 'ms'>>) => {
    const started = performance.now();
    let result: CheckResult;
    try {
      result = { check, ...(await run()), ms: Math.round(performance.now() - started) };
    } catch (err) {
      result = { check, outcome: 'failed', detail: describeError(err), ms: Math.round(performance.now() - started) };
    }
    results.push(result);
    options.progress?.(result);
  };

  await record('live', async () => {
    const { status, body } = await call('GET', new URL('v2/health/live', base));
    const live = (body as { live?: unknown } | undefined)?.live === true;
    return status === 200 && live
      ? { outcome: 'passed', detail: 'GET /v2/health/live answered {"live":true}' }
      : { outcome: 'failed', detail: `GET /v2/health/live must answer 200 {"live":true}, but ${status} ${JSON.stringify(body)} was received` };
  });

  await record('predict', async () => {
    const path = `seldon/${encodeURIComponent(options.namespace)}/${encodeURIComponent(options.model)}/api/v1.0/predictions`;
    const { status, body } = await call('POST', new URL(path, base), { data: { ndarray: [SMOKE_ROW] } });
    if (status === 404 && options.allowUndeployed) {
      return { outcome: 'skipped', detail: `${options.model} is not deployed yet (404 from the router; --allow-undeployed)` };
    }
    const value = (body as { data?: { ndarray?: unknown[] } } | undefined)?.data?.ndarray?.[0];
    return status === 200 && typeof value === 'number' && Number.isFinite(value)
      ? { outcome: 'passed', detail: `${options.model} predicted ${value} (Seldon v1)` }
      : {
          outcome: 'failed',
          detail: `POST /${path} must answer 200 with a number in data.ndarray, but ${status} ${JSON.stringify(body).slice(0, 300)} was received`,
        };
  });

  if (options.skipTraining) {
    results.push({ check: 'train', outcome: 'skipped', detail: '--no-training', ms: 0 });
    options.progress?.(results.at(-1)!);
  } else {
    await record('train', () => smokeTraining(options));
  }
  return results;
}

async function smokeTraining(options: SmokeOptions): Promise<Omit<CheckResult, 'check' | 'ms'>> {
  const { DescribeExecutionCommand, SFNClient, StartExecutionCommand } = await import('@aws-sdk/client-sfn');
  const sfn = new SFNClient({
    region: options.region,
    maxAttempts: 3,
    ...(options.awsEndpoint
      ? {
          endpoint: options.awsEndpoint,
          // The local platform's engines accept any credentials; AWS never sees these.
          ...(isLoopback(new URL(options.awsEndpoint)) ? { credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
        }
      : {}),
  });
  try {
    const stateMachineArn = await findTrainingMachine(sfn, options.trainingStateMachine);
    const { executionArn } = await sfn.send(
      new StartExecutionCommand({
        stateMachineArn,
        name: `smoke-${new Date().toISOString().replace(/[^0-9]/g, '').slice(0, 14)}-${Math.random().toString(36).slice(2, 8)}`,
        input: JSON.stringify(options.trainingInput),
      }),
    );
    const deadline = Date.now() + options.timeoutMs;
    for (let wait = 250; ; wait = Math.min(wait * 2, 15_000)) {
      const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
      if (d.status === 'SUCCEEDED') return { outcome: 'passed', detail: `training SUCCEEDED: ${executionArn}` };
      if (d.status !== 'RUNNING' && d.status !== 'PENDING_REDRIVE') {
        return { outcome: 'failed', detail: `training must end SUCCEEDED, but ${d.status} (${d.error ?? ''}: ${d.cause?.slice(0, 300) ?? ''}) was the outcome of ${executionArn}` };
      }
      if (Date.now() > deadline) {
        return { outcome: 'failed', detail: `training did not end within ${options.timeoutMs / 1000} s: ${executionArn} is still ${d.status}` };
      }
      await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, deadline - Date.now()) + 10)));
    }
  } finally {
    sfn.destroy();
  }
}

async function findTrainingMachine(sfn: SFNClient, query: string | undefined): Promise<string> {
  const { ListStateMachinesCommand } = await import('@aws-sdk/client-sfn');
  if (query?.startsWith('arn:')) return query;
  const machines: { name?: string; stateMachineArn?: string }[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(new ListStateMachinesCommand({ nextToken }));
    machines.push(...(page.stateMachines ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  const q = (query ?? 'training').toLowerCase();
  const found = machines.filter((m) => m.name === query || m.name?.toLowerCase().includes(q));
  if (found.length !== 1) {
    throw new Error(
      `--training-state-machine must name one state machine, but '${q}' matches ${found.length} of: ${machines.map((m) => m.name).join(', ') || 'none'}`,
    );
  }
  return found[0]!.stateMachineArn!;
}

/** One JSON request, signed when a signer is given; the body parsed when it is JSON. */
function http(fetchFn: typeof fetch, signer: RequestSigner | undefined) {
  return async (method: string, url: URL, json?: unknown): Promise<{ status: number; body: unknown }> => {
    const body = json === undefined ? undefined : JSON.stringify(json);
    let headers: Record<string, string> = { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) };
    if (signer) headers = await signer({ method, url, headers, ...(body !== undefined ? { body } : {}) });
    const res = await fetchFn(url, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      return { status: res.status, body: text };
    }
  };
}

function describeError(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return [e.name !== 'Error' ? e.name : undefined, e.message, e.cause?.code ?? e.cause?.message].filter(Boolean).join(': ');
}

/** `abc.execute-api.eu-west-1.amazonaws.com` → `eu-west-1`. */
const regionOfUrl = (url: URL) => /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(url.hostname)?.[1];

export const smokeCommands: CommandModule = (program) => {
  program
    .command('smoke')
    .description("check a deployed environment: the prediction API is live and predicts, a short training run succeeds")
    .addOption(
      new Option('--prediction-url <url>', 'the prediction API base URL (the gateway locally)').env('PREDICTION_URL').makeOptionMandatory(),
    )
    .addOption(
      new Option('--training-state-machine <arn|name>', 'the training machine (default: the one named *training*)').env('TRAINING_STATE_MACHINE_ARN'),
    )
    .option('--aws-endpoint <url>', 'the Step Functions endpoint (the local platform: gateway port + 1)')
    .addOption(new Option('--auth <mode>', 'SigV4-sign requests (iam) or not (none); default: none on 127.0.0.1, else iam').choices(['iam', 'none']))
    .option('--region <region>', 'the region (default: from the URL, then AWS_REGION)')
    .option('--model <deployment>', 'the deployment to predict with', 'wine-quality')
    .option('--namespace <namespace>', 'its Seldon namespace', 'seldon')
    .option('--allow-undeployed', 'accept a 404 from the prediction route (no model deployed yet)')
    .option('--no-training', 'skip the training check (production health checks)')
    .option('--training-input <json|@file>', 'the training execution input (default: the example table, model mlops-smoke)')
    .addOption(new Option('--timeout <seconds>', 'how long the training may take').default(1800).argParser(positiveSeconds))
    .addOption(jsonOption())
    .addHelpText(
      'after',
      '\nExit codes: 0 every check passed (or was skipped), 1 a check failed, 2 bad flags.\n' +
        'Examples:\n  npx mlops smoke --prediction-url http://127.0.0.1:8080 --aws-endpoint http://127.0.0.1:8081\n' +
        '  AWS_PROFILE=production npx mlops smoke --prediction-url https://….execute-api.eu-west-1.amazonaws.com/prod/ --no-training\n',
    )
    .action(async (opts) => {
      let url: URL;
      try {
        url = new URL(opts.predictionUrl);
      } catch {
        throw new CliError(`--prediction-url must be a URL, but ${JSON.stringify(opts.predictionUrl)} was provided`);
      }
      if (opts.awsEndpoint !== undefined && !URL.canParse(opts.awsEndpoint)) {
        throw new CliError(`--aws-endpoint must be a URL, but ${JSON.stringify(opts.awsEndpoint)} was provided`);
      }
      const region = opts.region ?? regionOfUrl(url) ?? process.env['AWS_REGION'] ?? process.env['AWS_DEFAULT_REGION'] ?? 'us-east-1';
      const results = await runSmoke({
        predictionUrl: url.href,
        auth: opts.auth ?? (isLoopback(url) ? 'none' : 'iam'),
        region,
        awsEndpoint: opts.awsEndpoint,
        namespace: opts.namespace,
        model: opts.model,
        allowUndeployed: Boolean(opts.allowUndeployed),
        trainingStateMachine: opts.trainingStateMachine,
        skipTraining: opts.training === false,
        trainingInput: opts.trainingInput === undefined ? SMOKE_TRAINING_INPUT : readJsonArg(opts.trainingInput, '--training-input'),
        timeoutMs: opts.timeout * 1000,
        progress: opts.json
          ? undefined
          : (r) => process.stdout.write(`${{ passed: '✓', failed: '✗', skipped: '–' }[r.outcome]} ${r.check.padEnd(7)} ${r.detail} (${(r.ms / 1000).toFixed(1)} s)\n`),
      });
      const failed = results.filter((r) => r.outcome === 'failed');
      if (opts.json) process.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks: results }, null, 2)}\n`);
      else process.stdout.write(failed.length === 0 ? 'smoke: passed\n' : `smoke: ${failed.length} check(s) failed\n`);
      process.exitCode = failed.length === 0 ? EXIT.ok : EXIT.failed;
    });
};

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}
