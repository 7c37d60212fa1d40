/**
 * Node autoscaling for the model cluster: the Kubernetes cluster autoscaler, installed from its
 * Helm chart into `kube-system`, growing and shrinking the model node group between its `minSize`
 * and `maxSize` (the config's `serving.minNodes`/`maxNodes`) as model pods (scaled by their own
 * HorizontalPodAutoscalers) stop fitting or leave nodes idle.
 *
 * Why the cluster autoscaler and not Karpenter: the kit's nodes are one EKS managed node group with
 * a hardened launch template (IMDSv2, hop limit 1, encrypted volumes); the cluster autoscaler only
 * moves that group's desired size, so every node stays what the launch template says, and it needs
 * no interruption queue, no EC2NodeClass and no rights to launch instances itself. Karpenter pays
 * off with many instance types and spot, which a linear-model fleet does not need.
 *
 * Least privilege through EKS Pod Identity: the autoscaler may change the desired size of, and
 * terminate instances in, only the Auto Scaling group EKS created for this node group (the
 * `eks:nodegroup-name` tag condition); its Describe calls authorize on `*` only.
 *
 * @example
 * new NodeAutoscaler(this, 'NodeAutoscaler', { cluster: models.cluster, nodegroup: models.nodegroup });
 */
import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from './nag';
import { PropsError } from './validate-props';

/** The chart the autoscaler comes from (kubernetes/autoscaler, Apache-2.0). */
export const CLUSTER_AUTOSCALER_CHART = {
  chart: 'cluster-autoscaler',
  repository: 'https://kubernetes.github.io/autoscaler',
  version: '9.43.1',
} as const;

export const CLUSTER_AUTOSCALER_SERVICE_ACCOUNT = 'cluster-autoscaler';

export interface NodeAutoscalerProps {
  readonly cluster: eks.Cluster;
  /** The managed node group it scales (its Auto Scaling group is the only one it may change). */
  readonly nodegroup: eks.Nodegroup;
  /**
   * The autoscaler image, `repository:tag` or `repository@sha256:…`. Its minor version must be the
   * cluster's Kubernetes minor (the autoscaler simulates the scheduler of its own version).
   */
  readonly image: string;
  /**
   * How long a node must be unneeded before it is removed.
   * @default '10m'
   */
  readonly scaleDownUnneededTime?: string;
}

export class NodeAutoscaler extends Construct {
  readonly serviceAccount: eks.ServiceAccount;
  readonly chart: eks.HelmChart;

  constructor(scope: Construct, id: string, props: NodeAutoscalerProps) {
    super(scope, id);
    const { cluster, nodegroup } = props;
    const image = /^(?<repository>[^@]+?)(?::(?<tag>[^:@/]+))?(?:@(?<digest>sha256:[0-9a-f]{64}))?$/.exec(props.image);
    if (image?.groups === undefined || (image.groups.tag === undefined && image.groups.digest === undefined)) {
      throw new PropsError(
        `NodeAutoscaler image must be repository:tag or repository@sha256:<digest>, but "${props.image}" was provided`,
      );
    }
    this.serviceAccount = cluster.addServiceAccount('ClusterAutoscaler', {
      name: CLUSTER_AUTOSCALER_SERVICE_ACCOUNT,
      namespace: 'kube-system',
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    const stack = Stack.of(this);
    this.serviceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['autoscaling:SetDesiredCapacity', 'autoscaling:TerminateInstanceInAutoScalingGroup'],
        resources: [
          stack.formatArn({
            service: 'autoscaling',
            resource: 'autoScalingGroup',
            resourceName: '*',
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ],
        conditions: { StringEquals: { 'aws:ResourceTag/eks:nodegroup-name': nodegroup.nodegroupName } },
      }),
    );
    this.serviceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['eks:DescribeNodegroup'],
        resources: [nodegroup.nodegroupArn],
      }),
    );
    this.serviceAccount.addToPrincipalPolicy(
      new iam.PolicyStatement({
        // Describe calls of Auto Scaling and EC2 authorize on Resource "*" only.
        actions: [
          'autoscaling:DescribeAutoScalingGroups',
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeLaunchConfigurations',
          'autoscaling:DescribeScalingActivities',
          'autoscaling:DescribeTags',
          'ec2:DescribeImages',
          'ec2:DescribeInstanceTypes',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:GetInstanceTypesFromInstanceRequirements',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(this.serviceAccount.role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The cluster autoscaler discovers its Auto Scaling group and instance types with Auto Scaling and EC2 Describe* calls, which authorize only on Resource "*"; its writes (SetDesiredCapacity, TerminateInstanceInAutoScalingGroup) are held to the model node group\'s own group by the eks:nodegroup-name tag condition.',
      },
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
    );
    // The finding id embeds the region and account, concrete or tokens depending on the stage.
    acknowledgeFindingPrefix(
      this.serviceAccount.role,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:autoscaling:',
      "Auto Scaling group ARNs embed a generated id unknown until EKS creates the group; the statement is held to the model node group's own group by the eks:nodegroup-name resource tag condition.",
    );
    const { repository, tag, digest } = image.groups;
    this.chart = cluster.addHelmChart('ClusterAutoscaler', {
      ...CLUSTER_AUTOSCALER_CHART,
      release: 'cluster-autoscaler',
      namespace: 'kube-system',
      wait: true,
      values: clusterAutoscalerValues({
        clusterName: cluster.clusterName,
        region: stack.region,
        repository: repository!,
        ...(tag !== undefined && { tag }),
        ...(digest !== undefined && { digest }),
        scaleDownUnneededTime: props.scaleDownUnneededTime ?? '10m',
      }),
    });
    this.chart.node.addDependency(this.serviceAccount, nodegroup);
  }
}

/**
 * The chart's values: auto-discovery by the tags EKS puts on every managed node group's Auto
 * Scaling group, the service account the kit created (Pod Identity), and a hardened pod.
 */
export function clusterAutoscalerValues(o: {
  clusterName: string;
  region: string;
  repository: string;
  tag?: string;
  digest?: string;
  scaleDownUnneededTime: string;
}): Record<string, unknown> {
  return {
    cloudProvider: 'aws',
    awsRegion: o.region,
    autoDiscovery: { clusterName: o.clusterName },
    // The chart's image value is `repository:tag`; a digest rides in the tag (`tag@sha256:…`).
    image: { repository: o.repository, tag: [o.tag, o.digest].filter(Boolean).join('@') },
    rbac: { serviceAccount: { create: false, name: CLUSTER_AUTOSCALER_SERVICE_ACCOUNT } },
    extraArgs: {
      'balance-similar-node-groups': true,
      'skip-nodes-with-system-pods': false,
      'scale-down-unneeded-time': o.scaleDownUnneededTime,
      'expander': 'least-waste',
    },
    replicaCount: 1,
    securityContext: { runAsNonRoot: true, runAsUser: 65534, fsGroup: 65534, seccompProfile: { type: 'RuntimeDefault' } },
    containerSecurityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
  };
}
