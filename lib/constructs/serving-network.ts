/**
 * The serving VPC: public subnets holding only NAT gateways, private node subnets, flow logs to an
 * encrypted log group, an S3 gateway endpoint, and interface endpoints for what nodes and pods
 * pull without the internet (ECR, STS, CloudWatch Logs, EKS Pod Identity).
 *
 * Its resources are created in `scope`, beside this construct rather than under it, so they keep
 * the construct paths — and with them the logical ids and the `Name` tags — they had before the
 * serving stack was split into constructs: a new logical id would replace the VPC and everything
 * in it. One `ServingNetwork` per scope.
 *
 * @example
 * const network = new ServingNetwork(this, 'Network', {
 *   availabilityZones: ['eu-west-1a', 'eu-west-1b'],
 *   natGateways: 1,
 *   logsEncryptionKey: lake.logsKey,
 * });
 */
import { RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';
import { integerIn, ipv4Cidr, nonEmptyUnique } from './validate-props';
import { houseLogGroup } from './log-group-options';

/** The serving VPC's default address range, literal so security-group rules name it (and cdk-nag can check them). */
export const SERVING_VPC_CIDR = '10.40.0.0/16';

export interface ServingNetworkProps {
  /**
   * The zones the VPC spans, as full names (`eu-west-1a`): explicit, so synthesis needs no zone
   * lookup and the same config gives the same network. The stack must report them as its
   * `availabilityZones` (`ec2.Vpc` checks).
   */
  readonly availabilityZones: readonly string[];
  /**
   * The VPC's address range; literal, so security-group rules can name it.
   * @default SERVING_VPC_CIDR ('10.40.0.0/16')
   */
  readonly cidr?: string;
  /**
   * NAT gateways: 1 is cheapest, one per zone survives a zone outage.
   * @default 1
   */
  readonly natGateways?: number;
  /**
   * How long flow logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: logs.RetentionDays;
  /**
   * Encrypts the flow-log group (the data lake's `logsKey`).
   * @default - CloudWatch Logs' service-owned encryption
   */
  readonly logsEncryptionKey?: kms.IKey;
  /**
   * What happens to the flow-log group when the stack is deleted.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class ServingNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** The VPC's address range, for security-group rules that admit the whole VPC. */
  readonly cidr: string;
  readonly flowLogs: logs.LogGroup;
  /** Admits HTTPS from the VPC to the interface endpoints. */
  readonly endpointSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: ServingNetworkProps) {
    super(scope, id);
    this.cidr = props.cidr ?? SERVING_VPC_CIDR;
    const natGateways = props.natGateways ?? 1;
    nonEmptyUnique('ServingNetwork availabilityZones', props.availabilityZones);
    ipv4Cidr('ServingNetwork cidr', this.cidr);
    integerIn('ServingNetwork natGateways', natGateways, 1, props.availabilityZones.length);

    this.flowLogs = houseLogGroup(scope, 'FlowLogs', { ...props, logRetention: props.flowLogRetention });
    this.vpc = new ec2.Vpc(scope, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(this.cidr),
      availabilityZones: [...props.availabilityZones],
      natGateways,
      subnetConfiguration: [
        { name: 'ingress', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.endpointSecurityGroup = new ec2.SecurityGroup(scope, 'EndpointSecurityGroup', {
      vpc: this.vpc,
      description: 'Interface endpoints: HTTPS from inside the serving VPC',
      allowAllOutbound: false,
    });
    this.endpointSecurityGroup.addIngressRule(
      ec2.Peer.ipv4(this.cidr),
      ec2.Port.tcp(443),
      'HTTPS from the serving VPC',
    );
    for (const [name, service] of [
      ['Ecr', ec2.InterfaceVpcEndpointAwsService.ECR],
      ['EcrDocker', ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER],
      ['Sts', ec2.InterfaceVpcEndpointAwsService.STS],
      ['Logs', ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS],
      ['EksAuth', ec2.InterfaceVpcEndpointAwsService.EKS_AUTH],
    ] as const) {
      this.vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
      });
    }
    this.acknowledgeFindings();
  }

  private acknowledgeFindings(): void {
    const flowLogRole = this.vpc.node.tryFindChild('all');
    if (flowLogRole !== undefined) {
      Validations.of(flowLogRole).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    }
    Validations.of(this.vpc).acknowledge(
      ...complianceAcks('VPCNoUnrestrictedRouteToIGW', 'Only the public subnets route to the internet gateway, and they hold only the NAT gateways; nodes, pods, the NLB and the deployer live in private subnets.'),
      ...complianceAcks('VPCDefaultSecurityGroupClosed', 'Nothing in the serving VPC uses its default security group: the cluster, endpoints and deployer each have their own. Closing it would add a custom-resource Lambda for a group no resource joins.'),
    );
  }
}
