/**
 * The serving constructs on their own, in a bare stack (no config, no data lake): what each builds
 * from its props, that each brings the cdk-nag acknowledgements of its own resources, and the
 * sentence each gives for a prop it cannot build from.
 */
import { App, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS, resolveEnvironment } from '../../lib/config';
import { CanaryRollout, type CanaryRolloutProps } from '../../lib/constructs/canary-rollout';
import { ServingMetricsAgent } from '../../lib/constructs/serving-metrics-agent';
import { MlopsFunction, PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { ModelCluster, type ModelClusterProps } from '../../lib/constructs/model-cluster';
import { nagPacksFor } from '../../lib/constructs/nag';
import { PredictionApi, type PredictionApiProps } from '../../lib/constructs/prediction-api';
import { PredictionRouter } from '../../lib/constructs/prediction-router';
import { ServingDeployer, type ServingDeployerProps } from '../../lib/constructs/serving-deployer';
import { SERVING_VPC_CIDR, ServingNetwork, type ServingNetworkProps } from '../../lib/constructs/serving-network';
import { PropsError } from '../../lib/constructs/validate-props';
import { DEPLOYER_GROUP } from '../../lib/serving-infra/rbac';
import { acknowledgementsIn, expectNoUnacknowledgedFindings } from '../stack-synth';

const ZONES = ['us-east-1a', 'us-east-1b', 'us-east-1c'];

/** A stack in a concrete environment whose zones are {@link ZONES} (no lookup, as ServingStack does). */
class BareStack extends Stack {
  override get availabilityZones(): string[] {
    return ZONES;
  }
}

const bareStack = (): Stack =>
  new BareStack(new App({ context: FEATURE_FLAGS }), 'Bare', {
    env: { account: '123456789012', region: 'us-east-1' },
  });

const network = (stack: Stack, props: Partial<ServingNetworkProps> = {}) =>
  new ServingNetwork(stack, 'Network', { availabilityZones: ZONES.slice(0, 2), ...props });

const clusterProps = (vpc: ec2.IVpc, props: Partial<ModelClusterProps> = {}): ModelClusterProps => ({
  vpc,
  environmentName: 'test',
  nodeInstanceType: 't3.large',
  minNodes: 1,
  desiredNodes: 2,
  maxNodes: 3,
  addonVersions: {
    vpcCni: 'v1.20.4-eksbuild.1',
    coredns: 'v1.12.4-eksbuild.1',
    kubeProxy: 'v1.36.0-eksbuild.1',
    podIdentityAgent: 'v1.3.8-eksbuild.2',
    metricsServer: 'v0.8.0-eksbuild.1',
  },
  images: resolveEnvironment('staging', { env: {} }).serving.images,
  dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf',
  ...props,
});

/** One bare stack with a network and a model cluster, built on first use, for the failure cases. */
const cluster = (() => {
  let built: { s: Stack; net: ServingNetwork; models: ModelCluster } | undefined;
  return () => {
    if (built) return built;
    const s = bareStack();
    const net = network(s);
    return (built = { s, net, models: new ModelCluster(s, 'Models', clusterProps(net.vpc)) });
  };
})();

/**
 * Every serving construct wired as ServingStack wires them for production (NLB deletion protection,
 * WAF, reserved concurrency: what NIST 800-53 asks), in one bare stack, synthesized once.
 */
function composed() {
  const stack = bareStack();
  const logsEncryptionKey = new kms.Key(stack, 'LogsKey', { enableKeyRotation: true });
  const net = network(stack, { natGateways: 2, logsEncryptionKey, flowLogRetention: logs.RetentionDays.ONE_WEEK });
  const models = new ModelCluster(stack, 'Models', clusterProps(net.vpc, { nodeInstanceType: 'm7g.large', logsEncryptionKey }));
  const router = new PredictionRouter(stack, 'Router', {
    cluster: models.cluster,
    vpc: net.vpc,
    vpcCidr: net.cidr,
    namespace: models.modelNamespace,
    image: models.images.router,
    deletionProtection: true,
  });
  new PredictionApi(stack, 'Predictions', {
    environmentName: 'test',
    loadBalancer: router.loadBalancer,
    auth: 'iam',
    throttleRateLimit: 5,
    throttleBurstLimit: 10,
    waf: true,
    logsEncryptionKey,
  });
  const deployer = new ServingDeployer(stack, 'Deployment', {
    cluster: models.cluster,
    vpc: net.vpc,
    vpcCidr: net.cidr,
    namespace: models.modelNamespace,
    operator: models.seldon,
    modelImageUri: models.image.imageUri,
    requestLogUri: 's3://requests/predictions/',
    canaryTrafficPercent: 30,
    reservedConcurrentExecutions: 5,
    logsEncryptionKey,
  });
  new ServingMetricsAgent(stack, 'MetricsAgent', { cluster: models.cluster, nodes: models.nodegroup });
  new CanaryRollout(stack, 'Rollout', {
    deployer: deployer.function,
    window: Duration.minutes(5),
    logsEncryptionKey,
  });
  return { stack, template: Template.fromStack(stack) };
}

const { stack, template } = composed();

describe('ServingNetwork', () => {
  it('spans the given zones with private node subnets, the NAT gateways asked for and flow logs', () => {
    template.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: SERVING_VPC_CIDR });
    template.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false }, 6);
    template.resourceCountIs('AWS::EC2::NatGateway', 2);
    template.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 7, KmsKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'ALL' });
  });

  it('reaches S3, ECR, STS, Logs and EKS Auth through endpoints that admit HTTPS from the VPC only', () => {
    template.resourcePropertiesCountIs('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Interface' }, 6);
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Interface endpoints'),
      SecurityGroupIngress: [Match.objectLike({ CidrIp: SERVING_VPC_CIDR, FromPort: 443, ToPort: 443 })],
    });
  });

  it('takes another address range', () => {
    const t = Template.fromStack(((s) => (network(s, { cidr: '10.7.0.0/16' }), s))(bareStack()));
    t.hasResourceProperties('AWS::EC2::VPC', { CidrBlock: '10.7.0.0/16' });
    t.resourceCountIs('AWS::EC2::NatGateway', 1);
  });

  it.each([
    [{ availabilityZones: [] }, /availabilityZones must name at least one entry, but none was provided/],
    [{ availabilityZones: ['us-east-1a', 'us-east-1a'] }, /must not repeat an entry, but "us-east-1a" was provided twice/],
    [{ natGateways: 0 }, /natGateways must be an integer from 1 to 2, but 0 was provided/],
    [{ natGateways: 3 }, /natGateways must be an integer from 1 to 2, but 3 was provided/],
    [{ cidr: '10.40.0.0' }, /cidr must be an IPv4 CIDR block such as 10.40.0.0\/16, but "10.40.0.0" was provided/],
  ] as const)('fails if given %o', (props, message) => {
    expect(() => network(bareStack(), props)).toThrow(PropsError);
    expect(() => network(bareStack(), props)).toThrow(message);
  });
});

describe('ModelCluster', () => {
  it('runs a private-only endpoint by default, with secrets encrypted by its own key', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      ResourcesVpcConfig: { EndpointPrivateAccess: true, EndpointPublicAccess: false },
      EncryptionConfig: [{ Provider: { KeyArn: Match.anyValue() }, Resources: ['secrets'] }],
    });
    template.hasResource('AWS::KMS::Key', {
      Properties: { Description: 'mlops-kit test EKS secrets envelope encryption', PendingWindowInDays: 7 },
      DeletionPolicy: 'Delete',
    });
  });

  it('gives Graviton instance types arm64 nodes and an arm64 model server image', () => {
    template.hasResourceProperties('AWS::EKS::Nodegroup', {
      InstanceTypes: ['m7g.large'],
      AmiType: 'AL2023_ARM_64_STANDARD',
      ScalingConfig: { MinSize: 1, DesiredSize: 2, MaxSize: 3 },
    });
    const assembly = (stack.node.root as App).synth();
    const images = assembly.artifacts
      .filter((a): a is AssetManifestArtifact => a instanceof AssetManifestArtifact)
      .flatMap((a) => Object.values(a.contents.dockerImages ?? {}));
    expect(images.map((i) => i.source)).toEqual([
      expect.objectContaining({ dockerFile: 'lib/serving/Dockerfile', platform: 'linux/arm64' }),
    ]);
  });

  it('installs the Seldon operator and runs model pods as a Pod Identity service account', () => {
    template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', { Release: 'seldon-core', ChartAssetURL: Match.anyValue() });
    template.hasResourceProperties('AWS::EKS::PodIdentityAssociation', {
      Namespace: 'seldon',
      ServiceAccount: 'model-server',
    });
  });

  it('opens a public endpoint narrowed to given CIDRs and keeps a retained key 30 days', () => {
    const s = bareStack();
    new ModelCluster(
      s,
      'Models',
      clusterProps(network(s).vpc, {
        privateEndpoint: false,
        publicEndpointCidrs: ['203.0.113.0/24'],
        removalPolicy: RemovalPolicy.RETAIN,
      }),
    );
    const t = Template.fromStack(s);
    t.hasResourceProperties('AWS::EKS::Cluster', {
      ResourcesVpcConfig: { EndpointPublicAccess: true, PublicAccessCidrs: ['203.0.113.0/24'] },
    });
    t.hasResource('AWS::KMS::Key', { Properties: { PendingWindowInDays: 30 }, DeletionPolicy: 'Retain' });
    const acks = acknowledgementsIn(s).map((a) => a.id);
    expect(acks.filter((id) => id.endsWith('::AwsSolutions-EKS1'))).toHaveLength(1);
  });

  it.each([
    [{ nodeInstanceType: 'large' }, /nodeInstanceType must be an EC2 instance type such as t3.large, but "large" was provided/],
    [{ maxNodes: 0 }, /maxNodes must be an integer at least 1, but 0 was provided/],
    [{ minNodes: 4 }, /minNodes must be an integer from 0 to 3, but 4 was provided/],
    [{ desiredNodes: 5 }, /desiredNodes \(between minNodes 1 and maxNodes 3\) must be an integer from 1 to 3, but 5 was provided/],
    [{ publicEndpointCidrs: ['0.0.0.0/0'] }, /publicEndpointCidrs must only be given with privateEndpoint: false/],
    [
      { privateEndpoint: false, publicEndpointCidrs: ['203.0.113.7'] },
      /publicEndpointCidrs entry must be an IPv4 CIDR block such as 10.40.0.0\/16, but "203.0.113.7" was provided/,
    ],
    [
      { privateEndpoint: false, publicEndpointCidrs: ['0.0.0.0/0'] },
      /publicEndpointCidrs entry must be narrower than the whole internet, but "0.0.0.0\/0" was provided/,
    ],
    [{ nodeVolumeGiB: 8 }, /nodeVolumeGiB must be an integer from 20 to 16384, but 8 was provided/],
  ] as const)('fails if given %o', (props, message) => {
    const s = bareStack();
    const vpc = new ec2.Vpc(s, 'Vpc', { natGateways: 0, maxAzs: 1 });
    expect(() => new ModelCluster(s, 'Models', clusterProps(vpc, props))).toThrow(message);
  });
});

describe('PredictionRouter', () => {
  it('fronts the router pods with an internal NLB on an IP target group at the router port', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'deletion_protection.enabled', Value: 'true' }]),
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      Port: 8080,
      HealthCheckPath: '/healthz',
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      CidrIp: SERVING_VPC_CIDR,
      FromPort: 8080,
      ToPort: 8080,
    });
  });

  it('lets the load balancer controller register targets in the router target group only', () => {
    const policies = Object.values(
      template.findResources('AWS::IAM::Policy', {
        Properties: { Roles: [{ Ref: Match.stringLikeRegexp('LoadBalancerControllerRole') }] },
      }),
    );
    const statements = policies.flatMap((p) => p['Properties']['PolicyDocument']['Statement']);
    const writes = statements.find((s) => JSON.stringify(s['Action']).includes('RegisterTargets'));
    expect(writes['Resource']).toEqual({ Ref: expect.stringMatching(/^RouterTargets/) });
    const manifests = JSON.stringify(template.findResources('Custom::AWSCDK-EKS-KubernetesResource'));
    expect(manifests).toContain('TargetGroupBinding');
  });

  it('fails if the VPC range is not a CIDR block', () => {
    const { s, net, models } = cluster();
    expect(
      () =>
        new PredictionRouter(s, 'Router', {
          cluster: models.cluster,
          vpc: net.vpc,
          vpcCidr: 'the VPC',
          namespace: models.modelNamespace,
          image: models.images.router,
        }),
    ).toThrow(/PredictionRouter vpcCidr must be an IPv4 CIDR block such as 10.40.0.0\/16, but "the VPC" was provided/);
  });
});

describe('PredictionApi', () => {
  it('routes Seldon and OIP paths over the VPC link, IAM-authorized and throttled as asked', () => {
    template.resourceCountIs('AWS::ApiGateway::VpcLink', 1);
    template.resourcePropertiesCountIs(
      'AWS::ApiGateway::Method',
      { AuthorizationType: 'AWS_IAM', Integration: Match.objectLike({ ConnectionType: 'VPC_LINK' }) },
      2,
    );
    template.hasResourceProperties('AWS::ApiGateway::RestApi', {
      Description: 'mlops-kit test model predictions (Seldon v1, OIP v2)',
    });
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [Match.objectLike({ ThrottlingRateLimit: 5, ThrottlingBurstLimit: 10 })],
    });
  });

  it.each([
    [{ auth: 'sigv4' }, /PredictionApi auth must be 'iam' or 'none', but "sigv4" was provided/],
    [{ throttleRateLimit: -1 }, /throttleRateLimit must be a number from 0 to \d+, but -1 was provided/],
    [{ throttleBurstLimit: 1.5 }, /throttleBurstLimit must be an integer at least 0, but 1.5 was provided/],
  ] as const)('fails if given %o', (props, message) => {
    const s = bareStack();
    const nlb = new elbv2.NetworkLoadBalancer(s, 'Nlb', {
      vpc: new ec2.Vpc(s, 'Vpc', { natGateways: 0, maxAzs: 1 }),
    });
    const base: PredictionApiProps = {
      environmentName: 'test',
      loadBalancer: nlb,
      auth: 'iam',
      throttleRateLimit: 1,
      throttleBurstLimit: 1,
    };
    expect(() => new PredictionApi(s, 'Api', { ...base, ...(props as Partial<PredictionApiProps>) })).toThrow(message);
  });
});

describe('ServingDeployer', () => {
  it('runs in the VPC with HTTPS to the VPC as its only egress, with defaults for what it was not given', () => {
    const [deployer] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('serving deployer'), VpcConfig: Match.anyValue() },
      }),
    );
    // Given: the share and the log location; defaulted: one replica per predictor, every request logged.
    expect(deployer!['Properties']['Environment']['Variables']).toMatchObject({
      CANARY_TRAFFIC_PERCENT: '30',
      REQUEST_LOG_URI: 's3://requests/predictions/',
      MODEL_REPLICAS: '1',
      REQUEST_LOG_SAMPLE_RATE: '1',
    });
    template.hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('^Serving deployer'),
      SecurityGroupEgress: [{ CidrIp: SERVING_VPC_CIDR, FromPort: 443, ToPort: 443, IpProtocol: 'tcp', Description: Match.anyValue() }],
    });
  });

  it("manages CloudWatch alarms under its stack's canary prefix only, and is told the thresholds", () => {
    const [deployer] = Object.values(
      template.findResources('AWS::Lambda::Function', {
        Properties: { Description: Match.stringLikeRegexp('serving deployer'), VpcConfig: Match.anyValue() },
      }),
    );
    expect(deployer!['Properties']['Environment']['Variables']).toMatchObject({
      CANARY_ALARM_PREFIX: `${stack.stackName}-canary-`,
      CANARY_ERROR_RATE: '0.05',
      CANARY_LATENCY_P99_SECONDS: '1',
    });
    const statements = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, unknown>[])
      .filter((st) => JSON.stringify(st['Action']).includes('cloudwatch:PutMetricAlarm'));
    expect(statements).toHaveLength(1);
    expect(statements[0]!['Action']).toEqual(['cloudwatch:DeleteAlarms', 'cloudwatch:DescribeAlarms', 'cloudwatch:PutMetricAlarm']);
    expect(JSON.stringify(statements[0]!['Resource'])).toMatch(
      new RegExp(`:cloudwatch:[^"]*:alarm:${stack.stackName}-canary-\\*"`),
    );
  });

  it('is mapped to the deployer group, bound to a namespaced Role', () => {
    template.hasResourceProperties('AWS::EKS::AccessEntry', { KubernetesGroups: [DEPLOYER_GROUP], Type: 'STANDARD' });
    const rbac = JSON.stringify(template.findResources('Custom::AWSCDK-EKS-KubernetesResource'));
    expect(rbac).toContain('RoleBinding');
    expect(rbac).not.toContain('ClusterRole');
  });

  it.each([
    [{ modelReplicas: 0 }, /ServingDeployer modelReplicas must be an integer at least 1, but 0 was provided/],
    [{ canaryTrafficPercent: 101 }, /canaryTrafficPercent must be an integer from 0 to 100, but 101 was provided/],
    [{ requestLogSampleRate: 2 }, /requestLogSampleRate must be a number from 0 to 1, but 2 was provided/],
    [{ vpcCidr: '10.40.0.0/33' }, /vpcCidr must be an IPv4 CIDR block such as 10.40.0.0\/16, but "10.40.0.0\/33" was provided/],
    [{ canaryAlarmPrefix: 'a b' }, /canaryAlarmPrefix must be 1 to 120 letters, digits, '.', '_' or '-', but "a b" was provided/],
    [{ canaryErrorRate: 1.5 }, /canaryErrorRate must be a number from 0 to 1, but 1.5 was provided/],
  ] as const)('fails if given %o', (props, message) => {
    const { s, net, models } = cluster();
    const base: ServingDeployerProps = {
      cluster: models.cluster,
      vpc: net.vpc,
      vpcCidr: net.cidr,
      namespace: models.modelNamespace,
      operator: models.seldon,
      modelImageUri: 'image',
      requestLogUri: 's3://requests/predictions/',
    };
    expect(() => new ServingDeployer(new Construct(s, message.source), 'Deployment', { ...base, ...props })).toThrow(
      message,
    );
  });
});

describe('CanaryRollout', () => {
  it('starts on Production and champion promotions of the registry', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['mlops-kit.registry'],
        'detail-type': ['ModelVersionPromoted'],
        detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
      },
    });
  });

  it("waits the given window, then judges the canary version by its own alarms (none stage-wide in the template)", () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const definition = JSON.stringify(machine!['Properties']['DefinitionString']);
    expect(definition).toContain('\\"CanaryWindow\\":{\\"Type\\":\\"Wait\\",\\"Seconds\\":300');
    // The check, the promotion and the rollback all name the canary version the rollout started.
    for (const action of ['check', 'promote', 'rollback']) {
      expect(definition).toContain(
        `\\"action\\":\\"${action}\\",\\"deployment.$\\":\\"$.deploy.deployment\\",\\"version.$\\":\\"$.deploy.canaryVersion\\"`,
      );
    }
    expect(definition).not.toContain('describeAlarms');
  });

  it.each([
    ['a 30 s window', { window: Duration.seconds(30) }, /window must be from 1 minute to 1 hour, but 30 seconds was provided/],
    ['a 2 h window', { window: Duration.hours(2) }, /window must be from 1 minute to 1 hour, but 2 hours was provided/],
  ] as const)('fails if given %s', (_, props, message) => {
    const s = bareStack();
    const fn = new MlopsFunction(s, 'Fn', { entry: `${PROJECT_ROOT}test/fixtures/lambdas/echo.ts`, description: 'echo' });
    const base: CanaryRolloutProps = { deployer: fn };
    expect(() => new CanaryRollout(s, 'Rollout', { ...base, ...props })).toThrow(message);
  });
});

describe('ServingMetricsAgent', () => {
  it('installs the CloudWatch observability add-on, its agent given a role through Pod Identity', () => {
    const addon = template.findResources('AWS::EKS::Addon', {
      Properties: { AddonName: 'amazon-cloudwatch-observability' },
    });
    const [props] = Object.values(addon).map((r) => r['Properties']);
    expect(props['PodIdentityAssociations']).toEqual([
      { ServiceAccount: 'cloudwatch-agent', RoleArn: { 'Fn::GetAtt': [expect.stringMatching(/^MetricsAgentRole/), 'Arn'] } },
    ]);
    const values = JSON.stringify(props['ConfigurationValues']);
    // The scrape renames the model server's series into SERVING_METRICS with the Model/ModelVersion dimensions.
    for (const s of ['mlops_model_requests_total', 'Requests', 'LatencyP99', 'ModelVersion', 'MlopsKit/Serving']) {
      expect(values).toContain(s);
    }
    const [role] = Object.entries(template.findResources('AWS::IAM::Role')).filter(([id]) => id.startsWith('MetricsAgentRole'));
    const trust = JSON.stringify(role![1]['Properties']['AssumeRolePolicyDocument']);
    expect(trust).toContain('pods.eks.amazonaws.com');
    expect(trust).toContain('sts:TagSession');
  });

  it('may put metric data in the serving and Container Insights namespaces only', () => {
    const policies = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, unknown>[])
      .filter((st) => JSON.stringify(st['Action']).includes('cloudwatch:PutMetricData'));
    expect(policies).toEqual([
      {
        Action: 'cloudwatch:PutMetricData',
        Effect: 'Allow',
        Resource: '*',
        Condition: { StringEquals: { 'cloudwatch:namespace': ['MlopsKit/Serving', 'ContainerInsights'] } },
      },
    ]);
  });
});

describe('acknowledgements', () => {
  it.each(nagPacksFor({ name: 'production' }).map((p) => [p.readPackName, p] as const))(
    'each construct acknowledges the %s findings of its own resources (none left in a stack of only them)',
    (_, pack) => {
      expectNoUnacknowledgedFindings(pack.validateScope(stack));
    },
  );
});
