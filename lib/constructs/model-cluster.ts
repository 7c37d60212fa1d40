/**
 * The EKS cluster that runs models: a pinned Kubernetes with every control-plane log and
 * envelope-encrypted secrets, a managed node group sized by the caller, one administrator role,
 * the Seldon Core 1.17.1 operator, the `seldon` namespace, the model server image built for the
 * nodes' architecture, and the identity of model pods (`model-server`, EKS Pod Identity) for the
 * caller to grant data access to.
 *
 * Its resources are created in `scope`, beside this construct rather than under it, so they keep
 * the construct paths (hence logical ids and the kubectl prune labels) they had before the serving
 * stack was split into constructs: a new logical id would replace the cluster. One `ModelCluster`
 * per scope.
 *
 * @example
 * const models = new ModelCluster(this, 'Models', {
 *   vpc: network.vpc,
 *   environmentName: 'staging',
 *   nodeInstanceType: 't3.large',
 *   minNodes: 1, desiredNodes: 2, maxNodes: 3,
 *   privateEndpoint: false,
 *   publicEndpointCidrs: ['203.0.113.0/24'],
 * });
 * lake.artifacts.grantObjects(models.modelServer.role, { readKeys: MODEL_ARTIFACT_KEYS }, 'pods read the model they serve');
 */
import { KubectlV36Layer } from '@aws-cdk/lambda-layer-kubectl-v36';
import { CfnCondition, Duration, Names, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3Assets from 'aws-cdk-lib/aws-s3-assets';
import { join } from 'node:path';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import {
  hardenedNamespace,
  modelNetworkPolicies,
  podGuardPolicy,
  SELDON_SYSTEM_NAMESPACE,
} from '../serving-infra/pod-security';
import { MODEL_NAMESPACE, MODEL_SERVICE_ACCOUNT } from '../serving-infra/seldon';
import { type ChartPin, verifyChart } from '../serving-infra/chart-provenance';
import type { PinnedImage } from '../serving-infra/images';
import { accountKeyPolicy } from './data-lake';
import { imageContext, MODEL_SERVER_CONTEXT } from './image-context';
import { ImageMirror } from './image-mirror';
import { PROJECT_ROOT } from './mlops-function';
import { houseLogGroup, type LogGroupOptions } from './log-group-options';
import { acknowledgeFindingPrefix, complianceAcks, INLINE_POLICY_REASON } from './nag';
import { integerIn, ipv4Cidr, PropsError } from './validate-props';

/** Pinned versions: the last Apache-2.0 Seldon Core, and a Kubernetes the kubectl layer matches. */
export const SELDON_CORE_VERSION = '1.17.1';
/**
 * The Seldon Core operator chart, vendored: `helm-charts/seldon-core-operator` of SeldonIO/seldon-core
 * at tag v1.17.1 (commit 822053e7bbc897f34d84aaf5892d5947163249c5), unmodified, installed from the
 * kit's asset bucket instead of Seldon's public chart bucket; synthesis verifies both digests
 * (lib/serving-infra/chart-provenance.ts says how to recompute them).
 */
export const SELDON_CHART: ChartPin & { readonly directory: string } = {
  directory: join(PROJECT_ROOT, 'vendor', 'seldon-core-operator'),
  version: SELDON_CORE_VERSION,
  gitTree: 'b6fa459a2f70cfe6c42a9671b76116247c8810d5',
  sha256: '1e04112b20c228cbeb1a6e3b9dc4e858d1f6cb5b80cefdcef7997bd65c0b7f5b',
};
export const KUBERNETES_VERSION = eks.KubernetesVersion.V1_36;
/** The condition key a session signed in with MFA carries. */
export const MFA_PRESENT = 'aws:MultiFactorAuthPresent';

/** Versions of the EKS managed add-ons the cluster runs (`aws eks describe-addon-versions`). */
export interface ClusterAddonVersions {
  /** `vpc-cni`, e.g. `v1.20.4-eksbuild.1`; runs with network-policy enforcement on. */
  readonly vpcCni: string;
  readonly coredns: string;
  /** `kube-proxy`; its minor version must be the cluster's. */
  readonly kubeProxy: string;
  readonly podIdentityAgent: string;
  /** `metrics-server`: the resource metrics API the model pods' HorizontalPodAutoscalers read. */
  readonly metricsServer: string;
}

/** Pinned Docker Hub references (`docker.io/<repository>:<tag>@sha256:…`) of the images the cluster runs. */
export interface ClusterImages {
  readonly seldonOperator: string;
  readonly seldonExecutor: string;
  /** The prediction router's unprivileged nginx. */
  readonly router: string;
}

export interface ModelClusterProps extends LogGroupOptions {
  /** The VPC whose private subnets hold the control-plane interfaces and the nodes. */
  readonly vpc: ec2.IVpc;
  /** Names the environment in the key's and the administrator role's descriptions. */
  readonly environmentName: string;
  /** EC2 instance type of the nodes (`t3.large`, `m7g.large`); Graviton types get arm64 nodes and image. */
  readonly nodeInstanceType: string;
  /** Fewest nodes the group scales in to. */
  readonly minNodes: number;
  /** Nodes the group starts with. */
  readonly desiredNodes: number;
  /** Most nodes the group scales out to (at least 1). */
  readonly maxNodes: number;
  /**
   * A private-only Kubernetes API endpoint (reached from inside the VPC); false adds a public one.
   * @default true
   */
  readonly privateEndpoint?: boolean;
  /**
   * CIDRs allowed to reach the public endpoint; only with `privateEndpoint: false`. The endpoint
   * is public only when at least one is given, and never to the whole internet (`/0`).
   * @default - none: the endpoint stays private
   */
  readonly publicEndpointCidrs?: readonly string[];
  /**
   * Pinned versions of the managed add-ons (vpc-cni, coredns, kube-proxy, eks-pod-identity-agent):
   * EKS installs self-managed bootstrap copies of the first three that CloudFormation never
   * upgrades; as managed add-ons they change only when this config does.
   */
  readonly addonVersions: ClusterAddonVersions;
  /**
   * The third-party images the cluster runs, pinned on Docker Hub by digest
   * (`docker.io/<repository>:<tag>@sha256:…`); nodes pull them through the pull-through cache.
   */
  readonly images: ClusterImages;
  /** The `ecr-pullthroughcache/…` secret of the Docker Hub account the cache pulls with. */
  readonly dockerHubCredentialArn: string;
  /**
   * The `ecr-pullthroughcache/…` secret of the GitHub account the ghcr.io cache pulls with.
   * @default - no ghcr.io cache
   */
  readonly githubCredentialArn?: string;
  /**
   * Whether the Seldon operator renders predictors' `kedaSpec` as KEDA ScaledObjects (KEDA itself
   * is a `RequestAutoscaler`).
   * @default false
   */
  readonly keda?: boolean;
  /**
   * The ranges of the VPC's interface endpoints (`ServingNetwork.endpointCidrs`): the only HTTPS
   * destinations of model pods.
   * @default - the VPC's range
   */
  readonly endpointCidrs?: readonly string[];
  /**
   * Size of each node's encrypted gp3 root volume (images and container layers live there).
   * @default 20
   */
  readonly nodeVolumeGiB?: number;
  /**
   * What happens to the cluster and its secrets key when the stack is deleted; RETAIN also gives
   * the key the longest deletion window (30 days instead of 7).
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class ModelCluster extends Construct {
  readonly cluster: eks.Cluster;
  readonly nodegroup: eks.Nodegroup;
  readonly secretsKey: kms.Key;
  /** Cluster administrators assume this role; it is the only human entry to the cluster. */
  readonly adminRole: iam.Role;
  /** The `seldon` namespace; what is applied into it depends on this. */
  readonly modelNamespace: eks.KubernetesManifest;
  /** The Seldon Core operator (and its CRDs). */
  readonly seldon: eks.HelmChart;
  /** The model server image, built for the nodes' architecture. */
  readonly image: ecrAssets.DockerImageAsset;
  /** The service account model pods run as; grant their data access to its role. */
  readonly modelServer: eks.ServiceAccount;
  /** The ECR pull-through cache of Docker Hub the nodes pull third-party images through. */
  readonly imageMirror: ImageMirror;
  /** The mirrored, digest-pinned references of {@link ClusterImages}, as pods name them. */
  readonly images: ClusterImages;
  /**
   * `/aws/eks/<cluster>/cluster`, where EKS writes the control-plane logs: made before the cluster
   * with the retention and the logs key, instead of the never-expiring group EKS would make.
   */
  readonly controlPlaneLogs: logs.LogGroup;
  /** The pinned managed add-ons. */
  readonly addons: {
    readonly vpcCni: eks.Addon;
    readonly coredns: eks.Addon;
    readonly kubeProxy: eks.Addon;
    readonly metricsServer: eks.Addon;
  };
  /** The admission policy refusing privileged, hostPath and hostNetwork pods in the model namespace. */
  readonly podGuard: eks.KubernetesManifest;
  /** Default deny and the exact allows in the model namespace. */
  readonly networkPolicies: eks.KubernetesManifest;

  constructor(scope: Construct, id: string, props: ModelClusterProps) {
    super(scope, id);
    validateProps(props);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.DESTROY;
    const publicCidrs = props.publicEndpointCidrs ?? [];
    const privateEndpoint = (props.privateEndpoint ?? true) || publicCidrs.length === 0;

    this.secretsKey = new kms.Key(scope, 'SecretsKey', {
      description: `mlops-kit ${props.environmentName} EKS secrets envelope encryption`,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: removalPolicy === RemovalPolicy.RETAIN ? Duration.days(30) : Duration.days(7),
      // The account administers the key and its IAM principals use it (the cluster role gets its
      // grant from aws-eks-v2); listed actions instead of the default policy's kms:*.
      policy: accountKeyPolicy(),
    });
    // Named here so the control-plane log group can exist before the cluster writes to it.
    const clusterName = Names.uniqueResourceName(this, { maxLength: 100, separator: '-' });
    this.controlPlaneLogs = houseLogGroup(scope, 'ControlPlaneLogs', { ...props, logGroupName: `/aws/eks/${clusterName}/cluster` });
    const endpointAccess = privateEndpoint
      ? eks.EndpointAccess.PRIVATE
      : eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...publicCidrs);
    this.cluster = new eks.Cluster(scope, 'Cluster', {
      clusterName,
      version: KUBERNETES_VERSION,
      vpc: props.vpc,
      vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      endpointAccess,
      secretsEncryptionKey: this.secretsKey,
      clusterLogging: [
        eks.ClusterLoggingTypes.API,
        eks.ClusterLoggingTypes.AUDIT,
        eks.ClusterLoggingTypes.AUTHENTICATOR,
        eks.ClusterLoggingTypes.CONTROLLER_MANAGER,
        eks.ClusterLoggingTypes.SCHEDULER,
      ],
      // A managed node group sized from config (see README: why not Auto Mode).
      defaultCapacityType: eks.DefaultCapacityType.NODEGROUP,
      defaultCapacity: 0,
      // Only access entries grant cluster rights: the CloudFormation execution role that creates
      // the cluster must not stay its administrator (the kubectl provider has its own entry).
      bootstrapClusterCreatorAdminPermissions: false,
      kubectlProviderOptions: { kubectlLayer: new KubectlV36Layer(scope, 'KubectlLayer') },
      removalPolicy,
    });
    this.cluster.node.addDependency(this.controlPlaneLogs);
    const arm = isGraviton(props.nodeInstanceType);
    this.nodegroup = this.cluster.addNodegroupCapacity('Models', {
      instanceTypes: [new ec2.InstanceType(props.nodeInstanceType)],
      amiType: arm ? eks.NodegroupAmiType.AL2023_ARM_64_STANDARD : eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
      minSize: props.minNodes,
      desiredSize: props.desiredNodes,
      maxSize: props.maxNodes,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      labels: { 'mlops-kit/pool': 'models' },
      launchTemplateSpec: this.nodeLaunchTemplate(scope, props.nodeVolumeGiB ?? 20),
    });

    this.adminRole = new iam.Role(scope, 'ClusterAdmin', {
      // Any identity of the account that may assume it, and only in a session signed in with MFA.
      assumedBy: new iam.AccountRootPrincipal().withConditions({ Bool: { [MFA_PRESENT]: 'true' } }),
      maxSessionDuration: Duration.hours(1),
      description: `Administers the mlops-kit ${props.environmentName} EKS cluster (kubectl, helm); assumed with MFA only`,
    });
    this.cluster.grantAccess('ClusterAdminAccess', this.adminRole.roleArn, [
      eks.AccessPolicy.fromAccessPolicyName('AmazonEKSClusterAdminPolicy', {
        accessScopeType: eks.AccessScopeType.CLUSTER,
      }),
    ]);

    this.addons = this.managedAddons(props.addonVersions);

    this.modelNamespace = this.cluster.addManifest('ModelNamespace', hardenedNamespace(MODEL_NAMESPACE));
    // The operator's namespace is the kit's (not the chart's) so it carries the Pod Security labels.
    const seldonSystem = this.cluster.addManifest('SeldonSystemNamespace', hardenedNamespace(SELDON_SYSTEM_NAMESPACE));
    this.podGuard = this.cluster.addManifest('ModelPodGuard', ...podGuardPolicy());
    this.networkPolicies = this.cluster.addManifest(
      'ModelNetworkPolicies',
      ...modelNetworkPolicies({
        vpcCidr: props.vpc.vpcCidrBlock,
        ...(props.endpointCidrs ? { endpointCidrs: props.endpointCidrs } : {}),
      }),
    );
    this.networkPolicies.node.addDependency(this.modelNamespace);
    // Policies are enforced only once the VPC CNI add-on runs its network-policy agent.
    this.networkPolicies.node.addDependency(this.addons.vpcCni);
    this.imageMirror = new ImageMirror(scope, 'ImageMirror', {
      environmentName: props.environmentName,
      dockerHubCredentialArn: props.dockerHubCredentialArn,
      ...(props.githubCredentialArn !== undefined && { githubCredentialArn: props.githubCredentialArn }),
    });
    this.imageMirror.grantPull(this.nodegroup.role);
    this.images = {
      seldonOperator: this.imageMirror.referenceOf(props.images.seldonOperator),
      seldonExecutor: this.imageMirror.referenceOf(props.images.seldonExecutor),
      router: this.imageMirror.referenceOf(props.images.router),
    };
    verifiedChart(SELDON_CHART);
    this.seldon = this.cluster.addHelmChart('SeldonCore', {
      chartAsset: new s3Assets.Asset(scope, 'SeldonCoreChart', { path: SELDON_CHART.directory }),
      release: 'seldon-core',
      namespace: SELDON_SYSTEM_NAMESPACE,
      createNamespace: false,
      wait: true,
      timeout: Duration.minutes(10),
      values: seldonValues({
        registry: this.imageMirror.registry,
        operator: this.imageMirror.pinned(props.images.seldonOperator),
        executor: this.imageMirror.pinned(props.images.seldonExecutor),
        keda: props.keda ?? false,
      }),
    });
    this.seldon.node.addDependency(seldonSystem);

    this.image = new ecrAssets.DockerImageAsset(scope, 'ModelServerImage', {
      directory: PROJECT_ROOT,
      file: 'lib/serving/Dockerfile',
      platform: arm ? ecrAssets.Platform.LINUX_ARM64 : ecrAssets.Platform.LINUX_AMD64,
      // The manifests and the lib/ directories its build reaches: the rest of the repo must not change the image hash.
      ...imageContext(MODEL_SERVER_CONTEXT),
    });
    this.modelServer = this.cluster.addServiceAccount('ModelServer', {
      name: MODEL_SERVICE_ACCOUNT,
      namespace: MODEL_NAMESPACE,
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    this.modelServer.node.addDependency(this.modelNamespace);
    this.ownKubectlLogs(scope, props);
    this.acknowledgeFindings(privateEndpoint);
  }

  /**
   * The kubectl provider's functions (the handler and its provider framework) log to groups of
   * the kit's, with the environment's retention and the logs key, instead of the never-expiring
   * `/aws/lambda/…` groups Lambda would create on first run.
   */
  private ownKubectlLogs(scope: Construct, props: LogGroupOptions): void {
    const kubectl = this.cluster.node.tryFindChild('KubectlProvider');
    if (kubectl === undefined) return;
    const functions = kubectl.node.findAll().filter((c): c is lambda.CfnFunction => c instanceof lambda.CfnFunction);
    functions.forEach((fn, i) => {
      const group = houseLogGroup(scope, `KubectlLogs${i}`, props);
      fn.loggingConfig = { logGroup: group.logGroupName, logFormat: 'Text' };
    });
  }

  private managedAddons(versions: ClusterAddonVersions): ModelCluster['addons'] {
    const minor = KUBERNETES_VERSION.version;
    if (!new RegExp(`^v${minor.replace('.', '\\.')}\\.`).test(versions.kubeProxy)) {
      throw new PropsError(
        `ModelCluster addonVersions.kubeProxy must be a v${minor}.x build (the cluster's Kubernetes), but "${versions.kubeProxy}" was provided`,
      );
    }
    const addon = (id: string, addonName: string, addonVersion: string, configurationValues?: Record<string, unknown>) => {
      const a = new eks.Addon(this.cluster, id, {
        cluster: this.cluster,
        addonName,
        addonVersion,
        configurationValues,
        // Keep the running copy if the add-on is removed from the stack: nodes need it.
        preserveOnDelete: true,
      });
      // Take over the self-managed copy EKS installed at creation (and its configuration).
      (a.node.defaultChild as eks.CfnAddon).resolveConflicts = 'OVERWRITE';
      return a;
    };
    const vpcCni = addon('VpcCniAddon', 'vpc-cni', versions.vpcCni, { enableNetworkPolicy: 'true' });
    const coredns = addon('CoreDnsAddon', 'coredns', versions.coredns);
    // CoreDNS pods need nodes to become ACTIVE.
    coredns.node.addDependency(this.nodegroup);
    const kubeProxy = addon('KubeProxyAddon', 'kube-proxy', versions.kubeProxy);
    // The autoscalers of the model deployments read CPU use from the resource metrics API.
    const metricsServer = addon('MetricsServerAddon', 'metrics-server', versions.metricsServer);
    metricsServer.node.addDependency(this.nodegroup);
    // aws-eks-v2 creates the Pod Identity agent add-on unpinned; pin it like the others.
    const agent = this.cluster.eksPodIdentityAgent?.node.defaultChild as eks.CfnAddon | undefined;
    if (agent !== undefined) agent.addonVersion = versions.podIdentityAgent;
    return { vpcCni, coredns, kubeProxy, metricsServer };
  }

  /**
   * The nodes' launch template. Model pods handle untrusted input, so they must not reach the
   * instance metadata service (and the node role behind it): IMDSv2 only, and a hop limit of 1 so
   * a token request from a pod's network namespace (one hop further) never gets an answer. The
   * VPC CNI and the Pod Identity agent run on the host network and keep working.
   *
   * The root volume is encrypted with the account's EBS key (aws/ebs) rather than the kit's key:
   * EC2 Auto Scaling launches the nodes with its service-linked role, which a customer key policy
   * would have to name, and that role only exists once the account has used Auto Scaling, so the
   * key could not be created in a fresh account. aws/ebs is usable by that role without a policy.
   */
  private nodeLaunchTemplate(scope: Construct, volumeGiB: number): eks.LaunchTemplateSpec {
    const template = new ec2.LaunchTemplate(scope, 'ModelNodeLaunchTemplate', {
      requireImdsv2: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: 1,
      httpEndpoint: true,
      blockDevices: [
        {
          // The root device of the EKS-optimized AL2023 AMIs.
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(volumeGiB, {
            volumeType: ec2.EbsDeviceVolumeType.GP3,
            encrypted: true,
            deleteOnTermination: true,
          }),
        },
      ],
    });
    return { id: template.launchTemplateId!, version: template.latestVersionNumber };
  }

  private acknowledgeFindings(privateEndpoint: boolean): void {
    const { cluster } = this;
    const stack = Stack.of(this);
    const managed = (name: string) => `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`;
    Validations.of(cluster.node.defaultChild!).acknowledge({
      id: 'CloudFormation-Validate::W9009',
      reason:
        'aws-eks-v2 renders EncryptionConfig.Resources ["secrets"], which the EKS API still requires for envelope encryption; the schema marks it deprecated because secrets is the only value.',
    });
    if (!privateEndpoint) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-EKS1',
        reason:
          'serving.privateEndpoint is false and serving.publicEndpointCidrs names source networks in this environment so engineers reach the API without a VPN; only those CIDRs (never /0) reach it, and every call still needs an IAM identity with an access entry. Production is private-only (config validation enforces it).',
      });
    }
    Validations.of(cluster.role).acknowledge({
      id: managed('AmazonEKSClusterPolicy'),
      reason:
        'The EKS control plane role needs AmazonEKSClusterPolicy; AWS maintains it with the service and documents no narrower alternative.',
    });
    for (const policy of ['AmazonEKSWorkerNodePolicy', 'AmazonEKS_CNI_Policy', 'AmazonEC2ContainerRegistryReadOnly']) {
      Validations.of(this.nodegroup.role).acknowledge({
        id: managed(policy),
        reason: `Managed node groups require ${policy} on the node role (kubelet registration, the VPC CNI assigning pod addresses, image pulls); AWS updates it with the node AMIs.`,
      });
    }
    Validations.of(this.modelServer.role).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
    const part = (value: string, pseudo: string) => (Token.isUnresolved(value) ? `<AWS::${pseudo}>` : value);
    Validations.of(this.nodegroup.role).acknowledge(
      ...[this.imageMirror.prefix, this.imageMirror.k8sPrefix, ...(this.imageMirror.ghcrPrefix === undefined ? [] : [this.imageMirror.ghcrPrefix])].map((prefix) => ({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecr:${part(stack.region, 'Region')}:${part(stack.account, 'AccountId')}:repository/${prefix}/*]`,
        reason:
          "The pull-through cache creates a repository per upstream image on its first pull, named after the image under this environment's cache prefix; the nodes may create and import only there.",
      })),
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
    );
    const kubectl = cluster.node.tryFindChild('KubectlProvider');
    if (kubectl === undefined) return;
    const reason = (what: string) =>
      `The kubectl provider is aws-eks-v2's deploy-time custom resource (kubectl and helm in a Lambda); ${what}.`;
    Validations.of(kubectl).acknowledge(
      {
        id: managed('service-role/AWSLambdaBasicExecutionRole'),
        reason: reason('CDK attaches the basic execution policy to its functions for their logs'),
      },
      {
        id: managed('service-role/AWSLambdaVPCAccessExecutionRole'),
        reason: reason('it runs in the VPC to reach a private API endpoint, which needs the ENI permissions of this policy'),
      },
      {
        id: managed('AmazonEC2ContainerRegistryReadOnly'),
        reason: reason('it reads OCI Helm charts from ECR with this policy'),
      },
      {
        id: `AwsSolutions-IAM4[Policy::${JSON.stringify(stack.resolve(kubectlEcrPublicPolicy(kubectl)))}]`,
        reason: reason('it may read charts from ECR Public, which this conditional managed policy allows'),
      },
      { id: 'AwsSolutions-L1', reason: reason('CDK pins its runtime to the one the kubectl layer is built for') },
      ...complianceAcks('LambdaConcurrency', reason('it runs only during CloudFormation deployments, one resource at a time')),
      ...complianceAcks('LambdaDLQ', reason('CloudFormation invokes it synchronously and fails the deployment on error')),
      ...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON),
      ...['s3:GetObject*', 's3:GetBucket*', 's3:List*'].map((action) => ({
        id: `AwsSolutions-IAM5[Action::${action}]`,
        reason: reason("it downloads the vendored Seldon Core chart asset; these are CDK's read actions of an asset grant"),
      })),
    );
    // The asset's bucket is the environment's CDK bootstrap bucket, named only once bootstrapped.
    acknowledgeFindingPrefix(
      kubectl,
      'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-',
      reason('it reads the chart asset from the CDK bootstrap assets bucket, whose object keys are asset hashes'),
    );
    const handler = kubectl.node.tryFindChild('Handler')?.node.defaultChild as lambda.CfnFunction | undefined;
    if (handler !== undefined) {
      Validations.of(kubectl).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${stack.resolve(stack.getLogicalId(handler))}.Arn>:*]`,
        reason: reason('its provider framework invokes every version of the handler function, and only that function'),
      });
    }
  }
}

function validateProps(props: ModelClusterProps): void {
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9]+$/.test(props.nodeInstanceType)) {
    throw new PropsError(
      `ModelCluster nodeInstanceType must be an EC2 instance type such as t3.large, but "${props.nodeInstanceType}" was provided`,
    );
  }
  integerIn('ModelCluster maxNodes', props.maxNodes, 1);
  for (const [name, version] of Object.entries(props.addonVersions)) {
    if (!/^v\d+\.\d+\.\d+-eksbuild\.\d+$/.test(version)) {
      throw new PropsError(
        `ModelCluster addonVersions.${name} must be an EKS add-on build such as v1.20.4-eksbuild.1, but "${version}" was provided`,
      );
    }
  }
  integerIn('ModelCluster minNodes', props.minNodes, 0, props.maxNodes);
  integerIn(`ModelCluster desiredNodes (between minNodes ${props.minNodes} and maxNodes ${props.maxNodes})`, props.desiredNodes, props.minNodes, props.maxNodes);
  if (props.nodeVolumeGiB !== undefined) integerIn('ModelCluster nodeVolumeGiB', props.nodeVolumeGiB, 20, 16_384);
  if (props.publicEndpointCidrs !== undefined && props.publicEndpointCidrs.length > 0) {
    if ((props.privateEndpoint ?? true) === true) {
      throw new PropsError(
        'ModelCluster publicEndpointCidrs must only be given with privateEndpoint: false (a private endpoint has no public addresses to narrow), but both were provided',
      );
    }
    for (const cidr of props.publicEndpointCidrs) {
      ipv4Cidr('ModelCluster publicEndpointCidrs entry', cidr);
      if (cidr.endsWith('/0')) {
        throw new PropsError(
          `ModelCluster publicEndpointCidrs entry must be narrower than the whole internet, but "${cidr}" was provided`,
        );
      }
    }
  }
}

/** The conditional ECR Public managed policy aws-eks-v2 attaches to the kubectl handler's role. */
function kubectlEcrPublicPolicy(kubectl: Construct): unknown {
  const condition = kubectl.node.findAll().find((c) => c instanceof CfnCondition) as CfnCondition | undefined;
  const stack = Stack.of(kubectl);
  return {
    'Fn::If': [
      condition === undefined ? 'none' : stack.resolve(stack.getLogicalId(condition)),
      {
        'Fn::Join': [
          '',
          ['arn:', { Ref: 'AWS::Partition' }, ':iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly'],
        ],
      },
      { Ref: 'AWS::NoValue' },
    ],
  };
}

/** Where the operator chart takes its two images from: a registry path and the pinned images under it. */
export interface SeldonImages {
  /** `<registry host>/<path>` put before each repository (the pull-through cache's). */
  readonly registry: string;
  readonly operator: PinnedImage;
  readonly executor: PinnedImage;
  /** Lets the operator create KEDA ScaledObjects from predictors' `kedaSpec`. @default false */
  readonly keda?: boolean;
}

/**
 * Helm values of the Seldon Core operator. The chart renders an image as
 * `<registry>/<repository>:<tag>`, so the tag carries the digest (`1.17.1@sha256:…`) and the
 * operator and every predictor's executor are pulled by digest.
 */
export function seldonValues(images: SeldonImages): Record<string, unknown> {
  const image = (i: PinnedImage) => ({ registry: images.registry, repository: i.repository, tag: `${i.tag}@${i.digest}` });
  return {
    image: image(images.operator),
    // No phone-home to Seldon's usage server.
    usageMetrics: { enabled: false },
    // The kit's router does what Istio or Ambassador would: no mesh, no Ambassador annotations.
    istio: { enabled: false },
    ambassador: { enabled: false },
    // The executor (service orchestrator) fronts each predictor on port 8000.
    executor: { enabled: true, image: image(images.executor) },
    certManager: { enabled: false },
    keda: { enabled: images.keda ?? false },
    crd: { create: true },
    singleNamespace: false,
    manager: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '500m', memoryLimit: '512Mi' },
  };
}

const verifiedCharts = new Set<string>();

/** Verifies a vendored chart once per process (both environments install the same directory). */
function verifiedChart(pin: ChartPin & { readonly directory: string }): void {
  if (verifiedCharts.has(pin.directory)) return;
  verifyChart(pin.directory, pin);
  verifiedCharts.add(pin.directory);
}

/** Graviton instance families (m7g, c6gn, t4g, …) need the arm64 image and AMI. */
export function isGraviton(instanceType: string): boolean {
  return /^[a-z]+\d+[a-z]*g[a-z]*\./.test(instanceType);
}
