/**
 * The CloudWatch agent on the model cluster: the `amazon-cloudwatch-observability` EKS add-on,
 * its `cloudwatch-agent` service account given an IAM role through EKS Pod Identity (as model
 * pods get theirs), configured to scrape the model pods' `/metrics` into the per-version serving
 * metrics (`lib/serving-infra/metrics-agent.ts`) and to collect Container Insights.
 *
 * Why the CloudWatch agent add-on and not ADOT: one AWS-managed add-on gives both the Prometheus
 * pipeline and Container Insights (nodes, pods, container logs) that the dashboard shows, it takes
 * a Pod Identity association in its own resource, and it needs no cert-manager (the ADOT add-on's
 * operator does) nor a collector pipeline of our own to keep up to date.
 *
 * Least privilege: the agent ships Prometheus samples and Container Insights as Embedded Metric
 * Format log events, so it may write log events to this cluster's Container Insights log groups
 * only; `PutMetricData` is allowed in the serving and Container Insights namespaces only (the
 * `cloudwatch:namespace` condition); EC2 `Describe*` for node metadata (those actions authorize
 * on `*` only). Resources are created in `scope`, beside this construct.
 *
 * @example
 * new ServingMetricsAgent(this, 'MetricsAgent', { cluster: models.cluster, nodes: models.nodegroup });
 */
import { ArnFormat, Stack, Token, Validations } from 'aws-cdk-lib';
import * as eksL1 from 'aws-cdk-lib/aws-eks';
import type * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IDependable } from 'constructs';
import { cloudWatchObservabilityValues } from '../serving-infra/metrics-agent';
import { METRIC_NAMESPACES } from '../shared/operations';
import { complianceAcks, INLINE_POLICY_REASON } from './nag';

export interface ServingMetricsAgentProps {
  /** The cluster the add-on is installed on. */
  readonly cluster: eks.Cluster;
  /**
   * What the add-on's pods need first (the node group they run on).
   * @default - nothing
   */
  readonly nodes?: IDependable;
  /**
   * The add-on version.
   * @default - the latest EKS offers for the cluster's Kubernetes version at creation
   */
  readonly addonVersion?: string;
}

/** The add-on's namespace and service account (fixed by the add-on). */
export const CLOUDWATCH_AGENT_NAMESPACE = 'amazon-cloudwatch';
export const CLOUDWATCH_AGENT_SERVICE_ACCOUNT = 'cloudwatch-agent';

export class ServingMetricsAgent extends Construct {
  readonly role: iam.Role;
  readonly addon: eksL1.CfnAddon;
  private readonly clusterName: string;

  constructor(scope: Construct, id: string, props: ServingMetricsAgentProps) {
    super(scope, id);
    const stack = Stack.of(scope);
    const { cluster } = props;
    this.clusterName = cluster.clusterName;
    this.role = new iam.Role(scope, 'MetricsAgentRole', {
      assumedBy: new iam.ServicePrincipal('pods.eks.amazonaws.com'),
      description: 'CloudWatch agent on the model cluster (EKS Pod Identity): serving metrics and Container Insights',
    });
    // Pod Identity tags the session with the pod's attributes.
    this.role.assumeRolePolicy!.addStatements(
      new iam.PolicyStatement({
        actions: ['sts:TagSession'],
        principals: [new iam.ServicePrincipal('pods.eks.amazonaws.com')],
      }),
    );
    const logGroups = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: `/aws/containerinsights/${cluster.clusterName}/*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: [
          'logs:CreateLogGroup',
          'logs:CreateLogStream',
          'logs:PutLogEvents',
          'logs:DescribeLogStreams',
          'logs:PutRetentionPolicy',
        ],
        resources: [logGroups, `${logGroups}:log-stream:*`],
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: {
          StringEquals: { 'cloudwatch:namespace': [METRIC_NAMESPACES.serving, 'ContainerInsights'] },
        },
      }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        actions: ['ec2:DescribeInstances', 'ec2:DescribeTags', 'ec2:DescribeVolumes'],
        resources: ['*'],
      }),
    );
    this.addon = new eksL1.CfnAddon(scope, 'MetricsAgentAddon', {
      clusterName: cluster.clusterName,
      addonName: 'amazon-cloudwatch-observability',
      ...(props.addonVersion === undefined ? {} : { addonVersion: props.addonVersion }),
      configurationValues: stack.toJsonString(cloudWatchObservabilityValues(cluster.clusterName)),
      podIdentityAssociations: [{ serviceAccount: CLOUDWATCH_AGENT_SERVICE_ACCOUNT, roleArn: this.role.roleArn }],
      resolveConflicts: 'OVERWRITE',
    });
    // Pod Identity associations need the agent that serves them on the nodes.
    this.addon.node.addDependency(cluster.eksPodIdentityAgent ?? cluster);
    if (props.nodes !== undefined) this.addon.node.addDependency(props.nodes);
    this.acknowledgeFindings(stack);
  }

  private acknowledgeFindings(stack: Stack): void {
    const policy = this.role.node.tryFindChild('DefaultPolicy');
    const resolved = stack.resolve(this.clusterName) as { Ref?: string } | string;
    const cluster = typeof resolved === 'string' ? resolved : `<${resolved.Ref}>`;
    const where = `${nagToken(stack.region, 'Region')}:${nagToken(stack.account, 'AccountId')}`;
    const logGroups = `arn:<AWS::Partition>:logs:${where}:log-group:/aws/containerinsights/${cluster}/*`;
    Validations.of(this.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'cloudwatch:PutMetricData authorizes on "*" only and is conditioned on the serving and ContainerInsights namespaces; ec2:DescribeInstances/DescribeTags/DescribeVolumes (node metadata for Container Insights) authorize on "*" only.',
      },
      ...[logGroups, `${logGroups}:log-stream:*`].map((arn) => ({
        id: `AwsSolutions-IAM5[Resource::${arn}]`,
        reason:
          "The agent writes to this cluster's Container Insights log groups only (application, dataplane, host, performance, prometheus), whose names it derives from the cluster name, and their streams.",
      })),
    );
    if (policy !== undefined) {
      Validations.of(policy).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    }
  }
}

/** How cdk-nag prints a region or account in a finding: the value, or the pseudo parameter's name. */
function nagToken(value: string, name: 'Region' | 'AccountId'): string {
  return Token.isUnresolved(value) ? `<AWS::${name}>` : value;
}
