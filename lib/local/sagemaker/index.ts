/**
 * The local SageMaker training-job runner.
 *
 * @example
 * import { createLocalTrainingRunner } from './lib/local/sagemaker';
 * import { IntegrationRegistry, sagemakerIntegrations } from './lib/local/sfn';
 * const trainer = createLocalTrainingRunner({ store, stateDir });
 * const registry = new IntegrationRegistry().use(sagemakerIntegrations(trainer));
 */
export { type MetricData, type MetricDefinition, MetricScraper } from './metrics';
export {
  type CreateTrainingJobRequest,
  createTrainingJobSchema,
  DEFAULT_MAX_RUNTIME_SECONDS,
  parseCreateTrainingJob,
  SageMakerApiError,
  type SageMakerErrorCode,
} from './request';
export {
  createLocalTrainingRunner,
  type LocalTrainingRunner,
  type LocalTrainingRunnerOptions,
  type RunOptions,
  type SecondaryStatus,
  type SecondaryStatusTransition,
  type TrainingJobDescription,
  type TrainingJobStatus,
  type TrainingLogSink,
} from './runner';
export { sagemakerApi, TRAINING_LOG_GROUP, trainingLogsApi } from './api';
export {
  bundledTrainerCommand,
  type CommandLine,
  ensureTrainerBundle,
  TRAINER_BUNDLE_OPTIONS,
  TRAINER_ENTRY,
  tsxTrainerCommand,
} from './trainer';
