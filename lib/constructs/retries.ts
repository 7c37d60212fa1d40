/**
 * The retry policies every workflow Task gets: throttling and service faults, with exponential
 * backoff and full jitter, by the error names Step Functions reports for each integration.
 *
 * @example
 * task.addRetry(transientRetry(ATHENA_TRANSIENT_ERRORS));
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';

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
