/**
 * The serving deployer: the house Lambda (`lambdas/serving-deployer`) placed in the VPC so it can
 * reach a private EKS API endpoint, with HTTPS to that endpoint as its only egress, and an access
 * entry mapping its role to a Kubernetes group bound to a Role in the model namespace
 * (`deployerRbac`): it may apply SeldonDeployments and the router's routes, nothing else.
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
import { Duration, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct, type IDependable } from 'constructs';
import { DEPLOYER_GROUP, deployerRbac } from '../serving-infra/rbac';
import { MODEL_NAMESPACE } from '../serving-infra/seldon';
import { lambdaEntry, MlopsFunction } from './mlops-function';
import { integerIn, ipv4Cidr, numberIn } from './validate-props';
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

  constructor(scope: Construct, id: string, props: ServingDeployerProps) {
    super(scope, id);
    const modelReplicas = props.modelReplicas ?? 1;
    const canaryTrafficPercent = props.canaryTrafficPercent ?? 10;
    const requestLogSampleRate = props.requestLogSampleRate ?? 1;
    ipv4Cidr('ServingDeployer vpcCidr', props.vpcCidr);
    integerIn('ServingDeployer modelReplicas', modelReplicas, 1);
    integerIn('ServingDeployer canaryTrafficPercent', canaryTrafficPercent, 0, 100);
    numberIn('ServingDeployer requestLogSampleRate', requestLogSampleRate, 0, 1);
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
        CANARY_TRAFFIC_PERCENT: String(canaryTrafficPercent),
        REQUEST_LOG_URI: props.requestLogUri,
        REQUEST_LOG_SAMPLE_RATE: String(requestLogSampleRate),
      },
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
