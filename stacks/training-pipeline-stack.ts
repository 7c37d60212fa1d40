/**
 * The training pipeline: a Step Functions workflow that validates a lake dataset, builds features
 * with Athena, trains the kit's ElasticNet trainer as a SageMaker training job, evaluates the
 * candidate on a holdout split, and registers it in the MLflow registry when it passes the gate;
 * every outcome is published to an SNS topic. A schedule starts it per environment.
 *
 * ```
 * Validate data → Build features → Export training split → Export holdout split → Stage training data
 *   → Train model → Evaluate model → Passes the gate? ─yes→ Count training values → Write baseline
 *   → Register model → Record success → Notify success → Model registered
 *                                                       └no─→ Record rejection → Notify rejection → Model rejected (Fail: ModelRejected)
 * any work state ─Catch→ Record failure → Notify failure → Pipeline failed (Fail: the step's error)
 * Register model ─Catch→ Roll back registration → Record failure → …
 * ```
 *
 * "Roll back registration" removes what a failed "Register model" created without its version (a
 * Lambda timeout or crash gives the step no chance to undo it itself), so a failed execution leaves
 * nothing in the registry.
 *
 * Execution input (validated by "Validate data"; see lib/pipelines/input.ts):
 * `{ dataset | feature_service + labels (+ timestamp_column?), target, model_name?, hyperparameters?,
 *    thresholds?: { max_rmse?, max_mae?, min_r2? }, min_rows?, holdout_every?, ranges?,
 *    instance_type?, instance_count?, volume_size_gb?, input_mode? }` (the last four within `pipelines.trainingLimits`).
 * With `feature_service`, "Build features" runs the feature store's point-in-time join of the
 * service's features onto the labels table (lib/features/retrieval.ts) instead of reading a dataset.
 * Execution output on success: the input plus `plan`, `features`, `exports`, `staged`, `training`,
 * `evaluation`, `baseline`, `registration` (when a registry is configured) and `notice`.
 * `plan.data_version` is a reference, `{ uri, sha256, objects, version_id? }`, to the run's
 * `data-version.json` (every input object with its S3 version and ETag, written once under `runs/`),
 * never the list itself: the state stays a few KB whatever the number of input objects.
 *
 * "Count training values" and "Write baseline" write the drift baseline of an accepted candidate
 * (per-feature value counts of the training rows from one Athena query, the prediction's on the
 * holdout) as `baseline.json` under `baselines/` on its model's path; "Register model" names it in the version's
 * `mlops.baseline_uri` tag, which the drift machine reads.
 *
 * Every UNLOAD ("Build features", the two exports) writes into a folder of its own attempt,
 * `<run folder>attempt-<redrive count>-<retry count>/`, and returns its name: Athena refuses to
 * UNLOAD where an earlier attempt wrote (even in part), so a retried or redriven step writes beside
 * it, and "Stage training data" copies only the folder of the attempt that succeeded.
 *
 * A rejected model ends the execution as failed with the error `ModelRejected`: anything that
 * chains on a succeeded execution (an EventBridge rule deploying the new version, a CI job) must
 * not mistake "no model" for "new model", and the distinct error name keeps a rejection apart from
 * a breakage (whose error is the failing step's own, e.g. `DataValidationError`).
 *
 * @example
 * const training = new TrainingPipelineStack(stage, 'TrainingPipeline', {
 *   config,
 *   lake: dataLake.lake,
 *   house: resolveHouseDefaults(config),
 *   registry,
 * });
 * training.stateMachine.grantStartExecution(operators);
 */
import { Duration, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as events from 'aws-cdk-lib/aws-events';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as eventTargets from 'aws-cdk-lib/aws-events-targets';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { AthenaQuery, attemptFolderExpression } from '../lib/constructs/athena-query';
import { ATHENA_RESULTS_PREFIX, type DataLake, MODEL_WRITER_TAG } from '../lib/constructs/data-lake';
import { ARTIFACT_PREFIXES } from '../lib/pipelines/artifact-layout';
import { EvaluateModelFunction } from '../lib/constructs/evaluate-model-function';
import { imageContext, TRAINER_CONTEXT } from '../lib/constructs/image-context';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { LambdaStep } from '../lib/constructs/lambda-step';
import { houseLogGroup } from '../lib/constructs/log-group-options';
import { lambdaEntry, MlopsFunction, PROJECT_ROOT } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import { PipelineTopic } from '../lib/constructs/pipeline-topic';
import { SchedulerRole } from '../lib/constructs/scheduler-role';
import { TrainingJobRole } from '../lib/constructs/training-job-role';
import { TrainingJobTask } from '../lib/constructs/training-job-task';
import { TrainingNetwork } from '../lib/constructs/training-network';
import { TrainingOutcomes } from '../lib/constructs/training-outcomes';
import { VALIDATE_TIMEOUT_MINUTES, ValidateDataFunction } from '../lib/constructs/validate-data-function';
import { DEFAULT_SCHEDULED_INPUT, TRAINING_STATES } from '../lib/pipelines/training-states';
import { SPLITS_DIR } from '../lib/pipelines/training-plan';
import { DRIFT_EVENT, QUALITY_EVENT } from '../lib/shared/operations';
import type { RegistryEndpoints } from './registry-stack';

export interface TrainingPipelineStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
  /**
   * The MLflow registry (`RegistryStack`): its base URL (`https://…/v1/`; `api/2.0/mlflow/…` is
   * appended) is bound to the evaluate function as `REGISTRY_URL` with `read` access, and to the
   * register function with `read` and `write` (never `promote`: a candidate is registered, not served).
   * @default - no registry: the candidate is evaluated against the thresholds only and not registered
   */
  readonly registry?: RegistryEndpoints;
  /**
   * The input scheduled runs start with (staging and production, per `pipelines.trainingSchedule`).
   * @default the example: the red-wine table, target `quality`, model `wine-quality`
   */
  readonly scheduledInput?: Record<string, unknown>;
  /**
   * Where drift and model-quality events arrive (the registry's platform bus) and, for
   * `pipelines.retraining: 'notify'`, the topic a human reads (the environment's alarm topic).
   * @default - no retraining rule
   */
  readonly retraining?: { readonly eventBus: events.IEventBus; readonly topic?: sns.ITopic };
}

export { DEFAULT_SCHEDULED_INPUT, TRAINING_STATES };

const S = TRAINING_STATES;
const { runs: RUNS, data: DATA, models: MODELS, baselines: BASELINES } = ARTIFACT_PREFIXES;
const RUN_WHY = 'each run has its own <model>/<execution>/ folder under the prefix, named at run time';
const SPLITS_WHY = "each run UNLOADs its splits to splits/<table>/<execution>/{train,holdout}/<attempt>/, as many Parquet parts as Athena writes, named at run time";
const REGISTRY_RETRY = ['RegistryUnavailableError'];
/** SageMaker's one log group for the training jobs of an account and region. */
export const SAGEMAKER_TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';

export class TrainingPipelineStack extends Stack {
  readonly stateMachine: MlopsStateMachine;
  /** Where every outcome (registered, rejected, failed) is published. */
  readonly topic: PipelineTopic;
  readonly trainingRole: TrainingJobRole;
  readonly trainerImage: ecrAssets.DockerImageAsset;
  /** `/aws/sagemaker/TrainingJobs`, when this environment owns it (`logs.sagemakerTrainingLogGroup`). */
  readonly trainingLogGroup?: logs.LogGroup;
  readonly functions: {
    readonly validate: MlopsFunction;
    readonly stage: MlopsFunction;
    readonly evaluate: MlopsFunction;
    readonly baseline: MlopsFunction;
    readonly register?: MlopsFunction;
  };
  readonly schedule?: scheduler.Schedule;
  /** `DriftDetected` / `ModelQualityBelowThreshold` → retrain or notify (`pipelines.retraining`). */
  readonly retrainingRule?: events.Rule;
  /** Where the training jobs run (`pipelines.trainingAvailabilityZones`); absent locally. */
  readonly network?: TrainingNetwork;

  /** The configured zones, set before the training VPC asks for them (see `availabilityZones`). */
  private zones?: string[];

  /** The training VPC's zones, from config: no lookup at synth time (as the serving stack does). */
  override get availabilityZones(): string[] {
    return this.zones ?? super.availabilityZones;
  }

  constructor(scope: Construct, id: string, props: TrainingPipelineStackProps) {
    super(scope, id, props);
    const { config, lake, registry } = props;
    const house = houseFor(config, lake.logsKey, props.house);
    const trainingZones = config.pipelines.trainingAvailabilityZones;
    if (trainingZones) {
      this.zones = trainingZones.map((suffix) => `${this.region}${suffix}`);
      this.network = new TrainingNetwork(this, 'TrainingNetwork', { availabilityZones: this.zones, buckets: [lake.artifacts], ...house.logs });
    }
    const pipelines = config.pipelines;

    this.topic = new PipelineTopic(this, 'Notifications', {
      displayName: `mlops-kit ${config.name} training pipeline`,
      key: lake.key,
    });

    // The steps' functions.
    const featuresLocation = `s3://${lake.curated.bucketName}/features/`;
    const validateFn = new ValidateDataFunction(this, 'ValidateFunction', {
      lake,
      house,
      featuresLocation,
      runsPrefix: RUNS,
      trainingLimits: { defaultInstanceType: pipelines.trainingInstanceType, ...pipelines.trainingLimits },
    });
    const queryResults = () =>
      lake.athenaResults.objects(
        { read: ATHENA_RESULTS_PREFIX },
        'Athena names each result object after its query execution id, known only at run time',
      );
    const stageFn = new MlopsFunction(this, 'StageFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-stage-data'),
      description: 'Training pipeline: copy the Parquet parts of the split UNLOADs into the training channels',
      // Each part is streamed through (or copied server side above the multipart threshold).
      timeout: Duration.minutes(15),
    })
      // Lists the parts and reads their footers (ranged GETs) before copying them.
      .bind('SPLITS_BUCKET', lake.curated.objects({ read: SPLITS_DIR, list: SPLITS_DIR }, SPLITS_WHY))
      // Read too: a retried step compares what it finds with what it would write (written once).
      .bind('ARTIFACTS_BUCKET', lake.artifacts.objects({ put: DATA, read: DATA }, RUN_WHY));
    const baselineFn = new MlopsFunction(this, 'BaselineFunction', {
      ...house.logs,
      ...house.workflowFunction,
      entry: lambdaEntry('pipeline-baseline'),
      description: "Training pipeline: write the candidate's drift baseline next to its model",
      timeout: Duration.minutes(2),
    })
      .bind('ATHENA_RESULTS_BUCKET', queryResults())
      .bind(
        'ARTIFACTS_BUCKET',
        lake.artifacts.objects(
          // The holdout is a folder of Parquet parts: listed, then read part by part.
          { readKeys: [`${MODELS}*/model.tar.gz`, `${DATA}*/holdout/*`, `${BASELINES}*`], list: DATA, put: BASELINES },
          RUN_WHY,
        ),
      );
    const registryAuth = config.api.auth;
    const evaluateFn = new EvaluateModelFunction(this, 'EvaluateFunction', {
      lake,
      house,
      ...(registry ? { registry: registry.endpointFor('read'), registryAuth } : {}),
    });
    const registerFn = registry
      ? new MlopsFunction(this, 'RegisterFunction', {
          ...house.logs,
          ...house.workflowFunction,
          entry: lambdaEntry('pipeline-register'),
          description: 'Training pipeline: record the run and register the model version in the MLflow registry',
          timeout: Duration.minutes(1),
          environment: { REGISTRY_AUTH: registryAuth },
        })
          .bind('REGISTRY_URL', registry.endpointFor('read', 'write'))
          // The version's artifact digest (mlops.artifact_sha256) is computed by reading it.
          .bind('ARTIFACTS_BUCKET', lake.artifacts.objects({ readKeys: [`${MODELS}*/model.tar.gz`] }, RUN_WHY))
      : undefined;
    this.functions = { validate: validateFn, stage: stageFn, evaluate: evaluateFn, baseline: baselineFn, ...(registerFn ? { register: registerFn } : {}) };

    // The training job: the trainer image, run as its own role on the run's prefix.
    this.trainerImage = new ecrAssets.DockerImageAsset(this, 'TrainerImage', {
      directory: PROJECT_ROOT,
      file: 'lib/trainer/Dockerfile',
      // SageMaker's ml.m5/c5 hosts are x86-64, whatever machine builds the image.
      platform: ecrAssets.Platform.LINUX_AMD64,
      // The manifests and the lib/ directories its build reaches: the rest of the repo must not change the image hash.
      ...imageContext(TRAINER_CONTEXT),
    });
    this.trainingRole = new TrainingJobRole(this, 'TrainingJobRole', { volumeKey: lake.key });
    if (config.logs.sagemakerTrainingLogGroup === 'create') {
      // SageMaker's fixed group for every training job, made here with retention and the logs key
      // before it would make its own (never expiring, service-owned key).
      this.trainingLogGroup = houseLogGroup(this, 'TrainingJobLogs', { ...house.logs, logGroupName: SAGEMAKER_TRAINING_LOG_GROUP });
    }
    // The job reads the staged splits and writes only its model; it is the one writer of models/
    // (the bucket policy refuses everyone without this tag there: SageMaker's upload cannot be conditional).
    lake.artifacts.grantObjects(this.trainingRole, { read: DATA, list: DATA, write: MODELS }, RUN_WHY);
    Tags.of(this.trainingRole).add(MODEL_WRITER_TAG.key, MODEL_WRITER_TAG.value);
    this.trainerImage.repository.grantPull(this.trainingRole);
    this.network?.grantNetworkInterfaces(this.trainingRole);

    // Outcomes: failure, rejection, success — each recorded, then published.
    const outcomes = new TrainingOutcomes(this, 'Outcomes', { topic: this.topic, registers: !!registerFn, names: S });
    const catchAll = <T extends sfn.TaskStateBase | sfn.CustomState>(task: T): T => outcomes.catchAll(task);

    // The steps, in order.
    const validate = catchAll(
      new LambdaStep(this, S.validate, {
        fn: validateFn,
        payload: { 'input.$': '$', 'execution.$': '$$.Execution.Name' },
        resultPath: '$.plan',
        comment: 'Validates the input and the dataset (schema, rows, missing values, ranges; one Athena aggregate); plans the run',
        timeout: Duration.minutes(VALIDATE_TIMEOUT_MINUTES),
      }),
    );
    // An UNLOAD (`{ unload: path }`) writes into a folder of its attempt and returns its name.
    const query = (name: string, q: string | { unload: string }, resultPath: string, comment: string, resultSelector: Record<string, string>) =>
      catchAll(
        new AthenaQuery(this, name, {
          workGroupName: lake.workGroupName,
          databaseName: lake.databaseName,
          ...(typeof q === 'string' ? { queryStringPath: q } : { unloadPath: q.unload }),
          resultSelector,
          resultPath,
          comment,
        }),
      );
    const resultLocation = { 'result.$': '$.QueryExecution.ResultConfiguration.OutputLocation' };
    const buildFeatures = query(S.features, { unload: '$.plan.queries.features' }, '$.features',
      'UNLOADs the feature set with its train/holdout split to Parquet in the curated zone',
      { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' });
    const unloaded = { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' };
    const exportTrain = query(S.exportTrain, { unload: '$.plan.queries.train' }, '$.exports.train',
      "UNLOADs the training rows as Parquet parts under the run's splits/ folder (as many files as Athena writes)", unloaded);
    const exportHoldout = query(S.exportHoldout, { unload: '$.plan.queries.holdout' }, '$.exports.holdout',
      'UNLOADs the holdout rows as Parquet parts, for evaluation', unloaded);
    const stage = catchAll(
      new LambdaStep(this, S.stage, {
        fn: stageFn,
        payload: {
          // The folder of the attempt that succeeded: never a failed attempt's parts.
          train: { 'unloaded.$': attemptFolderExpression('$.plan.locations.splits.train', '$.exports.train'), 'channel.$': '$.plan.locations.train' },
          holdout: { 'unloaded.$': attemptFolderExpression('$.plan.locations.splits.holdout', '$.exports.holdout'), 'channel.$': '$.plan.locations.holdout' },
          'check.$': '$.plan.check',
        },
        resultPath: '$.staged',
        comment: 'Counts the split rows (Parquet footers) against min_rows, then copies every part into the training channels',
        timeout: Duration.minutes(15),
      }),
    );
    const maxRuntime = Duration.seconds(pipelines.trainingMaxRuntimeSeconds);
    const train = catchAll(
      new TrainingJobTask(this, S.train, {
        role: this.trainingRole,
        imageUri: this.trainerImage.imageUri,
        key: lake.key,
        instanceType: pipelines.trainingInstanceType,
        resourcesPath: '$.plan.resources',
        maxRuntime,
        ...(this.network ? { vpc: this.network.vpcConfig } : {}),
      }),
    );
    const evaluate = catchAll(
      new LambdaStep(this, S.evaluate, {
        fn: evaluateFn,
        payload: {
          'model_uri.$': '$.training.model_uri',
          'holdout_uri.$': '$.staged.holdout',
          'thresholds.$': '$.plan.thresholds',
          'model_name.$': '$.plan.model_name',
        },
        resultPath: '$.evaluation',
        comment: 'Scores the candidate (and the production model) on the holdout split; decides the verdict',
        timeout: Duration.minutes(5),
        retryErrors: REGISTRY_RETRY,
      }),
    );
    const registered = registerFn ? this.registration(registerFn, outcomes.success, outcomes.failure) : outcomes.success;
    const countValues = query(S.baselineCounts, '$.plan.queries.baseline', '$.baseline_counts',
      "Counts each feature's values over the training rows (one GROUPING SETS scan): the baseline's input",
      resultLocation);
    const baseline = catchAll(
      new LambdaStep(this, S.baseline, {
        fn: baselineFn,
        payload: {
          'model_name.$': '$.plan.model_name',
          'model_uri.$': '$.training.model_uri',
          'holdout_uri.$': '$.staged.holdout',
          'counts_uri.$': '$.baseline_counts.result',
          'features.$': '$.plan.features',
        },
        resultPath: '$.baseline',
        comment: "Profiles the training rows and the holdout predictions; writes baseline.json once under baselines/",
        timeout: Duration.minutes(2),
      }),
    );
    const accepted = countValues.next(baseline).next(registered);
    const gate = new sfn.Choice(this, S.gate, { comment: 'The verdict of "Evaluate model": thresholds and the production model' })
      .when(sfn.Condition.booleanEquals('$.evaluation.verdict.passed', true), accepted)
      .otherwise(outcomes.rejection);

    this.stateMachine = new MlopsStateMachine(this, 'Training', {
      definition: validate.next(buildFeatures).next(exportTrain).next(exportHoldout).next(stage).next(train).next(evaluate).next(gate),
      comment: `mlops-kit ${config.name} training pipeline: validate, features, train, evaluate, register`,
      timeout: maxRuntime.plus(Duration.hours(2)),
      ...house.logs,
    });
    declareStateMachine(this.stateMachine, 'training', { defaultInput: props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT, states: { register: S.register, rollback: S.rollback } });
    const role = this.stateMachine.stateMachine.role;
    lake.grantQuery(role);
    // Athena reads the dataset and writes the UNLOAD with the caller's credentials.
    lake.raw.grantObjects(role, { read: '', list: '' },
      'Athena reads the table the execution input names, wherever in the raw zone it is located');
    lake.curated.grantObjects(role, { read: 'features/', write: 'features/', list: 'features/' },
      "each run UNLOADs its feature set to features/<table>/<execution>/<attempt>/, named at run time; a feature-service run also reads the feature store's offline tables under features/");
    // The split UNLOADs write their Parquet parts with the caller's credentials.
    lake.curated.grantObjects(role, { read: SPLITS_DIR, write: SPLITS_DIR, list: SPLITS_DIR }, SPLITS_WHY);
    this.stateMachine.acknowledgeInvoke(Object.values(this.functions));
    train.grantRun(role);
    this.topic.grantPublishEncrypted(role);

    if (pipelines.trainingSchedule) {
      const input = props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT;
      this.schedule = new scheduler.Schedule(this, 'Schedule', {
        description: `mlops-kit ${config.name}: retrain ${String(input['model_name'] ?? '')}`,
        schedule: scheduler.ScheduleExpression.expression(pipelines.trainingSchedule),
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine.stateMachine, {
          role: new SchedulerRole(this, 'ScheduleRole', { description: 'Starts the training pipeline on its schedule' }),
          input: scheduler.ScheduleTargetInput.fromObject(input),
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
    if (props.retraining && pipelines.retraining !== 'off') {
      const input = props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT;
      this.retrainingRule = this.retrainOn(pipelines.retraining, props.retraining.eventBus, input, props.retraining.topic);
    }
  }

  /**
   * The retraining trigger: a rule on the platform bus for the drift machine's `DriftDetected` and
   * the quality check's `ModelQualityBelowThreshold` of the model the scheduled input trains (its
   * `detail.model`). `auto` starts this machine with the scheduled input plus `trigger` (the event's
   * detail type, `detail.reportUri` and id), which "Register model" writes into the run's tags;
   * `notify` sends the event and the command that starts that run to `topic`.
   */
  private retrainOn(mode: 'auto' | 'notify', bus: events.IEventBus, input: Record<string, unknown>, topic?: sns.ITopic): events.Rule {
    const model = String(input['model_name'] ?? '');
    const rule = new events.Rule(this, 'RetrainOnDrift', {
      eventBus: bus,
      description: `mlops-kit ${mode === 'auto' ? 'retrains' : 'asks to retrain'} ${model} on drift or low model quality`,
      eventPattern: {
        source: [DRIFT_EVENT.source, QUALITY_EVENT.source],
        detailType: [DRIFT_EVENT.detailType, QUALITY_EVENT.detailType],
        detail: { model: [model] },
      },
    });
    const trigger = {
      reason: events.EventField.detailType,
      report_uri: events.EventField.fromPath('$.detail.reportUri'),
      event_id: events.EventField.eventId,
    };
    const execution = { ...input, trigger };
    if (mode === 'auto') {
      rule.addTarget(new eventTargets.SfnStateMachine(this.stateMachine.stateMachine, { input: events.RuleTargetInput.fromObject(execution) }));
      return rule;
    }
    if (!topic) throw new Error("pipelines.retraining 'notify' needs the environment's alarm topic, but none was provided");
    const command =
      `aws stepfunctions start-execution --state-machine-arn ${this.stateMachine.stateMachine.stateMachineArn} ` +
      `--input '${JSON.stringify(execution)}'`;
    rule.addTarget(
      new eventTargets.SnsTopic(topic, {
        message: events.RuleTargetInput.fromText(
          `${events.EventField.detailType} for model ${events.EventField.fromPath('$.detail.model')} ` +
            `(report ${events.EventField.fromPath('$.detail.reportUri')}, event ${events.EventField.eventId}). ` +
            `Retraining is set to notify here; to retrain with this report in the run's tags, run: ${command}`,
        ),
      }),
    );
    return rule;
  }

  /**
   * "Register model", then success; a failed registration is rolled back (what it created without
   * its version is removed: a Lambda timeout or crash gives the step no chance to undo it) and
   * ends as a failure with the registration's error.
   */
  private registration(fn: MlopsFunction, recordSuccess: sfn.IChainable, recordFailure: sfn.State): sfn.IChainable {
    const register = new LambdaStep(this, S.register, {
      fn,
      payload: {
        'model_name.$': '$.plan.model_name',
        'execution.$': '$$.Execution.Name',
        'model_uri.$': '$.training.model_uri',
        'training_job_name.$': '$.training.job_name',
        'hyperparameters.$': '$.plan.hyperparameters',
        'metrics.$': '$.evaluation.metrics',
        'dataset.$': '$.plan.dataset',
        'data_version.$': '$.plan.data_version',
        'trigger.$': '$.plan.trigger',
        'baseline_uri.$': '$.baseline.baseline_uri',
      },
      resultPath: '$.registration',
      comment: 'Records the run and registers the model version (idempotent per execution)',
      timeout: Duration.minutes(1),
      retryErrors: REGISTRY_RETRY,
    });
    const rollback = new LambdaStep(this, S.rollback, {
      fn,
      payload: { rollback: true, 'model_name.$': '$.plan.model_name', 'execution.$': '$$.Execution.Name' },
      resultPath: '$.rollback',
      comment: 'Removes the run, experiment and registered model a failed registration created without its version',
      timeout: Duration.minutes(1),
      retryErrors: REGISTRY_RETRY,
    });
    // The registration's error stays in $.error for the notice; a failed rollback does not replace it.
    register.addCatch(rollback, { resultPath: '$.error' });
    rollback.addCatch(recordFailure, { resultPath: '$.rollback_error' });
    rollback.next(recordFailure);
    return register.next(recordSuccess);
  }
}
