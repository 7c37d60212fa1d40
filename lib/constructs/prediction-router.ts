/**
 * The prediction router behind an internal NLB: CDK owns the load balancer, its IP target group
 * and listener (so API Gateway's VPC link has its target at deploy time); the router pods (nginx,
 * `routerManifests`) register themselves in that target group through a `TargetGroupBinding`,
 * which the AWS Load Balancer Controller keeps current — the controller's only job, with IAM for
 * that one target group. Why a router at all: `lib/serving-infra/README.md`.
 *
 * Its resources are created in `scope` (and the Kubernetes objects in the cluster), beside this
 * construct rather than under it, so they keep the construct paths and logical ids they had before
 * the serving stack was split into constructs: a new logical id would replace the NLB, and with it
 * the VPC link's target. One `PredictionRouter` per scope.
 *
 * @example
 * const router = new PredictionRouter(this, 'Router', {
 *   cluster: models.cluster,
 *   vpc: network.vpc,
 *   vpcCidr: network.cidr,
 *   namespace: models.modelNamespace,
 * });
 */
import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IDependable } from 'constructs';
import { ROUTER_PORT, routerManifests } from '../serving-infra/router';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';
import { ipv4Cidr } from './validate-props';

export const LOAD_BALANCER_CONTROLLER_CHART_VERSION = '3.2.2';

export interface PredictionRouterProps {
  /** The cluster the router pods and the load balancer controller run in. */
  readonly cluster: eks.Cluster;
  /** The VPC the NLB and its target group live in (private subnets). */
  readonly vpc: ec2.IVpc;
  /** The VPC's address range: the NLB has no security group, so router pods admit the whole VPC on their port. */
  readonly vpcCidr: string;
  /** The router's namespace (the model namespace); the router is applied after it. */
  readonly namespace: IDependable;
  /** The unprivileged nginx image the router pods run, by digest (`ModelCluster.images.router`). */
  readonly image: string;
  /**
   * Refuse to delete the NLB (on for retained environments: deleting it breaks the VPC link).
   * @default false
   */
  readonly deletionProtection?: boolean;
}

export class PredictionRouter extends Construct {
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly targetGroup: elbv2.NetworkTargetGroup;
  /** The router's ConfigMap, Deployment, Service, PodDisruptionBudget and TargetGroupBinding. */
  readonly manifest: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: PredictionRouterProps) {
    super(scope, id);
    ipv4Cidr('PredictionRouter vpcCidr', props.vpcCidr);
    const { cluster, vpc } = props;
    this.loadBalancer = new elbv2.NetworkLoadBalancer(scope, 'PredictionNlb', {
      vpc,
      internetFacing: false,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      crossZoneEnabled: true,
      deletionProtection: props.deletionProtection ?? false,
    });
    this.targetGroup = new elbv2.NetworkTargetGroup(scope, 'RouterTargets', {
      vpc,
      port: ROUTER_PORT,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: { protocol: elbv2.Protocol.HTTP, path: '/healthz', interval: Duration.seconds(10) },
    });
    this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: elbv2.Protocol.TCP,
      defaultTargetGroups: [this.targetGroup],
    });
    // Router pods get VPC addresses on the nodes' (cluster) security group; the NLB has none.
    cluster.clusterSecurityGroup.addIngressRule(
      ec2.Peer.ipv4(props.vpcCidr),
      ec2.Port.tcp(ROUTER_PORT),
      'Internal NLB (API Gateway VPC link) to the prediction router pods',
    );
    const controller = this.addTargetGroupController(cluster, vpc);
    this.manifest = cluster.addManifest('Router', ...routerManifests(this.targetGroup.targetGroupArn, props.image));
    this.manifest.node.addDependency(props.namespace, controller);
    acknowledgeNlbLogging(this.loadBalancer);
  }

  /**
   * The AWS Load Balancer Controller, only to keep the router pods registered in the CDK-owned
   * target group (TargetGroupBinding); its role may describe, and register targets in that group.
   */
  private addTargetGroupController(cluster: eks.Cluster, vpc: ec2.IVpc): Construct {
    const account = cluster.addServiceAccount('LoadBalancerController', {
      name: 'aws-load-balancer-controller',
      namespace: 'kube-system',
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    account.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        resources: [this.targetGroup.targetGroupArn],
      }),
    );
    account.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // Describe calls have no resource-level permissions.
        actions: [
          'elasticloadbalancing:DescribeTargetGroups',
          'elasticloadbalancing:DescribeTargetHealth',
          'elasticloadbalancing:DescribeLoadBalancers',
          'elasticloadbalancing:DescribeListeners',
          'elasticloadbalancing:DescribeTags',
          'ec2:DescribeVpcs',
          'ec2:DescribeSubnets',
          'ec2:DescribeSecurityGroups',
          'ec2:DescribeInstances',
          'ec2:DescribeNetworkInterfaces',
          'ec2:DescribeAvailabilityZones',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(account.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The load balancer controller reads subnets, security groups, network interfaces and target groups with Describe* calls, which EC2 and ELB only authorize on Resource "*"; its only write (Register/DeregisterTargets) is scoped to the router target group.',
      },
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
    );
    const chart = cluster.addHelmChart('LoadBalancerController', {
      chart: 'aws-load-balancer-controller',
      repository: 'https://aws.github.io/eks-charts',
      version: LOAD_BALANCER_CONTROLLER_CHART_VERSION,
      release: 'aws-load-balancer-controller',
      namespace: 'kube-system',
      wait: true,
      values: {
        clusterName: cluster.clusterName,
        region: Stack.of(this).region,
        vpcId: vpc.vpcId,
        serviceAccount: { create: false, name: 'aws-load-balancer-controller' },
        // Only TargetGroupBindings: Services of type LoadBalancer and Ingresses stay untouched.
        enableServiceMutatorWebhook: false,
        createIngressClassResource: false,
        replicaCount: 2,
      },
    });
    chart.node.addDependency(account);
    return chart;
  }
}

function acknowledgeNlbLogging(nlb: elbv2.NetworkLoadBalancer): void {
  const noTlsNoLogs =
    'Network Load Balancers only write access logs for TLS listeners; this internal TCP listener is reached only through the API Gateway VPC link, whose access logs record every request.';
  Validations.of(nlb).acknowledge(
    { id: 'AwsSolutions-ELB2', reason: noTlsNoLogs },
    ...complianceAcks('ELBLoggingEnabled', noTlsNoLogs),
    ...complianceAcks('ELBv2ACMCertificateRequired', 'The NLB is internal and reached only by the API Gateway VPC link inside the VPC; clients use TLS to API Gateway, and a certificate here would need a private CA the kit does not assume.'),
  );
}
