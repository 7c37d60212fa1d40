/**
 * What the local platform runs when it starts (`mlops up`): the example data seeded into the lake
 * (the raw CSV, the `wine_labels` table and the feature store's `wine_features` table), then — as
 * the stage grows them — the training pipeline, registration, promotion and serving of the example
 * model. Each step is idempotent, so a second `mlops up` reuses what the first produced.
 */
import { S3Client } from '@aws-sdk/client-s3';
import {
  describeSeed,
  type SeedOutcome,
  s3CreateObject,
  seedWineLake,
  WINE_FEATURES_SEED_KEY,
} from '../datasets/wine-lake';
import { DEFAULT_SCHEDULED_INPUT } from '../../stacks/training-pipeline-stack';
import type { LocalStage } from './assembly';
import { type LocalPlatform, type RuntimeInfo, SERVING_NAMESPACE } from './platform';

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
  let seeded: SeedOutcome[] = [];
  await step('seed example data', async () => {
    seeded = await seedLocalLake(platform.info, platform.stage, new Date());
    return describeSeed(seeded);
  });
  if (seeded.some((o) => o.key === WINE_FEATURES_SEED_KEY && o.outcome === 'created')) {
    // Freshly seeded features reach the online store now, as the environment's schedule would load
    // them on AWS: the README's /get-online-features example answers from the first start on.
    await step('materialize features', () => runMaterialization(platform));
  }
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
  return lakeBucketOf(platform.stage, id);
}

/** {@link lakeBucket} from the stage alone, for a command that reaches a platform it did not start. */
export function lakeBucketOf(stage: LocalStage, id: string): string {
  const r = stage
    .resourcesOfType('AWS::S3::Bucket')
    .find((b) => new RegExp(`/Lake/${id}/Resource$`).test(b.constructPath ?? ''));
  if (!r) throw new Error(`the local stage has no lake bucket ${id}`);
  return stage.physicalName(r);
}

/**
 * Seeds the example lake of a local platform through its S3 endpoint, as `mlops seed` seeds a
 * deployed one (create-only: what is there already is reported `present` and left alone).
 */
export async function seedLocalLake(
  info: RuntimeInfo,
  stage: LocalStage,
  now: Date,
): Promise<SeedOutcome[]> {
  const s3 = new S3Client({
    endpoint: info.s3Endpoint,
    region: info.region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  try {
    return await seedWineLake(s3CreateObject(s3), {
      rawBucket: lakeBucketOf(stage, 'Raw'),
      curatedBucket: lakeBucketOf(stage, 'Curated'),
      now,
    });
  } finally {
    s3.destroy();
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

/** Runs the materialization machine over every view's default window and waits; fails with its error. */
async function runMaterialization(platform: LocalPlatform): Promise<string> {
  const machine = platform.sfn.machines.find((m) => m.stackName.includes('FeatureStore'));
  if (!machine) throw new Error('the local stage has no feature store');
  const { executionArn } = await platform.sfn.startExecution({
    stateMachineArn: machine.arn,
    name: `startup-materialize-${Date.now()}`,
    input: '{}',
  });
  const d = await platform.sfn.waitForExecution(executionArn);
  if (d.status !== 'SUCCEEDED') {
    throw new Error(`materialization ${d.status}: ${d.error ?? ''} ${d.cause ?? ''} (npx mlops describe ${d.name})`);
  }
  const views = (JSON.parse(d.output ?? '{}').views ?? []) as { featureView: string; written: number }[];
  return `${views.map((v) => `${v.featureView} ${v.written} rows`).join(', ')} → online store by execution ${d.name}`;
}

/** The few MLflow REST calls start-up makes, through the local gateway like any client. */
class RegistryClient {
  constructor(private readonly base: string) {}

  async champion(name: string): Promise<{ version: string; source: string } | undefined> {
    const res = await fetch(
      `${this.base}/api/2.0/mlflow/registered-models/alias?name=${encodeURIComponent(name)}&alias=champion`,
    );
    if (res.status === 404) return undefined; // no such model
    const body = (await res.json()) as {
      model_version?: { version: string; source: string };
      error_code?: string;
    };
    // A model registered but never promoted: MLflow answers 400 INVALID_PARAMETER_VALUE.
    if (res.status === 400 && body.error_code === 'INVALID_PARAMETER_VALUE') return undefined;
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
