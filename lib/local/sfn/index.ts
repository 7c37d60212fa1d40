/**
 * The local Step Functions runner.
 *
 * @example
 * import { IntegrationRegistry, LocalStepFunctions, lambdaIntegrations, loadStateMachines } from './lib/local/sfn';
 * const sfn = new LocalStepFunctions({
 *   stateDir,
 *   machines: loadStateMachines(stage),
 *   integrations: new IntegrationRegistry().use(lambdaIntegrations(lambdaEngine)),
 * });
 */
export {
  type AslDefinition,
  type AslState,
  allStates,
  applySubstitutions,
  assertRunnable,
  DefinitionError,
  loadStateMachines,
  NO_TIMEOUT_SECONDS,
  prepareForLibrary,
  type StateMachineSpec,
} from './definition';
export type { HistoryEvent, ProgressEvent } from './history';
export { lambdaFunctionOf, lambdaLookahead, prewarmAhead } from './lookahead';
export {
  type AthenaApi,
  athenaIntegrations,
  type AwsApi,
  dynamoDbIntegrations,
  eventsIntegrations,
  type Integration,
  IntegrationRegistry,
  type Json,
  type LambdaInvocationResult,
  type LambdaInvoker,
  lambdaIntegrations,
  parseFunctionName,
  s3Integrations,
  sagemakerIntegrations,
  snsIntegrations,
  type TaskContext,
  TaskFailure,
  type TaskHandler,
  type TrainingJobRunner,
  toJson,
} from './integrations';
export {
  type DescribeExecutionOutput,
  type ExecutionListItem,
  LocalStepFunctions,
  type LocalStepFunctionsOptions,
  MissingIntegrationError,
  StepFunctionsError,
} from './runner';
export { type ExecutionRecord, type ExecutionStatus, ExecutionStore } from './store';
