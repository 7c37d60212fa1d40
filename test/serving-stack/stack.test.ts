import { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { nagPacksFor } from '../../lib/constructs/nag';
import { isGraviton, SELDON_CORE_VERSION } from '../../lib/constructs/model-cluster';
import { DEPLOYER_GROUP } from '../../lib/serving-infra/rbac';
import { acknowledgementsIn, allowStatements, expectNoUnacknowledgedFindings, newApp } from '../stack-synth';
import { bundleInContext, contextSources, readDockerfile } from '../images/dockerfile';
import { MODEL_SERVER_CONTEXT } from '../../lib/constructs/image-context';
import { AWS_ENVIRONMENTS, buildStage, synthServing } from './synth';

const environments = synthServing();

describe.each(AWS_ENVIRONMENTS)('ServingStack in %s', (name) => {
  const { template, config, stage } = environments[name];
  const production = name === 'production';

  it('spans the configured zones with private node subnets and NAT per config', () => {
    const zones = config.serving.availabilityZones.length;
    // Per zone: ingress (NAT), nodes, and the interface endpoints' own subnet.
    template.resourcePropertiesCountIs('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false }, zones * 3);
    template.resourceCountIs('AWS::EC2::NatGateway', production ? zones : 1);
    template.hasResourceProperties('AWS::EC2::Subnet', {
      AvailabilityZone: `${config.region}${config.serving.availabilityZones[0]}`,
    });
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    for (const service of ['ecr.api', 'ecr.dkr', 'sts', 'logs']) {
      template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
        ServiceName: Match.stringLikeRegexp(`\\.${service.replace('.', '\\.')}$`),
        VpcEndpointType: 'Interface',
        PrivateDnsEnabled: true,
      });
    }
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
  });

  it('runs a pinned EKS version with a private endpoint (no public CIDRs configured), logging and encrypted secrets', () => {
    template.hasResourceProperties('AWS::EKS::Cluster', {
      Version: '1.36',
      ResourcesVpcConfig: { EndpointPrivateAccess: true, EndpointPublicAccess: config.serving.publicEndpointCidrs.length > 0 },
      EncryptionConfig: [{ Provider: { KeyArn: Match.anyValue() }, Resources: ['secrets'] }],
      Logging: {
        ClusterLogging: {
          EnabledTypes: Match.arrayWith([{ Type: 'api' }, { Type: 'audit' }, { Type: 'authenticator' }]),
        },
      },
      AccessConfig: { AuthenticationMode: 'API' },
    });
  });

  it('sizes the managed node group from config', () => {
    const s = config.serving;
    template.hasResourceProperties('AWS::EKS::Nodegroup', {
      InstanceTypes: [s.nodeInstanceType],
      AmiType: isGraviton(s.nodeInstanceType) ? 'AL2023_ARM_64_STANDARD' : 'AL2023_x86_64_STANDARD',
      ScalingConfig: { MinSize: s.minNodes, DesiredSize: s.desiredNodes, MaxSize: s.maxNodes },
    });
  });

  it(`installs the vendored Seldon Core operator chart ${SELDON_CORE_VERSION} from the asset bucket, with usage metrics and Istio off`, () => {
    template.hasResourceProperties('Custom::AWSCDK-EKS-HelmChart', {
      Release: 'seldon-core',
      ChartAssetURL: Match.anyValue(),
      Chart: Match.absent(),
      Repository: Match.absent(),
      Namespace: 'seldon-system',
    });
    // The values hold the mirror's registry (account and URL suffix), so they are an Fn::Join.
    const [chart] = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart', { Properties: { Release: 'seldon-core' } }));
    const values = JSON.stringify(chart!['Properties']['Values']).replace(/\\"/g, '"');
    for (const off of ['"usageMetrics":{"enabled":false}', '"istio":{"enabled":false}', '"ambassador":{"enabled":false}']) {
      expect(values).toContain(off);
    }
    expect(values).toContain('"executor":{"enabled":true');
  });

  it('binds the router to the NLB target group and keeps the deployer to its namespace Role', () => {
    const manifests = Object.values(template.findResources('Custom::AWSCDK-EKS-KubernetesResource')).map(
      (r) => JSON.stringify(r.Properties.Manifest),
    );
    expect(manifests.some((m) => m.includes('TargetGroupBinding') && m.includes('RouterTargets'))).toBe(true);
    const rbac = manifests.find((m) => m.includes('RoleBinding'))!;
    expect(rbac).toContain(DEPLOYER_GROUP);
    expect(rbac).not.toContain('ClusterRole');
    template.hasResourceProperties('AWS::EKS::AccessEntry', {
      KubernetesGroups: [DEPLOYER_GROUP],
      Type: 'STANDARD',
      PrincipalArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^DeployerRole'), 'Arn'] },
    });
  });

  it('fronts the router with an internal NLB reached through a VPC link', () => {
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internal',
    });
    template.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      TargetType: 'ip',
      Port: 8080,
      Protocol: 'TCP',
    });
    template.resourceCountIs('AWS::ApiGateway::VpcLink', 1);
  });

  it('serves the Seldon and OIP routes over the VPC link with IAM auth', () => {
    for (const [uri, params] of [
      ['/seldon/{namespace}/{deployment}/{proxy}', ['namespace', 'deployment', 'proxy']],
      ['/v2/{proxy}', ['proxy']],
    ] as const) {
      template.hasResourceProperties('AWS::ApiGateway::Method', {
        HttpMethod: 'ANY',
        AuthorizationType: 'AWS_IAM',
        Integration: {
          Type: 'HTTP_PROXY',
          ConnectionType: 'VPC_LINK',
          Uri: { 'Fn::Join': ['', ['http://', Match.anyValue(), uri]] },
          RequestParameters: Object.fromEntries(
            params.map((p) => [`integration.request.path.${p}`, `method.request.path.${p}`]),
          ),
        },
      });
    }
    const methods = Object.values(template.findResources('AWS::ApiGateway::Method'));
    expect(methods.every((m) => m.Properties.AuthorizationType === 'AWS_IAM')).toBe(true);
  });

  it(`puts a WAF web ACL in front of the API ${production ? 'in production' : 'only in production'}`, () => {
    template.resourceCountIs('AWS::WAFv2::WebACL', production ? 1 : 0);
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: [
        Match.objectLike({
          ThrottlingRateLimit: config.api.predictions.throttleRateLimit,
          ThrottlingBurstLimit: config.api.predictions.throttleBurstLimit,
        }),
      ],
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
  });

  it('starts the canary state machine on Production and champion promotions only', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['mlops-kit.registry'],
        'detail-type': ['ModelVersionPromoted'],
        detail: { $or: [{ stage: ['Production'] }, { alias: ['champion'] }] },
      },
      Targets: [Match.objectLike({ Arn: { Ref: Match.stringLikeRegexp('^Canary') } })],
    });
  });

  it("decides the canary from its own version's alarms (through the deployer) and retries while pods start", () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const definition = JSON.stringify(machine!.Properties.DefinitionString);
    expect(definition).toContain('\\"action\\":\\"check\\"');
    expect(definition).toContain('\\"ErrorEquals\\":[\\"NotReady\\"]');
    expect(definition).toContain('\\"action\\":\\"promote\\"');
    expect(definition).toContain('\\"action\\":\\"rollback\\"');
    template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
  });

  it('changes routes first and drops a predictor only after the router has had time to reload them', () => {
    const [machine] = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
    const definition = JSON.stringify(machine!.Properties.DefinitionString);
    for (const [routes, wait, change] of [
      ['PromoteRoutes', 'RouterReloadsPromotion', 'Promote'],
      ['RollbackRoutes', 'RouterReloadsRollback', 'Rollback'],
    ]) {
      expect(definition).toContain(`\\"${routes}\\":{\\"Next\\":\\"${wait}\\"`);
      expect(definition).toContain(`\\"${wait}\\":{\\"Type\\":\\"Wait\\",\\"Seconds\\":90,\\"Next\\":\\"${change}\\"}`);
    }
    expect(definition).toContain('\\"routesOnly\\":true');
    // The route step syncs only the deployment's own shard.
    expect(definition).toMatch(/\\"action\\":\\"route\\",\\"deployment.\$\\"/);
  });

  it('runs the deployer in the VPC with the cluster and canary settings it needs', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('serving deployer'),
      VpcConfig: { SubnetIds: Match.anyValue(), SecurityGroupIds: Match.anyValue() },
      Environment: {
        Variables: Match.objectLike({
          MODEL_NAMESPACE: 'seldon',
          MODEL_REPLICAS: String(config.serving.modelReplicas),
          CANARY_TRAFFIC_PERCENT: String(config.serving.canaryTrafficPercent),
          REQUEST_LOG_SAMPLE_RATE: String(config.serving.requestLogSampleRate),
          CLUSTER_ENDPOINT: Match.anyValue(),
          MODEL_IMAGE: Match.anyValue(),
        }),
      },
    });
  });

  it('gives model pods only artifact reads and single-request request-log writes', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('ModelServerRole') }] },
    });
    const statements = Object.values(policies).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as { Action: string | string[] }[],
    );
    const actions = statements.flatMap((s) => ([] as string[]).concat(s.Action)).sort();
    expect([...new Set(actions)]).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
      's3:GetObject',
      's3:PutObject',
    ]);
    expect(JSON.stringify(statements)).toContain('/predictions/*');
  });

  it('grants no "*" or "service:*" action, and Resource "*" only to Describe-style calls', () => {
    const statements = allowStatements(template.toJSON());
    expect(statements.length).toBeGreaterThan(0);
    const broad = statements.flatMap((s) => s.actions.filter((a) => a === '*' || /^[a-z0-9-]+:\*$/i.test(a)));
    expect(broad).toEqual([]);
    const allowed = [
      /^xray:/,
      /^logs:/,
      /^kms:/,
      /^ec2:Describe/,
      /^elasticloadbalancing:Describe/,
      // The cluster autoscaler's discovery (lib/constructs/node-autoscaler.ts).
      /^autoscaling:Describe/,
      /^ec2:GetInstanceTypesFromInstanceRequirements$/,
      // KEDA's CloudWatch scaler reads the request counts (lib/constructs/request-autoscaler.ts).
      /^cloudwatch:GetMetricData$/,
    ];
    // PutMetricData authorizes on "*" only; the namespace condition is what narrows it.
    const namespaced = (s: (typeof statements)[number]) =>
      s.actions.every((a) => a === 'cloudwatch:PutMetricData') && JSON.stringify(s.condition ?? {}).includes('cloudwatch:namespace');
    const wide = statements
      .filter((s) => s.resources.includes('*') && !namespaced(s))
      .flatMap((s) =>
        s.actions.filter((a) => !allowed.some((re) => re.test(a))).map((a) => `${s.where}: ${a}`),
      );
    expect(wide).toEqual([]);
  });

  it('builds the model server image from lib/serving/Dockerfile for the node architecture', { timeout: 120_000 }, () => {
    const assembly = stage.synth();
    const manifest = assembly.artifacts.find(
      (a): a is AssetManifestArtifact => a instanceof AssetManifestArtifact && a.id.includes('Serving'),
    )!;
    const images = Object.values(manifest.contents.dockerImages ?? {});
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({
      dockerFile: 'lib/serving/Dockerfile',
      platform: isGraviton(config.serving.nodeInstanceType) ? 'linux/arm64' : 'linux/amd64',
    });
    // Every file the Dockerfile copies from its context is in the context the asset stages.
    const context = resolve(assembly.directory, images[0]!.source.directory!);
    const sources = contextSources(readDockerfile('lib/serving/Dockerfile'));
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((src) => !existsSync(join(context, src)))).toEqual([]);
    // Only the manifests and the lib/ directories the build reaches are in the context and its hash.
    expect(readdirSync(join(context, 'lib')).map((d) => `lib/${d}`).sort()).toEqual([...MODEL_SERVER_CONTEXT].sort());
    // The Dockerfile's build step bundles the server from the staged context alone (without Docker).
    const built = bundleInContext(context, 'lib/serving/Dockerfile');
    expect(built.failure).toBeUndefined();
    expect(built.written['out/server.mjs']).toBeGreaterThan(50_000);
  });

  it.each(nagPacksFor({ name }).map((p) => [p.readPackName, p] as const))(
    'has zero unacknowledged %s findings',
    (_, pack) => {
      expectNoUnacknowledgedFindings(pack.validateScope(stage));
    },
  );

  it('acknowledges findings only on specific constructs, each with a specific reason', () => {
    const acks = acknowledgementsIn(environments[name].stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) {
      // CDK itself acknowledges cfn-lint's literal-AZ warning on the stack when AZs are named
      // explicitly (core Stack._silenceLiteralAzWarning); every other acknowledgement is the kit's.
      if (ack.id === 'CloudFormation-Validate::W3010' && Stack.isStack(ack.scope)) continue;
      expect(Stack.isStack(ack.scope), `${ack.id} acknowledged on a whole stack (${ack.path})`).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(60);
    }
  });
});

describe('ServingStack in local', () => {
  it('is empty: local serves the same model server as a process (mlops serve)', () => {
    const { stack: serving } = buildStage(newApp(), resolveEnvironment('local', { env: {} }));
    expect(serving.cluster).toBeUndefined();
    expect(Template.fromStack(serving).toJSON()['Resources'] ?? {}).toEqual({});
  });
});

describe('Graviton detection', () => {
  it.each([
    ['m7g.large', true],
    ['c6gn.xlarge', true],
    ['t4g.medium', true],
    ['m5.large', false],
    ['t3.large', false],
    ['g5.xlarge', false],
  ])('%s → arm64 %s', (type, arm) => {
    expect(isGraviton(type)).toBe(arm);
  });
});
