/**
 * How a training run ends: every outcome is recorded as `$.notice`, published to the pipeline's
 * topic, and ends the execution — "Model registered" (or accepted, without a registry), "Model
 * rejected" (Fail `ModelRejected`, so nothing that chains on success mistakes no model for a new
 * one), or "Pipeline failed" with the failing step's own error name. States only: no resources.
 *
 * @example
 * const outcomes = new TrainingOutcomes(this, 'Outcomes', { topic, registers: true });
 * outcomes.catchAll(validate);            // any failure → Record failure → Notify failure → Pipeline failed
 * gate.when(passed, register.next(outcomes.success)).otherwise(outcomes.rejection);
 */
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as stepfunctions from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { PipelineTopic } from './pipeline-topic';

/** The outcome states' names (as `TRAINING_STATES` lists them). */
export interface TrainingOutcomeNames {
  readonly recordSuccess: string;
  readonly notifySuccess: string;
  readonly succeeded: string;
  readonly recordRejection: string;
  readonly notifyRejection: string;
  readonly rejected: string;
  readonly recordFailure: string;
  readonly notifyFailure: string;
  readonly failed: string;
}

export interface TrainingOutcomesProps {
  readonly topic: PipelineTopic;
  /** Whether accepted models are registered (a registry is configured). */
  readonly registers: boolean;
  readonly names: TrainingOutcomeNames;
}

export class TrainingOutcomes extends Construct {
  /** Records a failure (from `$.error`), publishes it, fails with the step's error. */
  readonly failure: stepfunctions.Pass;
  /** Records a rejection, publishes it, fails with `ModelRejected`. */
  readonly rejection: stepfunctions.Pass;
  /** Records success (with `$.registration` when registering), publishes it, succeeds. */
  readonly success: stepfunctions.Pass;

  constructor(scope: Construct, id: string, props: TrainingOutcomesProps) {
    super(scope, id);
    const { topic, names: S } = props;
    this.failure = new stepfunctions.Pass(this, S.recordFailure, {
      comment: "Keeps the failing step's error and cause for the notice and the Fail state",
      parameters: { outcome: 'failed', 'execution.$': '$$.Execution.Name', 'error.$': '$.error.Error', 'cause.$': '$.error.Cause' },
      resultPath: '$.notice',
    });
    this.failure.next(topic.notify(this, S.notifyFailure, 'failed')).next(
      new stepfunctions.Fail(this, S.failed, {
        comment: "Ends with the failing step's own error name (e.g. DataValidationError)",
        errorPath: '$.notice.error',
        causePath: '$.notice.cause',
      }),
    );
    const notice = (outcome: string, extra: Record<string, string>) => ({
      outcome,
      'execution.$': '$$.Execution.Name',
      'model_name.$': '$.plan.model_name',
      'summary.$': '$.evaluation.verdict.summary',
      'metrics.$': '$.evaluation.metrics',
      ...extra,
    });
    this.rejection = new stepfunctions.Pass(this, S.recordRejection, {
      parameters: notice('rejected', { 'production.$': '$.evaluation.production', 'model_uri.$': '$.training.model_uri' }),
      resultPath: '$.notice',
    });
    this.rejection.next(topic.notify(this, S.notifyRejection, 'rejected')).next(
      new stepfunctions.Fail(this, S.rejected, {
        comment: 'The candidate did not pass the gate; nothing was registered',
        error: 'ModelRejected',
        causePath: '$.notice.summary',
      }),
    );
    const outcome = props.registers ? 'registered' : 'accepted';
    this.success = new stepfunctions.Pass(this, S.recordSuccess, {
      parameters: notice(outcome, {
        'model_uri.$': '$.training.model_uri',
        ...(props.registers ? { 'registration.$': '$.registration' } : {}),
      }),
      resultPath: '$.notice',
    });
    this.success.next(topic.notify(this, S.notifySuccess, outcome)).next(
      new stepfunctions.Succeed(this, S.succeeded, {
        comment: props.registers
          ? 'The model version is in the registry'
          : 'No registry is configured: the model was evaluated, not registered',
      }),
    );
  }

  /** Sends any error of the task to "Record failure", keeping it at `$.error`. */
  catchAll<T extends sfn.TaskStateBase | sfn.CustomState>(task: T): T {
    task.addCatch(this.failure, { resultPath: '$.error' });
    return task;
  }
}
