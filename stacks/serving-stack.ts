/**
 * Serving on AWS: an EKS cluster running the Seldon Core 1.17.1 operator and the kit's model server
 * image, a prediction router in the cluster behind an internal NLB, API Gateway in front of it
 * through a VPC link, and the deployer that turns a registry promotion into a canary rollout.
 *
 * ```
 * client ─SigV4→ API Gateway (IAM, WAF in production) ─VPC link→ internal NLB ─→ router pods (nginx)
 *        ─traffic split per SeldonDeployment→ predictor Services (executor :8000 / model :9000)
 * registry ─ModelVersionPromoted→ EventBridge rule ─→ canary state machine ─→ deployer Lambda ─→ EKS API
 * ```
 *
 * In `local` there is no cluster: the same model server runs as a process behind the local gateway
 * (`mlops serve`), and `mlops render seldon` shows what the deployer would apply. The stack is then
 * empty (see {@link servingRunsOnEks}).
 *
 * @example
 * new ServingStack(stage, 'Serving', { config, lake: dataLake.lake });
 */
import { KubectlV36Layer } from '@aws-cdk/lambda-layer-kubectl-v36';
import {
  CfnCondition,
  CfnOutput,
  Duration,
  IgnoreMode,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import * as eks from 'aws-cdk-lib/aws-eks-v2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { accountKeyPolicy, type DataLake } from '../lib/constructs/data-lake';
import { lambdaEntry, MlopsFunction, PROJECT_ROOT } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { INLINE_POLICY_REASON } from '../lib/constructs/nag';
import { workflowReservedConcurrency } from '../lib/pipelines/infra';
import { PROMOTION_DETAIL_TYPE, PROMOTION_EVENT_SOURCE } from '../lib/registry/events';
import { PredictionApi } from '../lib/serving-infra/prediction-api';
import {
  BASE_CONFIG,
  ROUTER_BASE_CONFIGMAP,
  ROUTER_IMAGE,
  ROUTER_NAME,
  ROUTER_NAMESPACE,
  ROUTER_PORT,
  ROUTER_ROUTES_CONFIGMAP,
} from '../lib/serving-infra/router';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MODEL_NAMESPACE,
  MODEL_SERVICE_ACCOUNT,
} from '../lib/serving-infra/seldon';

/** Pinned versions: the last Apache-2.0 Seldon Core, and a Kubernetes the kubectl layer matches. */
export const SELDON_CORE_VERSION = '1.17.1';
export const SELDON_CHART_REPOSITORY = 'https://storage.googleapis.com/seldon-charts';
export const KUBERNETES_VERSION = eks.KubernetesVersion.V1_36;
export const LOAD_BALANCER_CONTROLLER_CHART_VERSION = '3.2.2';
/** The Kubernetes group the deployer's IAM role is mapped to; a Role in the model namespace binds it. */
export const DEPLOYER_GROUP = 'mlops-kit:serving-deployer';
/** The serving VPC's address range, literal so security-group rules name it (and cdk-nag can check them). */
export const SERVING_VPC_CIDR = '10.40.0.0/16';
/** Where model pods write request logs in the raw bucket. */
export const REQUEST_LOG_PREFIX = 'predictions/';

/** Serving needs a cluster, which only the AWS environments have. */
export const servingRunsOnEks = (config: Pick<EnvironmentConfig, 'name'>): boolean => config.name !== 'local';

export interface ServingStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  readonly lake: DataLake;
  /**
   * The bus the registry publishes promotion events on.
   * @default - the account's default event bus
   */
  readonly eventBus?: events.IEventBus;
  /**
   * How long a canary serves its share before the alarm decides between promotion and rollback.
   * @default Duration.minutes(10)
   */
  readonly canaryWindow?: Duration;
  /**
   * CIDRs allowed to reach the public Kubernetes API endpoint where the environment has one
   * (`serving.privateEndpoint: false`).
   * @default - any address (access still needs an IAM identity with an access entry)
   */
  readonly publicEndpointCidrs?: readonly string[];
}

export class ServingStack extends Stack {
  readonly vpc?: ec2.Vpc;
  readonly cluster?: eks.Cluster;
  readonly api?: PredictionApi;
  readonly deployer?: MlopsFunction;
  readonly canary?: MlopsStateMachine;
  readonly image?: ecrAssets.DockerImageAsset;
  readonly adminRole?: iam.Role;
  /** The configured zones, set before the VPC asks for them (see `availabilityZones`). */
  private zones?: string[];

  /**
   * The configured zones instead of the account's: `ec2.Vpc` checks explicit zones against the
   * stack's, and the default getter turns that into a context lookup (an AWS call, and a second
   * synthesis in the CDK CLI) for every environment with a concrete account and region.
   */
  override get availabilityZones(): string[] {
    return this.zones ?? super.availabilityZones;
  }

  constructor(scope: Construct, id: string, props: ServingStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    if (!servingRunsOnEks(config)) return;

    const retain = config.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = config.logs.retentionDays as logs.RetentionDays;
    const serving = config.serving;
    this.zones = serving.availabilityZones.map((suffix) => `${this.region}${suffix}`);

    // ---- network: private nodes, NAT per config, endpoints for images, models and credentials ----
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', {
      retention: logRetention,
      encryptionKey: lake.logsKey,
      removalPolicy,
    });
    const vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(SERVING_VPC_CIDR),
      // Explicit zones: synthesis needs no AZ lookup and the same config gives the same network.
      availabilityZones: this.zones,
      natGateways: config.name === 'production' ? serving.availabilityZones.length : 1,
      subnetConfiguration: [
        { name: 'ingress', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 19 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    this.vpc = vpc;
    vpc.addGatewayEndpoint('S3', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    const endpointSg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc,
      description: 'Interface endpoints: HTTPS from inside the serving VPC',
      allowAllOutbound: false,
    });
    endpointSg.addIngressRule(
      ec2.Peer.ipv4(SERVING_VPC_CIDR),
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
      vpc.addInterfaceEndpoint(name, {
        service,
        privateDnsEnabled: true,
        securityGroups: [endpointSg],
        open: false,
      });
    }

    // ---- the cluster ----
    const secretsKey = new kms.Key(this, 'SecretsKey', {
      description: `mlops-kit ${config.name} EKS secrets envelope encryption`,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: retain ? Duration.days(30) : Duration.days(7),
      // The account administers the key and its IAM principals use it (the cluster role gets its
      // grant from aws-eks-v2); listed actions instead of the default policy's kms:*.
      policy: accountKeyPolicy(),
    });
    const endpointAccess = serving.privateEndpoint
      ? eks.EndpointAccess.PRIVATE
      : props.publicEndpointCidrs === undefined
        ? eks.EndpointAccess.PUBLIC_AND_PRIVATE
        : eks.EndpointAccess.PUBLIC_AND_PRIVATE.onlyFrom(...props.publicEndpointCidrs);
    const cluster = new eks.Cluster(this, 'Cluster', {
      version: KUBERNETES_VERSION,
      vpc,
      vpcSubnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
      endpointAccess,
      secretsEncryptionKey: secretsKey,
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
      kubectlProviderOptions: { kubectlLayer: new KubectlV36Layer(this, 'KubectlLayer') },
      removalPolicy,
    });
    this.cluster = cluster;
    Validations.of(cluster.node.defaultChild!).acknowledge({
      id: 'CloudFormation-Validate::W9009',
      reason:
        'aws-eks-v2 renders EncryptionConfig.Resources ["secrets"], which the EKS API still requires for envelope encryption; the schema marks it deprecated because secrets is the only value.',
    });
    const arm = isGraviton(serving.nodeInstanceType);
    const nodegroup = cluster.addNodegroupCapacity('Models', {
      instanceTypes: [new ec2.InstanceType(serving.nodeInstanceType)],
      amiType: arm
        ? eks.NodegroupAmiType.AL2023_ARM_64_STANDARD
        : eks.NodegroupAmiType.AL2023_X86_64_STANDARD,
      minSize: serving.minNodes,
      desiredSize: serving.desiredNodes,
      maxSize: serving.maxNodes,
      subnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      labels: { 'mlops-kit/pool': 'models' },
    });

    // Cluster administrators assume this role; it is the only human entry to the cluster.
    this.adminRole = new iam.Role(this, 'ClusterAdmin', {
      assumedBy: new iam.AccountRootPrincipal(),
      description: `Administers the mlops-kit ${config.name} EKS cluster (kubectl, helm)`,
    });
    cluster.grantAccess('ClusterAdminAccess', this.adminRole.roleArn, [
      eks.AccessPolicy.fromAccessPolicyName('AmazonEKSClusterAdminPolicy', {
        accessScopeType: eks.AccessScopeType.CLUSTER,
      }),
    ]);

    // ---- Seldon Core operator and the model namespace ----
    const modelNamespace = cluster.addManifest('ModelNamespace', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: MODEL_NAMESPACE, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
    });
    const seldon = cluster.addHelmChart('SeldonCore', {
      chart: 'seldon-core-operator',
      repository: SELDON_CHART_REPOSITORY,
      version: SELDON_CORE_VERSION,
      release: 'seldon-core',
      namespace: 'seldon-system',
      createNamespace: true,
      wait: true,
      timeout: Duration.minutes(10),
      values: seldonValues(),
    });

    // ---- the model server image and the identity of model pods ----
    this.image = new ecrAssets.DockerImageAsset(this, 'ModelServerImage', {
      directory: PROJECT_ROOT,
      file: 'lib/serving/Dockerfile',
      platform: arm ? ecrAssets.Platform.LINUX_ARM64 : ecrAssets.Platform.LINUX_AMD64,
      // The Dockerfile copies only these; the rest of the repo must not change the image hash.
      ignoreMode: IgnoreMode.DOCKER,
      exclude: ['**', '!package.json', '!package-lock.json', '!tsconfig.json', '!lib/**'],
    });
    const modelServiceAccount = cluster.addServiceAccount('ModelServer', {
      name: MODEL_SERVICE_ACCOUNT,
      namespace: MODEL_NAMESPACE,
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    modelServiceAccount.node.addDependency(modelNamespace);
    grantObjects(
      modelServiceAccount.role,
      lake,
      lake.artifacts,
      'read',
      '',
      "model pods download the artifact (model.tar.gz) of the version they serve, which can be any run's output in the artifacts bucket",
    );
    grantObjects(
      modelServiceAccount.role,
      lake,
      lake.raw,
      'write',
      REQUEST_LOG_PREFIX,
      'model pods write their request log under predictions/<deployment>/v<version>/',
    );
    Validations.of(modelServiceAccount.role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: INLINE_POLICY_REASON,
    });

    // ---- the prediction router behind an internal NLB ----
    const nlb = new elbv2.NetworkLoadBalancer(this, 'PredictionNlb', {
      vpc,
      internetFacing: false,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      crossZoneEnabled: true,
      deletionProtection: retain,
    });
    const routerTargets = new elbv2.NetworkTargetGroup(this, 'RouterTargets', {
      vpc,
      port: ROUTER_PORT,
      protocol: elbv2.Protocol.TCP,
      targetType: elbv2.TargetType.IP,
      deregistrationDelay: Duration.seconds(30),
      healthCheck: { protocol: elbv2.Protocol.HTTP, path: '/healthz', interval: Duration.seconds(10) },
    });
    nlb.addListener('Http', { port: 80, protocol: elbv2.Protocol.TCP, defaultTargetGroups: [routerTargets] });
    // Router pods get VPC addresses on the nodes' (cluster) security group; the NLB has none.
    cluster.clusterSecurityGroup.addIngressRule(
      ec2.Peer.ipv4(SERVING_VPC_CIDR),
      ec2.Port.tcp(ROUTER_PORT),
      'Internal NLB (API Gateway VPC link) to the prediction router pods',
    );
    const lbController = this.addTargetGroupController(cluster, vpc, routerTargets);
    const router = cluster.addManifest('Router', ...routerManifests(routerTargets.targetGroupArn));
    router.node.addDependency(modelNamespace, lbController);

    // ---- API Gateway ----
    this.api = new PredictionApi(this, 'Predictions', {
      config,
      loadBalancer: nlb,
      logsEncryptionKey: lake.logsKey,
    });

    // ---- the deployer: Lambda in the VPC, mapped to a namespace-scoped Role ----
    const deployerSg = new ec2.SecurityGroup(this, 'DeployerSecurityGroup', {
      vpc,
      description: 'Serving deployer Lambda: HTTPS to the EKS API endpoint only',
      allowAllOutbound: false,
    });
    deployerSg.addEgressRule(
      ec2.Peer.ipv4(SERVING_VPC_CIDR),
      ec2.Port.tcp(443),
      'EKS API endpoint in the VPC',
    );
    cluster.clusterSecurityGroup.addIngressRule(
      deployerSg,
      ec2.Port.tcp(443),
      'Serving deployer to the EKS API',
    );
    const deployer = new MlopsFunction(this, 'Deployer', {
      entry: lambdaEntry('serving-deployer'),
      description: 'mlops-kit serving deployer: applies SeldonDeployments and the router routes',
      timeout: Duration.minutes(1),
      memorySize: config.lambda.memorySizeMb,
      // Runs once per promotion or canary step, never per request.
      reservedConcurrentExecutions: workflowReservedConcurrency(config),
      logRetention,
      logsEncryptionKey: lake.logsKey,
      removalPolicy,
      environment: {
        CLUSTER_NAME: cluster.clusterName,
        CLUSTER_ENDPOINT: cluster.clusterEndpoint,
        CLUSTER_CA: cluster.clusterCertificateAuthorityData,
        MODEL_NAMESPACE,
        MODEL_IMAGE: this.image.imageUri,
        MODEL_REPLICAS: String(serving.modelReplicas),
        CANARY_TRAFFIC_PERCENT: String(serving.canaryTrafficPercent),
        REQUEST_LOG_URI: `s3://${lake.raw.bucketName}/${REQUEST_LOG_PREFIX}`,
        REQUEST_LOG_SAMPLE_RATE: String(serving.requestLogSampleRate),
      },
    });
    this.deployer = deployer;
    placeInVpc(deployer, vpc, deployerSg);
    const deployerAccess = new eks.CfnAccessEntry(this, 'DeployerAccess', {
      clusterName: cluster.clusterName,
      principalArn: deployer.function.role!.roleArn,
      type: 'STANDARD',
      kubernetesGroups: [DEPLOYER_GROUP],
    });
    const rbac = cluster.addManifest('DeployerRbac', ...deployerRbac());
    rbac.node.addDependency(modelNamespace, seldon);
    deployerAccess.node.addDependency(rbac);

    // ---- the canary: promotion event → state machine → deployer steps, decided by an alarm ----
    const canaryAlarm = this.canaryAlarm(this.api, serving.canaryTrafficPercent);
    this.canary = this.canaryStateMachine(
      deployer.function,
      canaryAlarm,
      props.canaryWindow ?? Duration.minutes(10),
      {
        logRetention,
        logsKey: lake.logsKey,
        removalPolicy,
      },
    );
    new events.Rule(this, 'OnPromotion', {
      description: 'A model version entered Production or became champion: roll it out as a canary',
      eventBus: props.eventBus,
      eventPattern: promotionEventPattern(),
      targets: [new targets.SfnStateMachine(this.canary.stateMachine)],
    });

    new CfnOutput(this, 'ClusterName', {
      value: cluster.clusterName,
      description: 'EKS cluster serving models',
    });
    new CfnOutput(this, 'ClusterAdminRoleArn', {
      value: this.adminRole.roleArn,
      description: 'Assume to administer the cluster: aws eks update-kubeconfig --role-arn …',
    });
    new CfnOutput(this, 'ModelServerImageUri', {
      value: this.image.imageUri,
      description: 'Model server image',
    });

    this.acknowledgeFindings({ cluster, nodegroup, vpc, nlb, config, alarm: canaryAlarm, deployer });
  }

  /**
   * The AWS Load Balancer Controller, only to keep the router pods registered in the CDK-owned
   * target group (TargetGroupBinding); its role may describe, and register targets in that group.
   */
  private addTargetGroupController(
    cluster: eks.Cluster,
    vpc: ec2.IVpc,
    targetGroup: elbv2.NetworkTargetGroup,
  ): Construct {
    const account = cluster.addServiceAccount('LoadBalancerController', {
      name: 'aws-load-balancer-controller',
      namespace: 'kube-system',
      identityType: eks.IdentityType.POD_IDENTITY,
    });
    account.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['elasticloadbalancing:RegisterTargets', 'elasticloadbalancing:DeregisterTargets'],
        resources: [targetGroup.targetGroupArn],
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
      { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: INLINE_POLICY_REASON },
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
        region: this.region,
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

  /** 5XX share or p99 latency of the prediction API during the canary window. */
  private canaryAlarm(api: PredictionApi, canaryPercent: number): cloudwatch.CompositeAlarm {
    // A canary failing every request moves the stage's error rate by its share; alarm at half of it
    // (at least 1 %), so a broken canary trips it and ordinary noise on the stable version does not.
    const errorThreshold = Math.max(0.01, canaryPercent / 200);
    const errors = new cloudwatch.Alarm(this, 'CanaryErrors', {
      alarmDescription: `Prediction 5XX rate above ${(errorThreshold * 100).toFixed(1)} % (canary share ${canaryPercent} %)`,
      metric: api.metricServerErrorRate(),
      threshold: errorThreshold,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const latency = new cloudwatch.Alarm(this, 'CanaryLatency', {
      alarmDescription: 'Prediction p99 latency above 1 s',
      metric: api.metricLatencyP99(),
      threshold: 1000,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    return new cloudwatch.CompositeAlarm(this, 'CanaryHealth', {
      alarmDescription: 'The canary is unhealthy: roll it back',
      alarmRule: cloudwatch.AlarmRule.anyOf(errors, latency),
    });
  }

  private canaryStateMachine(
    fn: lambda.IFunction,
    alarm: cloudwatch.CompositeAlarm,
    window: Duration,
    options: { logRetention: logs.RetentionDays; logsKey: kms.IKey; removalPolicy: RemovalPolicy },
  ): MlopsStateMachine {
    const step = (id: string, payload: Record<string, unknown>, resultPath: string) =>
      new tasks.LambdaInvoke(this, id, {
        lambdaFunction: fn,
        payload: sfn.TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultPath,
        taskTimeout: sfn.Timeout.duration(Duration.minutes(2)),
      });
    const deployment = sfn.JsonPath.stringAt('$.deploy.deployment');
    const apply = step('Apply', { action: 'apply', detail: sfn.JsonPath.objectAt('$.detail') }, '$.deploy');
    const available = step('WaitUntilAvailable', { action: 'status', deployment }, '$.status');
    // The deployer throws NotReady until the operator reports the pods available (up to 10 min).
    available.addRetry({
      errors: ['NotReady'],
      interval: Duration.seconds(15),
      maxAttempts: 40,
      backoffRate: 1,
    });
    const route = step('Route', { action: 'route' }, '$.route');
    const wait = new sfn.Wait(this, 'CanaryWindow', { time: sfn.WaitTime.duration(window) });
    const check = new tasks.CallAwsService(this, 'CheckCanaryAlarm', {
      service: 'cloudwatch',
      action: 'describeAlarms',
      parameters: { AlarmNames: [alarm.alarmName], AlarmTypes: ['CompositeAlarm'] },
      iamAction: 'cloudwatch:DescribeAlarms',
      iamResources: [alarm.alarmArn],
      resultSelector: { 'state.$': '$.CompositeAlarms[0].StateValue' },
      resultPath: '$.alarm',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
    });
    const promote = step('Promote', { action: 'promote', deployment }, '$.result');
    const rollback = step('Rollback', { action: 'rollback', deployment }, '$.result').next(
      new sfn.Fail(this, 'CanaryRolledBack', {
        error: 'CanaryRolledBack',
        cause:
          'The canary alarm was in ALARM at the end of the canary window; the stable version serves 100 %.',
      }),
    );
    const definition = apply.next(
      new sfn.Choice(this, 'AnythingToDo')
        .when(sfn.Condition.stringEquals('$.deploy.plan', 'none'), new sfn.Succeed(this, 'AlreadyServed'))
        .otherwise(
          available
            .next(route)
            .next(
              new sfn.Choice(this, 'IsCanary')
                .when(
                  sfn.Condition.stringEquals('$.deploy.plan', 'canary'),
                  wait
                    .next(check)
                    .next(
                      new sfn.Choice(this, 'CanaryHealthy')
                        .when(sfn.Condition.stringEquals('$.alarm.state', 'ALARM'), rollback)
                        .otherwise(promote),
                    ),
                )
                .otherwise(new sfn.Succeed(this, 'Deployed')),
            ),
        ),
    );
    return new MlopsStateMachine(this, 'Canary', {
      definition,
      comment: 'Roll out a promoted model version: canary, watch the alarm, promote or roll back',
      timeout: Duration.hours(2),
      logRetention: options.logRetention,
      logsEncryptionKey: options.logsKey,
      removalPolicy: options.removalPolicy,
    });
  }

  private acknowledgeFindings(parts: {
    cluster: eks.Cluster;
    nodegroup: eks.Nodegroup;
    vpc: ec2.Vpc;
    nlb: elbv2.NetworkLoadBalancer;
    config: EnvironmentConfig;
    alarm: cloudwatch.CompositeAlarm;
    deployer: MlopsFunction;
  }): void {
    const { cluster, nodegroup, vpc, nlb, config } = parts;
    const managed = (name: string) =>
      `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/${name}]`;
    if (!config.serving.privateEndpoint) {
      Validations.of(cluster).acknowledge({
        id: 'AwsSolutions-EKS1',
        reason:
          'serving.privateEndpoint is false in this environment so engineers reach the API without a VPN; every call still needs an IAM identity with an access entry, and publicEndpointCidrs narrows the source addresses. Production is private-only (config validation enforces it).',
      });
    }
    Validations.of(cluster.role).acknowledge({
      id: managed('AmazonEKSClusterPolicy'),
      reason:
        'The EKS control plane role needs AmazonEKSClusterPolicy; AWS maintains it with the service and documents no narrower alternative.',
    });
    for (const policy of [
      'AmazonEKSWorkerNodePolicy',
      'AmazonEKS_CNI_Policy',
      'AmazonEC2ContainerRegistryReadOnly',
    ]) {
      Validations.of(nodegroup.role).acknowledge({
        id: managed(policy),
        reason: `Managed node groups require ${policy} on the node role (kubelet registration, the VPC CNI assigning pod addresses, image pulls); AWS updates it with the node AMIs.`,
      });
    }
    const kubectl = cluster.node.tryFindChild('KubectlProvider');
    if (kubectl !== undefined) {
      const reason = (what: string) =>
        `The kubectl provider is aws-eks-v2's deploy-time custom resource (kubectl and helm in a Lambda); ${what}.`;
      Validations.of(kubectl).acknowledge(
        {
          id: managed('service-role/AWSLambdaBasicExecutionRole'),
          reason: reason('CDK attaches the basic execution policy to its functions for their logs'),
        },
        {
          id: managed('service-role/AWSLambdaVPCAccessExecutionRole'),
          reason: reason(
            'it runs in the VPC to reach a private API endpoint, which needs the ENI permissions of this policy',
          ),
        },
        {
          id: managed('AmazonEC2ContainerRegistryReadOnly'),
          reason: reason('it reads OCI Helm charts from ECR with this policy'),
        },
        {
          id: `AwsSolutions-IAM4[Policy::${JSON.stringify(this.resolve(kubectlEcrPublicPolicy(kubectl)))}]`,
          reason: reason('it may read charts from ECR Public, which this conditional managed policy allows'),
        },
        {
          id: 'AwsSolutions-L1',
          reason: reason('CDK pins its runtime to the one the kubectl layer is built for'),
        },
        {
          id: 'NIST.800.53.R5-LambdaConcurrency',
          reason: reason('it runs only during CloudFormation deployments, one resource at a time'),
        },
        {
          id: 'NIST.800.53.R5-LambdaDLQ',
          reason: reason('CloudFormation invokes it synchronously and fails the deployment on error'),
        },
        { id: 'NIST.800.53.R5-IAMNoInlinePolicy', reason: INLINE_POLICY_REASON },
      );
      const handler = kubectl.node.tryFindChild('Handler')?.node.defaultChild as
        | lambda.CfnFunction
        | undefined;
      if (handler !== undefined) {
        Validations.of(kubectl).acknowledge({
          id: `AwsSolutions-IAM5[Resource::<${this.resolve(this.getLogicalId(handler))}.Arn>:*]`,
          reason: reason(
            'its provider framework invokes every version of the handler function, and only that function',
          ),
        });
      }
    }
    const machine = this.canary!.stateMachine;
    Validations.of(machine.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${this.resolve(this.getLogicalId(parts.deployer.function.node.defaultChild as lambda.CfnFunction))}.Arn>:*]`,
      reason:
        'The canary state machine invokes the deployer function (any version of that one function); it invokes nothing else.',
    });
    const eventsRole = machine.node.tryFindChild('EventsRole');
    if (eventsRole !== undefined) {
      Validations.of(eventsRole).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: INLINE_POLICY_REASON,
      });
    }
    const flowLogRole = vpc.node.tryFindChild('all');
    if (flowLogRole !== undefined) {
      Validations.of(flowLogRole).acknowledge({
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: INLINE_POLICY_REASON,
      });
    }
    Validations.of(vpc).acknowledge(
      {
        id: 'NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW',
        reason:
          'Only the public subnets route to the internet gateway, and they hold only the NAT gateways; nodes, pods, the NLB and the deployer live in private subnets.',
      },
      {
        id: 'NIST.800.53.R5-VPCDefaultSecurityGroupClosed',
        reason:
          'Nothing in the serving VPC uses its default security group: the cluster, endpoints and deployer each have their own. Closing it would add a custom-resource Lambda for a group no resource joins.',
      },
    );
    for (const id of ['CanaryErrors', 'CanaryLatency']) {
      const child = this.node.tryFindChild(id);
      if (child !== undefined) {
        Validations.of(child).acknowledge({
          id: 'NIST.800.53.R5-CloudWatchAlarmAction',
          reason:
            'This alarm feeds the CanaryHealth composite alarm, whose state the canary state machine reads to promote or roll back; it notifies no one by design.',
        });
      }
    }
    Validations.of(parts.alarm).acknowledge({
      id: 'NIST.800.53.R5-CloudWatchAlarmAction',
      reason:
        'The canary state machine reads this alarm state at the end of each canary window and rolls back on ALARM: the action is the rollback, not a notification.',
    });
    Validations.of(nlb).acknowledge(
      {
        id: 'AwsSolutions-ELB2',
        reason:
          'Network Load Balancers only write access logs for TLS listeners; this internal TCP listener is reached only through the API Gateway VPC link, whose access logs record every request.',
      },
      {
        id: 'NIST.800.53.R5-ELBLoggingEnabled',
        reason:
          'Network Load Balancers only write access logs for TLS listeners; this internal TCP listener is reached only through the API Gateway VPC link, whose access logs record every request.',
      },
      {
        id: 'NIST.800.53.R5-ELBv2ACMCertificateRequired',
        reason:
          'The NLB is internal and reached only by the API Gateway VPC link inside the VPC; clients use TLS to API Gateway, and a certificate here would need a private CA the kit does not assume.',
      },
    );
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
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':iam::aws:policy/AmazonElasticContainerRegistryPublicReadOnly',
          ],
        ],
      },
      { Ref: 'AWS::NoValue' },
    ],
  };
}

/** The event pattern of promotions the deployer rolls out. */
export function promotionEventPattern(): events.EventPattern {
  return {
    source: [PROMOTION_EVENT_SOURCE],
    detailType: [PROMOTION_DETAIL_TYPE],
    detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
  };
}

/** Helm values of the Seldon Core operator. */
export function seldonValues(): Record<string, unknown> {
  return {
    // No phone-home to Seldon's usage server.
    usageMetrics: { enabled: false },
    // The kit's router does what Istio or Ambassador would: no mesh, no Ambassador annotations.
    istio: { enabled: false },
    ambassador: { enabled: false },
    // The executor (service orchestrator) fronts each predictor on port 8000.
    executor: { enabled: true },
    certManager: { enabled: false },
    crd: { create: true },
    singleNamespace: false,
    manager: { cpuRequest: '100m', memoryRequest: '128Mi', cpuLimit: '500m', memoryLimit: '512Mi' },
  };
}

/** Graviton instance families (m7g, c6gn, t4g, …) need the arm64 image and AMI. */
export function isGraviton(instanceType: string): boolean {
  return /^[a-z]+\d+[a-z]*g[a-z]*\./.test(instanceType);
}

/** The router's ConfigMap, Deployment, Service, PodDisruptionBudget and TargetGroupBinding. */
export function routerManifests(targetGroupArn: string): Record<string, unknown>[] {
  const labels = { 'app.kubernetes.io/name': ROUTER_NAME, [MANAGED_BY_LABEL]: MANAGED_BY };
  const metadata = (name: string) => ({ name, namespace: ROUTER_NAMESPACE, labels });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(ROUTER_BASE_CONFIGMAP),
      data: { 'default.conf': BASE_CONFIG },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(ROUTER_NAME),
      spec: {
        replicas: 2,
        selector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels },
          spec: {
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 101,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'topology.kubernetes.io/zone',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } },
              },
            ],
            containers: [
              {
                name: 'nginx',
                image: ROUTER_IMAGE,
                ports: [{ name: 'http', containerPort: ROUTER_PORT }],
                readinessProbe: { httpGet: { path: '/healthz', port: ROUTER_PORT }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: '/healthz', port: ROUTER_PORT }, periodSeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'base', mountPath: '/etc/nginx/conf.d', readOnly: true },
                  { name: 'routes', mountPath: '/etc/nginx/routes', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
              },
            ],
            volumes: [
              { name: 'base', configMap: { name: ROUTER_BASE_CONFIGMAP } },
              // Written by the deployer; absent until the first model is deployed (nginx then has no routes).
              { name: 'routes', configMap: { name: ROUTER_ROUTES_CONFIGMAP, optional: true } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(ROUTER_NAME),
      spec: {
        type: 'ClusterIP',
        selector: { 'app.kubernetes.io/name': ROUTER_NAME },
        ports: [{ name: 'http', port: ROUTER_PORT, targetPort: ROUTER_PORT }],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metadata(ROUTER_NAME),
      spec: { minAvailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } } },
    },
    {
      apiVersion: 'elbv2.k8s.aws/v1beta1',
      kind: 'TargetGroupBinding',
      metadata: metadata(ROUTER_NAME),
      spec: {
        serviceRef: { name: ROUTER_NAME, port: ROUTER_PORT },
        targetGroupARN: targetGroupArn,
        targetType: 'ip',
      },
    },
  ];
}

/** The deployer's Role (only what it calls) and the binding of its access-entry group to it. */
export function deployerRbac(): Record<string, unknown>[] {
  const metadata = {
    name: 'mlops-serving-deployer',
    namespace: MODEL_NAMESPACE,
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
  };
  return [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata,
      rules: [
        {
          apiGroups: ['machinelearning.seldon.io'],
          resources: ['seldondeployments'],
          verbs: ['get', 'list', 'create', 'update'],
        },
        // create cannot be limited by name in RBAC; get and update can.
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: [ROUTER_ROUTES_CONFIGMAP],
          verbs: ['get', 'update'],
        },
        { apiGroups: ['apps'], resources: ['deployments'], resourceNames: [ROUTER_NAME], verbs: ['patch'] },
      ],
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'mlops-serving-deployer' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: DEPLOYER_GROUP }],
    },
  ];
}

/**
 * Grants a role object reads or writes under one prefix of a lake bucket (with the lake key, only
 * through S3), and acknowledges the prefix wildcard by the name cdk-nag prints for it.
 */
function grantObjects(
  role: iam.IRole,
  lake: DataLake,
  bucket: s3.IBucket,
  access: 'read' | 'write',
  prefix: string,
  why: string,
): void {
  const here = Stack.of(role);
  const arn = Stack.of(bucket) === here ? bucket.bucketArn : Stack.of(bucket).exportValue(bucket.bucketArn);
  const resolved = here.resolve(arn) as { 'Fn::ImportValue'?: string; 'Fn::GetAtt'?: string[] };
  const nagName = resolved['Fn::ImportValue'] ?? `<${resolved['Fn::GetAtt']?.[0] ?? 'unknown'}.Arn>`;
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: access === 'read' ? ['s3:GetObject'] : ['s3:PutObject', 's3:AbortMultipartUpload'],
      resources: [`${arn}/${prefix}*`],
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: access === 'read' ? ['kms:Decrypt'] : ['kms:GenerateDataKey', 'kms:Decrypt'],
      resources: [lake.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${here.region}.amazonaws.com` } },
    }),
  );
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::${nagName}/${prefix}*]`,
    reason: `Object access is granted on the key prefix "${prefix || '(whole bucket)'}" only: ${why}.`,
  });
}

/**
 * Attaches the house function to the VPC. MlopsFunction has no VPC option yet (functions elsewhere
 * reach only AWS endpoints); the deployer must reach a private EKS endpoint.
 */
function placeInVpc(fn: MlopsFunction, vpc: ec2.IVpc, securityGroup: ec2.ISecurityGroup): void {
  const cfn = fn.function.node.defaultChild as lambda.CfnFunction;
  cfn.vpcConfig = {
    subnetIds: vpc.selectSubnets({ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }).subnetIds,
    securityGroupIds: [securityGroup.securityGroupId],
  };
  const role = fn.function.role as iam.Role;
  role.addManagedPolicy(
    iam.ManagedPolicy.fromAwsManagedPolicyName('service-role/AWSLambdaVPCAccessExecutionRole'),
  );
  Validations.of(role).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]',
    reason:
      'Lambda creates and deletes the network interfaces of a VPC function with ec2:*NetworkInterface* calls that only authorize on Resource "*"; AWS publishes this managed policy for exactly that and nothing else.',
  });
}
