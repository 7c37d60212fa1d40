/**
 * Test helper: the data lake and both pipeline stacks in a stage per environment, synthesized once
 * per test file (the lead wires the same stacks into MlopsStage; this keeps the pipeline tests
 * independent of that wiring). The training stack gets a registry URL and a recording grant hook,
 * so the register step and its grants are in the templates.
 */
import type { Stage } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { Binding } from '../../lib/constructs/binding';
import { BatchInferenceStack } from '../../stacks/batch-inference-stack';
import { DataLakeStack } from '../../stacks/data-lake-stack';
import { TrainingPipelineStack } from '../../stacks/training-pipeline-stack';
import { environmentStage, synthOnce } from '../stack-synth';

export const REGISTRY_URL = 'https://registry.example.com/prod/';

export interface PipelineEnvironment {
  readonly stage: Stage;
  readonly training: TrainingPipelineStack;
  readonly batch: BatchInferenceStack;
  readonly trainingTemplate: Template;
  readonly batchTemplate: Template;
  /** Who the registry grant hook was called for. */
  readonly registryGrantees: iam.IGrantable[];
  /** The access levels each grant asked for, in the order of {@link registryGrantees}. */
  readonly registryAccess: string[][];
}

export const synthPipelines = synthOnce(
  (app, config): Omit<PipelineEnvironment, 'trainingTemplate' | 'batchTemplate'> => {
    const stage = environmentStage(app, config);
    const { lake } = new DataLakeStack(stage, 'DataLake', { config });
    const registryGrantees: iam.IGrantable[] = [];
    const registryAccess: string[][] = [];
    const training = new TrainingPipelineStack(stage, 'TrainingPipeline', {
      config,
      lake,
      registry: {
        endpointFor: (...access) =>
          Binding.of(REGISTRY_URL, (g) => {
            registryGrantees.push(g);
            registryAccess.push(access);
          }),
      },
    });
    const batch = new BatchInferenceStack(stage, 'BatchInference', { config, lake });
    return { stage, training, batch, registryGrantees, registryAccess };
  },
  (b): PipelineEnvironment => ({
    ...b,
    trainingTemplate: Template.fromStack(b.training),
    batchTemplate: Template.fromStack(b.batch),
  }),
  ENVIRONMENT_NAMES,
);
