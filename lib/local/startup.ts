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
  WINE_FEATURES_SEED_NAME,
} from '../datasets/wine-lake';
import { HttpMlflowClient } from '../adapters/sigv4-http/mlflow-client';
import { isAliasNotFound, isNotFound, type MlflowClient } from '../pipelines/mlflow-client';
import type { LocalStage } from './assembly';
import { type BucketRole, readFacts } from './facts';
import type { LocalPlatform, RuntimeInfo } from './platform';

export interface StartupStep {
  readonly name: string;
  /** What happened, for the start-up log ("seeded", "already present", …). */
  readonly outcome: string;
  /** When the step started, in ms from the start of start-up (materialization and training overlap). */
  readonly startMs: number;
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
  // Steps that overlap log as each ends; the list keeps the order they were started in.
  const started: StartupStep[][] = [];
  const begin = performance.now();
  const step = async (name: string, work: () => Promise<string>) => {
    const slot: StartupStep[] = [];
    started.push(slot);
    const t = performance.now();
    const outcome = await work();
    const s = { name, outcome, startMs: t - begin, ms: performance.now() - t };
    options.log?.(`  ${name}: ${outcome} (${(s.ms / 1000).toFixed(2)} s)`);
    slot.push(s);
  };
  let seeded: SeedOutcome[] = [];
  await step('seed example data', async () => {
    seeded = await seedLocalLake(platform.info, platform.stage, new Date());
    return describeSeed(seeded);
  });
  // Freshly seeded features reach the online store now, as the environment's schedule would load
  // them on AWS: the README's /get-online-features example answers from the first start on. It
  // writes the online store only and training reads the lake, so the two run at the same time.
  const materialized = seeded.some((o) => o.key.endsWith(`/${WINE_FEATURES_SEED_NAME}`) && o.outcome === 'created')
    ? step('materialize features', () => runMaterialization(platform))
    : Promise.resolve();
  // Both end before start-up does; a failure of either is then thrown, materialization's first.
  for (const r of await Promise.allSettled([materialized, trainAndServe()])) {
    if (r.status === 'rejected') throw r.reason;
  }
  return started.flat();

  async function trainAndServe(): Promise<void> {
    const training = platform.facts.stateMachine('training');
    const model = String(training.defaultInput?.['model_name'] ?? '');
    if (!model) throw new Error('the training state machine declares no default input with a model_name');
    const registry = new HttpMlflowClient({ baseUrl: platform.gatewayUrl });
    let champion = await championOf(registry, model);
    if (!champion || options.retrain) {
      let version = '';
      await step('training pipeline', async () => {
        const r = await runTraining(platform, training.arn, training.defaultInput!);
        version = r.version;
        return `${model} version ${r.version} registered (rmse ${r.rmse}) by execution ${r.executionName}`;
      });
      await step('promote', async () => {
        await registry.post('model-versions/transition-stage', {
          name: model,
          version,
          stage: 'Production',
          archive_existing_versions: true,
        });
        await registry.post('registered-models/alias', { name: model, alias: 'champion', version });
        await platform.events.settled(); // the promotion event deploys it, as the deployer does on EKS
        return `${model} version ${version} → Production, alias champion`;
      });
      champion = await championOf(registry, model);
    }
    if (
      champion &&
      !platform.serving.deployments.some((d) => d.deployment === model && d.version === champion!.version)
    ) {
      // A restart: the champion is registered already; serve it again as EKS would keep serving it.
      await step('serve champion', async () => {
        await platform.serving.deploy({
          namespace: platform.facts.serving().namespace,
          deployment: model,
          modelUri: champion!.source,
          version: champion!.version,
        });
        return `${model} version ${champion!.version} from ${champion!.source}`;
      });
    }
  }
}

/** The lake's bucket of a zone, as the data lake declares it. */
export function lakeBucket(platform: LocalPlatform, role: BucketRole): string {
  return platform.facts.bucket(role);
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
  const facts = readFacts(stage);
  try {
    return await seedWineLake(s3CreateObject(s3), {
      rawBucket: facts.bucket('raw'),
      curatedBucket: facts.bucket('curated'),
      now,
    });
  } finally {
    s3.destroy();
  }
}

/** Runs the training machine with its scheduled input and waits for it; fails with its error. */
async function runTraining(platform: LocalPlatform, stateMachineArn: string, input: Record<string, unknown>) {
  const { executionArn } = await platform.sfn.startExecution({
    stateMachineArn,
    name: `startup-${Date.now()}`,
    input: JSON.stringify(input),
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
  const { executionArn } = await platform.sfn.startExecution({
    stateMachineArn: platform.facts.stateMachine('materialization').arn,
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

/** The model's champion version, or undefined while there is none (no such model, or never promoted). */
async function championOf(
  registry: MlflowClient,
  name: string,
): Promise<{ version: string; source: string } | undefined> {
  try {
    const r = await registry.get<{ model_version?: { version: string; source: string } }>(
      'registered-models/alias',
      { name, alias: 'champion' },
    );
    if (!r.model_version) throw new Error(`the registry answered an alias without its model_version: ${JSON.stringify(r)}`);
    return { version: r.model_version.version, source: r.model_version.source };
  } catch (err) {
    if (isNotFound(err) || isAliasNotFound(err)) return undefined;
    throw err;
  }
}
