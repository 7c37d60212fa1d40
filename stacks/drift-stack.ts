/**
 * Data and prediction drift: a Step Functions workflow that compares a window of the model
 * server's request log with the training baseline of the version serving it, per feature and for
 * the prediction, with Evidently's default tests (the drift core, lib/drift), and reports.
 *
 * ```
 * Resolve window → Aggregate window → Compute report → Dataset drift? ─yes→ Publish DriftDetected → Drift detected
 *                                                                     └no──→ No drift
 * ```
 *
 * - "Resolve window" validates `{ model, version? | stage?, start?, end? }` (default window: the
 *   day before now), resolves the version through the MLflow registry and reads its baseline
 *   (tag `mlops.baseline_uri`); a bad input, an unknown model or version fails it with
 *   `DriftInputError`, before anything runs or is written.
 * - "Aggregate window" is one Athena query over the request log's Glue table (`prediction_log`,
 *   partition projection on deployment, version and day, so a window reads only its days): each
 *   feature's and the prediction's distinct values with their counts — the window's rows never
 *   reach a Lambda.
 * - "Compute report" runs the tests, writes `report.json` and `report.html` under the curated
 *   zone (`drift/<model>/<window end>/<execution>/`) and publishes the drift metrics
 *   (`MlopsKit/Drift`) as Embedded Metric Format log lines.
 * - `DriftDetected` goes on the platform's event bus when dataset drift is found.
 *
 * An alarm per scheduled model (DatasetDrift ≥ 1) is created without actions: the stage's
 * monitoring aspect gives every alarm the environment's alarm topic.
 *
 * @example
 * const drift = new DriftStack(stage, 'Drift', { config, lake, house, registry: registry.endpoint, eventBus: registry.eventBus });
 * drift.stateMachine.stateMachine.grantStartExecution(operators);
 */
import { Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as events from 'aws-cdk-lib/aws-events';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { AthenaQuery } from '../lib/constructs/athena-query';
import type { Binding } from '../lib/constructs/binding';
import { ATHENA_RESULTS_PREFIX, BASELINE_KEYS, type DataLake } from '../lib/constructs/data-lake';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { LambdaStep } from '../lib/constructs/lambda-step';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import { SchedulerRole } from '../lib/constructs/scheduler-role';
import { resolveDriftOptions } from '../lib/drift';
import { DRIFT_REPORTS_PREFIX } from '../lib/pipelines/drift-plan';
import { DRIFT_STATES, DEFAULT_DRIFT_INPUT, REQUEST_LOG_TABLE } from '../lib/pipelines/drift-states';
import { REQUEST_LOG_PREFIX } from '../lib/serving/request-log';
import { DRIFT_EVENT, DRIFT_METRICS, METRIC_NAMESPACES } from '../lib/shared/operations';
import { complianceAcks } from '../lib/constructs/nag';

export interface DriftStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
  /** The MLflow registry's base URL with the right to call it (`RegistryStack.endpoint`). */
  readonly registry: Binding;
  /** The platform's event bus, where `DriftDetected` is published (`RegistryStack.eventBus`). */
  readonly eventBus: events.IEventBus;
  /**
   * The input scheduled runs start with (per `pipelines.driftSchedule`), one model.
   * @default {@link DEFAULT_DRIFT_INPUT}: `{ model: 'wine-quality' }`, the last day
   */
  readonly scheduledInput?: { readonly model: string };
  /**
   * The longest window one execution aggregates.
   * @default `config.drift.maxWindowDays`
   */
  readonly maxWindowDays?: number;
}

export { DRIFT_STATES, REQUEST_LOG_TABLE };


export class DriftStack extends Stack {
  readonly stateMachine: MlopsStateMachine;
  readonly functions: { readonly plan: MlopsFunction; readonly report: MlopsFunction };
  /**
   * DatasetDrift ≥ 1 for the scheduled model (no actions: the stage's monitoring adds them).
   * Absent locally, where nothing watches CloudWatch.
   */
  readonly alarm?: cloudwatch.Alarm;
  readonly schedule?: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: DriftStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const house = houseFor(config, lake.logsKey, props.house);
    const S = DRIFT_STATES;
    const maxWindowDays = props.maxWindowDays ?? config.drift.maxWindowDays;
    if (!Number.isInteger(maxWindowDays) || maxWindowDays < 1 || maxWindowDays > 366) {
      throw new Error(`maxWindowDays must be a whole number of days from 1 to 366, but ${maxWindowDays} was provided`);
    }
    const input = props.scheduledInput ?? DEFAULT_DRIFT_INPUT;
    // Bad thresholds stop synthesis with the core's sentence, not the first drift run.
    const thresholds = resolveDriftOptions(config.drift.thresholds);

    // The model servers' request log (predictions/deployment=<d>/dt=YYYY-MM-DD/*.jsonl) is the lake's
    // `prediction_log` table, defined once with the model-quality check (ModelQuality), which reads it too.
    const baselines = lake.artifacts.objects({ readKeys: BASELINE_KEYS }, "each version's baseline.json is named by its mlops.baseline_uri tag");
    const plan = new MlopsFunction(this, 'PlanFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('drift-plan'),
      description: 'Drift: validate the input, resolve the version and its baseline, plan the window query',
      timeout: Duration.minutes(1),
      environment: {
        REGISTRY_AUTH: config.api.auth,
        LAKE_DATABASE: lake.databaseName,
        REQUEST_LOG_TABLE,
        // Only named in the plan; the report function writes there.
        REPORTS_BUCKET: lake.curated.bucketName,
        MAX_WINDOW_DAYS: String(maxWindowDays),
      },
    })
      .bind('REGISTRY_URL', props.registry)
      .bind('ARTIFACTS_BUCKET', baselines);
    const report = new MlopsFunction(this, 'ReportFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('drift-report'),
      description: 'Drift: run the tests on the window, write the JSON and HTML reports, publish the metrics',
      timeout: Duration.minutes(2),
      environment: { ENVIRONMENT: config.name, DRIFT_THRESHOLDS: JSON.stringify(thresholds) },
    })
      .bind(
        'ATHENA_RESULTS_BUCKET',
        lake.athenaResults.objects(
          { read: ATHENA_RESULTS_PREFIX },
          'Athena names each result object after its query execution id, known only at run time',
        ),
      )
      .bind('ARTIFACTS_BUCKET', baselines)
      .bind('REPORTS_BUCKET', lake.curated.objects({ write: DRIFT_REPORTS_PREFIX }, 'each run writes its report under drift/<model>/<window end>/<execution>/, named at run time'));
    this.functions = { plan, report };

    const resolve = new LambdaStep(this, S.resolve, {
      fn: plan,
      payload: { 'input.$': '$', 'execution.$': '$$.Execution.Name' },
      resultPath: '$.plan',
      comment: 'Validates the input; resolves the version and its baseline in the registry; plans the window query',
      timeout: Duration.minutes(1),
      retryErrors: ['RegistryUnavailableError'],
    });
    const aggregate = new AthenaQuery(this, S.aggregate, {
      workGroupName: lake.workGroupName,
      databaseName: lake.databaseName,
      queryStringPath: '$.plan.query',
      resultSelector: { 'result.$': '$.QueryExecution.ResultConfiguration.OutputLocation' },
      resultPath: '$.window',
      comment: "Counts each feature's and the prediction's values in the window (one GROUPING SETS scan of its days)",
    });
    const compute = new LambdaStep(this, S.compute, {
      fn: report,
      payload: { 'plan.$': '$.plan', 'result.$': '$.window.result' },
      resultPath: '$.report',
      comment: 'Runs the per-feature tests; writes report.json and report.html; publishes the drift metrics',
      timeout: Duration.minutes(2),
    });
    const publish = new sfn.CustomState(this, S.publish, {
      stateJson: {
        Type: 'Task',
        Comment: 'Puts DriftDetected on the platform event bus (the retraining trigger listens there)',
        Resource: `arn:${this.partition}:states:::events:putEvents`,
        Parameters: {
          Entries: [
            {
              EventBusName: props.eventBus.eventBusName,
              Source: DRIFT_EVENT.source,
              DetailType: DRIFT_EVENT.detailType,
              'Detail.$': '$.report.event',
            },
          ],
        },
        ResultPath: '$.published',
        TimeoutSeconds: 60,
      },
    });
    publish.addRetry({
      errors: ['EventBridge.EventBridgeException', 'EventBridge.InternalException', 'EventBridge.ThrottlingException'],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
    });
    const detected = new sfn.Succeed(this, S.detected, { comment: 'Dataset drift: the report and the event name it' });
    const clean = new sfn.Succeed(this, S.clean, { comment: 'No dataset drift (or no traffic in the window)' });
    const gate = new sfn.Choice(this, S.gate, { comment: 'The verdict of "Compute report"' })
      .when(sfn.Condition.booleanEquals('$.report.dataset_drift', true), publish.next(detected))
      .otherwise(clean);

    this.stateMachine = new MlopsStateMachine(this, 'Drift', {
      definition: resolve.next(aggregate).next(compute).next(gate),
      comment: `mlops-kit ${config.name} drift: request log window vs training baseline, per feature and prediction`,
      timeout: Duration.hours(1),
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'drift', { defaultInput: { ...input }, states: { ...S } });
    const role = this.stateMachine.stateMachine.role;
    lake.grantQuery(role, { tables: [REQUEST_LOG_TABLE] });
    // Athena reads the log with the caller's credentials.
    lake.raw.grantObjects(role, { read: REQUEST_LOG_PREFIX, list: REQUEST_LOG_PREFIX },
      "Athena reads the request log's days of the window under predictions/deployment=<deployment>/, named at run time");
    props.eventBus.grantPutEventsTo(role);
    this.stateMachine.acknowledgeInvoke([plan, report]);

    if (house.monitored) {
      this.alarm = new cloudwatch.Alarm(this, 'DatasetDriftAlarm', {
        alarmDescription: `mlops-kit ${config.name}: dataset drift in ${input.model}'s traffic (see the drift report under s3://…/${DRIFT_REPORTS_PREFIX}${input.model}/)`,
        metric: new cloudwatch.Metric({
          namespace: METRIC_NAMESPACES.drift,
          metricName: DRIFT_METRICS.datasetDrift,
          dimensionsMap: { Model: input.model },
          statistic: cloudwatch.Stats.MAXIMUM,
          period: Duration.days(1),
        }),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        // No run, no verdict: silence is not drift.
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      Validations.of(this.alarm).acknowledge(...complianceAcks('CloudWatchAlarmAction', "Created without actions on purpose: the stage's monitoring aspect gives every alarm the environment's alarm topic, so the action is added once per stage, not per alarm."));
    }

    if (config.pipelines.driftSchedule) {
      this.schedule = new scheduler.Schedule(this, 'Schedule', {
        description: `mlops-kit ${config.name}: drift of ${input.model} over the last day`,
        schedule: scheduler.ScheduleExpression.expression(config.pipelines.driftSchedule),
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine.stateMachine, {
          role: new SchedulerRole(this, 'ScheduleRole', { description: 'Starts the drift machine on its schedule' }),
          input: scheduler.ScheduleTargetInput.fromObject(input),
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
  }
}
