/**
 * Test helper: an App with one Stage per AWS environment holding the data lake and the serving
 * stack, synthesized once per test file, offline (placeholder account and region, no Docker: the
 * image asset only builds at deploy time).
 */
import { App, Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type EnvironmentConfig, FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { ServingStack } from '../../stacks/serving-stack';

export type AwsEnvironment = 'staging' | 'production';

export interface SynthesizedServing {
  readonly stage: Stage;
  readonly config: EnvironmentConfig;
  readonly serving: ServingStack;
  readonly template: Template;
}

let cache: Record<AwsEnvironment, SynthesizedServing> | undefined;

export function synthServing(): Record<AwsEnvironment, SynthesizedServing> {
  if (cache) return cache;
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });
  const built = {} as Record<AwsEnvironment, Omit<SynthesizedServing, 'template'>>;
  for (const name of ['staging', 'production'] as const) {
    const config = resolveEnvironment(name, { env: {} });
    const stage = new Stage(app, `serving-${name}`, {
      env: { account: config.account, region: config.region },
    });
    const lake = new DataLakeStack(stage, 'DataLake', { config });
    const serving = new ServingStack(stage, 'Serving', { config, lake: lake.lake });
    built[name] = { stage, config, serving };
  }
  app.synth();
  cache = {
    staging: { ...built.staging, template: Template.fromStack(built.staging.serving) },
    production: { ...built.production, template: Template.fromStack(built.production.serving) },
  };
  return cache;
}
