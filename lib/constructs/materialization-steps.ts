/**
 * The materialization workflow's states (JSONPath, every Task an integration the local runner
 * has): "Plan" renders each view's query, "MaterializeEachView" runs it in Athena, writes the rows
 * newer-wins to the online table and records the view's window, a few views at a time. States
 * only: the machine, its role and its grants are the stack's.
 *
 * @example
 * const steps = new MaterializationSteps(this, 'Steps', { plan, write, onlineTable, workGroupName, databaseName, maxConcurrency: 4 });
 * new MlopsStateMachine(this, 'Materialization', { definition: steps.definition });
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ONLINE_TABLE_SPEC } from '../features/definitions';
import { MATERIALIZATION_RECORD_PREFIX } from '../features/stack-support';
import { AthenaQuery } from './athena-query';
import type { MlopsFunction } from './mlops-function';
import { ATHENA_TRANSIENT_ERRORS } from './retries';

export interface MaterializationStepsProps {
  /** `lambdas/materialize-plan.ts`. */
  readonly plan: MlopsFunction;
  /** `lambdas/materialize-write.ts`. */
  readonly write: MlopsFunction;
  /** Where each view's window is recorded (the online table). */
  readonly onlineTable: dynamodb.ITable;
  readonly workGroupName: string;
  readonly databaseName: string;
  /** Views materialized at once: bounds concurrent Athena queries and DynamoDB write load. */
  readonly maxConcurrency: number;
}

export class MaterializationSteps extends Construct {
  readonly definition: sfn.IChainable;

  constructor(scope: Construct, id: string, props: MaterializationStepsProps) {
    super(scope, id);
    if (!Number.isInteger(props.maxConcurrency) || props.maxConcurrency < 1) {
      throw new Error(`maxConcurrency must be a positive integer, but ${props.maxConcurrency} was provided`);
    }
    const failed = sfn.Fail.jsonPath(this, 'MaterializationFailed', {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    const plan = tasks.LambdaInvoke.jsonPath(this, 'Plan', {
      comment: 'Validate {start?, end?, featureView?}, default the window, render each view query',
      lambdaFunction: props.plan.function,
      payload: sfn.TaskInput.fromObject({
        input: sfn.JsonPath.entirePayload,
        executionStartTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        database: props.databaseName,
      }),
      outputPath: '$.Payload',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
    }).addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    const runQuery = new AthenaQuery(this, 'RunQuery', {
      workGroupName: props.workGroupName,
      databaseName: props.databaseName,
      queryStringPath: '$.sql',
      resultSelector: { 'queryExecutionId.$': '$.QueryExecution.QueryExecutionId' },
      resultPath: '$.query',
      comment: 'Run the view materialization query in the lake workgroup',
      retry: {
        errors: ATHENA_TRANSIENT_ERRORS,
        interval: Duration.seconds(5),
        maxAttempts: 4,
        backoffRate: 2,
        jitterStrategy: sfn.JitterType.FULL,
      },
    });

    const writeOnline = tasks.LambdaInvoke.jsonPath(this, 'WriteOnline', {
      comment: 'Page through the query results and write newer-wins to the online table',
      lambdaFunction: props.write.function,
      payload: sfn.TaskInput.fromObject({
        featureView: sfn.JsonPath.stringAt('$.featureView'),
        queryExecutionId: sfn.JsonPath.stringAt('$.query.queryExecutionId'),
      }),
      resultSelector: {
        rowsRead: sfn.JsonPath.numberAt('$.Payload.rowsRead'),
        written: sfn.JsonPath.numberAt('$.Payload.written'),
        skippedStale: sfn.JsonPath.numberAt('$.Payload.skippedStale'),
      },
      resultPath: '$.result',
      taskTimeout: sfn.Timeout.duration(props.write.function.timeout!.plus(Duration.minutes(1))),
    })
      // Writes are newer-wins, so running the step again after a throttle is idempotent.
      .addRetry({
        errors: [
          'ThrottlingException',
          'ProvisionedThroughputExceededException',
          'TooManyRequestsException',
          'UnprocessedError',
        ],
        interval: Duration.seconds(10),
        maxAttempts: 3,
        backoffRate: 2,
        jitterStrategy: sfn.JitterType.FULL,
      });

    const str = (path: string) => tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt(path));
    const num = (path: string) =>
      tasks.DynamoAttributeValue.numberFromString(sfn.JsonPath.jsonToString(sfn.JsonPath.numberAt(path)));
    const recordWindow = tasks.DynamoPutItem.jsonPath(this, 'RecordWindow', {
      comment: "Record the view's materialized window unless a later one is already recorded",
      table: props.onlineTable,
      item: {
        [ONLINE_TABLE_SPEC.partitionKey.name]: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format(`${MATERIALIZATION_RECORD_PREFIX}{}`, sfn.JsonPath.stringAt('$.featureView')),
        ),
        view: str('$.featureView'),
        window_start: str('$.start'),
        window_end: str('$.end'),
        query_execution_id: str('$.query.queryExecutionId'),
        rows_read: num('$.result.rowsRead'),
        written: num('$.result.written'),
        skipped_stale: num('$.result.skippedStale'),
        execution_id: str('$$.Execution.Id'),
        recorded_at: str('$$.State.EnteredTime'),
      },
      // ISO 8601 UTC strings from the plan compare in time order.
      conditionExpression: 'attribute_not_exists(pk) OR window_end <= :end',
      expressionAttributeValues: { ':end': str('$.end') },
      resultSelector: { recorded: true },
      resultPath: '$.record',
      taskTimeout: sfn.Timeout.duration(Duration.seconds(30)),
    }).addRetry({
      errors: [
        'DynamoDB.ProvisionedThroughputExceededException',
        'DynamoDB.ThrottlingException',
        'DynamoDB.RequestLimitExceeded',
        'DynamoDB.InternalServerErrorException',
      ],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });

    const viewDone = sfn.Pass.jsonPath(this, 'ViewMaterialized', {
      parameters: {
        featureView: sfn.JsonPath.stringAt('$.featureView'),
        start: sfn.JsonPath.stringAt('$.start'),
        end: sfn.JsonPath.stringAt('$.end'),
        queryExecutionId: sfn.JsonPath.stringAt('$.query.queryExecutionId'),
        rowsRead: sfn.JsonPath.numberAt('$.result.rowsRead'),
        written: sfn.JsonPath.numberAt('$.result.written'),
        skippedStale: sfn.JsonPath.numberAt('$.result.skippedStale'),
        windowRecorded: sfn.JsonPath.stringAt('$.record.recorded'),
      },
    });
    const newerKept = sfn.Pass.jsonPath(this, 'NewerWindowKept', {
      comment: 'A run with a later window end already recorded its window (this one is a backfill)',
      result: sfn.Result.fromObject({ recorded: false }),
      resultPath: '$.record',
    });
    recordWindow.addCatch(newerKept.next(viewDone), {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });

    const eachView = sfn.Map.jsonPath(this, 'MaterializeEachView', {
      itemsPath: '$.views',
      maxConcurrency: props.maxConcurrency,
      resultPath: '$.views',
    })
      .itemProcessor(runQuery.next(writeOnline).next(recordWindow).next(viewDone))
      .addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    this.definition = plan.next(eachView).next(sfn.Succeed.jsonPath(this, 'Materialized'));
  }
}
