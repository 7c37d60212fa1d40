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
import { INLINE_POLICY_REASON } from './nag';

export interface TrainingJobRoleProps {
  /** The key of the job's volume and output (the lake key). */
  readonly volumeKey: kms.IKey;
}

/** SageMaker's fixed log group for training jobs. */
const TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';

export class TrainingJobRole extends iam.Role {
  constructor(scope: Construct, id: string, props: TrainingJobRoleProps) {
    super(scope, id, {
      assumedBy: new iam.ServicePrincipal('sagemaker.amazonaws.com'),
      description: "Runs the training pipeline's SageMaker training jobs",
    });
    const stack = Stack.of(this);
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
      { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: INLINE_POLICY_REASON },
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
