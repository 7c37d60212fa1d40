/**
 * Where the training pipeline's SageMaker jobs run: a small VPC of its own with isolated subnets
 * only (no internet gateway, no NAT), an S3 gateway endpoint whose policy admits the buckets the
 * jobs need, flow logs to an encrypted log group, and a security group with no ingress and HTTPS
 * egress only (the subnets' one route out is the S3 endpoint).
 *
 * Its own VPC rather than the serving VPC: the serving VPC exists only where serving runs on EKS,
 * lives in the serving stack (which the training stack must not depend on), and has NAT egress to
 * the internet for the cluster; a training job needs S3 and nothing else. The VPC, subnets and the
 * gateway endpoint cost nothing while no job runs.
 *
 * @example
 * const network = new TrainingNetwork(this, 'TrainingNetwork', {
 *   availabilityZones: ['eu-west-1a', 'eu-west-1b'],
 *   buckets: [lake.artifacts],
 *   logsEncryptionKey: lake.logsKey,
 * });
 * network.grantNetworkInterfaces(trainingRole);
 * new TrainingJobTask(this, 'Train model', { ...props, vpc: network.vpcConfig });
 */
import { Aws, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { houseLogGroup, type LogGroupOptions } from './log-group-options';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';
import { ipv4Cidr, nonEmptyUnique } from './validate-props';

/** The training VPC's address range: /26 subnets for a handful of job ENIs each. */
export const TRAINING_VPC_CIDR = '10.41.0.0/24';

export interface TrainingNetworkProps extends LogGroupOptions {
  /** The zones the subnets span, as full names (`eu-west-1a`); the stack must report them as its `availabilityZones`. */
  readonly availabilityZones: readonly string[];
  /** The buckets the jobs read their channels from and write their output to (the endpoint admits only these). */
  readonly buckets: readonly s3.IBucket[];
  /**
   * The VPC's address range.
   * @default TRAINING_VPC_CIDR ('10.41.0.0/24')
   */
  readonly cidr?: string;
}

/** A training job's `VpcConfig`, as CreateTrainingJob takes it. */
export interface TrainingVpcConfig {
  readonly SecurityGroupIds: string[];
  readonly Subnets: string[];
}

export class TrainingNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** No ingress; HTTPS egress, which only the S3 gateway endpoint answers. */
  readonly securityGroup: ec2.SecurityGroup;
  readonly s3Endpoint: ec2.GatewayVpcEndpoint;
  readonly flowLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: TrainingNetworkProps) {
    super(scope, id);
    const cidr = props.cidr ?? TRAINING_VPC_CIDR;
    nonEmptyUnique('TrainingNetwork availabilityZones', props.availabilityZones);
    ipv4Cidr('TrainingNetwork cidr', cidr);
    if (props.buckets.length === 0) {
      throw new Error('TrainingNetwork buckets must name the buckets training jobs use, but none were provided');
    }

    this.flowLogs = houseLogGroup(this, 'FlowLogs', props);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(cidr),
      availabilityZones: [...props.availabilityZones],
      natGateways: 0,
      subnetConfiguration: [{ name: 'training', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 26 }],
      flowLogs: {
        all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogs), trafficType: ec2.FlowLogTrafficType.ALL },
      },
    });
    this.s3Endpoint = this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    const objects = props.buckets.flatMap((b) => [b.bucketArn, b.arnForObjects('*')]);
    this.s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingBuckets',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject', 's3:ListBucket', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: objects,
        // Only principals of this account: another account's credentials cannot use the endpoint.
        conditions: { StringEquals: { 'aws:PrincipalAccount': Aws.ACCOUNT_ID } },
      }),
    );
    // Should SageMaker pull image layers through the job's VPC, they come from ECR's layer bucket.
    this.s3Endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EcrImageLayers',
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:GetObject'],
        resources: [`arn:${Aws.PARTITION}:s3:::prod-${Stack.of(this).region}-starport-layer-bucket/*`],
      }),
    );

    this.securityGroup = new ec2.SecurityGroup(this, 'JobSecurityGroup', {
      vpc: this.vpc,
      description: 'SageMaker training jobs: no ingress; HTTPS out, which only the S3 gateway endpoint answers',
      allowAllOutbound: false,
    });
    // The isolated subnets route nothing but the S3 prefix list (through the gateway endpoint), so
    // 443 to anywhere reaches S3 only; naming the prefix list would need a lookup at synth time.
    this.securityGroup.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'HTTPS to S3 through the gateway endpoint (the only route out)');

    const flowLogRole = this.vpc.node.tryFindChild('all');
    if (flowLogRole !== undefined) {
      Validations.of(flowLogRole).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    }
    Validations.of(this.vpc).acknowledge(
      ...complianceAcks(
        'VPCDefaultSecurityGroupClosed',
        'Nothing in the training VPC uses its default security group: jobs run in their own group. Closing it would add a custom-resource Lambda for a group no resource joins.',
      ),
    );
  }

  /** The `VpcConfig` of a training job in this network. */
  get vpcConfig(): TrainingVpcConfig {
    return {
      SecurityGroupIds: [this.securityGroup.securityGroupId],
      Subnets: this.vpc.isolatedSubnets.map((s) => s.subnetId),
    };
  }

  /**
   * What SageMaker asks of a training job's role to place the job in this VPC: describe the VPC's
   * parts (no resource-level permissions), create its network interfaces in these subnets with
   * this security group, and manage and delete interfaces of this VPC only.
   */
  grantNetworkInterfaces(role: iam.IRole): void {
    const stack = Stack.of(this);
    const ec2Arn = (resource: string, name: string) => stack.formatArn({ service: 'ec2', resource, resourceName: name });
    const inThisVpc = { ArnEquals: { 'ec2:Vpc': ec2Arn('vpc', this.vpc.vpcId) } };
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingVpcDescribe',
        actions: [
          'ec2:DescribeVpcs',
          'ec2:DescribeSubnets',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeDhcpOptions',
        ],
        resources: ['*'],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingVpcCreateInterfaces',
        actions: ['ec2:CreateNetworkInterface'],
        resources: [
          ...this.vpc.isolatedSubnets.map((s) => ec2Arn('subnet', s.subnetId)),
          ec2Arn('security-group', this.securityGroup.securityGroupId),
          ec2Arn('network-interface', '*'),
        ],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'TrainingVpcManageInterfaces',
        actions: ['ec2:CreateNetworkInterfacePermission', 'ec2:DeleteNetworkInterface', 'ec2:DeleteNetworkInterfacePermission'],
        resources: [ec2Arn('network-interface', '*')],
        conditions: inThisVpc,
      }),
    );
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ec2:${stack.region}:${stack.account}:network-interface/*]`,
      reason:
        'SageMaker creates the job\'s network interfaces, whose ids exist only then; creating is bound to this VPC\'s subnets and security group, managing and deleting to interfaces in this VPC (ec2:Vpc).',
    });
  }
}
