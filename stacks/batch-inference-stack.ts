/**
 * Batch inference: predictions for every row of a lake table or an S3 prefix, written back to the
 * lake as Parquet.
 *
 * ```
 * Plan batch → Choose engine ─lambda→ Predict each object (Distributed Map: Predict objects) → Write predictions (Athena UNLOAD) → Summarize → Batch complete
 *                            └─sql──→ Check rows → Read check → Rows complete? ─yes→ Predict with SQL (Athena UNLOAD) → Summarize SQL run → Batch complete
 *                                                                             └─no──→ No rows | Incomplete rows → Record failure
 * any work state ─Catch→ Record failure → Batch failed (Fail: the step's error)
 * ```
 *
 * Why a SQL path: the kit's models are linear, so a lake table's predictions are one Athena UNLOAD
 * of `intercept + Σ coef·x`, which scales with Athena's workers and needs no Lambda at all. Plan
 * batch chooses it (`engine: "auto"`) for a table whose model features are columns of exact numeric
 * types; the sum is written in `predictRow`'s order, so every prediction is the same double the
 * predict function and the model server compute. Its Parquet has the model's features and
 * `prediction` per row. A row lacking a feature fails the run before anything is written
 * (`DataValidationError`, counted); `engine: "lambda"` forces the Distributed Map, which names the
 * failing objects and rows.
 *
 * Why a Distributed Map: its ItemReader lists the input prefix itself (s3:listObjectsV2), so the
 * object list never travels in the 256 KB state payload and a run has no object cap (an inline
 * Map over a listed array stopped near 1,000 objects). The ItemBatcher gives each child execution
 * `batchInference.objectsPerBatch` objects (one Lambda invocation predicts them one after the
 * other, streaming each); `maxConcurrency` children run at once; `toleratedFailurePercentage` of
 * the objects may fail; the ResultWriter writes every child's input, output or error under
 * `batch-results/<map run id>/` in the curated bucket (`manifest.json`, `SUCCEEDED_0.json`,
 * `FAILED_0.json`). The local runner runs the same definition (lib/local/sfn/distributed-map.ts).
 *
 * Why STANDARD children and not EXPRESS: a child predicts a batch of objects of any size, which
 * may take longer than Express's 5-minute limit (the predict function may run 15 minutes), and a
 * Standard child runs exactly once with a history to inspect. At one child per batch of objects,
 * the state transitions a child costs are few beside the objects it predicts.
 *
 * Why JSON Lines then one UNLOAD: each iteration stages its predictions as JSON Lines under the
 * execution's partition of a staging table, and Athena turns the run's partition into Parquet. A
 * Lambda cannot write Parquet with the kit's only Parquet writer (DuckDB, a native module that
 * Lambda bundling cannot carry); Athena can, and the local engine runs the same UNLOAD.
 *
 * Execution input: `{ model: { uri: "s3://…/model.tar.gz" }, input: { table } | { prefix }, output: "s3://<curated>/predictions/…" }`.
 * Output: the input plus `plan` and `summary: { engine, output_location, … }`; on the lambda path
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
import { AthenaQuery, attemptFolderExpression } from '../lib/constructs/athena-query';
import { ATHENA_TRANSIENT_ERRORS, transientRetry } from '../lib/constructs/retries';
import { type DataLake, MODEL_ARTIFACT_KEYS } from '../lib/constructs/data-lake';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { LakePrefixReader, LakeResultWriter } from '../lib/constructs/lake-map-io';
import { LakeTable, lakeTablesJson } from '../lib/constructs/lake-table';
import { LambdaStep } from '../lib/constructs/lambda-step';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import type { Binding } from '../lib/constructs/binding';
import { ModelQuality } from '../lib/constructs/model-quality';
import { REQUEST_LOG_PREFIX } from './serving-stack';

export interface BatchInferenceStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
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
  engine: 'Choose engine',
  check: 'Check rows',
  readCheck: 'Read check',
  gate: 'Rows complete?',
  empty: 'No rows',
  incomplete: 'Incomplete rows',
  predictSql: 'Predict with SQL',
  summarizeSql: 'Summarize SQL run',
  map: 'Predict each object',
  predict: 'Predict objects',
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
/** Key prefix in the curated bucket where each Map Run's ResultWriter files go. */
export const BATCH_RESULTS_PREFIX = 'batch-results/';
/**
 * The predictions' folder: `<output>/<execution>/<attempt>/`, the attempt of the UNLOAD that
 * succeeded (each attempt writes into its own: Athena refuses a location an earlier attempt wrote to).
 */
const OUTPUT_ATTEMPT = attemptFolderExpression('$.plan.output_location', '$.written');

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
      description: 'Batch inference: validate the input, check the model and that the input prefix holds objects',
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

    const { batchInference } = config;
    const reserved = house.workflowFunction.reservedConcurrentExecutions;
    const predict = new MlopsFunction(this, 'PredictFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-batch-predict'),
      description: 'Batch inference: predict every row of a batch of objects, streaming each, and stage the predictions',
      timeout: Duration.minutes(15),
      memorySize: Math.max(1024, house.workflowFunction.memorySize),
      // As many as the Map runs children at once, so a run is not throttled by its own reservation.
      ...(reserved === undefined ? {} : { reservedConcurrentExecutions: Math.max(reserved, batchInference.maxConcurrency) }),
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
      comment: 'Validates the input, checks the model loads and that the input prefix holds objects',
      timeout: Duration.minutes(2),
    });
    planStep.addCatch(recordFailure, { resultPath: '$.error' });

    const predictStep = new LambdaStep(this, S.predict, {
      fn: predict,
      payload: {
        'model_uri.$': '$.BatchInput.model_uri',
        'staging_prefix.$': '$.BatchInput.staging_prefix',
        'items.$': '$.Items',
      },
      resultPath: '$',
      comment: 'Predicts every row of each object of the batch, streaming it; stages the predictions as JSON Lines',
      timeout: Duration.minutes(15),
    });
    const map = new sfn.DistributedMap(this, S.map, {
      comment: `One child execution per ${batchInference.objectsPerBatch} objects listed under the input prefix`,
      itemReader: new LakePrefixReader({
        bucketNamePath: sfn.JsonPath.stringAt('$.plan.bucket'),
        prefix: sfn.JsonPath.stringAt('$.plan.prefix'),
      }),
      itemSelector: {
        'bucket.$': '$.plan.bucket',
        'key.$': '$$.Map.Item.Value.Key',
        'index.$': '$$.Map.Item.Index',
      },
      itemBatcher: new sfn.ItemBatcher({
        maxItemsPerBatch: batchInference.objectsPerBatch,
        batchInput: { 'model_uri.$': '$.plan.model_uri', 'staging_prefix.$': '$.plan.staging_prefix' },
      }),
      maxConcurrency: batchInference.maxConcurrency,
      toleratedFailurePercentage: batchInference.toleratedFailurePercentage,
      mapExecutionType: sfn.StateMachineType.STANDARD,
      resultWriterV2: new LakeResultWriter({ bucket: lake.curated, prefix: BATCH_RESULTS_PREFIX }),
      // Where the Map Run's results are: `{ MapRunArn, ResultWriterDetails: { Bucket, Key } }`.
      resultPath: '$.predicted',
    });
    map.itemProcessor(predictStep);
    map.addCatch(recordFailure, { resultPath: '$.error' });

    /** A query in the lake's workgroup whose execution id lands at `resultPath`; failures are recorded. */
    // An UNLOAD (`{ unload: path }`) writes into a folder of its attempt and returns its name.
    const lakeQuery = (name: string, q: string | { unload: string }, resultPath: string, comment: string) => {
      const query = new AthenaQuery(this, name, {
        workGroupName: lake.workGroupName,
        databaseName: lake.databaseName,
        ...(typeof q === 'string' ? { queryStringPath: q } : { unloadPath: q.unload }),
        resultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
        resultPath,
        comment,
      });
      query.addCatch(recordFailure, { resultPath: '$.error' });
      return query;
    };

    const write = lakeQuery(S.write, { unload: '$.plan.query' }, '$.written', "UNLOADs the run's staged predictions to Parquet at the output location");

    const summarize = new sfn.Pass(this, S.summarize, {
      parameters: {
        engine: 'lambda',
        'output_location.$': OUTPUT_ATTEMPT,
        'map_run_arn.$': '$.predicted.MapRunArn',
        'results_manifest.$': "States.Format('s3://{}/{}', $.predicted.ResultWriterDetails.Bucket, $.predicted.ResultWriterDetails.Key)",
        'query_execution_id.$': '$.written.query_execution_id',
      },
      resultPath: '$.summary',
    });

    const succeeded = new sfn.Succeed(this, S.succeeded);
    map.next(write).next(summarize).next(succeeded);

    // The SQL path: a table whose model features are numeric columns is predicted by one UNLOAD
    // (intercept + Σ coef·x, summed as predictRow sums), after a count proves every row complete.
    const check = lakeQuery(S.check, '$.plan.check_query', '$.checked', 'Counts the rows of the input table and those lacking a numeric value for a model feature');
    const readCheck = new sfn.CustomState(this, S.readCheck, {
      stateJson: {
        Type: 'Task',
        Comment: "Reads the check's one row (Rows[0] is the header)",
        Resource: `arn:${Stack.of(this).partition}:states:::athena:getQueryResults`,
        Parameters: { 'QueryExecutionId.$': '$.checked.query_execution_id', MaxResults: 2 },
        ResultSelector: {
          'row_count.$': '$.ResultSet.Rows[1].Data[0].VarCharValue',
          'incomplete.$': '$.ResultSet.Rows[1].Data[1].VarCharValue',
        },
        ResultPath: '$.check',
        TimeoutSeconds: 60,
      },
    });
    readCheck.addRetry(transientRetry(ATHENA_TRANSIENT_ERRORS));
    readCheck.addCatch(recordFailure, { resultPath: '$.error' });
    const rejected = (name: string, cause: string) =>
      new sfn.Pass(this, name, {
        parameters: { Error: 'DataValidationError', 'Cause.$': cause },
        resultPath: '$.error',
      }).next(recordFailure);
    const predictSql = lakeQuery(S.predictSql, { unload: '$.plan.query' }, '$.written', "UNLOADs each row's features and prediction to Parquet at the output location");
    predictSql
      .next(
        new sfn.Pass(this, S.summarizeSql, {
          parameters: {
            engine: 'sql',
            'output_location.$': OUTPUT_ATTEMPT,
            'rows.$': 'States.StringToJson($.check.row_count)',
            'query_execution_id.$': '$.written.query_execution_id',
          },
          resultPath: '$.summary',
        }),
      )
      .next(succeeded);
    check.next(readCheck).next(
      new sfn.Choice(this, S.gate, { comment: 'Predict only when the table has rows and every row is complete' })
        .when(sfn.Condition.stringEquals('$.check.row_count', '0'), rejected(S.empty, "States.Format('table {} has no rows to predict', $.input.table)"))
        .when(
          sfn.Condition.not(sfn.Condition.stringEquals('$.check.incomplete', '0')),
          rejected(
            S.incomplete,
            "States.Format('{} of the {} rows of table {} lack a numeric value for a model feature; the SQL path writes nothing unless every row is complete (engine lambda names each failing object and row)', $.check.incomplete, $.check.row_count, $.input.table)",
          ),
        )
        .otherwise(predictSql),
    );

    const engine = new sfn.Choice(this, S.engine, { comment: 'The plan chose SQL (a table of numeric features) or the Distributed Map' })
      .when(sfn.Condition.stringEquals('$.plan.engine', 'sql'), check)
      .otherwise(map);

    this.stateMachine = new MlopsStateMachine(this, 'BatchInference', {
      definition: planStep.next(engine),
      comment: `mlops-kit ${config.name} batch inference: predict every row of a table or prefix, write Parquet`,
      timeout: Duration.hours(6),
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'batch');
    const role = this.stateMachine.stateMachine.role;
    lake.grantQuery(role);
    lake.grantQueryResults(role);
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
    // The Distributed Map's ItemReader lists the input prefix, and the SQL path's queries read the
    // input table, anywhere in the raw or curated zone (Plan batch refuses others); the
    // ResultWriter writes under batch-results/ only.
    for (const zone of [lake.raw, lake.curated]) {
      zone.grantObjects(
        role,
        { read: '', list: '' },
        "the ItemReader lists the run's input prefix, and the SQL path's Athena queries read the input table, both named by the execution input",
      );
    }
    lake.curated.grantObjects(
      role,
      { read: BATCH_RESULTS_PREFIX, write: BATCH_RESULTS_PREFIX },
      "the ResultWriter writes batch-results/<map run id>/ (manifest and result files), the id given by Step Functions at run time",
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

