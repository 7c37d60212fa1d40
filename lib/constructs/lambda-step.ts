/**
 * A workflow step that invokes a kit function: the function's response at `resultPath`, a Task
 * timeout a little above the function's own (so the function's timeout is the one that fires,
 * with its own message), and retries for Lambda's transient errors plus any the handler names.
 *
 * @example
 * const validate = new LambdaStep(this, 'Validate data', {
 *   fn: validateFn,
 *   payload: { 'input.$': '$' },
 *   resultPath: '$.plan',
 *   comment: 'Validates the input',
 *   timeout: Duration.minutes(5),
 * });
 */
import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { MlopsFunction } from './mlops-function';
import { LAMBDA_TRANSIENT_ERRORS, transientRetry } from './retries';

export interface LambdaStepProps {
  /** The function the step invokes. */
  readonly fn: MlopsFunction;
  /** The event, as JSONPath parameters (`'key.$': '$.path'`). */
  readonly payload: Record<string, unknown>;
  /** Where the function's response goes in the state. */
  readonly resultPath: string;
  /** Shown in the console on the state. */
  readonly comment: string;
  /** The function's own timeout; the Task's is 30 s more. */
  readonly timeout: Duration;
  /**
   * Error names of the handler's own that are worth retrying (e.g. `RegistryUnavailableError`).
   * @default - Lambda's transient errors only
   */
  readonly retryErrors?: readonly string[];
}

export class LambdaStep extends tasks.LambdaInvoke {
  constructor(scope: Construct, name: string, props: LambdaStepProps) {
    if (props.timeout.toSeconds() <= 0) {
      throw new Error(`a Lambda step timeout must be positive, but ${props.timeout.toHumanString()} was provided`);
    }
    super(scope, name, {
      lambdaFunction: props.fn.function,
      payload: sfn.TaskInput.fromObject(props.payload),
      payloadResponseOnly: true,
      // The default retry covers fewer errors than LAMBDA_TRANSIENT_ERRORS and has no jitter.
      retryOnServiceExceptions: false,
      resultPath: props.resultPath,
      comment: props.comment,
      taskTimeout: sfn.Timeout.duration(props.timeout.plus(Duration.seconds(30))),
    });
    this.addRetry(transientRetry([...LAMBDA_TRANSIENT_ERRORS, ...(props.retryErrors ?? [])]));
  }
}
