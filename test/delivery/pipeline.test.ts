/**
 * The delivery stack as `-c env=delivery` builds it, with three distinct accounts (tooling,
 * staging, production) so cross-account wiring is visible: the platform pipeline's stages and their
 * order, the approval before production, the customer-managed key on its artifacts, the synth and
 * check commands, the tag-triggered release pipeline, the roles each environment grants the tooling
 * account, and cdk-nag (AwsSolutions, NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1) with zero unacknowledged findings.
 */
import { App, Stack, Stage } from 'aws-cdk-lib';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, resolveDelivery } from '../../lib/config';
import { DeliveryAccess } from '../../lib/constructs/delivery-access';
import { MlopsStateMachine } from '../../lib/constructs/mlops-state-machine';
import { PredictionApi } from '../../lib/constructs/prediction-api';
import { deliveryNagPacks, nagPacksFor, validateOutsideStages } from '../../lib/constructs/nag';
import { createDeliveryApp } from '../../stacks/delivery-app';
import type { DeliveryStack } from '../../stacks/delivery-stack';
import { acknowledgementsIn, expectNoUnacknowledgedFindings, expectSpecificAcknowledgements, findingsOf } from '../stack-synth';

const TOOLING = '111111111111';
const STAGING = '222222222222';
const PRODUCTION = '333333333333';
const CONNECTION = 'arn:aws:codeconnections:eu-west-1:111111111111:connection/0a1b2c3d-0000-4000-8000-000000000001';

const context = {
  'delivery:account': TOOLING,
  'delivery:region': 'eu-west-1',
  'delivery:connectionArn': CONNECTION,
  'delivery:repository': 'acme/mlops-kit',
  'delivery:branch': 'main',
  'staging:account': STAGING,
  'staging:region': 'eu-west-1',
  'production:account': PRODUCTION,
  'production:region': 'eu-west-1',
};

let built: { stack: DeliveryStack; template: Template } | undefined;
function synthDelivery() {
  if (built) return built;
  const { app, stack } = createDeliveryApp({ delivery: resolveDelivery({ context, env: {} }), nag: false });
  app.synth();
  built = { stack, template: Template.fromStack(stack) };
  return built;
}
// Synthesis takes tens of seconds on a busy machine: in the hook, not in the first test's time.
beforeAll(() => {
  synthDelivery();
}, 300_000);

type Json = Record<string, any>;
const pipelineAt = (t: Template, pathPart: string): Json => {
  const found = Object.values(t.findResources('AWS::CodePipeline::Pipeline')).filter((r) =>
    String(r['Metadata']?.['aws:cdk:path']).includes(pathPart),
  );
  expect(found).toHaveLength(1);
  return found[0]!['Properties'];
};
/** The buildspec of the CodeBuild project a pipeline action runs, parsed. */
function buildSpecOf(t: Template, action: Json): Json {
  const ref = action['Configuration']['ProjectName']['Ref'] as string;
  const project = t.toJSON()['Resources'][ref];
  expect(project['Type']).toBe('AWS::CodeBuild::Project');
  return JSON.parse(project['Properties']['Source']['BuildSpec']);
}
const commandsOf = (spec: Json): string[] =>
  Object.values(spec['phases'] as Record<string, { commands?: string[] }>).flatMap((p) => p.commands ?? []);

describe('the platform pipeline', () => {
  it('runs Source, Build, UpdatePipeline, Assets, staging, then production', () => {
    const stages = pipelineAt(synthDelivery().template, '/Platform/')['Stages'].map((s: Json) => s['Name']);
    expect(stages).toEqual(['Source', 'Build', 'UpdatePipeline', 'Assets', 'mlops-staging', 'mlops-production']);
  });

  it('is a V2 pipeline sourced from the configured connection, repository and branch', () => {
    const p = pipelineAt(synthDelivery().template, '/Platform/');
    expect(p['PipelineType']).toBe('V2');
    const [source] = p['Stages'][0]['Actions'];
    expect(source['ActionTypeId']).toMatchObject({ Category: 'Source', Provider: 'CodeStarSourceConnection' });
    expect(source['Configuration']).toMatchObject({ ConnectionArn: CONNECTION, FullRepositoryId: 'acme/mlops-kit', BranchName: 'main' });
  });

  it('encrypts its artifacts with a customer-managed KMS key that rotates', () => {
    const { template } = synthDelivery();
    const store = pipelineAt(template, '/Platform/')['ArtifactStore'];
    expect(store['EncryptionKey']['Type']).toBe('KMS');
    const keyId = store['EncryptionKey']['Id']['Fn::GetAtt'][0] as string;
    const key = template.toJSON()['Resources'][keyId];
    expect(key['Type']).toBe('AWS::KMS::Key');
    expect(key['Properties']['EnableKeyRotation']).toBe(true);
    const bucketId = store['Location']['Ref'] as string;
    const bucket = template.toJSON()['Resources'][bucketId]['Properties'];
    expect(bucket['BucketEncryption']['ServerSideEncryptionConfiguration'][0]['ServerSideEncryptionByDefault']).toMatchObject({
      SSEAlgorithm: 'aws:kms',
    });
    expect(bucket['VersioningConfiguration']).toEqual({ Status: 'Enabled' });
  });

  it("synthesizes through CI's own script, then the delivery app, with the accounts it was deployed with", () => {
    const { template } = synthDelivery();
    const build = pipelineAt(template, '/Platform/')['Stages'][1]['Actions'][0];
    const spec = buildSpecOf(template, build);
    const commands = commandsOf(spec);
    expect(commands.slice(-2)).toEqual(['.ci/run', 'npx cdk synth -c env=delivery']);
    expect(spec['phases']['install']['runtime-versions']).toEqual({ nodejs: '22' });
    const ref = build['Configuration']['ProjectName']['Ref'] as string;
    const variables = Object.fromEntries(
      (template.toJSON()['Resources'][ref]['Properties']['Environment']['EnvironmentVariables'] as Json[]).map((v) => [v['Name'], v['Value']]),
    );
    expect(variables).toMatchObject({
      MLOPS_DELIVERY_ACCOUNT: TOOLING,
      MLOPS_DELIVERY_CONNECTION_ARN: CONNECTION,
      MLOPS_STAGING_ACCOUNT: STAGING,
      MLOPS_PRODUCTION_ACCOUNT: PRODUCTION,
    });
    expect(spec['artifacts']['base-directory']).toBe('cdk.out');
  });

  it('mutates itself before deploying anything', () => {
    const stage = pipelineAt(synthDelivery().template, '/Platform/')['Stages'][2];
    expect(stage['Actions'].map((a: Json) => a['Name'])).toEqual(['SelfMutate']);
  });

  it('deploys each stage through the target account\'s bootstrapped roles', () => {
    const stages = pipelineAt(synthDelivery().template, '/Platform/')['Stages'];
    for (const [name, account] of [['mlops-staging', STAGING], ['mlops-production', PRODUCTION]] as const) {
      const deploys = stages.find((s: Json) => s['Name'] === name)['Actions'].filter((a: Json) => a['ActionTypeId']['Provider'] === 'CloudFormation');
      expect(deploys.length).toBeGreaterThan(5);
      for (const a of deploys) {
        expect(JSON.stringify(a['RoleArn'])).toContain(`:iam::${account}:role/cdk-hnb659fds-deploy-role-${account}-eu-west-1`);
        if (a['Configuration']['ActionMode'] === 'CHANGE_SET_REPLACE') {
          expect(JSON.stringify(a['Configuration']['RoleArn'])).toContain(`cdk-hnb659fds-cfn-exec-role-${account}-eu-west-1`);
        }
      }
    }
  });

  it('smoke-tests staging after it deploys, as the staging smoke role, with the stage outputs', () => {
    const { template } = synthDelivery();
    const staging = pipelineAt(template, '/Platform/')['Stages'].find((s: Json) => s['Name'] === 'mlops-staging');
    const actions = staging['Actions'] as Json[];
    const smoke = actions.find((a) => a['Name'] === 'Smoke')!;
    const lastDeploy = Math.max(...actions.filter((a) => a['ActionTypeId']['Provider'] === 'CloudFormation').map((a) => a['RunOrder']));
    expect(smoke['RunOrder']).toBeGreaterThan(lastDeploy);
    const commands = commandsOf(buildSpecOf(template, smoke));
    expect(commands.slice(0, 4)).toEqual([
      `aws configure set profile.staging.role_arn arn:aws:iam::${STAGING}:role/mlops-staging-delivery-smoke`,
      'aws configure set profile.staging.credential_source EcsContainer',
      'aws configure set profile.staging.region eu-west-1',
      'export AWS_PROFILE=staging',
    ]);
    expect(commands.at(-1)).toBe('npx mlops smoke --allow-undeployed');
    // envFromCfnOutputs: the URL and the machine come from the stage's outputs, as pipeline variables.
    const env = JSON.parse(smoke['Configuration']['EnvironmentVariables']) as { name: string; value: string }[];
    expect(env.map((e) => e.name)).toEqual(expect.arrayContaining(['PREDICTION_URL', 'TRAINING_STATE_MACHINE_ARN']));
    expect(env.find((e) => e.name === 'PREDICTION_URL')!.value).toMatch(/^#\{mlopsdeliverymlopsstagingDeliveryAccess\w+\.AccessPredictionUrl\w+\}$/);
  });

  it('waits for a manual approval before production, then health-checks production without training', () => {
    const { template } = synthDelivery();
    const production = pipelineAt(template, '/Platform/')['Stages'].find((s: Json) => s['Name'] === 'mlops-production');
    const actions = production['Actions'] as Json[];
    const approval = actions.find((a) => a['ActionTypeId']['Category'] === 'Approval')!;
    expect(approval['Name']).toBe('PromoteToProduction');
    const deploys = actions.filter((a) => a['ActionTypeId']['Provider'] === 'CloudFormation');
    expect(Math.min(...deploys.map((a) => a['RunOrder']))).toBeGreaterThan(approval['RunOrder']);
    const health = actions.find((a) => a['Name'] === 'HealthCheck')!;
    expect(health['RunOrder']).toBeGreaterThan(Math.max(...deploys.map((a) => a['RunOrder'])));
    expect(commandsOf(buildSpecOf(template, health)).at(-1)).toBe('npx mlops smoke --allow-undeployed --no-training');
  });

  it('lets each check assume only its own environment\'s smoke role', () => {
    const { template } = synthDelivery();
    const assumes = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Json[])
      .filter((s) => ([] as string[]).concat(s['Action']).includes('sts:AssumeRole'))
      .flatMap((s) => ([] as unknown[]).concat(s['Resource']))
      .filter((r): r is string => typeof r === 'string' && r.includes('mlops-'));
    expect(assumes.sort()).toEqual(
      [
        `arn:aws:iam::${PRODUCTION}:role/mlops-production-delivery-smoke`,
        `arn:aws:iam::${PRODUCTION}:role/mlops-production-release-trigger`,
        `arn:aws:iam::${STAGING}:role/mlops-staging-delivery-smoke`,
        `arn:aws:iam::${STAGING}:role/mlops-staging-release-trigger`,
      ].sort(),
    );
  });
});

describe('the release pipeline', () => {
  it('starts only on a pushed release/* tag', () => {
    const p = pipelineAt(synthDelivery().template, '/Releases/');
    expect(p['PipelineType']).toBe('V2');
    expect(p['Triggers']).toEqual([
      {
        ProviderType: 'CodeStarSourceConnection',
        GitConfiguration: { SourceActionName: 'Checkout', Push: [{ Tags: { Includes: ['release/*'] } }] },
      },
    ]);
    const [source] = p['Stages'][0]['Actions'];
    // A full clone, so the build can read which tags point at the commit.
    expect(source['Configuration']).toMatchObject({ FullRepositoryId: 'acme/mlops-kit', OutputArtifactFormat: 'CODEBUILD_CLONE_REF' });
  });

  it('runs mlops release from staging to production, as each environment\'s release role', () => {
    const { template } = synthDelivery();
    const p = pipelineAt(template, '/Releases/');
    expect(p['ArtifactStore']['EncryptionKey']['Type']).toBe('KMS');
    const commands = commandsOf(buildSpecOf(template, p['Stages'][1]['Actions'][0]));
    expect(commands).toEqual(
      expect.arrayContaining([
        `aws configure set profile.staging.role_arn arn:aws:iam::${STAGING}:role/mlops-staging-release-trigger`,
        `aws configure set profile.production.role_arn arn:aws:iam::${PRODUCTION}:role/mlops-production-release-trigger`,
        'aws configure set profile.production.credential_source EcsContainer',
      ]),
    );
    expect(commands.at(-1)).toBe('node --import tsx bin/release-tag.ts --from staging --to production');
  });
});

describe("each environment's delivery access", () => {
  it.each([['staging', STAGING], ['production', PRODUCTION]] as const)(
    'in %s: roles named by convention that trust the tooling account, and the outputs the smoke step reads',
    (name, account) => {
      const { stack } = synthDelivery();
      const stage = name === 'staging' ? stack.staging : stack.production;
      const access = stage.node.findChild('DeliveryAccess') as Stack;
      expect(access.account).toBe(account);
      const t = Template.fromStack(access);
      for (const role of [`mlops-${name}-delivery-smoke`, `mlops-${name}-release-trigger`]) {
        t.hasResourceProperties('AWS::IAM::Role', {
          RoleName: role,
          AssumeRolePolicyDocument: {
            Statement: [{ Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { AWS: { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${TOOLING}:root`]] } } }],
          },
        });
      }
      expect(Object.keys(t.toJSON()['Outputs'])).toEqual(
        expect.arrayContaining([expect.stringMatching(/PredictionUrl/), expect.stringMatching(/TrainingStateMachineArn/), expect.stringMatching(/SmokeRoleArn/)]),
      );
      // The release role may start only the environment's release machine (the Release stack's, imported).
      const starts = Object.values(t.findResources('AWS::IAM::Policy'))
        .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Json[])
        .filter((s) => ([] as string[]).concat(s['Action']).includes('states:StartExecution'))
        .map((s) => JSON.stringify(s['Resource']));
      expect(starts.filter((r) => /mlops-.*-Release:.*ReleaseStateMachine/.test(r))).toHaveLength(1);
      expect(starts.every((r) => !r.includes('*'))).toBe(true);
      // The smoke role asks for predictions: GET and POST on the prediction routes, no other method.
      const invoke = Object.values(t.findResources('AWS::IAM::Policy'))
        .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Json[])
        .filter((s) => ([] as string[]).concat(s['Action']).includes('execute-api:Invoke'))
        .flatMap((s) => ([] as Json[]).concat(s['Resource']).map((r) => (r['Fn::Join'][1] as unknown[]).at(-1)));
      expect(invoke.sort()).toEqual(['/v1/GET/seldon/*', '/v1/GET/v2/*', '/v1/POST/seldon/*', '/v1/POST/v2/*']);
    },
  );
});

describe('cdk-nag on the delivery stack', () => {
  it.each(deliveryNagPacks().map((p) => [p.readPackName, p] as const))(
    'has zero unacknowledged %s findings outside the stages it deploys',
    (_, pack) => {
      expectNoUnacknowledgedFindings(validateOutsideStages(pack, synthDelivery().stack));
    },
  );

  it('holds the delivery stack to NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 as well as AwsSolutions', () => {
    expect(deliveryNagPacks().map((p) => p.readPackName).sort()).toEqual(['AwsSolutions', 'HIPAA.Security', 'NIST.800.53.R5', 'PCI.DSS.321']);
  });

  it("leaves out only the findings of the stages nested in it (they answer to their own packs)", () => {
    // prepare: a bucket with findings in the stack itself and one in a stage nested in it
    const app = new App();
    const stack = new Stack(app, 'Outer');
    new s3.Bucket(stack, 'Outside');
    new s3.Bucket(new Stack(new Stage(stack, 'Nested'), 'Inner'), 'Inside');
    const [pack] = deliveryNagPacks();
    // act
    const all = findingsOf(pack!.validateScope(stack));
    const outside = findingsOf(validateOutsideStages(pack!, stack));
    // assess
    expect(all.some((f) => f.includes('Outer/Nested/Inner/Inside'))).toBe(true);
    expect(outside.some((f) => f.includes('Outer/Outside'))).toBe(true);
    expect(outside.some((f) => f.includes('Nested'))).toBe(false);
  });

  it.each(['staging', 'production'] as const)('has zero unacknowledged findings in the %s stage it deploys', (name) => {
    const { stack } = synthDelivery();
    const stage = name === 'staging' ? stack.staging : stack.production;
    for (const pack of nagPacksFor({ name })) expectNoUnacknowledgedFindings(pack.validateScope(stage));
  });

  it('acknowledges only on specific constructs, each with a reason', () => {
    const { stack } = synthDelivery();
    expectSpecificAcknowledgements(stack);
    const access = stack.production.node.findChild('DeliveryAccess') as Stack;
    expect(acknowledgementsIn(access).length).toBeGreaterThan(0);
    expectSpecificAcknowledgements(access);
  });
});

describe('the delivery config', () => {
  it('resolves offline placeholders with no context', () => {
    const d = resolveDelivery({ env: {} });
    expect(d).toMatchObject({ account: '111111111111', repository: 'example-org/mlops-kit', branch: 'main' });
    expect(d.staging.name).toBe('staging');
    expect(d.production.name).toBe('production');
  });

  it('reads MLOPS_DELIVERY_* variables under context', () => {
    const d = resolveDelivery({ env: { MLOPS_DELIVERY_CONNECTION_ARN: CONNECTION, MLOPS_DELIVERY_REPOSITORY: 'acme/x' }, context: { 'delivery:repository': 'acme/y' } });
    expect(d.connectionArn).toBe(CONNECTION);
    expect(d.repository).toBe('acme/y');
  });

  it('fails with every bad value named', () => {
    const bad = () =>
      resolveDelivery({ env: {}, context: { 'delivery:connectionArn': 'arn:aws:s3:::bucket', 'delivery:repository': 'mlops-kit', 'delivery:account': '12' } });
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/delivery.account must be a 12-digit AWS account id, but "12" was provided/);
    expect(bad).toThrow(/delivery.connectionArn must be a CodeConnections connection ARN .*, but "arn:aws:s3:::bucket" was provided/);
    expect(bad).toThrow(/delivery.repository must be owner\/name \(e.g. acme\/mlops-kit\), but "mlops-kit" was provided/);
  });
});

describe('DeliveryAccess on its own', () => {
  /** A stack with a prediction API in front of an imported NLB, a training machine and a release machine. */
  function accessStack(props: { releaseMachine?: boolean; toolingAccount?: string; environmentName?: string } = {}) {
    const stack = new Stack(new App(), 'Access', { env: { account: STAGING, region: 'eu-west-1' } });
    const predictionApi = new PredictionApi(stack, 'Predictions', {
      environmentName: 'staging',
      loadBalancer: elbv2.NetworkLoadBalancer.fromNetworkLoadBalancerAttributes(stack, 'Nlb', {
        loadBalancerArn: `arn:aws:elasticloadbalancing:eu-west-1:${STAGING}:loadbalancer/net/router/0123456789abcdef`,
        loadBalancerDnsName: 'router.elb.eu-west-1.amazonaws.com',
      }),
      auth: 'iam',
      throttleRateLimit: 10,
      throttleBurstLimit: 20,
    });
    const trainingStateMachine = new MlopsStateMachine(stack, 'Training', { definition: new sfn.Pass(stack, 'Train') });
    const release = props.releaseMachine ? new sfn.StateMachine(stack, 'Release', { definitionBody: sfn.DefinitionBody.fromChainable(new sfn.Pass(stack, 'Copy')) }) : undefined;
    const access = new DeliveryAccess(stack, 'Access', {
      environmentName: props.environmentName ?? 'staging',
      toolingAccount: props.toolingAccount ?? TOOLING,
      predictionApi,
      trainingStateMachine,
      ...(release ? { releaseStateMachine: release } : {}),
    });
    return { stack, access, release };
  }
  const startTargets = (t: Template) =>
    Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p['Properties']['Roles']).includes('ReleaseRole'))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Json[])
      .filter((s) => ([] as string[]).concat(s['Action']).includes('states:StartExecution'))
      .map((s) => s['Resource']);

  it("grants the release role the environment's own release machine when it is given", () => {
    const { stack, release } = accessStack({ releaseMachine: true });
    const t = Template.fromStack(stack);
    expect(startTargets(t)).toEqual([{ Ref: stack.getLogicalId(release!.node.defaultChild as sfn.CfnStateMachine) }]);
  });

  it('grants the machine named by convention otherwise', () => {
    const t = Template.fromStack(accessStack().stack);
    expect(JSON.stringify(startTargets(t))).toContain(':stateMachine:mlops-staging-release');
  });

  it('fails if the tooling account or the environment name is malformed', () => {
    expect(() => accessStack({ toolingAccount: '1234' })).toThrow('DeliveryAccess toolingAccount must be a 12-digit AWS account id, but "1234" was provided');
    expect(() => accessStack({ environmentName: 'Prod Env' })).toThrow(/DeliveryAccess environmentName must be lower-case letters, digits and -, but "Prod Env" was provided/);
  });
});
