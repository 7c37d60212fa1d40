import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ENVIRONMENT_NAMES, resolveEnvironment } from '../../lib/config';
import { complianceAcks, nagPacksFor } from '../../lib/constructs/nag';
import { synthAll } from './synth';
import { acknowledgementsIn, expectNoUnacknowledgedFindings } from '../stack-synth';

const environments = synthAll();

describe.each(ENVIRONMENT_NAMES)('cdk-nag in %s', (name) => {
  const { stage } = environments[name];
  const packs = nagPacksFor(resolveEnvironment(name, { env: {} }));

  it('holds production to NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 as well as AwsSolutions', () => {
    const names = packs.map((p) => p.readPackName).sort();
    expect(names).toEqual(
      name === 'production' ? ['AwsSolutions', 'HIPAA.Security', 'NIST.800.53.R5', 'PCI.DSS.321'] : ['AwsSolutions'],
    );
  });

  // Zero findings over nothing would pass too: the stage validated must hold every stack of the
  // platform, each with resources, and the house constructs' known findings must be acknowledged.
  it('validates the whole platform, not an empty stage', () => {
    const stacks = stage.node.children.filter(Stack.isStack);
    const expected = ['BatchInference', 'DataLake', 'Drift', 'FeatureStore', 'Registry', 'Release', 'TrainingPipeline'];
    if (name !== 'local') expected.push('Serving', 'Alarms', 'Operations');
    expect(stacks.map((s) => s.node.id).sort()).toEqual(expected.sort());
    for (const s of stacks) expect(Object.keys(environments[name].templates[s.node.id]!.toJSON()['Resources'] ?? {}).length, s.node.id).toBeGreaterThan(0);
    expect(acknowledgementsIn(stage).length).toBeGreaterThan(0);
  });

  it.each(packs.map((p) => [p.readPackName, p] as const))(
    'has zero unacknowledged %s findings',
    (_, pack) => {
      expectNoUnacknowledgedFindings(pack.validateScope(stage));
    },
  );

  it('acknowledges findings only on specific constructs, each with a specific reason', () => {
    const acks = acknowledgementsIn(stage);
    for (const ack of acks) {
      // CDK itself acknowledges CloudFormation's W3010 (hard-coded AZ names) on a stack whose VPC
      // names its AZs, which the serving stack does on purpose so synthesis needs no lookup.
      if (ack.id === 'CloudFormation-Validate::W3010' && Stack.isStack(ack.scope)) continue;
      expect(
        ack.scope === stage || Stack.isStack(ack.scope),
        `${ack.id} acknowledged on a whole stack or stage (${ack.path})`,
      ).toBe(false);
      expect(ack.reason.length, `${ack.id} at ${ack.path} needs a specific reason`).toBeGreaterThanOrEqual(
        60,
      );
    }
  });
});

describe('cdk-nag catches a violation', () => {
  it.each(['HIPAA.Security', 'PCI.DSS.321'])('%s reports an unencrypted, unlogged bucket in production', async (packName) => {
    const { App, Stack: S } = await import('aws-cdk-lib');
    const s3 = await import('aws-cdk-lib/aws-s3');
    const app = new App();
    const stack = new S(app, 'Bad');
    new s3.CfnBucket(stack, 'Plain');
    const pack = nagPacksFor({ name: 'production' }).find((p) => p.readPackName === packName)!;
    const rules = pack.validateScope(stack).violations.map((v) => v.ruleName);
    expect(rules).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${packName.replace(/\./g, '\\.')}-S3BucketLoggingEnabled`))]));
  });

  it('acknowledges a rule under every compliance pack at once, with one reason', () => {
    expect(complianceAcks('LambdaDLQ', 'why').map((a) => a.id)).toEqual([
      'NIST.800.53.R5-LambdaDLQ',
      'HIPAA.Security-LambdaDLQ',
      'PCI.DSS.321-LambdaDLQ',
    ]);
  });

  it('reports an unencrypted, unlogged bucket (the check is live, not vacuous)', async () => {
    const { App, Stack: S } = await import('aws-cdk-lib');
    const s3 = await import('aws-cdk-lib/aws-s3');
    const app = new App();
    const stack = new S(app, 'Bad');
    new s3.CfnBucket(stack, 'Plain');
    const [awsSolutions] = nagPacksFor({ name: 'staging' });
    const rules = awsSolutions!.validateScope(stack).violations.map((v) => v.ruleName);
    expect(rules).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/AwsSolutions-S1/),
        expect.stringMatching(/AwsSolutions-S10/),
      ]),
    );
  });
});
