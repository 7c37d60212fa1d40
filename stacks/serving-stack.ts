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
 * Composed of `ServingNetwork` → `ModelCluster` → `ServingMetricsAgent` → `PredictionRouter` →
 * `PredictionApi` → `ServingDeployer` → `CanaryRollout` (`lib/constructs/`); this stack maps the environment config
 * onto their props and grants model pods their data.
 *
 * @example
 * new ServingStack(stage, 'Serving', { config, lake: dataLake.lake });
 */
import { CfnOutput, type Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as ecrAssets from 'aws-cdk-lib/aws-ecr-assets';
import type * as eks from 'aws-cdk-lib/aws-eks-v2';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { CanaryRollout } from '../lib/constructs/canary-rollout';
import { type DataLake, MODEL_ARTIFACT_KEYS } from '../lib/constructs/data-lake';
import { ModelCluster } from '../lib/constructs/model-cluster';
import { NodeAutoscaler } from '../lib/constructs/node-autoscaler';
import { RequestAutoscaler } from '../lib/constructs/request-autoscaler';
import type { MlopsFunction } from '../lib/constructs/mlops-function';
import type { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { PredictionApi } from '../lib/constructs/prediction-api';
import { stageApiCallers } from '../lib/constructs/mlops-api';
import { PredictionRouter } from '../lib/constructs/prediction-router';
import { ServingDeployer } from '../lib/constructs/serving-deployer';
import { ServingMetricsAgent } from '../lib/constructs/serving-metrics-agent';
import { ServingNetwork } from '../lib/constructs/serving-network';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';

/** Where model pods write request logs in the raw bucket. */
import { REQUEST_LOG_PREFIX } from '../lib/serving/request-log';
export { REQUEST_LOG_PREFIX };

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
   * The environment's house defaults, resolved once by the stage.
   * @default - resolved from `config` (a stack built alone, in a test)
   */
  readonly house?: HouseDefaults;
}

/**
 * The constructs below create their resources in this stack's scope (see each one's TSDoc), so
 * every logical id is the one the stack had before it was composed of them.
 */
export class ServingStack extends Stack {
  readonly network?: ServingNetwork;
  readonly models?: ModelCluster;
  readonly router?: PredictionRouter;
  readonly api?: PredictionApi;
  readonly deployment?: ServingDeployer;
  readonly rollout?: CanaryRollout;
  readonly metricsAgent?: ServingMetricsAgent;
  readonly nodeAutoscaler?: NodeAutoscaler;
  /** KEDA, when `serving.autoscaling.targetRequestsPerSecond` is set. */
  readonly requestAutoscaler?: RequestAutoscaler;
  readonly vpc?: ec2.Vpc;
  readonly cluster?: eks.Cluster;
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
    const { serving, api } = config;
    // The stage's house defaults; the constructs below take the lake's logs key and the removal policy.
    const defaults = houseFor(config, lake.logsKey, props.house);
    const house = { logsEncryptionKey: lake.logsKey, removalPolicy: defaults.removalPolicy };
    const logRetention = defaults.logs.logRetention;
    this.zones = serving.availabilityZones.map((suffix) => `${this.region}${suffix}`);

    const network = new ServingNetwork(this, 'Network', {
      availabilityZones: this.zones,
      natGateways: config.name === 'production' ? serving.availabilityZones.length : 1,
      flowLogRetention: logRetention,
      // What model pods do in S3, the only S3 calls the endpoints pass (beside nodes' image layers).
      s3Statements: [
        new iam.PolicyStatement({
          actions: ['s3:GetObject'],
          resources: MODEL_ARTIFACT_KEYS.map((k) => lake.artifacts.arnForObjects(k)),
        }),
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [lake.raw.arnForObjects(`${REQUEST_LOG_PREFIX}*`)] }),
      ],
      ...house,
    });
    const models = new ModelCluster(this, 'Models', {
      vpc: network.vpc,
      environmentName: config.name,
      nodeInstanceType: serving.nodeInstanceType,
      minNodes: serving.minNodes,
      desiredNodes: serving.desiredNodes,
      maxNodes: serving.maxNodes,
      privateEndpoint: serving.privateEndpoint,
      publicEndpointCidrs: serving.publicEndpointCidrs,
      addonVersions: serving.addonVersions,
      images: serving.images,
      dockerHubCredentialArn: serving.dockerHubCredentialArn,
      ...(serving.githubCredentialArn !== undefined && { githubCredentialArn: serving.githubCredentialArn }),
      keda: serving.autoscaling.targetRequestsPerSecond !== undefined,
      endpointCidrs: network.endpointCidrs,
      logRetention,
      logsEncryptionKey: lake.logsKey,
      removalPolicy: house.removalPolicy,
    });
    lake.artifacts.grantObjects(
      models.modelServer.role,
      { readKeys: MODEL_ARTIFACT_KEYS },
      'model pods download the model.tar.gz of the version they serve (a training or release output) and nothing else: no training or holdout data',
    );
    lake.raw.grantObjects(
      models.modelServer.role,
      { put: REQUEST_LOG_PREFIX },
      'model pods write their request log under predictions/deployment=<deployment>/dt=<day>/, one PutObject per batch',
    );
    // Per-version serving metrics (and Container Insights) to CloudWatch: the canary alarms read them.
    // Model pods scale on CPU (their HorizontalPodAutoscalers); nodes follow within min/maxNodes.
    const nodeAutoscaler = new NodeAutoscaler(this, 'NodeAutoscaler', {
      cluster: models.cluster,
      nodegroup: models.nodegroup,
      image: models.imageMirror.k8sReferenceOf(serving.images.clusterAutoscaler),
    });
    // With a request target, KEDA scales model pods on requests as well as CPU (CloudWatch's Requests).
    const requestAutoscaler =
      serving.autoscaling.targetRequestsPerSecond === undefined
        ? undefined
        : new RequestAutoscaler(this, 'RequestAutoscaler', {
            cluster: models.cluster,
            registry: models.imageMirror.ghcrRegistry,
            images: {
              operator: models.imageMirror.ghcrPinned(serving.images.kedaOperator),
              metricsApiServer: models.imageMirror.ghcrPinned(serving.images.kedaMetricsApiServer),
              webhooks: models.imageMirror.ghcrPinned(serving.images.kedaAdmissionWebhooks),
            },
            dependsOn: [models.nodegroup],
          });
    const metricsAgent = new ServingMetricsAgent(this, 'MetricsAgent', {
      cluster: models.cluster,
      nodes: models.nodegroup,
      addonVersion: serving.addonVersions.cloudwatchObservability,
    });
    const router = new PredictionRouter(this, 'Router', {
      cluster: models.cluster,
      vpc: network.vpc,
      vpcCidr: network.cidr,
      namespace: models.modelNamespace,
      image: models.images.router,
      deletionProtection: house.removalPolicy === RemovalPolicy.RETAIN,
    });
    const predictions = new PredictionApi(this, 'Predictions', {
      environmentName: config.name,
      loadBalancer: router.loadBalancer,
      auth: api.auth,
      throttleRateLimit: api.predictions.throttleRateLimit,
      throttleBurstLimit: api.predictions.throttleBurstLimit,
      waf: api.waf,
      wafRateLimitPer5Minutes: api.predictions.wafRateLimitPer5Minutes,
      ...stageApiCallers(this, config),
      logRetention,
      ...house,
    });
    const deployment = new ServingDeployer(this, 'Deployment', {
      cluster: models.cluster,
      vpc: network.vpc,
      vpcCidr: network.cidr,
      namespace: models.modelNamespace,
      operator: models.seldon,
      modelImageUri: models.image.imageUri,
      requestLogUri: `s3://${lake.raw.bucketName}/${REQUEST_LOG_PREFIX}`,
      modelReplicas: serving.modelReplicas,
      modelAutoscaling: serving.autoscaling,
      canaryTrafficPercent: serving.canaryTrafficPercent,
      requestLogSampleRate: serving.requestLogSampleRate,
      memorySize: config.lambda.memorySizeMb,
      reservedConcurrentExecutions: defaults.workflowFunction.reservedConcurrentExecutions,
      logRetention,
      ...house,
    });
    // A predictor's kedaSpec needs KEDA's CRDs and the CloudWatch authentication in place.
    if (requestAutoscaler !== undefined) deployment.node.addDependency(requestAutoscaler);
    const rollout = new CanaryRollout(this, 'Rollout', {
      deployer: deployment.function,
      window: props.canaryWindow,
      eventBus: props.eventBus,
      logRetention,
      ...house,
    });

    new CfnOutput(this, 'ClusterName', { value: models.cluster.clusterName, description: 'EKS cluster serving models' });
    new CfnOutput(this, 'ClusterAdminRoleArn', {
      value: models.adminRole.roleArn,
      description: 'Assume (in an MFA session; a profile with mfa_serial) to administer the cluster: aws eks update-kubeconfig --role-arn …',
    });
    new CfnOutput(this, 'ModelServerImageUri', { value: models.image.imageUri, description: 'Model server image' });

    [this.network, this.models, this.router, this.api] = [network, models, router, predictions];
    [this.deployment, this.rollout, this.metricsAgent] = [deployment, rollout, metricsAgent];
    this.nodeAutoscaler = nodeAutoscaler;
    this.requestAutoscaler = requestAutoscaler;
    [this.vpc, this.cluster, this.image, this.adminRole] = [network.vpc, models.cluster, models.image, models.adminRole];
    [this.deployer, this.canary] = [deployment.function, rollout.stateMachine];
  }
}
