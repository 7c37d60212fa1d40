/**
 * The serving deployer: the house Lambda (`lambdas/serving-deployer`) placed in the VPC so it can
 * reach a private EKS API endpoint, with HTTPS to that endpoint as its only egress, and an access
 * entry mapping its role to a Kubernetes group bound to a Role in the model namespace
 * (`deployerRbac`): it may apply SeldonDeployments and the router's routes, nothing else. In
 * CloudWatch it may put, read and delete alarms under its canary-alarm prefix only: each canary's
 * own alarms (`lib/serving-infra/canary-alarms.ts`).
 *
 * Its resources are created in `scope` (and the RBAC objects in the cluster), beside this
 * construct rather than under it, so they keep the construct paths and logical ids they had before
 * the serving stack was split into constructs (a new log-group id would drop the deployer's logs).
 * One `ServingDeployer` per scope.
 *
 * @example
 * const deployer = new ServingDeployer(this, 'Deployment', {
 *   cluster: models.cluster, vpc: network.vpc, vpcCidr: network.cidr,
 *   namespace: models.modelNamespace, operator: models.seldon,
 *   modelImageUri: models.image.imageUri,
 *   requestLogUri: `s3://${lake.raw.bucketName}/predictions/`,
 * });
 */
import { ArnFormat, Duration, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, type IDependable } from 'constructs';
import { DEPLOYER_GROUP, deployerRbac } from '../serving-infra/rbac';
import { MODEL_NAMESPACE } from '../serving-infra/seldon';
import { lambdaEntry, MlopsFunction } from './mlops-function';
import { integerIn, ipv4Cidr, numberIn, PropsError } from './validate-props';
import type { LogGroupOptions } from './log-group-options';

export interface ServingDeployerProps extends LogGroupOptions {
  /** The cluster the deployer applies SeldonDeployments and routes to. */
  readonly cluster: eks.Cluster;
  /** The VPC whose private subnets the function runs in. */
  readonly vpc: ec2.IVpc;
  /** The VPC's address range: the function's only egress is HTTPS to it (the EKS API endpoint). */
  readonly vpcCidr: string;
  /** The model namespace; the deployer's Role is created in it. */
  readonly namespace: IDependable;
  /** The Seldon Core operator, whose CRD the Role names. */
  readonly operator: IDependable;
  /** The model server image every predictor runs. */
  readonly modelImageUri: string;
  /** `s3://bucket/prefix/` under which model pods write their request logs. */
  readonly requestLogUri: string;
  /**
   * Model pods per predictor.
   * @default 1
   */
  readonly modelReplicas?: number;
  /**
   * Scale each predictor from `modelReplicas` up to `maxReplicas` pods on CPU.
   * @default - a fixed `modelReplicas`
   */
  readonly modelAutoscaling?: {
    readonly maxReplicas: number;
    readonly targetCpuUtilization: number;
    /** Requests per second per pod, held by KEDA beside the CPU target (needs a `RequestAutoscaler`). */
    readonly targetRequestsPerSecond?: number;
  };
  /**
   * Share of traffic (0–100) a new version gets as a canary; 0 or 100 replaces directly.
   * @default 10
   */
  readonly canaryTrafficPercent?: number;
  /**
   * Share of predictions (0–1) model pods log.
   * @default 1
   */
  readonly requestLogSampleRate?: number;
  /**
   * Prefix of the per-canary alarm names (letters, digits, `.`, `_`, `-`).
   * @default `${stackName}-canary-`
   */
  readonly canaryAlarmPrefix?: string;
  /**
   * Share (0–1) of a canary version's own prediction requests that may fail before it is rolled back.
   * @default 0.05
   */
  readonly canaryErrorRate?: number;
  /**
   * A canary version's p99 prediction latency, in seconds, above which it is rolled back.
   * @default 1
   */
  readonly canaryLatencyP99Seconds?: number;
  /**
   * Memory of the function in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Reserved concurrency (it runs once per promotion or canary step, never per request).
   * @default - none: shares the account pool
   */
  readonly reservedConcurrentExecutions?: number;
}

export class ServingDeployer extends Construct {
  readonly function: MlopsFunction;
  readonly securityGroup: ec2.SecurityGroup;
  readonly accessEntry: eks.CfnAccessEntry;
  /** The prefix of the alarms the deployer creates per canary. */
  readonly canaryAlarmPrefix: string;

  constructor(scope: Construct, id: string, props: ServingDeployerProps) {
    super(scope, id);
    const modelReplicas = props.modelReplicas ?? 1;
    const canaryTrafficPercent = props.canaryTrafficPercent ?? 10;
    const requestLogSampleRate = props.requestLogSampleRate ?? 1;
    ipv4Cidr('ServingDeployer vpcCidr', props.vpcCidr);
    integerIn('ServingDeployer modelReplicas', modelReplicas, 1);
    const scaling = props.modelAutoscaling;
    if (scaling !== undefined) {
      integerIn('ServingDeployer modelAutoscaling.maxReplicas', scaling.maxReplicas, modelReplicas);
      integerIn('ServingDeployer modelAutoscaling.targetCpuUtilization', scaling.targetCpuUtilization, 10, 100);
      if (scaling.targetRequestsPerSecond !== undefined) {
        numberIn('ServingDeployer modelAutoscaling.targetRequestsPerSecond', scaling.targetRequestsPerSecond, 0.001, 100_000);
      }
    }
    integerIn('ServingDeployer canaryTrafficPercent', canaryTrafficPercent, 0, 100);
    numberIn('ServingDeployer requestLogSampleRate', requestLogSampleRate, 0, 1);
    const canaryErrorRate = props.canaryErrorRate ?? 0.05;
    const canaryLatencyP99Seconds = props.canaryLatencyP99Seconds ?? 1;
    numberIn('ServingDeployer canaryErrorRate', canaryErrorRate, 0, 1);
    numberIn('ServingDeployer canaryLatencyP99Seconds', canaryLatencyP99Seconds, 0.001, 60);
    const stack = Stack.of(scope);
    this.canaryAlarmPrefix = props.canaryAlarmPrefix ?? `${stack.stackName}-canary-`;
    if (!/^[A-Za-z0-9._-]{1,120}$/.test(this.canaryAlarmPrefix)) {
      throw new PropsError(
        `ServingDeployer canaryAlarmPrefix must be 1 to 120 letters, digits, '.', '_' or '-', but ${JSON.stringify(this.canaryAlarmPrefix)} was provided`,
      );
    }
    const { cluster, vpc } = props;

    this.securityGroup = new ec2.SecurityGroup(scope, 'DeployerSecurityGroup', {
      vpc,
      description: 'Serving deployer Lambda: HTTPS to the EKS API endpoint only',
      allowAllOutbound: false,
    });
    this.securityGroup.addEgressRule(ec2.Peer.ipv4(props.vpcCidr), ec2.Port.tcp(443), 'EKS API endpoint in the VPC');
    cluster.clusterSecurityGroup.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'Serving deployer to the EKS API');
    this.function = new MlopsFunction(scope, 'Deployer', {
      entry: lambdaEntry('serving-deployer'),
      description: 'mlops-kit serving deployer: applies SeldonDeployments and the router routes',
      timeout: Duration.minutes(1),
      memorySize: props.memorySize,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      logRetention: props.logRetention,
      logsEncryptionKey: props.logsEncryptionKey,
      removalPolicy: props.removalPolicy,
      environment: {
        CLUSTER_NAME: cluster.clusterName,
        CLUSTER_ENDPOINT: cluster.clusterEndpoint,
        CLUSTER_CA: cluster.clusterCertificateAuthorityData,
        MODEL_NAMESPACE,
        MODEL_IMAGE: props.modelImageUri,
        MODEL_REPLICAS: String(modelReplicas),
        ...(scaling && {
          MODEL_MAX_REPLICAS: String(scaling.maxReplicas),
          MODEL_TARGET_CPU_UTILIZATION: String(scaling.targetCpuUtilization),
          ...(scaling.targetRequestsPerSecond !== undefined && {
            MODEL_TARGET_REQUESTS_PER_SECOND: String(scaling.targetRequestsPerSecond),
          }),
        }),
        CANARY_TRAFFIC_PERCENT: String(canaryTrafficPercent),
        REQUEST_LOG_URI: props.requestLogUri,
        REQUEST_LOG_SAMPLE_RATE: String(requestLogSampleRate),
        CANARY_ALARM_PREFIX: this.canaryAlarmPrefix,
        CANARY_ERROR_RATE: String(canaryErrorRate),
        CANARY_LATENCY_P99_SECONDS: String(canaryLatencyP99Seconds),
      },
    });
    const alarmArns = stack.formatArn({
      service: 'cloudwatch',
      resource: 'alarm',
      resourceName: `${this.canaryAlarmPrefix}*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.function.function.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DescribeAlarms', 'cloudwatch:DeleteAlarms'],
        resources: [alarmArns],
      }),
    );
    Validations.of(this.function.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:cloudwatch:${nagToken(stack.region, 'Region')}:${nagToken(stack.account, 'AccountId')}:alarm:${this.canaryAlarmPrefix}*]`,
      reason:
        'The deployer creates one set of alarms per canary version (named <prefix><deployment>-v<version>-…) when it starts and deletes them when it ends; the alarm actions are granted on names with this stack\'s prefix only.',
    });
    placeInVpc(this.function, vpc, this.securityGroup);
    this.accessEntry = new eks.CfnAccessEntry(scope, 'DeployerAccess', {
      clusterName: cluster.clusterName,
      principalArn: this.function.function.role!.roleArn,
      type: 'STANDARD',
      kubernetesGroups: [DEPLOYER_GROUP],
    });
    const rbac = cluster.addManifest('DeployerRbac', ...deployerRbac());
    rbac.node.addDependency(props.namespace, props.operator);
    this.accessEntry.node.addDependency(rbac);
  }
}

/** How cdk-nag prints a region or account in a finding: the value, or `<AWS::Region>` for the pseudo parameter. */
function nagToken(value: string, name: 'Region' | 'AccountId'): string {
  return Token.isUnresolved(value) ? `<AWS::${name}>` : value;
}

/**
 * Attaches the house function to the VPC. MlopsFunction has no VPC option (functions elsewhere
 * reach only AWS endpoints); the deployer must reach a private EKS endpoint.
 */
function placeInVpc(fn: MlopsFunction, vpc: ec2.IVpc, securityGroup: ec2.ISecurityGroup): void {
  const cfn = fn.function.node.defaultChild as lambda.CfnFunction;
  cfn.vpcConfig = {
    subnetIds: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    securityGroupIds: [securityGroup.securityGroupId],
  };
  const role = fn.function.role as iam.Role;
  role.addManagedPolicy(iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'));
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason:
      'Lambda creates and deletes the network interfaces of a VPC function with ec2:*NetworkInterface* calls that only authorize on Resource "*"; AWS publishes this managed policy for exactly that and nothing else.',
  });
}
