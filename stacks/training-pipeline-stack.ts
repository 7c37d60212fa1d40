/**
 * The training pipeline: a Step Functions workflow that validates a lake dataset, builds features
 * with Athena, trains the kit's ElasticNet trainer as a SageMaker training job, evaluates the
 * candidate on a holdout split, and registers it in the MLflow registry when it passes the gate;
 * every outcome is published to an SNS topic. A schedule starts it per environment.
 *
 * ```
 * Validate data → Build features → Export training split → Export holdout split → Stage training data
 *   → Train model → Evaluate model → Passes the gate? ─yes→ Register model → Record success → Notify success → Model registered
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
 *    thresholds?: { max_rmse?, max_mae?, min_r2? }, min_rows?, holdout_every?, ranges? }`.
 * With `feature_service`, "Build features" runs the feature store's point-in-time join of the
 * service's features onto the labels table (lib/features/retrieval.ts) instead of reading a dataset.
 * Execution output on success: the input plus `plan`, `features`, `exports`, `staged`, `training`,
 * `evaluation`, `registration` (when a registry is configured) and `notice`.
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
 *   registryApiUrl: registry.apiUrl,
 *   registryApi: registry.api,
 * });
 * training.stateMachine.grantStartExecution(operators);
 */
import { ArnFormat, Aws, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import * as sns from 'aws-cdk-lib/aws-sns';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { type DataLake, WINE_RAW_TABLE } from '../lib/constructs/data-lake';
import { lambdaEntry, type MlopsFunction, PROJECT_ROOT } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import { INLINE_POLICY_REASON } from '../lib/constructs/nag';
import { WINE_TARGET } from '../lib/datasets/wine';
import { FEATURE_STORE_PREFIX } from '../lib/features/definitions';
import { PipelineGrants } from '../lib/pipelines/grants';
import {
  ATHENA_TRANSIENT_ERRORS,
  addTransientRetries,
  transientRetry,
  lakeTablesJson,
  lambdaStep,
  pipelineFunction,
  removalPolicyOf,
  SAGEMAKER_TRANSIENT_ERRORS,
  SNS_TRANSIENT_ERRORS,
} from '../lib/pipelines/infra';
import { TRAINING_JOB_NAME_PREFIX } from '../lib/pipelines/training-plan';
import { METRIC_DEFINITIONS } from '../lib/trainer/contract';

/** What the stack needs of the registry service: something that can let a function call it. */
export interface RegistryApiGrant {
  grantInvoke(grantee: iam.IGrantable): void;
}

export interface TrainingPipelineStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The MLflow registry's base URL (`https://…/prod/`); `api/2.0/mlflow/…` is appended.
   * @default - no registry: the candidate is evaluated against the thresholds only and not registered
   */
  readonly registryApiUrl?: string;
  /**
   * Grants the evaluate and register functions the right to call the registry (`execute-api:Invoke`).
   * @default - no grant (a registry with `auth: none`, or none at all)
   */
  readonly registryApi?: RegistryApiGrant;
  /**
   * The input scheduled runs start with (staging and production, per `pipelines.trainingSchedule`).
   * @default the example: the red-wine table, target `quality`, model `wine-quality`
   */
  readonly scheduledInput?: Record<string, unknown>;
}

/** State names, as the console shows them and tests and overrides refer to them. */
export const TRAINING_STATES = {
  validate: 'Validate data',
  features: 'Build features',
  exportTrain: 'Export training split',
  exportHoldout: 'Export holdout split',
  stage: 'Stage training data',
  train: 'Train model',
  evaluate: 'Evaluate model',
  gate: 'Passes the gate?',
  register: 'Register model',
  rollback: 'Roll back registration',
  recordSuccess: 'Record success',
  notifySuccess: 'Notify success',
  succeeded: 'Model registered',
  recordRejection: 'Record rejection',
  notifyRejection: 'Notify rejection',
  rejected: 'Model rejected',
  recordFailure: 'Record failure',
  notifyFailure: 'Notify failure',
  failed: 'Pipeline failed',
} as const;

export const DEFAULT_SCHEDULED_INPUT = {
  dataset: WINE_RAW_TABLE,
  target: WINE_TARGET,
  model_name: 'wine-quality',
  hyperparameters: { alpha: 0.1, l1_ratio: 0.5 },
  thresholds: { max_rmse: 0.8 },
};

export class TrainingPipelineStack extends Stack {
  readonly stateMachine: MlopsStateMachine;
  /** Where every outcome (registered, rejected, failed) is published. */
  readonly topic: sns.Topic;
  readonly trainingRole: iam.Role;
  readonly trainerImage: ecrAssets.DockerImageAsset;
  readonly functions: {
    readonly validate: MlopsFunction;
    readonly stage: MlopsFunction;
    readonly evaluate: MlopsFunction;
    readonly register?: MlopsFunction;
  };
  readonly schedule?: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: TrainingPipelineStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const S = TRAINING_STATES;
    const registryAuth = config.api.auth;

    this.topic = new sns.Topic(this, 'Notifications', {
      displayName: `mlops-kit ${config.name} training pipeline`,
      masterKey: lake.key,
      enforceSSL: true,
    });

    const grants = new PipelineGrants(this, lake);
    const RUNS = 'runs/';
    const runsWhy =
      'each run reads and writes under its own runs/<model>/<execution>/ prefix, named at run time';

    // ---------------------------------------------------------------- functions
    const featuresLocation = `s3://${lake.curated.bucketName}/features/`;
    const validateFn = pipelineFunction(this, 'ValidateFunction', config, lake, {
      entry: lambdaEntry('pipeline-validate'),
      description:
        'Training pipeline: validate the input and the dataset, write the data profile, plan the run',
      timeout: Duration.minutes(5),
      memorySize: Math.max(1024, config.lambda.memorySizeMb),
      environment: {
        LAKE_TABLES: lakeTablesJson(this, lake),
        LAKE_DATABASE: lake.databaseName,
        // Named in the UNLOAD the function plans; the state machine's role writes there, not the function.
        FEATURES_LOCATION: featuresLocation,
        // The feature store's offline tables (an input may name a feature service): read for versions.
        FEATURE_STORE_LOCATION: `s3://${lake.curated.bucketName}/${FEATURE_STORE_PREFIX}/`,
      },
    });
    grants.bindObjects(
      validateFn,
      'RAW_BUCKET',
      lake.raw,
      { read: '', list: '' },
      'a run validates the table its input names, wherever in the raw zone the table is located',
    );
    grants.bindObjects(validateFn, 'ARTIFACTS_BUCKET', lake.artifacts, { write: RUNS }, runsWhy);
    grants.objects(
      (validateFn.function as lambda.Function).role!,
      lake.curated,
      { read: `${FEATURE_STORE_PREFIX}/`, list: `${FEATURE_STORE_PREFIX}/` },
      "a feature-service run records the version of each object of the service's offline tables, which are named by the feature repo",
    );

    const stageFn = pipelineFunction(this, 'StageFunction', config, lake, {
      entry: lambdaEntry('pipeline-stage-data'),
      description: 'Training pipeline: copy the split query results into the training channels',
      timeout: Duration.minutes(2),
    });
    grants.bindObjects(
      stageFn,
      'ATHENA_RESULTS_BUCKET',
      lake.athenaResults,
      { read: 'results/' },
      'Athena names each result object after its query execution id, known only at run time',
    );
    grants.bindObjects(stageFn, 'ARTIFACTS_BUCKET', lake.artifacts, { write: RUNS }, runsWhy);

    const registryEnv: Record<string, string> = props.registryApiUrl
      ? { REGISTRY_URL: props.registryApiUrl, REGISTRY_AUTH: registryAuth }
      : {};
    const evaluateFn = pipelineFunction(this, 'EvaluateFunction', config, lake, {
      entry: lambdaEntry('pipeline-evaluate'),
      description: 'Training pipeline: score the candidate and the production model on the holdout split',
      timeout: Duration.minutes(5),
      memorySize: Math.max(1024, config.lambda.memorySizeMb),
      environment: registryEnv,
    });
    grants.bindObjects(
      evaluateFn,
      'ARTIFACTS_BUCKET',
      lake.artifacts,
      { read: RUNS },
      'a run reads its candidate, its holdout split and the production model, all models and splits living under runs/',
    );
    props.registryApi?.grantInvoke(evaluateFn.function);

    let registerFn: MlopsFunction | undefined;
    if (props.registryApiUrl) {
      registerFn = pipelineFunction(this, 'RegisterFunction', config, lake, {
        entry: lambdaEntry('pipeline-register'),
        description:
          'Training pipeline: record the run and register the model version in the MLflow registry',
        timeout: Duration.minutes(1),
        environment: registryEnv,
      });
      props.registryApi?.grantInvoke(registerFn.function);
    }
    this.functions = {
      validate: validateFn,
      stage: stageFn,
      evaluate: evaluateFn,
      ...(registerFn ? { register: registerFn } : {}),
    };

    // ---------------------------------------------------------------- training job
    this.trainerImage = new ecrAssets.DockerImageAsset(this, 'TrainerImage', {
      directory: PROJECT_ROOT,
      file: 'lib/trainer/Dockerfile',
      // SageMaker's ml.m5/c5 hosts are x86-64, whatever machine builds the image.
      platform: ecrAssets.Platform.LINUX_AMD64,
      // The repo root's .dockerignore keeps the context (and so the asset hash) to what the image copies.
    });
    this.trainingRole = this.createTrainingRole(lake);
    grants.objects(this.trainingRole, lake.artifacts, { read: RUNS, list: RUNS, write: RUNS }, runsWhy);
    this.trainerImage.repository.grantPull(this.trainingRole);

    // ---------------------------------------------------------------- states
    const recordFailure = new sfn.Pass(this, S.recordFailure, {
      comment: "Keeps the failing step's error and cause for the notice and the Fail state",
      parameters: {
        outcome: 'failed',
        'execution.$': '$$.Execution.Name',
        'error.$': '$.error.Error',
        'cause.$': '$.error.Cause',
      },
      resultPath: '$.notice',
    });
    const notifyFailure = this.notify(S.notifyFailure, 'failed');
    const failed = new sfn.Fail(this, S.failed, {
      comment: "Ends with the failing step's own error name (e.g. DataValidationError)",
      errorPath: '$.notice.error',
      causePath: '$.notice.cause',
    });
    recordFailure.next(notifyFailure).next(failed);
    const catchAll = <T extends sfn.TaskStateBase | sfn.CustomState>(task: T): T => {
      task.addCatch(recordFailure, { resultPath: '$.error' });
      return task;
    };

    const validate = catchAll(
      lambdaStep(
        this,
        S.validate,
        validateFn,
        { 'input.$': '$', 'execution.$': '$$.Execution.Name' },
        {
          resultPath: '$.plan',
          comment:
            'Validates the input and the dataset (schema, rows, missing values, ranges); plans the run',
          timeout: Duration.minutes(5),
        },
      ),
    );

    // The optimized integration written out: CDK's AthenaStartQueryExecution grants S3 and Lake
    // Formation on "*" and Glue writes; the machine's role gets PipelineGrants.query instead.
    const athenaQuery = (
      name: string,
      path: string,
      resultPath: string,
      comment: string,
      resultSelector: Record<string, string>,
    ) => {
      const state = new sfn.CustomState(this, name, {
        stateJson: {
          Type: 'Task',
          Comment: comment,
          Resource: `arn:${Aws.PARTITION}:states:::athena:startQueryExecution.sync`,
          Parameters: {
            'QueryString.$': path,
            WorkGroup: lake.workGroupName,
            QueryExecutionContext: { Database: lake.databaseName },
          },
          ResultSelector: resultSelector,
          ResultPath: resultPath,
          TimeoutSeconds: 30 * 60,
        },
      });
      state.addRetry(transientRetry(ATHENA_TRANSIENT_ERRORS));
      return catchAll(state);
    };
    const buildFeatures = athenaQuery(
      S.features,
      '$.plan.queries.features',
      '$.features',
      'UNLOADs the feature set with its train/holdout split to Parquet in the curated zone',
      { 'query_execution_id.$': '$.QueryExecution.QueryExecutionId' },
    );
    const exportTrain = athenaQuery(
      S.exportTrain,
      '$.plan.queries.train',
      '$.exports.train',
      'Selects the training rows; the query result is a CSV with a header, what the trainer reads',
      { 'result.$': '$.QueryExecution.ResultConfiguration.OutputLocation' },
    );
    const exportHoldout = athenaQuery(
      S.exportHoldout,
      '$.plan.queries.holdout',
      '$.exports.holdout',
      'Selects the holdout rows for evaluation',
      { 'result.$': '$.QueryExecution.ResultConfiguration.OutputLocation' },
    );

    const stage = catchAll(
      lambdaStep(
        this,
        S.stage,
        stageFn,
        {
          train: { 'result.$': '$.exports.train.result', 'object.$': '$.plan.locations.train_object' },
          holdout: { 'result.$': '$.exports.holdout.result', 'object.$': '$.plan.locations.holdout_object' },
          'check.$': '$.plan.check',
        },
        {
          resultPath: '$.staged',
          comment: 'Counts the split rows against min_rows, then copies the split CSVs into the training channels',
          timeout: Duration.minutes(2),
        },
      ),
    );

    const maxRuntime = Duration.seconds(config.pipelines.trainingMaxRuntimeSeconds);
    // Written out rather than CDK's SageMakerCreateTrainingJob, whose grants include
    // sagemaker:ListTags on "*"; the role below gets the job actions on this pipeline's jobs only.
    const train = new sfn.CustomState(this, S.train, {
      stateJson: {
        Type: 'Task',
        Comment: "Runs the kit's trainer image on the training channel (holdout as validation channel)",
        Resource: `arn:${Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync`,
        Parameters: {
          'TrainingJobName.$': '$.plan.training_job_name',
          RoleArn: this.trainingRole.roleArn,
          AlgorithmSpecification: {
            TrainingImage: this.trainerImage.imageUri,
            TrainingInputMode: 'File',
            MetricDefinitions: METRIC_DEFINITIONS.map((m) => ({ Name: m.Name, Regex: m.Regex })),
          },
          // Strings, one per hyperparameter, as SageMaker takes them; "Validate data" built the map.
          'HyperParameters.$': '$.plan.hyperparameters',
          Environment: { 'MLOPS_DATA_VERSION.$': '$.plan.data_version_json' },
          InputDataConfig: [
            channel('train', '$.plan.locations.train'),
            channel('validation', '$.plan.locations.holdout'),
          ],
          OutputDataConfig: {
            'S3OutputPath.$': '$.plan.locations.training_output',
            KmsKeyId: lake.key.keyArn,
          },
          ResourceConfig: {
            InstanceCount: 1,
            InstanceType: `ml.${config.pipelines.trainingInstanceType}`,
            VolumeSizeInGB: 10,
            VolumeKmsKeyId: lake.key.keyArn,
          },
          StoppingCondition: { MaxRuntimeInSeconds: config.pipelines.trainingMaxRuntimeSeconds },
        },
        ResultSelector: {
          'job_name.$': '$.TrainingJobName',
          'model_uri.$': '$.ModelArtifacts.S3ModelArtifacts',
        },
        ResultPath: '$.training',
        // The job's own limit fires first; the Task's covers queueing and the upload of the model.
        TimeoutSeconds: maxRuntime.plus(Duration.minutes(30)).toSeconds(),
      },
    });
    train.addRetry(transientRetry(SAGEMAKER_TRANSIENT_ERRORS, 3));
    catchAll(train);

    const evaluate = catchAll(
      lambdaStep(
        this,
        S.evaluate,
        evaluateFn,
        {
          'model_uri.$': '$.training.model_uri',
          'holdout_uri.$': '$.staged.holdout',
          'thresholds.$': '$.plan.thresholds',
          'model_name.$': '$.plan.model_name',
        },
        {
          resultPath: '$.evaluation',
          comment:
            'Scores the candidate (and the production model) on the holdout split; decides the verdict',
          timeout: Duration.minutes(5),
          retryErrors: ['RegistryUnavailableError'],
        },
      ),
    );

    const recordRejection = new sfn.Pass(this, S.recordRejection, {
      parameters: {
        outcome: 'rejected',
        'execution.$': '$$.Execution.Name',
        'model_name.$': '$.plan.model_name',
        'summary.$': '$.evaluation.verdict.summary',
        'metrics.$': '$.evaluation.metrics',
        'production.$': '$.evaluation.production',
        'model_uri.$': '$.training.model_uri',
      },
      resultPath: '$.notice',
    });
    const rejected = new sfn.Fail(this, S.rejected, {
      comment: 'The candidate did not pass the gate; nothing was registered',
      error: 'ModelRejected',
      causePath: '$.notice.summary',
    });
    recordRejection.next(this.notify(S.notifyRejection, 'rejected')).next(rejected);

    const recordSuccess = new sfn.Pass(this, S.recordSuccess, {
      parameters: {
        outcome: registerFn ? 'registered' : 'accepted',
        'execution.$': '$$.Execution.Name',
        'model_name.$': '$.plan.model_name',
        'summary.$': '$.evaluation.verdict.summary',
        'metrics.$': '$.evaluation.metrics',
        'model_uri.$': '$.training.model_uri',
        ...(registerFn ? { 'registration.$': '$.registration' } : {}),
      },
      resultPath: '$.notice',
    });
    recordSuccess.next(this.notify(S.notifySuccess, registerFn ? 'registered' : 'accepted')).next(
      new sfn.Succeed(this, S.succeeded, {
        comment: registerFn
          ? 'The model version is in the registry'
          : 'No registry is configured: the model was evaluated, not registered',
      }),
    );

    let accepted: sfn.IChainable = recordSuccess;
    if (registerFn) {
      const register = lambdaStep(
        this,
        S.register,
        registerFn,
        {
          'model_name.$': '$.plan.model_name',
          'execution.$': '$$.Execution.Name',
          'model_uri.$': '$.training.model_uri',
          'training_job_name.$': '$.training.job_name',
          'hyperparameters.$': '$.plan.hyperparameters',
          'metrics.$': '$.evaluation.metrics',
          'dataset.$': '$.plan.dataset',
          'data_version.$': '$.plan.data_version',
        },
        {
          resultPath: '$.registration',
          comment: 'Records the run and registers the model version (idempotent per execution)',
          timeout: Duration.minutes(1),
          retryErrors: ['RegistryUnavailableError'],
        },
      );
      const rollback = lambdaStep(
        this,
        S.rollback,
        registerFn,
        { rollback: true, 'model_name.$': '$.plan.model_name', 'execution.$': '$$.Execution.Name' },
        {
          resultPath: '$.rollback',
          comment: 'Removes the run, experiment and registered model a failed registration created without its version',
          timeout: Duration.minutes(1),
          retryErrors: ['RegistryUnavailableError'],
        },
      );
      // The registration's error stays in $.error for the notice; a failed rollback does not replace it.
      register.addCatch(rollback, { resultPath: '$.error' });
      rollback.addCatch(recordFailure, { resultPath: '$.rollback_error' });
      rollback.next(recordFailure);
      accepted = register.next(recordSuccess);
    }

    const gate = new sfn.Choice(this, S.gate, {
      comment: 'The verdict of "Evaluate model": thresholds and the production model',
    })
      .when(sfn.Condition.booleanEquals('$.evaluation.verdict.passed', true), accepted)
      .otherwise(recordRejection);

    const definition = validate
      .next(buildFeatures)
      .next(exportTrain)
      .next(exportHoldout)
      .next(stage)
      .next(train)
      .next(evaluate)
      .next(gate);

    this.stateMachine = new MlopsStateMachine(this, 'Training', {
      definition,
      comment: `mlops-kit ${config.name} training pipeline: validate, features, train, evaluate, register`,
      timeout: maxRuntime.plus(Duration.hours(2)),
      logRetention: config.logs.retentionDays as logs.RetentionDays,
      logsEncryptionKey: lake.logsKey,
      removalPolicy: removalPolicyOf(config),
    });
    declareStateMachine(this.stateMachine, 'training', { defaultInput: props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT, states: { register: S.register, rollback: S.rollback } });
    const role = this.stateMachine.stateMachine.role;
    grants.query(role);
    // Athena reads the dataset and writes the UNLOAD with the caller's credentials.
    grants.objects(
      role,
      lake.raw,
      { read: '', list: '' },
      'Athena reads the table the execution input names, wherever in the raw zone it is located',
    );
    grants.objects(
      role,
      lake.curated,
      { read: 'features/', write: 'features/', list: 'features/' },
      "each run UNLOADs its feature set to features/<table>/<execution>/, named at run time; a feature-service run also reads the feature store's offline tables under features/",
    );
    grants.acknowledgeInvoke(role, Object.values(this.functions));
    this.grantTraining(role);
    this.grantPublish(role, lake);

    if (config.pipelines.trainingSchedule) {
      this.schedule = new scheduler.Schedule(this, 'Schedule', {
        description: `mlops-kit ${config.name}: retrain ${String((props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT)['model_name'] ?? '')}`,
        schedule: scheduler.ScheduleExpression.expression(config.pipelines.trainingSchedule),
        target: new schedulerTargets.StepFunctionsStartExecution(this.stateMachine.stateMachine, {
          role: this.scheduleRole(),
          input: scheduler.ScheduleTargetInput.fromObject(props.scheduledInput ?? DEFAULT_SCHEDULED_INPUT),
          retryAttempts: 2,
          maxEventAge: Duration.hours(1),
        }),
      });
    }
  }

  /** The schedule's own role (the target grants it states:StartExecution on this machine only). */
  private scheduleRole(): iam.Role {
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'Starts the training pipeline on its schedule',
    });
    Validations.of(role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: INLINE_POLICY_REASON,
    });
    return role;
  }

  /** What `sagemaker:createTrainingJob.sync` needs: this pipeline's jobs, its role, the .sync rule. */
  private grantTraining(role: iam.IRole): void {
    const jobs = this.formatArn({
      service: 'sagemaker',
      resource: 'training-job',
      resourceName: `${TRAINING_JOB_PREFIX}*`,
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'sagemaker:CreateTrainingJob',
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
          'sagemaker:AddTags',
          'sagemaker:ListTags',
        ],
        resources: [jobs],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.trainingRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          this.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
          }),
        ],
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:${this.region}:${this.account}:training-job/${TRAINING_JOB_PREFIX}*]`,
      reason:
        'Training job names are made per execution ("train-<execution>"); the job actions are granted on names with that prefix only.',
    });
  }

  /** sns:Publish on the topic, and the lake key (the topic's key) only through SNS. */
  private grantPublish(role: iam.IRole, lake: DataLake): void {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['sns:Publish'], resources: [this.topic.topicArn] }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [lake.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `sns.${this.region}.amazonaws.com` } },
      }),
    );
  }

  /** An SNS publish of `$.notice`, as JSON, with the outcome in the subject. */
  private notify(name: string, outcome: string): tasks.SnsPublish {
    const task = new tasks.SnsPublish(this, name, {
      topic: this.topic,
      subject: `mlops-kit training: ${outcome}`,
      message: sfn.TaskInput.fromJsonPathAt('States.JsonToString($.notice)'),
      resultPath: sfn.JsonPath.DISCARD,
      taskTimeout: sfn.Timeout.duration(Duration.seconds(30)),
    });
    addTransientRetries(task, SNS_TRANSIENT_ERRORS);
    return task;
  }

  /**
   * The role the training job runs as: read its own run's channels, write its own run's output,
   * use the lake key, pull the trainer image, write its logs and metrics. Nothing else.
   */
  private createTrainingRole(lake: DataLake): iam.Role {
    const role = new iam.Role(this, 'TrainingJobRole', {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: "Runs the training pipeline's SageMaker training jobs",
    });
    const stack = Stack.of(this);
    const logGroupArn = (name: string) =>
      stack.formatArn({
        service: 'logs',
        resource: 'log-group',
        resourceName: name,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingJobLogs',
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
        ],
        resources: [
          logGroupArn('/aws/sagemaker/TrainingJobs'),
          logGroupArn('/aws/sagemaker/TrainingJobs:log-stream:*'),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingJobMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': '/aws/sagemaker/TrainingJobs' } },
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptedTrainingVolume',
        actions: ['kms:CreateGrant'],
        resources: [lake.key.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    Validations.of(role).acknowledge(
      { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: INLINE_POLICY_REASON },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken (pulling the trainer image) and cloudwatch:PutMetricData (conditioned on the SageMaker training namespace) have no resource-level permissions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${stack.region}:${stack.account}:log-group:/aws/sagemaker/TrainingJobs:log-stream:*]`,
        reason:
          'SageMaker names a log stream per training job (<job name>/algo-1-<timestamp>) in its fixed log group; the grant covers that one log group.',
      },
    );
    return role;
  }
}

function channel(name: string, path: string): Record<string, unknown> {
  return {
    ChannelName: name,
    ContentType: 'text/csv',
    DataSource: {
      S3DataSource: { 'S3Uri.$': path, S3DataType: 'S3Prefix', S3DataDistributionType: 'FullyReplicated' },
    },
  };
}

/** Must match `trainingJobName` in lib/pipelines/training-plan.ts: the role is scoped to it. */
const TRAINING_JOB_PREFIX = TRAINING_JOB_NAME_PREFIX;
