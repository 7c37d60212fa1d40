/**
 * CDK helpers shared by the pipeline stacks: the lake catalog rendered for the Lambdas, the house
 * function settings from config, and the retry policies every Task gets. Kept apart from the
 * runtime modules so no Lambda bundle pulls in aws-cdk-lib.
 *
 * @example
 * fn.function.addEnvironment('LAKE_TABLES', lakeTablesJson(lake));
 * const validate = lambdaStep(this, 'Validate data', fn, { 'input.$': '$' }, { resultPath: '$.plan', comment, timeout });
 */
import { Duration, Lazy, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type * as glue from 'aws-cdk-lib/aws-glue';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import type { DataLake } from '../constructs/data-lake';
import { MlopsFunction, type MlopsFunctionProps } from '../constructs/mlops-function';
import type { LakeTable } from './catalog';

/** Errors Step Functions reports for a Lambda that could not run (not for the function's own errors). */
export const LAMBDA_TRANSIENT_ERRORS = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Lambda.ClientExecutionTimeoutException',
];
export const ATHENA_TRANSIENT_ERRORS = ['Athena.TooManyRequestsException', 'Athena.InternalServerException'];
/** SageMaker reports throttling and its own faults under this one name. */
export const SAGEMAKER_TRANSIENT_ERRORS = ['SageMaker.AmazonSageMakerException'];
export const SNS_TRANSIENT_ERRORS = [
  'SNS.ThrottledException',
  'SNS.InternalErrorException',
  'SNS.KMSThrottlingException',
];

/** A retry of throttling and service faults with exponential backoff and full jitter. */
export function transientRetry(errors: readonly string[], maxAttempts = 5): sfn.RetryProps {
  return {
    errors: [...errors],
    interval: Duration.seconds(2),
    backoffRate: 2,
    maxAttempts,
    maxDelay: Duration.seconds(60),
    jitterStrategy: sfn.JitterType.FULL,
  };
}

export function addTransientRetries(state: sfn.TaskStateBase, errors: readonly string[]): void {
  state.addRetry(transientRetry(errors));
}

/**
 * The lake's Glue tables as the pipeline Lambdas' `LAKE_TABLES` (see `./catalog`), resolved at
 * synthesis so tables the lake gains later in the app are included.
 */
export function lakeTablesJson(scope: Construct, lake: DataLake): string {
  const stack = Stack.of(scope);
  return Lazy.string({
    produce: () => stack.toJsonString(lake.tables.map((t) => lakeTableOf(t))),
  });
}

function lakeTableOf(table: glue.CfnTable): LakeTable {
  const input = table.tableInput as glue.CfnTable.TableInputProperty;
  const sd = input.storageDescriptor as glue.CfnTable.StorageDescriptorProperty;
  const serde = (sd.serdeInfo ?? {}) as glue.CfnTable.SerdeInfoProperty;
  const serdeParams = (serde.parameters ?? {}) as Record<string, string>;
  const params = (input.parameters ?? {}) as Record<string, string>;
  const lib = serde.serializationLibrary ?? '';
  const format = /parquet/i.test(lib)
    ? 'parquet'
    : /json/i.test(lib)
      ? 'json'
      : /serde2/i.test(lib)
        ? 'csv'
        : 'other';
  return {
    name: String(input.name),
    location: String(sd.location),
    format,
    ...(serdeParams['field.delim'] ? { delimiter: serdeParams['field.delim'] } : {}),
    skipHeader: Number(params['skip.header.line.count'] ?? 0),
    columns: ((sd.columns ?? []) as glue.CfnTable.ColumnProperty[]).map((c) => ({
      name: c.name,
      type: c.type ?? 'string',
    })),
  };
}

/**
 * Reserved concurrency of a workflow step (pipeline steps, materialization, the serving deployer)
 * when the environment reserves any: a run needs a few at a time (batch inference maps 8 objects
 * at once), and Step Functions retries Lambda's throttling, so overlapping runs queue instead of
 * taking the account pool the request-serving functions reserve `lambda.reservedConcurrency` from.
 */
export const WORKFLOW_RESERVED_CONCURRENCY = 10;

export const workflowReservedConcurrency = (config: EnvironmentConfig): number | undefined =>
  config.lambda.reservedConcurrency === null
    ? undefined
    : Math.min(config.lambda.reservedConcurrency, WORKFLOW_RESERVED_CONCURRENCY);

/** House function settings from the environment config, for a pipeline step. */
export function pipelineFunction(
  scope: Construct,
  id: string,
  config: EnvironmentConfig,
  lake: DataLake,
  props: Pick<MlopsFunctionProps, 'entry' | 'description' | 'timeout' | 'environment' | 'memorySize'>,
): MlopsFunction {
  return new MlopsFunction(scope, id, {
    memorySize: config.lambda.memorySizeMb,
    ...props,
    logRetention: config.logs.retentionDays as logs.RetentionDays,
    logsEncryptionKey: lake.logsKey,
    reservedConcurrentExecutions: workflowReservedConcurrency(config),
    removalPolicy: removalPolicyOf(config),
  });
}

export const removalPolicyOf = (config: EnvironmentConfig): RemovalPolicy =>
  config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

/**
 * A Lambda step: the function's response at `resultPath`, a Task timeout a little above the
 * function's own (so the function's timeout is the one that fires, with its own message), and
 * retries for Lambda's transient errors plus any the handler names.
 */
export function lambdaStep(
  scope: Construct,
  name: string,
  fn: MlopsFunction,
  payload: Record<string, unknown>,
  options: {
    readonly resultPath: string;
    readonly comment: string;
    readonly timeout: Duration;
    readonly retryErrors?: readonly string[];
  },
): tasks.LambdaInvoke {
  const task = new tasks.LambdaInvoke(scope, name, {
    lambdaFunction: fn.function,
    payload: sfn.TaskInput.fromObject(payload),
    payloadResponseOnly: true,
    // The default retry covers fewer errors than LAMBDA_TRANSIENT_ERRORS and has no jitter.
    retryOnServiceExceptions: false,
    resultPath: options.resultPath,
    comment: options.comment,
    taskTimeout: sfn.Timeout.duration(options.timeout.plus(Duration.seconds(30))),
  });
  addTransientRetries(task, [...LAMBDA_TRANSIENT_ERRORS, ...(options.retryErrors ?? [])]);
  return task;
}
