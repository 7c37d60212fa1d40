import { type App, Stack, Stage } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ACCOUNT_QUOTAS, type EnvironmentConfig, resolveEnvironment } from '../../lib/config';
import {
  addDeployPreflight,
  addressesPerNode,
  checkApiThrottling,
  checkNodeAddresses,
  checkReservedConcurrency,
  collectStageDemand,
} from '../../lib/constructs/preflight';
import { FUNCTION_RUNTIME } from '../../lib/constructs/mlops-function';
import { MlopsStage, stageId } from '../../stacks/mlops-stage';
import { newApp } from '../stack-synth';
import { synthAll } from './synth';

const quotas = DEFAULT_ACCOUNT_QUOTAS;

describe('reserved concurrency', () => {
  const functions = (n: number, reserved: number) =>
    Array.from({ length: n }, (_, i) => ({ name: `Fn${i}`, reserved }));

  it('passes when the total leaves Lambda its 100 unreserved', () => {
    expect(checkReservedConcurrency(functions(9, 100), quotas)).toEqual([]);
  });

  it('fails if the total goes past the quota minus 100, naming the total, the quota and the functions', () => {
    const [problem] = checkReservedConcurrency([...functions(9, 100), ...functions(2, 10)], quotas);
    expect(problem).toMatch(
      /^reserved concurrency must total at most 900 \(accountQuotas\.lambdaConcurrency 1000 minus the 100 Lambda keeps unreserved\), but 920 was provided: Fn0 100, /,
    );
    expect(problem).toContain('Fn1 10.');
  });

  it('passes the same functions under a raised quota', () => {
    expect(
      checkReservedConcurrency([...functions(9, 100), ...functions(2, 10)], { ...quotas, lambdaConcurrency: 1020 }),
    ).toEqual([]);
  });
});

describe('API Gateway throttling', () => {
  const apis = (rateLimit: number, burstLimit: number) =>
    ['Registry', 'Features', 'Predictions'].map((name) => ({ name, rateLimit, burstLimit }));

  it('passes when the stages together stay within the account limits', () => {
    expect(checkApiThrottling(apis(3000, 1000), quotas)).toEqual([]);
  });

  it('fails if the stage rate limits add up past the account limit', () => {
    expect(checkApiThrottling(apis(4000, 1000), quotas)).toEqual([
      expect.stringMatching(
        /^API Gateway stage rate limits must total at most 10000 requests per second \(accountQuotas\.apiGatewayThrottleRps\), but 12000 was provided: Registry 4000, Features 4000, Predictions 4000\./,
      ),
    ]);
  });

  it('fails if the stage burst limits add up past the account burst', () => {
    expect(checkApiThrottling(apis(100, 2000), quotas)).toEqual([
      expect.stringMatching(/^API Gateway stage burst limits must total at most 5000 requests .* but 6000 was provided/),
    ]);
  });
});

describe('EKS node addresses', () => {
  it('counts every interface of a node, filled, at the larger figure of the families', () => {
    expect(addressesPerNode('m5.large')).toBe(3 * 12);
    expect(addressesPerNode('m6g.4xlarge')).toBe(8 * 30);
    expect(addressesPerNode('x9z.huge')).toBe(15 * 50);
  });

  it('passes a node group that fits its subnets at maximum size', () => {
    expect(
      checkNodeAddresses([{ name: 'Models', maxNodes: 9, instanceType: 'm5.large', subnetPrefixLengths: [19, 19, 19] }]),
    ).toEqual([]);
  });

  it('fails if the nodes at maximum size and their pods need more addresses than the subnets have', () => {
    expect(
      checkNodeAddresses([{ name: 'Models', maxNodes: 20, instanceType: 'm5.4xlarge', subnetPrefixLengths: [24, 24] }]),
    ).toEqual([
      "node group Models must fit its nodes and pods in its subnets' 502 addresses, but 4800 was provided (20 nodes of m5.4xlarge at 240 VPC CNI addresses each). Lower serving.maxNodes or choose an instance type with fewer interfaces.",
    ]);
  });
});

/**
 * A stage holding only what the preflight reads (inline functions, REST APIs), so failing and
 * passing synthesis is checked through the construct tree without bundling the kit's handlers.
 */
function smallStage(
  app: App,
  options: { reserved: readonly number[]; apiRates: readonly number[]; quotas?: Partial<typeof quotas> },
): Stage {
  const stage = new Stage(app, 'mlops-staging');
  const stack = new Stack(stage, 'Fns');
  options.reserved.forEach((reserved, i) => {
    new lambda.Function(stack, `Fn${i}`, {
      runtime: FUNCTION_RUNTIME,
      handler: 'index.handler',
      code: lambda.Code.fromInline('export const handler = async () => ({});'),
      reservedConcurrentExecutions: reserved,
    });
  });
  options.apiRates.forEach((rate, i) => {
    const api = new apigw.RestApi(stack, `Api${i}`, {
      deployOptions: { throttlingRateLimit: rate, throttlingBurstLimit: 100 },
    });
    api.root.addMethod('GET', new apigw.MockIntegration());
  });
  addDeployPreflight(stage, { accountQuotas: { ...quotas, ...options.quotas } });
  return stage;
}

describe('deploy preflight at synthesis', () => {
  it('fails synthesis if the functions of a stage reserve more than the quota allows', () => {
    const app = newApp();
    smallStage(app, { reserved: [300, 300, 310], apiRates: [] });
    expect(() => app.synth()).toThrow(
      /\[mlops-staging\] reserved concurrency must total at most 900 \(accountQuotas\.lambdaConcurrency 1000 .*\), but 910 was provided: Fns\/Fn0 300, Fns\/Fn1 300, Fns\/Fn2 310\./,
    );
  });

  it('synthesizes the same stage once accountQuotas.lambdaConcurrency is raised', () => {
    const app = newApp();
    const stage = smallStage(app, { reserved: [300, 300, 310], apiRates: [], quotas: { lambdaConcurrency: 1010 } });
    app.synth();
    const stack = stage.node.findChild('Fns') as Stack;
    const reserved = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).map(
      (f) => f['Properties']['ReservedConcurrentExecutions'],
    );
    expect(reserved).toEqual([300, 300, 310]);
  });

  it('fails synthesis if the API stages throttle above the account limit together', () => {
    const app = newApp();
    smallStage(app, { reserved: [], apiRates: [6000, 6000] });
    expect(() => app.synth()).toThrow(
      /API Gateway stage rate limits must total at most 10000 requests per second .* but 12000 was provided: Fns\/Api0\/DeploymentStage\.prod 6000, Fns\/Api1\/DeploymentStage\.prod 6000/,
    );
  });

  it('synthesizes the same APIs once accountQuotas.apiGatewayThrottleRps is raised', () => {
    const app = newApp();
    smallStage(app, { reserved: [], apiRates: [6000, 6000], quotas: { apiGatewayThrottleRps: 12_000 } });
    expect(() => app.synth()).not.toThrow();
  });
});

describe('production', () => {
  // The same production stage (nag off) the other infra tests read: one synthesis for all of them.
  const synthProduction = () => {
    const { stage, templates } = synthAll().production;
    return { production: { stage, templates: Object.values(templates) } };
  };

  it('deploys into a new account as it is: reserved concurrency totals at most 900', { timeout: 300_000 }, () => {
    const { templates } = synthProduction().production;
    const reserved = templates
      .flatMap((t) => Object.values(t.findResources('AWS::Lambda::Function')))
      .map((f) => f['Properties']['ReservedConcurrentExecutions'] as number | undefined)
      .filter((r) => r !== undefined);
    // Production does reserve (caps and guarantees for the request-serving functions) ...
    expect(reserved.length).toBeGreaterThanOrEqual(2);
    // ... within what a default account allows.
    expect(reserved.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(DEFAULT_ACCOUNT_QUOTAS.lambdaConcurrency - 100);
  });

  it("is what the preflight reads: every API stage's throttle and the model node group", { timeout: 300_000 }, () => {
    const { stage } = synthProduction().production;
    const config: EnvironmentConfig = stage.config;
    const { apis, nodeGroups } = collectStageDemand(stage);
    expect(apis.map((a) => a.name.split('/')[0])).toEqual(['Registry', 'FeatureStore', 'Serving']);
    // The prediction API has limits of its own (api.predictions): it carries model traffic.
    const p = config.api.predictions;
    expect(apis.map((a) => [a.rateLimit, a.burstLimit])).toEqual([
      [config.api.throttleRateLimit, config.api.throttleBurstLimit],
      [config.api.throttleRateLimit, config.api.throttleBurstLimit],
      [p.throttleRateLimit, p.throttleBurstLimit],
    ]);
    expect(nodeGroups).toEqual([
      {
        name: 'Serving/Cluster/NodegroupModels',
        maxNodes: config.serving.maxNodes,
        instanceType: config.serving.nodeInstanceType,
        subnetPrefixLengths: config.serving.availabilityZones.map(() => 19),
      },
    ]);
  });
});

describe('MlopsStage', () => {
  it('fails synthesis if an environment reserves more than its account quota allows', { timeout: 300_000 }, () => {
    const config = resolveEnvironment('staging', {
      env: {},
      overrides: { staging: { lambda: { reservedConcurrency: 100 }, accountQuotas: { lambdaConcurrency: 250 } } },
    });
    const app = newApp();
    new MlopsStage(app, stageId(config.name), { config, nag: false });
    // Two request-serving functions at 100, fifteen workflow steps at 10 (release, drift, quality and the outbox flush among them),
    // and the materialization writers at the Distributed Map's concurrency (20).
    expect(() => app.synth()).toThrow(
      /\[mlops-staging\] reserved concurrency must total at most 150 \(accountQuotas\.lambdaConcurrency 250 minus the 100 Lambda keeps unreserved\), but 370 was provided: Registry\/Registry\/Function 100, /,
    );
  });
});
