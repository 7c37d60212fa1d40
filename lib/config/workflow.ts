import type { EnvironmentConfig } from './schema';

/**
 * Reserved concurrency of a workflow step (pipeline steps, materialization, the serving deployer)
 * when the environment reserves any: a run needs a few at a time (batch inference's predict
 * function reserves `batchInference.maxConcurrency` when that is more), and Step Functions
 * retries Lambda's throttling, so overlapping runs queue instead of taking the account pool the request-serving functions reserve `lambda.reservedConcurrency` from.
 */
export const WORKFLOW_RESERVED_CONCURRENCY = 10;

export const workflowReservedConcurrency = (config: EnvironmentConfig): number | undefined =>
  config.lambda.reservedConcurrency === null
    ? undefined
    : Math.min(config.lambda.reservedConcurrency, WORKFLOW_RESERVED_CONCURRENCY);
