/**
 * Issue 19, serving at 1 k req/s: model pods scale on CPU (the predictor's hpaSpec, read by
 * metrics-server), nodes follow (the cluster autoscaler, allowed to touch only the model node
 * group), and the prediction API's own throttle and WAF limits carry the traffic.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { environmentConfigSchema } from '../../lib/config/schema';
import { clusterAutoscalerValues, NodeAutoscaler } from '../../lib/constructs/node-autoscaler';
import { deployerEnvironment, deployerEnvShape } from '../../lib/serving-infra/requests';
import { KEDA_CLOUDWATCH_AUTH, renderSeldonDeployment } from '../../lib/serving-infra/seldon';
import { KEDA_CHART, KEDA_NAMESPACE, KEDA_OPERATOR_SERVICE_ACCOUNT } from '../../lib/constructs/request-autoscaler';
import { METRIC_NAMESPACES, SERVING_METRICS } from '../../lib/shared/operations';
import { z } from 'zod';
import { AWS_ENVIRONMENTS, synthServing } from './synth';

const environments = synthServing();

type Statement = { Action: string | string[]; Resource: unknown; Condition?: Record<string, any> };

/** The statements of the policies attached to the role a Pod Identity association names for `serviceAccount`. */
function podRoleStatements(template: Template, serviceAccount: string): Statement[] {
  const associations = Object.values(template.findResources('AWS::EKS::PodIdentityAssociation')).filter(
    (a) => a.Properties.ServiceAccount === serviceAccount,
  );
  expect(associations).toHaveLength(1);
  const role = (associations[0]!.Properties.RoleArn as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref?: string }[]).some((r) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[]);
}

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);

describe.each(AWS_ENVIRONMENTS)('Serving autoscaling in %s', (name) => {
  const { template } = environments[name];
  const config = resolveEnvironment(name);

  it('installs metrics-server as a pinned managed add-on (the autoscalers read CPU from it)', () => {
    template.hasResourceProperties('AWS::EKS::Addon', {
      AddonName: 'metrics-server',
      AddonVersion: config.serving.addonVersions.metricsServer,
    });
  });

  it('installs the cluster autoscaler from the pinned chart with the image of the config and the kit-made service account', () => {
    const charts = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).filter(
      (c) => c.Properties.Chart === 'cluster-autoscaler',
    );
    expect(charts).toHaveLength(1);
    const chart = charts[0]!.Properties;
    expect(chart.Version).toBe('9.43.1');
    expect(chart.Namespace).toBe('kube-system');
    const values = JSON.stringify(chart.Values);
    // Through the environment's registry.k8s.io pull-through cache, by digest.
    const [, tagAndDigest] = config.serving.images.clusterAutoscaler.split(':v');
    expect(values).toContain(`mlops-${name}-k8s/autoscaling/cluster-autoscaler\\"`);
    expect(values).toContain(`\\"tag\\":\\"v${tagAndDigest}\\"`);
    expect(values).toContain('\\"create\\":false');
  });

  it('lets the cluster autoscaler change only the model node group (tag condition) and never act on "*" beyond Describe', () => {
    const statements = podRoleStatements(template, 'cluster-autoscaler');
    const writes = statements.filter((s) => actions(s).some((a) => /SetDesiredCapacity|TerminateInstance/.test(a)));
    expect(writes).toHaveLength(1);
    expect(writes[0]!.Condition?.StringEquals?.['aws:ResourceTag/eks:nodegroup-name']).toBeDefined();
    for (const s of statements) {
      for (const a of actions(s)) expect(a).not.toMatch(/\*/);
      if (JSON.stringify(s.Resource) === '"*"') {
        for (const a of actions(s)) expect(a).toMatch(/:(Describe|GetInstanceTypesFromInstanceRequirements)/);
      }
    }
  });

  it('node group bounds are the config: the autoscaler has room to grow', () => {
    template.hasResourceProperties('AWS::EKS::Nodegroup', {
      ScalingConfig: { MinSize: config.serving.minNodes, MaxSize: config.serving.maxNodes },
    });
    expect(config.serving.maxNodes).toBeGreaterThan(config.serving.minNodes);
  });

  it('gives the deployer the autoscaling bounds and request target, which render a kedaSpec (CPU and CloudWatch requests) on every predictor', () => {
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment?.Variables?.MODEL_REPLICAS !== undefined,
    );
    const vars = fn!.Properties.Environment.Variables as Record<string, string>;
    expect(vars.MODEL_MAX_REPLICAS).toBe(String(config.serving.autoscaling.maxReplicas));
    expect(vars.MODEL_TARGET_CPU_UTILIZATION).toBe(String(config.serving.autoscaling.targetCpuUtilization));
    const env = z
      .object(deployerEnvShape)
      .parse({
        // The values CDK resolves only at deploy time (tokens) are stood in for.
        ...Object.fromEntries(Object.entries(vars).filter(([, v]) => typeof v === 'string')),
        CLUSTER_NAME: 'c',
        CLUSTER_ENDPOINT: 'https://x.example',
        CLUSTER_CA: 'ca',
        AWS_REGION: 'eu-west-1',
        MODEL_IMAGE: 'i',
        REQUEST_LOG_URI: 's3://raw/predictions/',
      });
    const { settings } = deployerEnvironment(env);
    const [sdep] = renderSeldonDeployment({
      model: 'wine',
      version: '2',
      artifactUri: 's3://a/m.tar.gz',
      image: 'i',
      replicas: settings.replicas,
      ...(settings.autoscaling && { autoscaling: settings.autoscaling }),
      canary: { version: '3', artifactUri: 's3://a/n.tar.gz', trafficPercent: 10 },
    });
    expect(vars.MODEL_TARGET_REQUESTS_PER_SECOND).toBe(String(config.serving.autoscaling.targetRequestsPerSecond));
    for (const p of sdep!.spec.predictors) {
      // KEDA owns the HorizontalPodAutoscaler: a second one from hpaSpec would fight it.
      expect(p.componentSpecs[0]!.hpaSpec).toBeUndefined();
      const version = p.labels['mlops-kit/model-version'];
      expect(p.componentSpecs[0]!.kedaSpec).toEqual({
        minReplicaCount: config.serving.modelReplicas,
        maxReplicaCount: config.serving.autoscaling.maxReplicas,
        pollingInterval: 30,
        cooldownPeriod: 300,
        triggers: [
          { type: 'cpu', metricType: 'Utilization', metadata: { value: String(config.serving.autoscaling.targetCpuUtilization) } },
          {
            type: 'aws-cloudwatch',
            authenticationRef: { name: KEDA_CLOUDWATCH_AUTH, kind: 'ClusterTriggerAuthentication' },
            metadata: expect.objectContaining({
              namespace: METRIC_NAMESPACES.serving,
              metricName: SERVING_METRICS.requests,
              dimensionName: 'Model;ModelVersion',
              dimensionValue: `wine;${version}`,
              metricStat: 'Sum',
              metricStatPeriod: '60',
              targetMetricValue: String(config.serving.autoscaling.targetRequestsPerSecond! * 60),
              awsRegion: 'eu-west-1',
            }),
          },
        ],
      });
    }
  });

  it('installs KEDA from the pinned chart with the kit-made operator service account, and the CloudWatch authentication by Pod Identity', () => {
    const charts = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).filter((c) => c.Properties.Chart === 'keda');
    expect(charts).toHaveLength(1);
    expect(charts[0]!.Properties).toMatchObject({ Version: KEDA_CHART.version, Namespace: KEDA_NAMESPACE });
    const values = JSON.stringify(charts[0]!.Properties.Values);
    expect(values).toContain(`mlops-${name}-ghcr`);
    expect(values).toContain('\\"create\\":false');
    const manifests = Object.values(template.findResources('Custom::AWSCDK-EKS-KubernetesResource')).map((m) =>
      JSON.stringify(m.Properties.Manifest),
    );
    const auth = manifests.filter((m) => m.includes('ClusterTriggerAuthentication'));
    expect(auth).toHaveLength(1);
    expect(auth[0]).toContain(KEDA_CLOUDWATCH_AUTH);
    expect(auth[0]).toContain('\\"provider\\":\\"aws\\"');
    // The Seldon operator renders kedaSpec only with its KEDA flag on.
    const seldon = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).find((c) => c.Properties.Release === 'seldon-core');
    expect(JSON.stringify(seldon!.Properties.Values)).toContain('\\"keda\\":{\\"enabled\\":true}');
  });

  it("lets KEDA's operator read CloudWatch metrics and nothing else", () => {
    const statements = podRoleStatements(template, KEDA_OPERATOR_SERVICE_ACCOUNT);
    expect(statements.flatMap(actions)).toEqual(['cloudwatch:GetMetricData']);
  });

  it("throttles the prediction stage at the config's prediction limits, apart from the registry and feature APIs", () => {
    template.hasResourceProperties('AWS::ApiGateway::Stage', {
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          ThrottlingRateLimit: config.api.predictions.throttleRateLimit,
          ThrottlingBurstLimit: config.api.predictions.throttleBurstLimit,
        }),
      ]),
    });
  });
});

describe('Prediction path limits in production', () => {
  const { template } = environments.production;
  const config = resolveEnvironment('production');

  it('carries 1,000 req/s: stage rate at least 1,000 and a WAF per-IP limit above 1,000 req/s over 5 minutes', () => {
    expect(config.api.predictions.throttleRateLimit).toBeGreaterThanOrEqual(1000);
    expect(config.api.predictions.wafRateLimitPer5Minutes).toBeGreaterThanOrEqual(1000 * 300);
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([
        Match.objectLike({
          Name: 'RateLimitPerIp',
          Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: config.api.predictions.wafRateLimitPer5Minutes } },
        }),
      ]),
    });
  });

  it('keeps the three stages within the account burst quota', () => {
    const c = config.api;
    expect(c.throttleBurstLimit * 2 + c.predictions.throttleBurstLimit).toBeLessThanOrEqual(config.accountQuotas.apiGatewayThrottleBurst);
  });
});

describe('Autoscaling config and props', () => {
  it('rejects maxReplicas below modelReplicas, with the reason', () => {
    const production = resolveEnvironment('production');
    const bad = { ...production, serving: { ...production.serving, autoscaling: { ...production.serving.autoscaling, maxReplicas: 1 } } };
    const result = environmentConfigSchema.safeParse(bad);
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('serving.autoscaling.maxReplicas must be at least serving.modelReplicas (3), but 1 was provided');
  });

  it.each(ENVIRONMENT_NAMES)('%s names a cluster autoscaler of the cluster minor', (name) => {
    expect(resolveEnvironment(name).serving.images.clusterAutoscaler).toMatch(/:v1\.36\.\d+@sha256:[0-9a-f]{64}$/);
  });

  it('fails if a request target comes without the ghcr.io credential KEDA\'s images need', () => {
    const production = resolveEnvironment('production');
    const { githubCredentialArn: _, ...serving } = production.serving;
    const result = environmentConfigSchema.safeParse({ ...production, serving });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error?.issues)).toContain('serving.githubCredentialArn must name the ghcr.io cache');
  });

  it('renders a CPU-only hpaSpec without a request target, and rejects a bad target or a missing region', () => {
    const base = { model: 'm', version: '1', artifactUri: 's3://a/b', image: 'i', replicas: 2 };
    const [cpu] = renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 4, targetCpuUtilization: 70 } });
    expect(cpu!.spec.predictors[0]!.componentSpecs[0]!.kedaSpec).toBeUndefined();
    expect(cpu!.spec.predictors[0]!.componentSpecs[0]!.hpaSpec).toMatchObject({ maxReplicas: 4 });
    expect(() =>
      renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 4, targetCpuUtilization: 70, targetRequestsPerSecond: 0, metricsRegion: 'us-east-1' } }),
    ).toThrow('autoscaling.targetRequestsPerSecond must be a number above 0 and at most 100000, but 0 was provided');
    expect(() => renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 4, targetCpuUtilization: 70, targetRequestsPerSecond: 100 } })).toThrow(
      'autoscaling.metricsRegion must be an AWS region such as us-east-1 when targetRequestsPerSecond is set, but undefined was provided',
    );
  });

  it('renders no hpaSpec when maxReplicas does not exceed replicas, and rejects bad bounds', () => {
    const base = { model: 'm', version: '1', artifactUri: 's3://a/b', image: 'i', replicas: 2 };
    const [fixed] = renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 2, targetCpuUtilization: 70 } });
    expect(fixed!.spec.predictors[0]!.componentSpecs[0]!.hpaSpec).toBeUndefined();
    expect(() => renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 0, targetCpuUtilization: 70 } })).toThrow(
      'autoscaling.maxReplicas must be a whole number of at least 1, but 0 was provided',
    );
    expect(() => renderSeldonDeployment({ ...base, autoscaling: { maxReplicas: 4, targetCpuUtilization: 5 } })).toThrow(
      'autoscaling.targetCpuUtilization must be a whole percentage from 10 to 100, but 5 was provided',
    );
  });

  it('puts a digest-pinned image into the chart values as tag@digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const v = clusterAutoscalerValues({ clusterName: 'c', region: 'r', repository: 'repo/ca', tag: 'v1.36.0', digest, scaleDownUnneededTime: '10m' });
    expect(v.image).toEqual({ repository: 'repo/ca', tag: `v1.36.0@${digest}` });
  });

  it('refuses an image with neither tag nor digest', async () => {
    const { App, Stack } = await import('aws-cdk-lib');
    const stack = new Stack(new App(), 'S');
    expect(() => new NodeAutoscaler(stack, 'N', { cluster: {} as never, nodegroup: {} as never, image: 'repo/ca' })).toThrow(
      'NodeAutoscaler image must be repository:tag or repository@sha256:<digest>, but "repo/ca" was provided',
    );
  });
});
