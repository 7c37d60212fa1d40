/**
 * Batch inference: predictions for every row of a lake table or an S3 prefix, written back to the
 * lake as Parquet.
 *
 * ```
 * Plan batch → Predict each object (inline Map: Predict object) → Write predictions (Athena UNLOAD) → Summarize → Batch complete
 * any work state ─Catch→ Record failure → Batch failed (Fail: the step's error)
 * ```
 *
 * Why an inline Map over a listed set of objects and not a Distributed Map: the local runner does
 * not support Distributed Map (ItemReader/ResultWriter), and the kit runs the same definition
 * locally and on AWS. The price is a cap of {@link MAX_BATCH_OBJECTS} objects per run (the list
 * travels in the state payload).
 *
 * Why JSON Lines then one UNLOAD: each iteration stages its predictions as JSON Lines under the
 * execution's partition of a staging table, and Athena turns the run's partition into Parquet. A
 * Lambda cannot write Parquet with the kit's only Parquet writer (DuckDB, a native module that
 * Lambda bundling cannot carry); Athena can, and the local engine runs the same UNLOAD.
 *
 * Execution input: `{ model: { uri: "s3://…/model.tar.gz" }, input: { table } | { prefix }, output: "s3://<curated>/predictions/…" }`.
 * Output: the input plus `plan` and `summary: { output_location, objects, query_execution_id }`;
 * the Parquet files have the columns `source, row_number, prediction, record` (the features as JSON).
 *
 * @example
 * const batch = new BatchInferenceStack(stage, 'BatchInference', { config, lake: dataLake.lake });
 * batch.stateMachine.grantStartExecution(analysts);
 */
import { Aws, Duration, Stack, type StackProps } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import type { DataLake } from '../lib/constructs/data-lake';
import { lambdaEntry, type MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import { MAX_BATCH_OBJECTS } from '../lib/pipelines/batch';
import { PipelineGrants } from '../lib/pipelines/grants';
import {
  ATHENA_TRANSIENT_ERRORS,
  lakeTablesJson,
  lambdaStep,
  pipelineFunction,
  removalPolicyOf,
  transientRetry,
} from '../lib/pipelines/infra';

export interface BatchInferenceStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * Iterations of the Map that run at once.
   * @default 8
   */
  readonly maxConcurrency?: number;
}

export const BATCH_STATES = {
  plan: 'Plan batch',
  map: 'Predict each object',
  predict: 'Predict object',
  write: 'Write predictions',
  summarize: 'Summarize',
  succeeded: 'Batch complete',
  recordFailure: 'Record failure',
  failed: 'Batch failed',
} as const;

/** The Glue table predictions are staged in, one `execution=<name>` partition per run. */
export const BATCH_STAGING_TABLE = 'batch_predictions_staging';
/** Key prefixes in the curated bucket: staged JSON, and where Parquet outputs may go. */
export const BATCH_STAGING_PREFIX = 'batch-staging/';
export const BATCH_OUTPUT_PREFIX = 'predictions/';

export class BatchInferenceStack extends Stack {
  readonly stateMachine: MlopsStateMachine;
  readonly stagingTable: glue.CfnTable;
  readonly functions: { readonly plan: MlopsFunction; readonly predict: MlopsFunction };

  constructor(scope: Construct, id: string, props: BatchInferenceStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const S = BATCH_STATES;
    const stagingLocation = `s3://${lake.curated.bucketName}/${BATCH_STAGING_PREFIX}`;

    this.stagingTable = new glue.CfnTable(this, 'StagingTable', {
      catalogId: this.account,
      databaseName: lake.databaseName,
      tableInput: {
        name: BATCH_STAGING_TABLE,
        description:
          'Batch inference: predictions staged as JSON Lines, one execution=<name> partition per run',
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          classification: 'json',
          // Partition projection: a run's partition is queryable the moment its files exist, with
          // no MSCK REPAIR or AddPartition call (injected: every query names its execution).
          'projection.enabled': 'true',
          'projection.execution.type': 'injected',
          'storage.location.template': `${stagingLocation}execution=\${execution}/`,
        },
        partitionKeys: [{ name: 'execution', type: 'string' }],
        storageDescriptor: {
          location: stagingLocation,
          columns: [
            { name: 'source', type: 'string' },
            { name: 'row_number', type: 'bigint' },
            { name: 'prediction', type: 'double' },
            { name: 'record', type: 'string' },
          ],
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' },
        },
      },
    });

    const plan = pipelineFunction(this, 'PlanFunction', config, lake, {
      entry: lambdaEntry('pipeline-batch-plan'),
      description: 'Batch inference: validate the input, check the model, list the input objects',
      timeout: Duration.minutes(2),
      environment: {
        LAKE_TABLES: lakeTablesJson(this, lake),
        LAKE_DATABASE: lake.databaseName,
        STAGING_TABLE: BATCH_STAGING_TABLE,
        STAGING_LOCATION: stagingLocation,
        OUTPUT_PREFIX: BATCH_OUTPUT_PREFIX,
      },
    });
    const grants = new PipelineGrants(this, lake);
    const readInputs = (fn: MlopsFunction, list: boolean) => {
      const why = 'a batch reads the table or prefix its input names, anywhere in the raw and curated zones';
      grants.bindObjects(fn, 'RAW_BUCKET', lake.raw, { read: '', ...(list ? { list: '' } : {}) }, why);
      grants.bindObjects(
        fn,
        'CURATED_BUCKET',
        lake.curated,
        { read: '', ...(list ? { list: '' } : {}) },
        why,
      );
      grants.bindObjects(
        fn,
        'ARTIFACTS_BUCKET',
        lake.artifacts,
        { read: 'runs/' },
        "models are the training runs' model.tar.gz objects, all under runs/",
      );
    };
    readInputs(plan, true);

    const predict = pipelineFunction(this, 'PredictFunction', config, lake, {
      entry: lambdaEntry('pipeline-batch-predict'),
      description: 'Batch inference: predict every row of one object and stage the predictions',
      timeout: Duration.minutes(5),
      memorySize: Math.max(1024, config.lambda.memorySizeMb),
    });
    readInputs(predict, false);
    // Writes only its staging prefix, not the curated zone at large.
    grants.objects(
      predict.function.role!,
      lake.curated,
      { write: BATCH_STAGING_PREFIX },
      'each run stages its predictions under batch-staging/execution=<name>/, named at run time',
    );
    this.functions = { plan, predict };

    const recordFailure = new sfn.Pass(this, S.recordFailure, {
      parameters: {
        outcome: 'failed',
        'execution.$': '$$.Execution.Name',
        'error.$': '$.error.Error',
        'cause.$': '$.error.Cause',
      },
      resultPath: '$.failure',
    });
    recordFailure.next(
      new sfn.Fail(this, S.failed, { errorPath: '$.failure.error', causePath: '$.failure.cause' }),
    );

    const planStep = lambdaStep(
      this,
      S.plan,
      plan,
      { 'input.$': '$', 'execution.$': '$$.Execution.Name' },
      {
        resultPath: '$.plan',
        comment: `Validates the input, checks the model loads, lists the input objects (at most ${MAX_BATCH_OBJECTS})`,
        timeout: Duration.minutes(2),
      },
    );
    planStep.addCatch(recordFailure, { resultPath: '$.error' });

    const predictStep = lambdaStep(
      this,
      S.predict,
      predict,
      { 'model_uri.$': '$.model_uri', 'item.$': '$.item', 'staging_prefix.$': '$.staging_prefix' },
      {
        resultPath: '$',
        comment: 'Predicts every row of one object; stages the predictions as JSON Lines',
        timeout: Duration.minutes(5),
      },
    );
    const map = new sfn.Map(this, S.map, {
      comment: 'One iteration per input object',
      itemsPath: '$.plan.items',
      itemSelector: {
        'model_uri.$': '$.plan.model_uri',
        'staging_prefix.$': '$.plan.staging_prefix',
        'item.$': '$$.Map.Item.Value',
      },
      maxConcurrency: props.maxConcurrency ?? 8,
      // Per-object results would grow the payload with the object count; the UNLOAD counts the rows.
      resultPath: sfn.JsonPath.DISCARD,
    });
    map.itemProcessor(predictStep);
    map.addCatch(recordFailure, { resultPath: '$.error' });

    // The optimized integration written out: CDK's AthenaStartQueryExecution grants S3 and Lake
    // Formation on "*" and Glue writes; the machine's role gets PipelineGrants.query instead.
    const write = new sfn.CustomState(this, S.write, {
      stateJson: {
        Type: 'Task',
        Comment: "UNLOADs the run's staged predictions to Parquet at the output location",
        Resource: `arn:${Aws.PARTITION}:states:::athena:startQueryExecution.sync`,
        Parameters: {
          'QueryString.$': '$.plan.query',
          WorkGroup: lake.workGroupName,
          QueryExecutionContext: { Database: lake.databaseName },
        },
        ResultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
        ResultPath: '$.written',
        TimeoutSeconds: 30 * 60,
      },
    });
    write.addRetry(transientRetry(ATHENA_TRANSIENT_ERRORS));
    write.addCatch(recordFailure, { resultPath: '$.error' });

    const summarize = new sfn.Pass(this, S.summarize, {
      parameters: {
        'output_location.$': '$.plan.output_location',
        'objects.$': 'States.ArrayLength($.plan.items)',
        'query_execution_id.$': '$.written.query_execution_id',
      },
      resultPath: '$.summary',
    });

    this.stateMachine = new MlopsStateMachine(this, 'BatchInference', {
      definition: planStep.next(map).next(write).next(summarize).next(new sfn.Succeed(this, S.succeeded)),
      comment: `mlops-kit ${config.name} batch inference: predict every row of a table or prefix, write Parquet`,
      timeout: Duration.hours(6),
      logRetention: config.logs.retentionDays as logs.RetentionDays,
      logsEncryptionKey: lake.logsKey,
      removalPolicy: removalPolicyOf(config),
    });
    declareStateMachine(this.stateMachine, 'batch');
    const role = this.stateMachine.stateMachine.role;
    grants.query(role);
    grants.acknowledgeInvoke(role, [plan, predict]);
    // The UNLOAD reads the staged JSON and writes Parquet with the caller's credentials, only under
    // the output prefix "Plan batch" enforces.
    grants.objects(
      role,
      lake.curated,
      { read: BATCH_STAGING_PREFIX, list: BATCH_STAGING_PREFIX },
      'the UNLOAD reads the staging partition of its own execution, named at run time',
    );
    grants.objects(
      role,
      lake.curated,
      { write: BATCH_OUTPUT_PREFIX, list: BATCH_OUTPUT_PREFIX },
      'each run UNLOADs to <output>/<execution>/ under predictions/, named at run time',
    );
  }
}
