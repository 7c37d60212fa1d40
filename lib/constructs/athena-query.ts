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
 *   queryStringPath: '$.plan.queries.features',
 *   resultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
 *   resultPath: '$.features',
 *   comment: 'UNLOADs the feature set',
 * });
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
  /** JSONPath of the query string in the state (`$.plan.query`). */
  readonly queryStringPath: string;
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

export class AthenaQuery extends sfn.CustomState {
  constructor(scope: Construct, name: string, props: AthenaQueryProps) {
    if (!props.queryStringPath.startsWith('$')) {
      throw new Error(
        `an Athena query's queryStringPath must be a JSONPath starting with $, but "${props.queryStringPath}" was provided`,
      );
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
          'QueryString.$': props.queryStringPath,
          WorkGroup: props.workGroupName,
          QueryExecutionContext: { Database: props.databaseName },
        },
        ResultSelector: props.resultSelector,
        ResultPath: props.resultPath,
        TimeoutSeconds: timeout.toSeconds(),
      },
    });
    this.addRetry(props.retry ?? transientRetry(ATHENA_TRANSIENT_ERRORS));
  }
}
