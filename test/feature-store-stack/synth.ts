/**
 * Test helper: each environment's data lake and feature store stacks in a stage of their own, built
 * as `MlopsStage` builds its stacks (tagged, env from config), synthesized once per test file. Nag
 * runs in the tests, so findings are reported rather than failing synthesis.
 */
import { App, Stage, Tags } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import {
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  type EnvironmentName,
  FEATURE_FLAGS,
  resolveEnvironment,
} from '../../lib/config';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { FeatureStoreStack } from '../../stacks/feature-store-stack';
import { stageId } from '../../stacks/mlops-stage';

export interface FeatureStoreEnvironment {
  readonly config: EnvironmentConfig;
  readonly stage: Stage;
  readonly lake: DataLakeStack;
  readonly stack: FeatureStoreStack;
  readonly template: Template;
}

let cache: Record<EnvironmentName, FeatureStoreEnvironment> | undefined;

export function buildStage(app: App, config: EnvironmentConfig): Omit<FeatureStoreEnvironment, 'template'> {
  const stage = new Stage(app, stageId(config.name), {
    env: { account: config.account, region: config.region },
  });
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stage).add(key, value);
  const lake = new DataLakeStack(stage, 'DataLake', { config });
  const stack = new FeatureStoreStack(stage, 'FeatureStore', { config, lake: lake.lake });
  return { config, stage, lake, stack };
}

export function synthFeatureStore(): Record<EnvironmentName, FeatureStoreEnvironment> {
  if (cache) return cache;
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });
  const built = ENVIRONMENT_NAMES.map((name) => buildStage(app, resolveEnvironment(name, { env: {} })));
  app.synth();
  cache = Object.fromEntries(
    built.map((b) => [b.config.name, { ...b, template: Template.fromStack(b.stack) }]),
  ) as Record<EnvironmentName, FeatureStoreEnvironment>;
  return cache;
}
