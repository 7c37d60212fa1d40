/**
 * The materialization workflow's states (JSONPath, every Task an integration the local runner
 * has). States only: the machine, its role and its grants are the stack's.
 *
 * ```
 * Plan (read each view's recorded window, render each view's UNLOAD)
 * → Materialize each view (Distributed Map over the planned views, `viewsAtOnce` at a time)
 *     Unload (athena:startQueryExecution.sync: the window's rows, one per entity, as JSON parts)
 *     → Write parts (Distributed Map: ItemReader lists the UNLOAD prefix, ItemBatcher
 *       `partsPerBatch`, `maxConcurrency` workers, ToleratedFailurePercentage, ResultWriter)
 *         Write part batch (lambda:invoke materialize-write: stream parts → BatchWriteItem)
 *     → Count (lambda:invoke materialize-write: the Map Run's counts from its result files)
 *     → All parts written? ─yes→ Record window (dynamodb:putItem, never over a later window)
 *                          └no─→ Window not recorded (the next run redoes the window)
 *     → View materialized
 * → Materialized; any failure → MaterializationFailed with the cause, no window recorded.
 * ```
 *
 * @example
 * const steps = new MaterializationSteps(this, 'Steps', { plan, write, onlineTable, curated, … });
 * new MlopsStateMachine(this, 'Materialization', { definition: steps.definition });
 */
import { Duration } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { ONLINE_TABLE_SPEC } from '../features/definitions';
import {
  MATERIALIZATION_RECORD_PREFIX,
  MATERIALIZATION_RESULTS_PREFIX,
  MATERIALIZATION_UNLOAD_PREFIX,
} from '../features/stack-support';
import { AthenaQuery } from './athena-query';
import type { LakeBucket } from './lake-bucket';
import { LakePrefixReader, LakeResultWriter } from './lake-map-io';
import { LambdaStep } from './lambda-step';
import type { MlopsFunction } from './mlops-function';
import { ATHENA_TRANSIENT_ERRORS } from './retries';
import { integerIn, numberIn } from './validate-props';

export const MATERIALIZATION_STATES = {
  plan: 'Plan',
  eachView: 'Materialize each view',
  unload: 'Unload',
  writeParts: 'Write parts',
  writeBatch: 'Write part batch',
  count: 'Count',
  allWritten: 'All parts written?',
  record: 'Record window',
  notRecorded: 'Window not recorded',
  newerKept: 'Newer window kept',
  viewDone: 'View materialized',
  succeeded: 'Materialized',
  failed: 'MaterializationFailed',
} as const;

export interface MaterializationStepsProps {
  /** `lambdas/materialize-plan.ts`. */
  readonly plan: MlopsFunction;
  /** `lambdas/materialize-write.ts`: the Map's worker and the Map Run's counts. */
  readonly write: MlopsFunction;
  /** Where each view's window is recorded (the online table). */
  readonly onlineTable: dynamodb.ITable;
  /** The curated bucket: UNLOAD parts and the ResultWriter's files, under `materialize/`. */
  readonly curated: LakeBucket;
  readonly workGroupName: string;
  readonly databaseName: string;
  /** Views materialized at once: bounds concurrent Athena queries. */
  readonly viewsAtOnce: number;
  /** UNLOAD parts per worker invocation (ItemBatcher MaxItemsPerBatch). */
  readonly partsPerBatch: number;
  /** Workers at once per view (MaxConcurrency). */
  readonly maxConcurrency: number;
  /** Parts (percent) that may fail before the view's Map Run fails. */
  readonly toleratedFailurePercentage: number;
}

export class MaterializationSteps extends Construct {
  readonly definition: sfn.IChainable;

  constructor(scope: Construct, id: string, props: MaterializationStepsProps) {
    super(scope, id);
    integerIn('MaterializationSteps viewsAtOnce', props.viewsAtOnce, 1, 10_000);
    integerIn('MaterializationSteps partsPerBatch', props.partsPerBatch, 1, 100);
    integerIn('MaterializationSteps maxConcurrency', props.maxConcurrency, 1, 10_000);
    numberIn('MaterializationSteps toleratedFailurePercentage', props.toleratedFailurePercentage, 0, 100);
    const S = MATERIALIZATION_STATES;
    const failed = sfn.Fail.jsonPath(this, S.failed, {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    const plan = tasks.LambdaInvoke.jsonPath(this, S.plan, {
      comment: 'Validate {start?, end?, featureView?}, read each view\'s recorded window, render each view\'s UNLOAD',
      lambdaFunction: props.plan.function,
      payload: sfn.TaskInput.fromObject({
        input: sfn.JsonPath.entirePayload,
        executionStartTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        execution: sfn.JsonPath.stringAt('$$.Execution.Name'),
        database: props.databaseName,
        unloadLocation: `s3://${props.curated.bucketName}/${MATERIALIZATION_UNLOAD_PREFIX}`,
      }),
      outputPath: '$.Payload',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
    }).addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    // --- one view (a child execution of the outer Distributed Map) -------------------------------
    const unload = new AthenaQuery(this, S.unload, {
      workGroupName: props.workGroupName,
      databaseName: props.databaseName,
      // Each attempt into its own folder (Athena refuses one an earlier attempt wrote); `$.query.attempt` names it.
      unloadPath: '$.view.unload',
      resultSelector: { 'queryExecutionId.$': '$.QueryExecution.QueryExecutionId' },
      resultPath: '$.query',
      comment: "UNLOAD the window's rows (one per entity, dt partitions pruned) as JSON parts under the run's prefix",
      retry: {
        errors: ATHENA_TRANSIENT_ERRORS,
        interval: Duration.seconds(5),
        maxAttempts: 4,
        backoffRate: 2,
        jitterStrategy: sfn.JitterType.FULL,
      },
    });

    const writeBatch = new LambdaStep(this, S.writeBatch, {
      fn: props.write,
      payload: { 'BatchInput.$': '$.BatchInput', 'Items.$': '$.Items' },
      resultPath: '$',
      comment: 'Stream each UNLOAD part of the batch and BatchWriteItem its rows, newer-wins',
      timeout: props.write.function.timeout!,
      // Writes are newer-wins and the UNLOAD holds one row per entity: a retried batch rewrites
      // the same items.
      retryErrors: ['ProvisionedThroughputExceededException', 'ThrottlingException', 'UnprocessedError'],
    });
    const writeParts = new sfn.DistributedMap(this, S.writeParts, {
      comment: 'One worker per partsPerBatch UNLOAD parts, listed under the run\'s prefix by the ItemReader',
      itemReader: new LakePrefixReader({
        bucketNamePath: sfn.JsonPath.stringAt('$.view.unloadBucket'),
        // The folder of the Unload attempt that succeeded: never a failed attempt's parts.
        prefix: sfn.JsonPath.format('{}{}/', sfn.JsonPath.stringAt('$.view.unloadPrefix'), sfn.JsonPath.stringAt('$.query.attempt')),
      }),
      itemSelector: { 'Key.$': '$$.Map.Item.Value.Key' },
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatch: props.partsPerBatch,
        batchInput: { 'featureView.$': '$.view.featureView', 'bucket.$': '$.view.unloadBucket' },
      }),
      maxConcurrency: props.maxConcurrency,
      toleratedFailurePercentage: props.toleratedFailurePercentage,
      // A worker may stream parts for up to the function's 15 minutes: past Express's 5.
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultWriterV2: new LakeResultWriter({ bucket: props.curated, prefix: MATERIALIZATION_RESULTS_PREFIX }),
      resultPath: '$.written',
    });
    writeParts.itemProcessor(writeBatch);

    const count = new LambdaStep(this, S.count, {
      fn: props.write,
      payload: {
        summarize: {
          'featureView.$': '$.view.featureView',
          'Bucket.$': '$.written.ResultWriterDetails.Bucket',
          'Key.$': '$.written.ResultWriterDetails.Key',
        },
      },
      resultPath: '$.result',
      comment: "The Map Run's counts: its children's outputs added up from the ResultWriter's files",
      timeout: props.write.function.timeout!,
    });

    const str = (path: string) => tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt(path));
    const num = (path: string) =>
      tasks.DynamoAttributeValue.numberFromString(sfn.JsonPath.jsonToString(sfn.JsonPath.numberAt(path)));
    const record = tasks.DynamoPutItem.jsonPath(this, S.record, {
      comment: "Record the view's window end (the next run starts there) unless a later one is already recorded",
      table: props.onlineTable,
      item: {
        [ONLINE_TABLE_SPEC.partitionKey.name]: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format(`${MATERIALIZATION_RECORD_PREFIX}{}`, sfn.JsonPath.stringAt('$.view.featureView')),
        ),
        view: str('$.view.featureView'),
        window_start: str('$.view.start'),
        window_end: str('$.view.end'),
        window_from: str('$.view.from'),
        query_execution_id: str('$.query.queryExecutionId'),
        map_run_arn: str('$.written.MapRunArn'),
        parts: num('$.result.parts'),
        rows_read: num('$.result.rowsRead'),
        written: num('$.result.written'),
        skipped_stale: num('$.result.skippedStale'),
        execution_id: str('$.execution'),
        recorded_at: str('$$.State.EnteredTime'),
      },
      // ISO 8601 UTC strings from the plan compare in time order.
      conditionExpression: 'attribute_not_exists(pk) OR window_end <= :end',
      expressionAttributeValues: { ':end': str('$.view.end') },
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

    const viewDone = sfn.Pass.jsonPath(this, S.viewDone, {
      parameters: {
        featureView: sfn.JsonPath.stringAt('$.view.featureView'),
        start: sfn.JsonPath.stringAt('$.view.start'),
        end: sfn.JsonPath.stringAt('$.view.end'),
        from: sfn.JsonPath.stringAt('$.view.from'),
        queryExecutionId: sfn.JsonPath.stringAt('$.query.queryExecutionId'),
        mapRunArn: sfn.JsonPath.stringAt('$.written.MapRunArn'),
        parts: sfn.JsonPath.numberAt('$.result.parts'),
        failedBatches: sfn.JsonPath.numberAt('$.result.failedChildren'),
        rowsRead: sfn.JsonPath.numberAt('$.result.rowsRead'),
        written: sfn.JsonPath.numberAt('$.result.written'),
        skippedStale: sfn.JsonPath.numberAt('$.result.skippedStale'),
        windowRecorded: sfn.JsonPath.stringAt('$.record.recorded'),
      },
    });
    const newerKept = sfn.Pass.jsonPath(this, S.newerKept, {
      comment: 'A run with a later window end already recorded its window (this one is a backfill)',
      result: sfn.Result.fromObject({ recorded: false }),
      resultPath: '$.record',
    });
    record.addCatch(newerKept.next(viewDone), {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });
    const notRecorded = sfn.Pass.jsonPath(this, S.notRecorded, {
      comment: 'Some part batches failed (within the tolerated share): the window is not recorded, so the next run redoes it',
      result: sfn.Result.fromObject({ recorded: false }),
      resultPath: '$.record',
    });
    const allWritten = sfn.Choice.jsonPath(this, S.allWritten)
      .when(sfn.Condition.numberEquals('$.result.failedChildren', 0), record.next(viewDone))
      .otherwise(notRecorded.next(viewDone));

    const eachView = new sfn.DistributedMap(this, S.eachView, {
      comment: 'One child execution per planned view; a view with nothing new is not planned',
      itemsPath: '$.views',
      // The parent's execution ARN is recorded with each window (a child's own would be the Map's).
      itemSelector: { 'view.$': '$$.Map.Item.Value', 'execution.$': '$$.Execution.Id' },
      maxConcurrency: props.viewsAtOnce,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultPath: '$.views',
    })
      .itemProcessor(unload.next(writeParts).next(count).next(allWritten))
      .addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    this.definition = plan.next(eachView).next(sfn.Succeed.jsonPath(this, S.succeeded));
  }
}
