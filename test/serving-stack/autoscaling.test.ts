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
import { renderSeldonDeployment } from '../../lib/serving-infra/seldon';
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

  it('gives the deployer the autoscaling bounds, which render an hpaSpec on every predictor', () => {
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
    for (const p of sdep!.spec.predictors) {
      expect(p.componentSpecs[0]!.hpaSpec).toEqual({
        minReplicas: config.serving.modelReplicas,
        maxReplicas: config.serving.autoscaling.maxReplicas,
        metricsv2: [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: config.serving.autoscaling.targetCpuUtilization },
            },
          },
        ],
      });
    }
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
