/**
 * Test helper: synthesizes every environment's stage once per test file (nag is run by the nag
 * test itself, so it can report findings instead of failing synthesis).
 */
import { Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ENVIRONMENT_NAMES } from '../../lib/config';
import { MlopsStage, stageId } from '../../stacks/mlops-stage';
import { synthOnce } from '../stack-synth';

export interface SynthesizedEnvironment {
  readonly stage: MlopsStage;
  /** Each stack's template, by stack id (`DataLake`, `Registry`, …). */
  readonly templates: Record<string, Template>;
}

export const synthAll = synthOnce(
  (app, config) => new MlopsStage(app, stageId(config.name), { config, nag: false }),
  (stage): SynthesizedEnvironment => ({
    stage,
    templates: Object.fromEntries(
      stage.node.children.filter(Stack.isStack).map((stack) => [stack.node.id, Template.fromStack(stack)]),
    ),
  }),
  ENVIRONMENT_NAMES,
);

/** The resource policy `MlopsApi` writes for `allowedPrincipalArns`: deny every other principal. */
export const denyAllBut = (principalArns: unknown[]) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'DenyAllButNamedPrincipals',
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Action: 'execute-api:Invoke',
      Resource: 'execute-api:/*',
      Condition: { ArnNotLike: { 'aws:PrincipalArn': principalArns } },
    },
  ],
});
