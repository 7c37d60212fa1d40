/**
 * Test helper: each environment's data lake and registry stacks in a stage of their own, built as
 * `MlopsStage` builds its stacks (tagged, env from config), synthesized once per test file. Nag
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
import { stageId } from '../../stacks/mlops-stage';
import { RegistryStack } from '../../stacks/registry-stack';

export interface RegistryEnvironment {
  readonly config: EnvironmentConfig;
  readonly stage: Stage;
  readonly lake: DataLakeStack;
  readonly stack: RegistryStack;
  readonly template: Template;
}

let cache: Record<EnvironmentName, RegistryEnvironment> | undefined;

export function buildStage(app: App, config: EnvironmentConfig): Omit<RegistryEnvironment, 'template'> {
  const stage = new Stage(app, stageId(config.name), {
    env: { account: config.account, region: config.region },
  });
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stage).add(key, value);
  const lake = new DataLakeStack(stage, 'DataLake', { config });
  const stack = new RegistryStack(stage, 'Registry', { config, lake: lake.lake });
  return { config, stage, lake, stack };
}

export const newApp = (): App =>
  new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });

export function synthRegistry(): Record<EnvironmentName, RegistryEnvironment> {
  if (cache) return cache;
  const app = newApp();
  const built = ENVIRONMENT_NAMES.map((name) => buildStage(app, resolveEnvironment(name, { env: {} })));
  app.synth();
  cache = Object.fromEntries(
    built.map((b) => [b.config.name, { ...b, template: Template.fromStack(b.stack) }]),
  ) as Record<EnvironmentName, RegistryEnvironment>;
  return cache;
}
