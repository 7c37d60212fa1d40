/**
 * Model quality when labels arrive: the lake tables of the request log and of labels, and the
 * `quality` state machine that joins them by request id in Athena and scores each model version.
 *
 * ```
 * Plan quality (Lambda: validate model and window, write the SQL) → Score versions (Athena .sync: join + aggregates)
 *   → Publish quality (Lambda: read the per-version rows, EMF metrics, ModelQualityBelowThreshold events) → Quality checked
 * ```
 *
 * Metrics: `QUALITY_METRICS` in `METRIC_NAMESPACES.quality`, as Embedded Metric Format log lines
 * of the publish function (Powertools Metrics): no PutMetricData permission, and the numbers are
 * in the function's log next to the run that produced them. Dimensions `Model, ModelVersion` and
 * `Model` (all versions in the window). Alarms, one per configured model and metric on the
 * `Model` series, are created here without actions (the stage's monitoring adds the topic).
 *
 * Scheduled per environment (`modelQuality.schedule`, one schedule per configured model); by hand:
 * `npx mlops quality --model wine-quality`.
 *
 * @example
 * new ModelQuality(this, 'ModelQuality', { config, lake, requestLogLocation: `s3://${lake.raw.bucketName}/predictions/`, eventBus, registry });
 */
import { REQUEST_LOG_TABLE } from '../serving/request-log';
import { Duration, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import { METRIC_NAMESPACES, QUALITY_METRICS } from '../shared/operations';
import { AthenaQuery } from './athena-query';
import { Binding } from './binding';
import type { DataLake } from './data-lake';
import type { HouseDefaults } from './house-defaults';
import { LakeTable } from './lake-table';
import { LambdaStep } from './lambda-step';
import { lambdaEntry, MlopsFunction } from './mlops-function';
import { MlopsStateMachine } from './mlops-state-machine';
import { declareStateMachine } from './platform-facts';
import { SchedulerRole } from './scheduler-role';
import { complianceAcks } from './nag';

/** The labels the machine joins with the request log (`REQUEST_LOG_TABLE`). */
export const PREDICTION_LABELS_TABLE = 'prediction_labels';
/** Where labels go in the raw zone: JSON Lines `{"request_id", "label", "ts"[, "row"]}`. */
export const LABELS_PREFIX = 'labels/';

export const QUALITY_STATES = {
  plan: 'Plan quality',
  score: 'Score versions',
  publish: 'Publish quality',
  succeeded: 'Quality checked',
} as const;

export interface ModelQualityProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  readonly house: HouseDefaults;
  /** `s3://<raw>/<prefix>/` under which model servers write `deployment=<d>/dt=<day>/` request logs. */
  readonly requestLogLocation: string;
  /**
   * The platform's event bus (`ModelQualityBelowThreshold` goes there).
   * @default - the account's default bus
   */
  readonly eventBus?: events.IEventBus;
  /**
   * The MLflow registry endpoint: a run for a model it does not know fails with a clear error.
   * @default - no registry check (the window is still validated)
   */
  readonly registry?: Binding;
}

export class ModelQuality extends Construct {
  readonly stateMachine: MlopsStateMachine;
  readonly logTable: LakeTable;
  readonly labelsTable: LakeTable;
  readonly functions: { readonly plan: MlopsFunction; readonly publish: MlopsFunction };
  /** Per configured model: RMSE, MAE and R² alarms on the model's series. */
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly schedules: scheduler.Schedule[] = [];

  constructor(scope: Construct, id: string, props: ModelQualityProps) {
    super(scope, id);
    const { config, lake, house } = props;
    const q = config.modelQuality;
    const S = QUALITY_STATES;
    const logLocation = props.requestLogLocation.endsWith('/') ? props.requestLogLocation : `${props.requestLogLocation}/`;

    this.logTable = lake.addTable('PredictionLogTable', {
      name: REQUEST_LOG_TABLE,
      description: 'Model server request log: one line per predicted row, and Seldon feedback (JSON Lines); drift and model quality read it',
      location: logLocation,
      format: 'json',
      // Partition projection: a day is queryable the moment its files exist (no crawler, no
      // MSCK REPAIR); every query names its deployment and days.
      parameters: {
        'projection.enabled': 'true',
        'projection.deployment.type': 'injected',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd',
        'projection.dt.range': '2024-01-01,NOW',
        'storage.location.template': `${logLocation}deployment=\${deployment}/dt=\${dt}/`,
      },
      partitionKeys: [
        { name: 'deployment', type: 'string' },
        { name: 'dt', type: 'string' },
      ],
      columns: [
        { name: 'ts', type: 'string' },
        { name: 'kind', type: 'string' },
        { name: 'model', type: 'string' },
        { name: 'version', type: 'string' },
        { name: 'protocol', type: 'string' },
        { name: 'request_id', type: 'string' },
        { name: 'row', type: 'int' },
        // The drift machine counts each feature's values in a window (`features['alcohol']`).
        { name: 'features', type: 'map<string,double>' },
        { name: 'prediction', type: 'double' },
        { name: 'reward', type: 'double' },
        { name: 'truth', type: 'string' },
      ],
    });
    this.labelsTable = lake.addTable('PredictionLabelsTable', {
      name: PREDICTION_LABELS_TABLE,
      description: 'Ground truth for served predictions, by request id (JSON Lines under labels/)',
      location: `s3://${lake.raw.bucketName}/${LABELS_PREFIX}`,
      format: 'json',
      columns: [
        { name: 'request_id', type: 'string' },
        { name: 'row', type: 'int' },
        { name: 'label', type: 'double' },
        { name: 'ts', type: 'string' },
      ],
    });

    const registryAuth = config.api.auth;
    const plan = new MlopsFunction(scope, 'QualityPlanFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('quality-plan'),
      description: 'Model quality: validate the model and window, write the scoring query',
      timeout: Duration.minutes(1),
      environment: {
        LAKE_DATABASE: lake.databaseName,
        LOG_TABLE: REQUEST_LOG_TABLE,
        LABELS_TABLE: PREDICTION_LABELS_TABLE,
        WINDOW_HOURS: String(q.windowHours),
        ...(props.registry ? { REGISTRY_AUTH: registryAuth } : {}),
      },
    });
    if (props.registry) plan.bind('REGISTRY_URL', props.registry);
    const publish = new MlopsFunction(scope, 'QualityPublishFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('quality-publish'),
      description: 'Model quality: judge the per-version scores, publish metrics and threshold events',
      timeout: Duration.minutes(1),
      environment: {
        ENVIRONMENT_NAME: config.name,
        RMSE_MAX: String(q.rmseMax),
        MAE_MAX: String(q.maeMax),
        R2_MIN: String(q.r2Min),
        MIN_LABELED: String(q.minLabeled),
      },
    });
    if (props.eventBus) publish.bind('EVENT_BUS_NAME', Binding.eventBus(props.eventBus));
    lake.grantQueryResults(publish.function);
    this.functions = { plan, publish };

    const planStep = new LambdaStep(scope, S.plan, {
      fn: plan,
      payload: { 'input.$': '$' },
      resultPath: '$.plan',
      comment: 'Validates the model and window; writes the join of the request log with the labels',
      timeout: Duration.minutes(1),
    });
    const score = new AthenaQuery(scope, S.score, {
      workGroupName: lake.workGroupName,
      databaseName: lake.databaseName,
      queryStringPath: '$.plan.query',
      resultSelector: { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
      resultPath: '$.scored',
      comment: 'Joins predictions and labels by request id; RMSE, MAE, R² per version in SQL',
      timeout: Duration.minutes(15),
    });
    const publishStep = new LambdaStep(scope, S.publish, {
      fn: publish,
      payload: { 'plan.$': '$.plan', 'query_execution_id.$': '$.scored.query_execution_id' },
      resultPath: '$.quality',
      comment: 'Judges each version against the thresholds; EMF metrics; an event per version below them',
      timeout: Duration.minutes(1),
    });
    this.stateMachine = new MlopsStateMachine(scope, 'ModelQuality', {
      definition: planStep.next(score).next(publishStep).next(new sfn.Succeed(scope, S.succeeded)),
      comment: `mlops-kit ${config.name} model quality: join predictions with labels, score each version`,
      timeout: Duration.minutes(30),
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'quality');
    const role = this.stateMachine.stateMachine.role;
    lake.grantQuery(role, { tables: [REQUEST_LOG_TABLE, PREDICTION_LABELS_TABLE] });
    lake.raw.grantObjects(
      role,
      { read: '', list: '' },
      'the query reads the request log (its location differs locally and on AWS) and labels/ of the raw zone',
    );
    this.stateMachine.acknowledgeInvoke([plan, publish]);

    for (const model of q.models) {
      if (house.monitored) this.alarms.push(...qualityAlarms(this, model, q));
      if (q.schedule !== null) {
        this.schedules.push(
          new scheduler.Schedule(this, `Schedule-${model}`, {
            description: `Model quality of ${model} over the last ${q.windowHours} h`,
            schedule: scheduler.ScheduleExpression.expression(q.schedule),
            target: new targets.StepFunctionsStartExecution(this.stateMachine.stateMachine, {
              input: scheduler.ScheduleTargetInput.fromObject({ model }),
              role: new SchedulerRole(this, `ScheduleRole-${model}`, {
                description: `Starts the model quality check of ${model} on its schedule`,
              }),
            }),
          }),
        );
      }
    }
  }
}

/** RMSE above, MAE above, R² below the thresholds, on the model's series (all versions). */
function qualityAlarms(scope: Construct, model: string, q: EnvironmentConfig['modelQuality']): cloudwatch.Alarm[] {
  const metric = (name: string) =>
    new cloudwatch.Metric({
      namespace: METRIC_NAMESPACES.quality,
      metricName: name,
      dimensionsMap: { Model: model },
      // The machine publishes once per run; a day covers a daily schedule.
      period: Duration.days(1),
      statistic: 'Maximum',
    });
  const alarm = (id: string, name: string, threshold: number, op: cloudwatch.ComparisonOperator, what: string) => {
    const a = new cloudwatch.Alarm(scope, `${id}-${model}`, {
      alarmDescription: `Model quality of ${model}: ${what} (labeled predictions joined by request id)`,
      metric: name === QUALITY_METRICS.r2 ? metric(name).with({ statistic: 'Minimum' }) : metric(name),
      threshold,
      comparisonOperator: op,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    Validations.of(a).acknowledge(...complianceAcks('CloudWatchAlarmAction', "Alarms are created next to what they watch without actions; the stage's monitoring Aspect gives every alarm the environment's alarm topic as its action."));
    return a;
  };
  return [
    alarm('RmseAlarm', QUALITY_METRICS.rmse, q.rmseMax, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, `RMSE above ${q.rmseMax}`),
    alarm('MaeAlarm', QUALITY_METRICS.mae, q.maeMax, cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, `MAE above ${q.maeMax}`),
    alarm('R2Alarm', QUALITY_METRICS.r2, q.r2Min, cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD, `R² below ${q.r2Min}`),
  ];
}
