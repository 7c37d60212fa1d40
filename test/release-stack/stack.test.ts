/**
 * The release stack as each environment synthesizes it: the machine everywhere, the one role it
 * may assume (production: staging's release-source role), the role another environment assumes
 * here (staging, read-only), and the approval step waiting for a task token.
 */
import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ConfigError, releasePromoterRoleName, resolveEnvironment, releaseSourceRoleName } from '../../lib/config';
import { renderDefinitionString } from '../../lib/asl';
import { RELEASE_STATES } from '../../lib/constructs/release-machine';
import { synthAll } from '../infra/synth';

const environments = synthAll();
const template = (name: 'local' | 'staging' | 'production') => environments[name].templates['Release']!;

/** Every statement of every policy in a template, flattened. */
function statements(name: 'local' | 'staging' | 'production') {
  const out: { policy: string; Action: unknown; Resource: unknown; Effect: string }[] = [];
  for (const [id, p] of Object.entries(template(name).findResources('AWS::IAM::Policy'))) {
    for (const s of p['Properties']['PolicyDocument']['Statement']) out.push({ policy: id, ...s });
  }
  return out;
}
const actionsOf = (s: { Action: unknown }) => ([] as string[]).concat(s.Action as string | string[]);

describe('release stack', () => {
  it('has the release machine, its function and topic in every environment', () => {
    for (const name of ['local', 'staging', 'production'] as const) {
      const t = template(name);
      t.resourceCountIs('AWS::StepFunctions::StateMachine', 1);
      t.hasOutput('ReleaseStateMachineArn', {});
      t.hasOutput('ReleaseTopicArn', {});
    }
  });

  it('waits for approval with a task token on SNS, for at most 7 days', () => {
    const [machine] = Object.values(template('production').findResources('AWS::StepFunctions::StateMachine'));
    const definition = renderDefinitionString(machine!['Properties']['DefinitionString']) as {
      States: Record<string, Record<string, unknown>>;
    };
    const approval = definition.States[RELEASE_STATES.approval]!;
    expect(approval['Resource']).toMatch(/:states:::sns:publish\.waitForTaskToken$/);
    expect(approval['TimeoutSeconds']).toBe(7 * 24 * 3600);
    expect(JSON.stringify(approval['Parameters'])).toContain('"taskToken.$":"$$.Task.Token"');
    expect(Object.keys(definition.States)).toEqual(expect.arrayContaining(Object.values(RELEASE_STATES)));
  });

  it("lets production's release function assume exactly staging's release-source role", () => {
    const staging = resolveEnvironment('staging', { env: {} });
    const assume = statements('production').filter((s) => actionsOf(s).includes('sts:AssumeRole'));
    expect(assume).toHaveLength(1);
    expect(actionsOf(assume[0]!)).toEqual(['sts:AssumeRole']);
    expect(JSON.stringify(assume[0]!.Resource)).toBe(
      JSON.stringify({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${staging.account}:role/${releaseSourceRoleName('staging')}`]],
      }),
    );
    for (const name of ['local', 'staging'] as const) {
      expect(statements(name).filter((s) => actionsOf(s).includes('sts:AssumeRole')), name).toEqual([]);
    }
  });

  it('lets the release function delete objects under releases/ only', () => {
    for (const name of ['local', 'staging', 'production'] as const) {
      const deletes = statements(name).filter((s) => actionsOf(s).includes('s3:DeleteObject'));
      expect(deletes, name).toHaveLength(1);
      expect(JSON.stringify(deletes[0]!.Resource), name).toMatch(/\/releases\/\*"\]\]\}$/);
    }
  });

  it('gives staging a read-only release-source role that production may assume', () => {
    const production = resolveEnvironment('production', { env: {} });
    const t = template('staging');
    t.hasResourceProperties('AWS::IAM::Role', {
      RoleName: releaseSourceRoleName('staging'),
      AssumeRolePolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'sts:AssumeRole',
            Principal: { AWS: { 'Fn::Join': ['', Match.arrayWith([`:iam::${production.account}:root`])] } },
          }),
        ],
      },
    });
    t.hasOutput('ReleaseSourceRoleArn', {});
    const [roleId] = Object.keys(t.findResources('AWS::IAM::Role', { Properties: { RoleName: releaseSourceRoleName('staging') } }));
    const own = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p['Properties']['Roles']).includes(roleId!))
      .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as { Action: unknown; Resource: unknown }[]);
    const actions = own.flatMap(actionsOf).sort();
    expect(actions).toEqual(['execute-api:Invoke', 'kms:Decrypt', 's3:GetObject']);
    // The version's model and baseline wherever they are, never the training splits under data/.
    const get = JSON.stringify(own.filter((s) => actionsOf(s).includes('s3:GetObject')).map((s) => s.Resource));
    for (const key of ['/models/*/model.tar.gz', '/releases/*/model.tar.gz', '/baselines/*/baseline.json']) expect(get).toContain(key);
    expect(get).not.toContain('/data/');
    expect(get).not.toMatch(/\/(runs|releases)\/\*"/);
    const invoke = own.find((s) => actionsOf(s).includes('execute-api:Invoke'))!;
    expect(JSON.stringify(invoke.Resource)).toMatch(/\/GET\/\*"/);
    // Elsewhere the one fixed name is the release function's own role, which the registry's guard names.
    for (const name of ['local', 'production'] as const) {
      const named = Object.values(template(name).findResources('AWS::IAM::Role', { Properties: { RoleName: Match.anyValue() } }));
      expect(named.map((r) => r['Properties']['RoleName']), name).toEqual([releasePromoterRoleName(name)]);
    }
  });

  it('fails if an environment releases from or to itself', () => {
    expect(() => resolveEnvironment('production', { env: {}, overrides: { production: { release: { from: 'production' } } } })).toThrow(
      ConfigError,
    );
    expect(() => resolveEnvironment('staging', { env: {}, overrides: { staging: { release: { to: 'staging' } } } })).toThrow(
      /release\.to must name another environment/,
    );
  });
});
