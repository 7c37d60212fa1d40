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
import { Duration, Stack, type StackProps } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { AthenaQuery } from '../lib/constructs/athena-query';
import { type DataLake, MODEL_ARTIFACT_KEYS } from '../lib/constructs/data-lake';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { LakeTable, lakeTablesJson } from '../lib/constructs/lake-table';
import { LambdaStep } from '../lib/constructs/lambda-step';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import type { Binding } from '../lib/constructs/binding';
import { ModelQuality } from '../lib/constructs/model-quality';
import { REQUEST_LOG_PREFIX } from './serving-stack';
import { MAX_BATCH_OBJECTS } from '../lib/pipelines/batch';

export interface BatchInferenceStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
  /**
   * Iterations of the Map that run at once.
   * @default 8
   */
  readonly maxConcurrency?: number;
  /**
   * The platform's event bus: the model-quality check puts `ModelQualityBelowThreshold` there.
   * @default - the account's default bus
   */
  readonly eventBus?: events.IEventBus;
  /**
   * The MLflow registry endpoint: the model-quality check refuses models it does not know.
   * @default - no registry check
   */
  readonly registry?: Binding;
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
  readonly stagingTable: LakeTable;
  readonly functions: { readonly plan: MlopsFunction; readonly predict: MlopsFunction };
  /** The model-quality check: the served predictions joined with their labels (lib/constructs/model-quality.ts). */
  readonly quality: ModelQuality;

  constructor(scope: Construct, id: string, props: BatchInferenceStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const house = houseFor(config, lake.logsKey, props.house);
    const S = BATCH_STATES;
    const stagingLocation = `s3://${lake.curated.bucketName}/${BATCH_STAGING_PREFIX}`;

    this.stagingTable = new LakeTable(this, 'StagingTable', {
      database: lake.database,
      name: BATCH_STAGING_TABLE,
      description: 'Batch inference: predictions staged as JSON Lines, one execution=<name> partition per run',
      location: stagingLocation,
      format: 'json',
      // Partition projection: a run's partition is queryable the moment its files exist, with no
      // MSCK REPAIR or AddPartition call (injected: every query names its execution).
      parameters: {
        'projection.enabled': 'true',
        'projection.execution.type': 'injected',
        'storage.location.template': `${stagingLocation}execution=\${execution}/`,
      },
      partitionKeys: [{ name: 'execution', type: 'string' }],
      columns: [
        { name: 'source', type: 'string' },
        { name: 'row_number', type: 'bigint' },
        { name: 'prediction', type: 'double' },
        { name: 'record', type: 'string' },
      ],
    });

    const plan = new MlopsFunction(this, 'PlanFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-batch-plan'),
      description: 'Batch inference: validate the input, check the model, list the input objects',
      timeout: Duration.minutes(2),
      environment: {
        LAKE_TABLES: lakeTablesJson(this, lake.tables),
        LAKE_DATABASE: lake.databaseName,
        STAGING_TABLE: BATCH_STAGING_TABLE,
        STAGING_LOCATION: stagingLocation,
        OUTPUT_PREFIX: BATCH_OUTPUT_PREFIX,
      },
    });
    const readInputs = (fn: MlopsFunction, list: boolean) => {
      const why = 'a batch reads the table or prefix its input names, anywhere in the raw and curated zones';
      const inputs = { read: '', ...(list ? { list: '' } : {}) };
      fn.bind('RAW_BUCKET', lake.raw.objects(inputs, why))
        .bind('CURATED_BUCKET', lake.curated.objects(inputs, why))
        .bind(
          'ARTIFACTS_BUCKET',
          lake.artifacts.objects({ readKeys: MODEL_ARTIFACT_KEYS }, "a batch reads the model.tar.gz of the version it names, and nothing else of the artifacts bucket"),
        );
    };
    readInputs(plan, true);

    const predict = new MlopsFunction(this, 'PredictFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-batch-predict'),
      description: 'Batch inference: predict every row of one object and stage the predictions',
      timeout: Duration.minutes(5),
      memorySize: Math.max(1024, house.workflowFunction.memorySize),
    });
    readInputs(predict, false);
    // Writes only its staging prefix, not the curated zone at large.
    lake.curated.grantObjects(
      predict.function,
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

    const planStep = new LambdaStep(this, S.plan, {
      fn: plan,
      payload: { 'input.$': '$', 'execution.$': '$$.Execution.Name' },
      resultPath: '$.plan',
      comment: `Validates the input, checks the model loads, lists the input objects (at most ${MAX_BATCH_OBJECTS})`,
      timeout: Duration.minutes(2),
    });
    planStep.addCatch(recordFailure, { resultPath: '$.error' });

    const predictStep = new LambdaStep(this, S.predict, {
      fn: predict,
      payload: { 'model_uri.$': '$.model_uri', 'item.$': '$.item', 'staging_prefix.$': '$.staging_prefix' },
      resultPath: '$',
      comment: 'Predicts every row of one object; stages the predictions as JSON Lines',
      timeout: Duration.minutes(5),
    });
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

    const write = new AthenaQuery(this, S.write, {
      workGroupName: lake.workGroupName,
      databaseName: lake.databaseName,
      queryStringPath: '$.plan.query',
      resultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
      resultPath: '$.written',
      comment: "UNLOADs the run's staged predictions to Parquet at the output location",
    });
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
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'batch');
    const role = this.stateMachine.stateMachine.role;
    lake.grantQuery(role);
    this.stateMachine.acknowledgeInvoke([plan, predict]);
    // The UNLOAD reads the staged JSON and writes Parquet with the caller's credentials, only under
    // the output prefix "Plan batch" enforces.
    lake.curated.grantObjects(
      role,
      { read: BATCH_STAGING_PREFIX, list: BATCH_STAGING_PREFIX },
      'the UNLOAD reads the staging partition of its own execution, named at run time',
    );
    lake.curated.grantObjects(
      role,
      { write: BATCH_OUTPUT_PREFIX, list: BATCH_OUTPUT_PREFIX },
      'each run UNLOADs to <output>/<execution>/ under predictions/, named at run time',
    );

    // Quality of the served models, beside batch inference: both read predictions from the lake.
    this.quality = new ModelQuality(this, 'Quality', {
      config,
      lake,
      house,
      requestLogLocation: `s3://${lake.raw.bucketName}/${REQUEST_LOG_PREFIX}`,
      eventBus: props.eventBus,
      registry: props.registry,
    });
  }
}
