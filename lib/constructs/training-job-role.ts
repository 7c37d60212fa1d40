/**
 * The role a SageMaker training job runs as: write its logs and metrics, create grants on the lake
 * key for its encrypted volume, and nothing else; the run's channels and output are granted by the
 * pipeline (`lake.artifacts.grantObjects`) and the image by its repository (`grantPull`).
 *
 * @example
 * const role = new TrainingJobRole(this, 'TrainingJobRole', { volumeKey: lake.key });
 * image.repository.grantPull(role);
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { TRAINING_JOB_NAME_PREFIX } from '../pipelines/training-plan';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';

export interface TrainingJobRoleProps {
  /** The key of the job's volume and output (the lake key). */
  readonly volumeKey: kms.IKey;
  /**
   * Prefix of the names of the training jobs that may run as this role (the trust policy's
   * `aws:SourceArn`, so no other job of the account or any other account's can).
   * @default TRAINING_JOB_NAME_PREFIX
   */
  readonly jobNamePrefix?: string;
}

/** SageMaker's fixed log group for training jobs. */
const TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';

export class TrainingJobRole extends iam.Role {
  constructor(scope: Construct, id: string, props: TrainingJobRoleProps) {
    const stack = Stack.of(scope);
    super(scope, id, {
      // Confused-deputy guard: SageMaker may assume the role only for this account's pipeline jobs.
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: {
            'aws:SourceArn': stack.formatArn({
              service: 'sagemaker',
              resource: 'training-job',
              resourceName: `${props.jobNamePrefix ?? TRAINING_JOB_NAME_PREFIX}*`,
            }),
          },
        },
      }),
      description: "Runs the training pipeline's SageMaker training jobs",
    });
    const logGroupArn = (name: string) =>
      stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: name, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingJobLogs',
        actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
        resources: [logGroupArn(TRAINING_LOG_GROUP), logGroupArn(`${TRAINING_LOG_GROUP}:log-stream:*`)],
      }),
    );
    this.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingJobMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': TRAINING_LOG_GROUP } },
      }),
    );
    this.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptedTrainingVolume',
        actions: ['kms:CreateGrant'],
        resources: [props.volumeKey.keyArn],
        conditions: { Bool: { 'kms:GrantIsForAWSResource': 'true' } },
      }),
    );
    Validations.of(this).acknowledge(
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken (pulling the trainer image) and cloudwatch:PutMetricData (conditioned on the SageMaker training namespace) have no resource-level permissions.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${stack.region}:${stack.account}:log-group:${TRAINING_LOG_GROUP}:log-stream:*]`,
        reason:
          'SageMaker names a log stream per training job (<job name>/algo-1-<timestamp>) in its fixed log group; the grant covers that one log group.',
      },
    );
  }
}
