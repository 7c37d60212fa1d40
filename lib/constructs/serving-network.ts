/**
 * The serving VPC: public subnets holding only NAT gateways, private node subnets, flow logs to an
 * encrypted log group, and VPC endpoints for what nodes and pods reach without the internet: S3
 * (gateway, and an interface endpoint whose private DNS answers inside the VPC), ECR, STS,
 * CloudWatch Logs, EKS Pod Identity. The interface endpoints sit in small `endpoints` subnets of
 * their own, whose ranges ({@link ServingNetwork.endpointCidrs}) are the only HTTPS destinations
 * the model pods' NetworkPolicy allows; both S3 endpoints carry a policy naming exactly the
 * objects the VPC's workloads use (`s3Statements`) and ECR's image-layer bucket.
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
import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
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
  /**
   * The S3 calls the VPC's workloads make (model artifacts read, request logs written): the S3
   * endpoints' policy, beside image-layer reads from ECR's bucket (what nodes pull images with).
   * Principals may be left out: `*` is filled in (an endpoint policy names no caller of its own).
   * @default - the endpoints allow ECR's image layers only
   */
  readonly s3Statements?: readonly iam.PolicyStatement[];
}

/** The subnet group the interface endpoints live in. */
export const ENDPOINT_SUBNETS = 'endpoints';

export class ServingNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  /** The VPC's address range, for security-group rules that admit the whole VPC. */
  readonly cidr: string;
  readonly flowLogs: logs.LogGroup;
  /** Admits HTTPS from the VPC to the interface endpoints. */
  readonly endpointSecurityGroup: ec2.SecurityGroup;
  /**
   * The `endpoints` subnets' ranges (literal): every interface endpoint (S3, STS, ECR, Logs, EKS
   * auth) has its addresses there, so a NetworkPolicy can allow exactly them.
   */
  readonly endpointCidrs: readonly string[];

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
        // Last, so the groups above keep their ranges.
        { name: ENDPOINT_SUBNETS, subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 27 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    const endpointSubnets: ec2.SubnetSelection = { subnetGroupName: ENDPOINT_SUBNETS };
    this.endpointCidrs = this.vpc.selectSubnets(endpointSubnets).subnets.map((s) => s.ipv4CidrBlock);
    const s3Gateway = this.vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
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
        subnets: endpointSubnets,
        privateDnsEnabled: true,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
      });
    }
    // S3 through PrivateLink too: with private DNS for all resolvers, S3 names resolve to these
    // addresses inside the VPC, so model pods reach S3 without any egress beyond the endpoints.
    const s3Interface = this.vpc.addInterfaceEndpoint('S3Interface', {
      service: ec2.InterfaceVpcEndpointAwsService.S3,
      subnets: endpointSubnets,
      privateDnsEnabled: true,
      privateDnsOnlyForInboundResolverEndpoint: ec2.VpcEndpointPrivateDnsOnlyForInboundResolverEndpoint.ALL_RESOLVERS,
      securityGroups: [this.endpointSecurityGroup],
      open: false,
    });
    for (const statement of s3EndpointStatements(scope, props.s3Statements ?? [])) {
      s3Gateway.addToPolicy(statement);
      s3Interface.addToPolicy(statement);
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

/**
 * The S3 endpoints' policy: the caller's statements for every principal of the VPC (an endpoint
 * policy narrows what may pass, the callers' own IAM still decides), and the reads nodes make of
 * ECR's image layers, which ECR serves from its own S3 bucket in the region.
 */
function s3EndpointStatements(scope: Construct, statements: readonly iam.PolicyStatement[]): iam.PolicyStatement[] {
  const region = Stack.of(scope).region;
  const own = statements.map((s) => {
    const json = s.toStatementJson() as { Action: string | string[]; Resource: unknown };
    return new iam.PolicyStatement({
      principals: [new iam.AnyPrincipal()],
      actions: [json.Action].flat(),
      resources: [json.Resource].flat() as string[],
    });
  });
  return [
    ...own,
    new iam.PolicyStatement({
      sid: 'NodeImagesAndPackages',
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:GetObject'],
      resources: [
        `arn:${Stack.of(scope).partition}:s3:::prod-${region}-starport-layer-bucket/*`,
        // Amazon Linux 2023's package repositories, should a node install a package.
        `arn:${Stack.of(scope).partition}:s3:::al2023-repos-${region}-*/*`,
      ],
    }),
  ];
}
