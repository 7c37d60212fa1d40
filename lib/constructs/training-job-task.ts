/**
 * The training pipeline's "Train model" step: a SageMaker training job of the kit's trainer image
 * (`sagemaker:createTrainingJob.sync`), its name, hyperparameters, channels and output location
 * read from the run's plan (`$.plan`, lib/pipelines/training-plan.ts), its volume and output
 * encrypted with the lake key.
 *
 * Written out rather than CDK's `SageMakerCreateTrainingJob`, whose grants include
 * `sagemaker:ListTags` on `"*"`; {@link TrainingJobTask.grantRun} gives the machine's role the job
 * actions on this pipeline's job names only.
 *
 * @example
 * const train = new TrainingJobTask(this, 'Train model', { role, imageUri, key, instanceType: 'm5.large', maxRuntime });
 * train.grantRun(machine.stateMachine.role);
 */
import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { TRAINING_JOB_NAME_PREFIX } from '../pipelines/training-plan';
import { METRIC_DEFINITIONS } from '../trainer/contract';
import { SAGEMAKER_TRANSIENT_ERRORS, transientRetry } from './retries';
import type { TrainingVpcConfig } from './training-network';

export interface TrainingJobTaskProps {
  /** The role the job runs as (`TrainingJobRole`). */
  readonly role: iam.IRole;
  /** The trainer image. */
  readonly imageUri: string;
  /** Encrypts the job's volume and its output. */
  readonly key: kms.IKey;
  /** The instance type without `ml.` (`m5.large`). */
  readonly instanceType: string;
  /** The job's own time limit; the Task allows 30 minutes more for queueing and the upload. */
  readonly maxRuntime: Duration;
  /**
   * Size of the job's volume.
   * @default 10
   */
  readonly volumeSizeGb?: number;
  /**
   * Runs the job's instances in these subnets with these security groups (`TrainingNetwork.vpcConfig`):
   * SageMaker then reads the channels and writes the output through the VPC's S3 endpoint.
   * @default - SageMaker's own network (the local environment)
   */
  readonly vpc?: TrainingVpcConfig;
  /**
   * JsonPath of `{instance_type, instance_count, volume_size_gb, input_mode, train_distribution}`
   * chosen per execution (the plan's `resources`, checked against the environment's limits), used
   * in place of the fixed values: the input mode (`File` or `FastFile`) and the training channel's
   * `S3DataDistributionType` (`ShardedByS3Key` when the job has more than one instance) come from it
   * too; the validation channel is always `FullyReplicated` (every host scores on all of it).
   * @default the fixed instanceType, one instance, volumeSizeGb, `File`, `FullyReplicated`
   */
  readonly resourcesPath?: string;
}

export class TrainingJobTask extends sfn.CustomState {
  private readonly role: iam.IRole;

  constructor(scope: Construct, name: string, props: TrainingJobTaskProps) {
    const seconds = props.maxRuntime.toSeconds();
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > 28 * 24 * 3600) {
      throw new Error(`a training job's maxRuntime must be 1 second to 28 days, but ${props.maxRuntime.toHumanString()} was provided`);
    }
    if (!/^[a-z0-9]+\.[a-z0-9]+$/.test(props.instanceType)) {
      throw new Error(`instanceType must be a SageMaker type without ml. (m5.large), but "${props.instanceType}" was provided`);
    }
    super(scope, name, {
      stateJson: {
        Type: 'Task',
        Comment: "Runs the kit's trainer image on the training channel (holdout as validation channel)",
        Resource: `arn:${Aws.PARTITION}:states:::sagemaker:createTrainingJob.sync`,
        Parameters: {
          'TrainingJobName.$': '$.plan.training_job_name',
          RoleArn: props.role.roleArn,
          AlgorithmSpecification: {
            TrainingImage: props.imageUri,
            ...(props.resourcesPath ? { 'TrainingInputMode.$': `${props.resourcesPath}.input_mode` } : { TrainingInputMode: 'File' }),
            MetricDefinitions: METRIC_DEFINITIONS.map((m) => ({ Name: m.Name, Regex: m.Regex })),
          },
          // Strings, one per hyperparameter, as SageMaker takes them; "Validate data" built the map.
          'HyperParameters.$': '$.plan.hyperparameters',
          Environment: { 'MLOPS_DATA_VERSION.$': '$.plan.data_version_json' },
          InputDataConfig: [
            channel('train', '$.plan.locations.train', props.resourcesPath ? { path: `${props.resourcesPath}.train_distribution` } : 'FullyReplicated'),
            channel('validation', '$.plan.locations.holdout', 'FullyReplicated'),
          ],
          OutputDataConfig: { 'S3OutputPath.$': '$.plan.locations.training_output', KmsKeyId: props.key.keyArn },
          ResourceConfig: {
            ...(props.resourcesPath
              ? {
                  'InstanceCount.$': `${props.resourcesPath}.instance_count`,
                  'InstanceType.$': `${props.resourcesPath}.instance_type`,
                  'VolumeSizeInGB.$': `${props.resourcesPath}.volume_size_gb`,
                }
              : { InstanceCount: 1, InstanceType: `ml.${props.instanceType}`, VolumeSizeInGB: props.volumeSizeGb ?? 10 }),
            VolumeKmsKeyId: props.key.keyArn,
          },
          StoppingCondition: { MaxRuntimeInSeconds: seconds },
          // The trainer reads its channels from /opt/ml/input and writes /opt/ml/model: SageMaker
          // moves the data, so the container gets no network at all (nothing to exfiltrate through).
          EnableNetworkIsolation: true,
          ...(props.vpc ? { VpcConfig: props.vpc } : {}),
        },
        ResultSelector: { 'job_name.$': '$.TrainingJobName', 'model_uri.$': '$.ModelArtifacts.S3ModelArtifacts' },
        ResultPath: '$.training',
        // The job's own limit fires first; the Task's covers queueing and the upload of the model.
        TimeoutSeconds: props.maxRuntime.plus(Duration.minutes(30)).toSeconds(),
      },
    });
    this.role = props.role;
    this.addRetry(transientRetry(SAGEMAKER_TRANSIENT_ERRORS, 3));
  }

  /** What `createTrainingJob.sync` needs: this pipeline's jobs, passing the job role, the .sync rule. */
  grantRun(machineRole: iam.IRole): void {
    const stack = Stack.of(this);
    machineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'sagemaker:CreateTrainingJob',
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
          'sagemaker:AddTags',
          'sagemaker:ListTags',
        ],
        resources: [
          stack.formatArn({ service: 'sagemaker', resource: 'training-job', resourceName: `${TRAINING_JOB_NAME_PREFIX}*` }),
        ],
      }),
    );
    machineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    machineRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: [
          stack.formatArn({
            service: 'events',
            resource: 'rule',
            resourceName: 'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
          }),
        ],
      }),
    );
    Validations.of(machineRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:${stack.region}:${stack.account}:training-job/${TRAINING_JOB_NAME_PREFIX}*]`,
      reason:
        'Training job names are made per execution ("train-<execution>"); the job actions are granted on names with that prefix only.',
    });
  }
}

/** A channel of the run's Parquet parts under a prefix, distributed as given (or as a JsonPath names). */
function channel(name: string, path: string, distribution: string | { readonly path: string }): Record<string, unknown> {
  return {
    ChannelName: name,
    ContentType: 'application/x-parquet',
    DataSource: {
      S3DataSource: {
        'S3Uri.$': path,
        S3DataType: 'S3Prefix',
        ...(typeof distribution === 'string'
          ? { S3DataDistributionType: distribution }
          : { 'S3DataDistributionType.$': distribution.path }),
      },
    },
  };
}
