/**
 * What the local platform runs when it starts (`mlops up`): the example data seeded into the raw
 * zone, then — as the stage grows them — the training pipeline, registration, promotion and
 * serving of the example model. Each step is idempotent, so a second `mlops up` reuses what the
 * first produced.
 */
import { readFileSync } from 'node:fs';
import { WINE_CSV_PATH, WINE_RAW_PREFIX } from '../datasets/wine';
import { DEFAULT_SCHEDULED_INPUT } from '../../stacks/training-pipeline-stack';
import { type LocalPlatform, SERVING_NAMESPACE } from './platform';
import { S3Error } from './s3';

export interface StartupStep {
  readonly name: string;
  /** What happened, for the start-up log ("seeded", "already present", …). */
  readonly outcome: string;
  readonly ms: number;
}

export interface StartupOptions {
  /** Retrain even if the registry already holds a version of the example model. */
  readonly retrain?: boolean;
  readonly log?: (line: string) => void;
}

/** The example data set's key in the raw bucket. */
export const WINE_RAW_KEY = `${WINE_RAW_PREFIX}winequality-red.csv`;

export async function runStartup(
  platform: LocalPlatform,
  options: StartupOptions = {},
): Promise<StartupStep[]> {
  const steps: StartupStep[] = [];
  const step = async (name: string, work: () => Promise<string>) => {
    const t = performance.now();
    const outcome = await work();
    const s = { name, outcome, ms: performance.now() - t };
    options.log?.(`  ${name}: ${outcome} (${(s.ms / 1000).toFixed(2)} s)`);
    steps.push(s);
  };
  await step('seed example data', () => seedExampleData(platform));
  const model = DEFAULT_SCHEDULED_INPUT.model_name;
  const registry = new RegistryClient(platform.gatewayUrl);
  let champion = await registry.champion(model);
  if (!champion || options.retrain) {
    let version = '';
    await step('training pipeline', async () => {
      const r = await runTraining(platform);
      version = r.version;
      return `${model} version ${r.version} registered (rmse ${r.rmse}) by execution ${r.executionName}`;
    });
    await step('promote', async () => {
      await registry.promote(model, version);
      await platform.events.settled(); // the promotion event deploys it, as the deployer does on EKS
      return `${model} version ${version} → Production, alias champion`;
    });
    champion = await registry.champion(model);
  }
  if (
    champion &&
    !platform.serving.deployments.some((d) => d.deployment === model && d.version === champion!.version)
  ) {
    // A restart: the champion is registered already; serve it again as EKS would keep serving it.
    await step('serve champion', async () => {
      await platform.serving.deploy({
        namespace: SERVING_NAMESPACE,
        deployment: model,
        modelUri: champion!.source,
        version: champion!.version,
      });
      return `${model} version ${champion!.version} from ${champion!.source}`;
    });
  }
  return steps;
}

/** The lake's bucket whose construct id is `id` (Raw, Curated, Artifacts, AthenaResults). */
export function lakeBucket(platform: LocalPlatform, id: string): string {
  const r = platform.stage
    .resourcesOfType('AWS::S3::Bucket')
    .find((b) => new RegExp(`/Lake/${id}/Resource$`).test(b.constructPath ?? ''));
  if (!r) throw new Error(`the local stage has no lake bucket ${id}`);
  return platform.stage.physicalName(r);
}

/** Puts the wine CSV into the raw zone unless it is already there (a create-only write). */
export async function seedExampleData(platform: LocalPlatform): Promise<string> {
  const bucket = lakeBucket(platform, 'Raw');
  try {
    const info = await platform.store.put(bucket, WINE_RAW_KEY, readFileSync(WINE_CSV_PATH), {
      ifNoneMatch: '*',
      contentType: 'text/csv',
    });
    return `s3://${bucket}/${WINE_RAW_KEY} (version ${info.versionId})`;
  } catch (err) {
    if (err instanceof S3Error && err.code === 'PreconditionFailed')
      return `already present in s3://${bucket}/${WINE_RAW_KEY}`;
    throw err;
  }
}

/** Runs the training machine with the example input and waits for it; fails with its error. */
async function runTraining(platform: LocalPlatform) {
  const machine = platform.sfn.machines.find((m) => m.stackName.includes('TrainingPipeline'));
  if (!machine) throw new Error('the local stage has no training pipeline');
  const { executionArn } = await platform.sfn.startExecution({
    stateMachineArn: machine.arn,
    name: `startup-${Date.now()}`,
    input: JSON.stringify(DEFAULT_SCHEDULED_INPUT),
  });
  const d = await platform.sfn.waitForExecution(executionArn);
  if (d.status !== 'SUCCEEDED') {
    throw new Error(
      `training pipeline ${d.status}: ${d.error ?? ''} ${d.cause ?? ''} (npx mlops describe ${d.name})`,
    );
  }
  const out = JSON.parse(d.output ?? '{}');
  const version = String(out.registration?.version ?? '');
  if (!version)
    throw new Error(
      `training pipeline succeeded without registering a version (npx mlops describe ${d.name})`,
    );
  const rmse = Number(out.evaluation?.metrics?.rmse);
  return { version, rmse: Number.isFinite(rmse) ? rmse.toFixed(4) : 'n/a', executionName: d.name };
}

/** The few MLflow REST calls start-up makes, through the local gateway like any client. */
class RegistryClient {
  constructor(private readonly base: string) {}

  async champion(name: string): Promise<{ version: string; source: string } | undefined> {
    const res = await fetch(
      `${this.base}/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(name)}&alias=champion`,
    );
    if (res.status === 404) return undefined;
    const body = (await res.json()) as { model_version?: { version: string; source: string } };
    if (!res.ok || !body.model_version)
      throw new Error(`registry answered ${res.status}: ${JSON.stringify(body)}`);
    return { version: body.model_version.version, source: body.model_version.source };
  }

  async promote(name: string, version: string): Promise<void> {
    await this.post('model-versions/transition-stage', {
      name,
      version,
      stage: 'Production',
      archive_existing_versions: true,
    });
    await this.post('registered-models/alias', { name, alias: 'champion', version });
  }

  private async post(path: string, body: object): Promise<void> {
    const res = await fetch(`${this.base}/api/2.0/mlflow/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`registry ${path} answered ${res.status}: ${await res.text()}`);
  }
}
