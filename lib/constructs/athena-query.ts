/**
 * A workflow step that runs one Athena query in the lake workgroup and waits for it
 * (`athena:startQueryExecution.sync`), the query string read from the state.
 *
 * The optimized integration written out: CDK's `AthenaStartQueryExecution` grants S3 and Lake
 * Formation on `"*"` and Glue writes; the machine's role gets `lake.grantQuery` instead, and the
 * data the query reads or writes from the zone it lives in (`LakeBucket.grantObjects`).
 *
 * @example
 * const features = new AthenaQuery(this, 'Build features', {
 *   workGroupName: lake.workGroupName,
 *   databaseName: lake.databaseName,
 *   queryStringPath: '$.plan.queries.count',
 *   resultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
 *   resultPath: '$.features',
 *   comment: 'Counts the rows',
 * });
 * // An UNLOAD written once per attempt (lib/shared/unload.ts): the result holds `attempt`.
 * const exportTrain = new AthenaQuery(this, 'Export training split', { …, unloadPath: '$.plan.queries.train' });
 */
import { Aws, Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { ATHENA_TRANSIENT_ERRORS, transientRetry } from './retries';

export interface AthenaQueryProps {
  /** The lake workgroup (it enforces the result location, encryption and scan cutoff). */
  readonly workGroupName: string;
  /** The Glue database unqualified table names resolve in. */
  readonly databaseName: string;
  /**
   * JSONPath of the query string in the state (`$.plan.query`).
   * @default - none: `unloadPath` names the query
   */
  readonly queryStringPath?: string;
  /**
   * JSONPath of an `AttemptUnload` (`{ head, tail, location }`, lib/shared/unload.ts) in the state,
   * instead of `queryStringPath`: the Task runs the UNLOAD into `<location>attempt-<redrive>-<retry>/`,
   * named from `$$.Execution.RedriveCount` and `$$.State.RetryCount` (Athena refuses a location an
   * earlier attempt wrote to), and its result gains `attempt`, the folder that attempt wrote.
   * @default - none: `queryStringPath` names the query
   */
  readonly unloadPath?: string;
  /** What to keep of Athena's `QueryExecution` (`{ 'id.$': '$.QueryExecution.QueryExecutionId' }`). */
  readonly resultSelector: Record<string, string>;
  /** Where the selection goes in the state. */
  readonly resultPath: string;
  /** Shown in the console on the state. */
  readonly comment: string;
  /**
   * The Task's time limit.
   * @default Duration.minutes(30) - Athena's own limit for a DML query
   */
  readonly timeout?: Duration;
  /**
   * The retry of Athena's throttling and internal errors.
   * @default transientRetry(ATHENA_TRANSIENT_ERRORS)
   */
  readonly retry?: sfn.RetryProps;
}

/** `attempt-<redrive>-<retry>` (lib/shared/unload.ts `ATTEMPT_NAME`) from the context object. */
const ATTEMPT_TEMPLATE = 'attempt-{}-{}';
const ATTEMPT_ARGS = '$$.Execution.RedriveCount, $$.State.RetryCount';
/** The attempt's folder name, as the Task's Parameters and ResultSelector both compute it. */
export const ATTEMPT_NAME_EXPRESSION = `States.Format('${ATTEMPT_TEMPLATE}', ${ATTEMPT_ARGS})`;

/**
 * `<location><attempt>/`: where the UNLOAD whose result is at `resultPath` wrote, the run's folder at
 * `locationPath` (an intrinsic for a `.$` field; lib/shared/unload.ts `attemptLocation` at run time).
 */
export const attemptFolderExpression = (locationPath: string, resultPath: string): string =>
  `States.Format('{}{}/', ${locationPath}, ${resultPath}.attempt)`;

export class AthenaQuery extends sfn.CustomState {
  constructor(scope: Construct, name: string, props: AthenaQueryProps) {
    const path = props.queryStringPath ?? props.unloadPath;
    if ((props.queryStringPath === undefined) === (props.unloadPath === undefined)) {
      throw new Error(`an Athena query names its query by exactly one of queryStringPath and unloadPath, but ${path === undefined ? 'neither was' : 'both were'} provided`);
    }
    if (!path!.startsWith('$')) {
      throw new Error(`an Athena query's ${props.queryStringPath ? 'queryStringPath' : 'unloadPath'} must be a JSONPath starting with $, but "${path}" was provided`);
    }
    const timeout = props.timeout ?? Duration.minutes(30);
    if (timeout.toSeconds() <= 0) {
      throw new Error(`an Athena query timeout must be positive, but ${timeout.toHumanString()} was provided`);
    }
    super(scope, name, {
      stateJson: {
        Type: 'Task',
        Comment: props.comment,
        Resource: `arn:${Aws.PARTITION}:states:::athena:startQueryExecution.sync`,
        Parameters: {
          'QueryString.$': props.unloadPath
            ? `States.Format('{}${ATTEMPT_TEMPLATE}{}', ${props.unloadPath}.head, ${ATTEMPT_ARGS}, ${props.unloadPath}.tail)`
            : props.queryStringPath,
          WorkGroup: props.workGroupName,
          QueryExecutionContext: { Database: props.databaseName },
        },
        ResultSelector: props.unloadPath ? { ...props.resultSelector, 'attempt.$': ATTEMPT_NAME_EXPRESSION } : props.resultSelector,
        ResultPath: props.resultPath,
        TimeoutSeconds: timeout.toSeconds(),
      },
    });
    this.addRetry(props.retry ?? transientRetry(ATHENA_TRANSIENT_ERRORS));
  }
}
