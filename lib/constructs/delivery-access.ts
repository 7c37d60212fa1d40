/**
 * What the delivery pipeline in the tooling account may do inside an environment, as two roles it
 * assumes (the only way in besides CloudFormation through the bootstrapped deploy roles):
 *
 * - the **smoke role** (`mlops-<env>-delivery-smoke`): call the prediction API (SigV4) and start
 *   and follow the training pipeline — what `mlops smoke` does after a deployment;
 * - the **release role** (`mlops-<env>-release-trigger`): start and follow the environment's release
 *   state machine and read its `mlops-<env>-*` stacks' outputs — what the git-tag release build runs
 *   `mlops release` with.
 *
 * Their names are fixed by convention ({@link deliveryRoleNames}) because the tooling account
 * must name them in its own policies before either exists, and across accounts there is no stack
 * output to read; each name carries the environment, so they never collide.
 *
 * @example
 * new DeliveryAccess(stack, 'Access', {
 *   environmentName: 'staging',
 *   toolingAccount: '111122223333',
 *   predictionApi: serving.api!,
 *   trainingStateMachine: training.stateMachine,
 * });
 */
import { Arn, CfnOutput, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import type { MlopsStateMachine } from './mlops-state-machine';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from './nag';
import type { PredictionApi } from './prediction-api';
import { PropsError } from './validate-props';

/** The roles' and the release machine's names in an environment (see the module note). */
export function deliveryRoleNames(environmentName: string) {
  return {
    smokeRole: `mlops-${environmentName}-delivery-smoke`,
    releaseRole: `mlops-${environmentName}-release-trigger`,
    releaseStateMachine: `mlops-${environmentName}-release`,
  } as const;
}

export interface DeliveryAccessProps {
  /** Names the roles and the release machine ({@link deliveryRoleNames}). */
  readonly environmentName: string;
  /** The tooling account whose pipeline assumes the roles. */
  readonly toolingAccount: string;
  /** The API the smoke step calls. */
  readonly predictionApi: PredictionApi;
  /** The machine the smoke step runs a short training execution of. */
  readonly trainingStateMachine: MlopsStateMachine;
  /**
   * The environment's release state machine, which the release role may start and follow.
   * @default - the machine named `mlops-<env>-release` ({@link deliveryRoleNames})
   */
  readonly releaseStateMachine?: sfn.IStateMachine;
}

export class DeliveryAccess extends Construct {
  readonly smokeRole: iam.Role;
  readonly releaseRole: iam.Role;
  /** The pipeline's smoke step reads these (CDK Pipelines `envFromCfnOutputs`). */
  readonly outputs: {
    readonly predictionUrl: CfnOutput;
    readonly trainingStateMachineArn: CfnOutput;
    readonly smokeRoleArn: CfnOutput;
  };

  constructor(scope: Construct, id: string, props: DeliveryAccessProps) {
    super(scope, id);
    if (!/^\d{12}$/.test(props.toolingAccount)) {
      throw new PropsError(`DeliveryAccess toolingAccount must be a 12-digit AWS account id, but ${JSON.stringify(props.toolingAccount)} was provided`);
    }
    if (!/^[a-z][a-z0-9-]{0,30}$/.test(props.environmentName)) {
      throw new PropsError(`DeliveryAccess environmentName must be lower-case letters, digits and -, but ${JSON.stringify(props.environmentName)} was provided`);
    }
    const names = deliveryRoleNames(props.environmentName);
    const tooling = new iam.AccountPrincipal(props.toolingAccount);

    this.smokeRole = new iam.Role(this, 'SmokeRole', {
      roleName: names.smokeRole,
      assumedBy: tooling,
      description: `The delivery pipeline's post-deploy smoke test in ${props.environmentName}: call the prediction API, run a short training`,
      maxSessionDuration: Duration.hours(1),
    });
    props.predictionApi.grantInvoke(this.smokeRole);
    // Start and follow one training execution; not grantRead, whose List* calls need Resource "*".
    const training = props.trainingStateMachine.stateMachine;
    training.grantStartExecution(this.smokeRole);
    training.grantExecution(this.smokeRole, 'states:DescribeExecution');

    this.releaseRole = new iam.Role(this, 'ReleaseRole', {
      roleName: names.releaseRole,
      assumedBy: tooling,
      description: `The git-tag release build: start and follow the ${props.environmentName} release state machine`,
      maxSessionDuration: Duration.hours(2),
    });
    const stack = Stack.of(this);
    // The release machine: the environment's own when given, else the one named by convention.
    const release =
      props.releaseStateMachine ??
      sfn.StateMachine.fromStateMachineName(this, 'ReleaseMachine', names.releaseStateMachine);
    release.grantStartExecution(this.releaseRole);
    release.grantExecution(this.releaseRole, 'states:DescribeExecution', 'states:GetExecutionHistory');
    this.releaseRole.addToPolicy(
      new iam.PolicyStatement({
        actions: ['states:ListExecutions'],
        resources: [release.stateMachineArn],
      }),
    );
    const stacksArn = Arn.format({ service: 'cloudformation', resource: 'stack', resourceName: `mlops-${props.environmentName}-*/*` }, stack);
    this.releaseRole.addToPolicy(new iam.PolicyStatement({ actions: ['cloudformation:DescribeStacks'], resources: [stacksArn] }));

    for (const role of [this.smokeRole, this.releaseRole]) {
      Validations.of(role).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
      // A machine of another stack is named through an export, so these finding ids hold a token.
      acknowledgeFindingPrefix(
        role,
        'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:',
        'DescribeExecution and GetExecutionHistory on the executions of one state machine (training for the smoke role, release for the release role): an execution is named when it starts.',
      );
    }
    // cdk-nag names a resource as CloudFormation renders it: concrete region and account where the stack has them.
    const where = `${Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region}:${Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account}`;
    Validations.of(this.releaseRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudformation:${where}:stack/mlops-${props.environmentName}-*/*]`,
      reason: "mlops release reads this environment's endpoints from its stacks' outputs; only DescribeStacks, only the mlops-<env>-* stacks (whose ids CloudFormation suffixes).",
    });

    this.outputs = {
      predictionUrl: new CfnOutput(this, 'PredictionUrl', {
        value: props.predictionApi.mlopsApi.api.url,
        description: 'Prediction API base URL (SigV4), for the delivery smoke step',
      }),
      trainingStateMachineArn: new CfnOutput(this, 'TrainingStateMachineArn', {
        value: props.trainingStateMachine.stateMachineArn,
        description: 'Training pipeline state machine, for the delivery smoke step',
      }),
      smokeRoleArn: new CfnOutput(this, 'SmokeRoleArn', {
        value: this.smokeRole.roleArn,
        description: 'The role the delivery smoke step assumes',
      }),
    };
  }
}
