/**
 * Test helper: the data lake and both pipeline stacks in a stage per environment, synthesized once
 * per test file (the lead wires the same stacks into MlopsStage; this keeps the pipeline tests
 * independent of that wiring). The training stack gets a registry URL and a recording grant hook,
 * so the register step and its grants are in the templates.
 */
import { App, Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { ENVIRONMENT_NAMES, type EnvironmentName, FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { BatchInferenceStack } from '../../stacks/batch-inference-stack';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { stageId } from '../../stacks/mlops-stage';
import { TrainingPipelineStack } from '../../stacks/training-pipeline-stack';

export const REGISTRY_URL = 'https://registry.example.com/prod/';

export interface PipelineEnvironment {
  readonly stage: Stage;
  readonly training: TrainingPipelineStack;
  readonly batch: BatchInferenceStack;
  readonly trainingTemplate: Template;
  readonly batchTemplate: Template;
  /** Who the registry grant hook was called for. */
  readonly registryGrantees: iam.IGrantable[];
}

let cache: Record<EnvironmentName, PipelineEnvironment> | undefined;

export function synthPipelines(): Record<EnvironmentName, PipelineEnvironment> {
  if (cache) return cache;
  const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true } });
  const out = {} as Record<EnvironmentName, PipelineEnvironment>;
  for (const name of ENVIRONMENT_NAMES) {
    const config = resolveEnvironment(name, { env: {} });
    const stage = new Stage(app, stageId(name), { env: { account: config.account, region: config.region } });
    const { lake } = new DataLakeStack(stage, 'DataLake', { config });
    const registryGrantees: iam.IGrantable[] = [];
    const training = new TrainingPipelineStack(stage, 'TrainingPipeline', {
      config,
      lake,
      registryApiUrl: REGISTRY_URL,
      registryApi: { grantInvoke: (g) => registryGrantees.push(g) },
    });
    const batch = new BatchInferenceStack(stage, 'BatchInference', { config, lake });
    out[name] = { stage, training, batch, registryGrantees } as unknown as PipelineEnvironment;
  }
  app.synth();
  for (const name of ENVIRONMENT_NAMES) {
    const e = out[name] as { -readonly [K in keyof PipelineEnvironment]: PipelineEnvironment[K] };
    e.trainingTemplate = Template.fromStack(e.training);
    e.batchTemplate = Template.fromStack(e.batch);
  }
  cache = out;
  return out;
}
