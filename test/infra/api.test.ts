import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../lib/config';
import { MlopsApi } from '../../lib/constructs/mlops-api';
import { MlopsFunction, PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { complianceAcks, nagPacksFor } from '../../lib/constructs/nag';
import { denyAllBut, synthAll } from './synth';

function build(auth: 'none' | 'iam', waf: boolean, allowedPrincipalArns?: string[]) {
  const app = new App({ context: FEATURE_FLAGS });
  const stack = new Stack(app, 'Api', { env: { account: '123456789012', region: 'us-east-1' } });
  const logsKey = new kms.Key(stack, 'LogsKey', { enableKeyRotation: true });
  const fn = new MlopsFunction(stack, 'Handler', {
    entry: `${PROJECT_ROOT}test/fixtures/lambdas/echo.ts`,
    description: 'echo',
    logsEncryptionKey: logsKey,
  });
  Validations.of(fn).acknowledge(
    ...complianceAcks('LambdaConcurrency', 'test stack: reserved concurrency comes from the environment config in real stacks'),
  );
  const api = new MlopsApi(stack, 'Service', {
    description: 'test service',
    auth,
    throttleRateLimit: 50,
    throttleBurstLimit: 100,
    waf,
    logsEncryptionKey: logsKey,
    ...(allowedPrincipalArns ? { allowedPrincipalArns } : {}),
  });
  api.addLambdaRoute('/api/2.0/mlflow/{proxy+}', fn.function);
  api.addLambdaRoute('/health', fn.function, ['GET']);
  const caller = new iam.Role(stack, 'Caller', { assumedBy: new iam.AccountRootPrincipal() });
  api.grantInvoke(caller);
  return { stack, template: Template.fromStack(stack) };
}

describe('MlopsApi with IAM auth and WAF (production)', () => {
  const { stack, template: t } = build('iam', true);

  it('requires SigV4 on every method', () => {
    const methods = Object.values(t.findResources('AWS::ApiGateway::Method'));
    expect(methods.length).toBe(2);
    for (const m of methods) expect(m['Properties']['AuthorizationType']).toBe('AWS_IAM');
  });

  it('routes the greedy proxy path to the function with the Lambda proxy integration', () => {
    t.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: '{proxy+}' });
    t.hasResourceProperties('AWS::ApiGateway::Method', {
      HttpMethod: 'ANY',
      Integration: Match.objectLike({ Type: 'AWS_PROXY', IntegrationHttpMethod: 'POST' }),
      RequestValidatorId: Match.anyValue(),
    });
  });

  it('throttles, traces and access-logs the stage', () => {
    t.hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'v1',
      TracingEnabled: true,
      AccessLogSetting: Match.objectLike({ DestinationArn: Match.anyValue() }),
      MethodSettings: Match.arrayWith([
        Match.objectLike({
          ThrottlingRateLimit: 50,
          ThrottlingBurstLimit: 100,
          LoggingLevel: 'INFO',
          DataTraceEnabled: false,
        }),
      ]),
    });
  });

  it('puts a web ACL with managed rules and a rate limit in front of the stage', () => {
    t.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'REGIONAL',
      Rules: Match.arrayWith([
        Match.objectLike({ Name: 'AWSManagedRulesCommonRuleSet' }),
        Match.objectLike({
          Name: 'RateLimitPerIp',
          Statement: { RateBasedStatement: { AggregateKeyType: 'IP', Limit: 2000 } },
        }),
      ]),
    });
    t.resourceCountIs('AWS::WAFv2::WebACLAssociation', 1);
  });

  it('grants invoke on the stage only', () => {
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: 'execute-api:Invoke', Effect: 'Allow' })]),
      },
    });
  });

  it('passes AwsSolutions and the compliance packs (NIST 800-53 R5, HIPAA, PCI DSS) with its acknowledgements', () => {
    for (const pack of nagPacksFor({ name: 'production' })) {
      // The test's own Caller role is not a house construct; everything else must be clean.
      const findings = pack
        .validateScope(stack)
        .violations.filter(
          (v) => !v.violatingResources.every((r) => (r.constructPath ?? '').includes('/Caller/')),
        );
      expect(findings.map((v) => v.ruleName)).toEqual([]);
    }
  });
});

describe('MlopsApi resource policy', () => {
  const deploymentId = (t: Template) => Object.keys(t.findResources('AWS::ApiGateway::Deployment'))[0];
  const named = build('iam', false, ['arn:aws:iam::123456789012:role/mlops-staging-*']);

  it('denies every principal but the named ones, and allows nothing itself', () => {
    const [api] = Object.values(named.template.findResources('AWS::ApiGateway::RestApi'));
    expect(api!['Properties']['Policy']).toEqual(denyAllBut(['arn:aws:iam::123456789012:role/mlops-staging-*']));
  });

  it('redeploys the stage when the named principals change (API Gateway applies a policy at deployment)', () => {
    const other = build('iam', false, ['arn:aws:iam::123456789012:role/mlops-staging-*', 'arn:aws:iam::123456789012:role/scoring']);
    const none = build('iam', false);
    expect(deploymentId(other.template)).not.toBe(deploymentId(named.template));
    expect(deploymentId(none.template)).not.toBe(deploymentId(named.template));
  });

  it('fails if the list is empty (the policy would deny everyone)', () => {
    expect(() => build('iam', false, [])).toThrow(/allowedPrincipalArns must name at least one role/);
  });
});

describe('MlopsApi without auth (local only)', () => {
  const { stack, template: t } = build('none', false);

  it('leaves methods open and adds no WAF', () => {
    for (const m of Object.values(t.findResources('AWS::ApiGateway::Method'))) {
      expect(m['Properties']['AuthorizationType']).toBe('NONE');
    }
    t.resourceCountIs('AWS::WAFv2::WebACL', 0);
  });

  it('passes AwsSolutions only because the open API is acknowledged as local', () => {
    const [awsSolutions] = nagPacksFor({ name: 'local' });
    expect(awsSolutions!.validateScope(stack).violations).toEqual([]);
  });
});

describe('local stage guard', () => {
  it('refuses deployment of every local stack to a real account', () => {
    const { templates } = synthAll().local;
    for (const t of Object.values(templates)) {
      expect(t.toJSON()['Rules']['LocalEnvironmentOnly']['Assertions'][0]['Assert']).toEqual({
        'Fn::Equals': [{ Ref: 'AWS::AccountId' }, '000000000000'],
      });
    }
  });

  it('does not guard staging or production', () => {
    for (const name of ['staging', 'production'] as const) {
      for (const t of Object.values(synthAll()[name].templates))
        expect(t.toJSON()['Rules']?.['LocalEnvironmentOnly']).toBeUndefined();
    }
  });
});
