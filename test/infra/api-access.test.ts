/**
 * Who may call which API method, in the synthesized stages (issue 18): every registry caller holds
 * `execute-api:Invoke` on the methods and paths of its access levels only (lib/registry/access.ts);
 * in production only the release machine may promote, and the registry's own guard names its role;
 * with IAM auth every regional API's resource policy denies all but the stage's roles.
 */
import { Stack } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { type EnvironmentName, releasePromoterRoleName } from '../../lib/config';
import type { RegistryAccess } from '../../lib/registry/access';
import { registryRoutes } from '../../stacks/registry-stack';
import { denyAllBut, synthAll } from './synth';

const environments = synthAll();

/** `METHOD /path` for each route of the access levels, as the grants name them. */
const expected = (...access: RegistryAccess[]): string[] =>
  registryRoutes(access)
    .map((r) => `${r.method} ${r.path}`)
    .sort();

/** The one string part after the API id of an `execute-api` ARN: `/v1/GET/api/2.0/mlflow/*`. */
const tail = (resource: any): string => {
  const parts: unknown[] = resource['Fn::Join'][1];
  return parts[parts.length - 1] as string;
};

interface InvokeGrant {
  readonly stack: string;
  /** The role's logical id. */
  readonly role: string;
  /** `Registry`, `FeatureStore` or `Serving`: whose API the ARN names. */
  readonly api: string;
  /** `METHOD /path`, sorted. */
  readonly routes: string[];
}

/** Every `execute-api:Invoke` grant of the stage, per role and API. */
function invokeGrants(templates: Record<string, Template>): InvokeGrant[] {
  const grants: InvokeGrant[] = [];
  for (const [stack, t] of Object.entries(templates)) {
    for (const policy of Object.values(t.findResources('AWS::IAM::Policy'))) {
      for (const st of policy['Properties']['PolicyDocument']['Statement']) {
        const actions = [st['Action']].flat();
        if (!actions.includes('execute-api:Invoke')) continue;
        expect(actions, 'an invoke grant holds no other action').toEqual(['execute-api:Invoke']);
        const byApi = new Map<string, string[]>();
        for (const resource of [st['Resource']].flat()) {
          const ref = resource['Fn::Join'][1].find((p: any) => typeof p === 'object' && ('Ref' in p ? p.Ref !== 'AWS::Partition' : true));
          const api = 'Fn::ImportValue' in ref ? /-(\w+):/.exec(ref['Fn::ImportValue'])![1]! : stack;
          const [, , method, ...path] = tail(resource).split('/');
          byApi.set(api, [...(byApi.get(api) ?? []), `${method} /${path.join('/')}`]);
        }
        for (const role of policy['Properties']['Roles']) {
          for (const [api, routes] of byApi) grants.push({ stack, role: role.Ref, api, routes: routes.sort() });
        }
      }
    }
  }
  return grants;
}

const registryGrantOf = (grants: InvokeGrant[], stack: string, rolePrefix: string): string[] => {
  const found = grants.filter((g) => g.api === 'Registry' && g.stack === stack && g.role.startsWith(rolePrefix));
  expect(found, `${stack}/${rolePrefix} holds one registry grant`).toHaveLength(1);
  return found[0]!.routes;
};

/** Routes of a grant that write or promote: any DELETE or PATCH, any POST but the MLflow searches. */
const writesIn = (routes: readonly string[]): string[] =>
  routes.filter((r) => /^(DELETE|PATCH|\*) /.test(r) || (r.startsWith('POST ') && !/\/(runs\/search|experiments\/search|registered-models\/get-latest-versions)$/.test(r)));

describe.each(['staging', 'production'] as const)('registry API grants in %s', (name: EnvironmentName) => {
  const { templates, stage } = environments[name];
  const grants = invokeGrants(templates);

  it('every registry caller holds the routes of its access levels only', () => {
    expect(registryGrantOf(grants, 'TrainingPipeline', 'EvaluateFunctionRole')).toEqual(expected('read'));
    expect(registryGrantOf(grants, 'Drift', 'PlanFunctionRole')).toEqual(expected('read'));
    expect(registryGrantOf(grants, 'BatchInference', 'QualityPlanFunctionRole')).toEqual(expected('read'));
    expect(registryGrantOf(grants, 'TrainingPipeline', 'RegisterFunctionRole')).toEqual(expected('read', 'write'));
    expect(registryGrantOf(grants, 'Release', 'ReleaseFunctionRole')).toEqual(expected('read', 'write', 'promote'));
    const scientist = registryGrantOf(grants, 'Registry', 'DataScientistRole');
    expect(scientist).toEqual(name === 'production' ? expected('read', 'write') : expected('read', 'write', 'promote'));
  });

  it('names methods: the read grant is GET on the MLflow paths and POST on the three searches', () => {
    expect(expected('read')).toEqual([
      'GET /ajax-api/2.0/mlflow/*',
      'GET /api/2.0/mlflow/*',
      'POST /ajax-api/2.0/mlflow/experiments/search',
      'POST /ajax-api/2.0/mlflow/registered-models/get-latest-versions',
      'POST /ajax-api/2.0/mlflow/runs/search',
      'POST /api/2.0/mlflow/experiments/search',
      'POST /api/2.0/mlflow/registered-models/get-latest-versions',
      'POST /api/2.0/mlflow/runs/search',
    ]);
    expect(expected('promote')).toContain('POST /api/2.0/mlflow/model-versions/transition-stage');
  });

  it('fails if a read-only role can write: its grant holds no DELETE, PATCH, wildcard method or writing POST', () => {
    for (const [stack, role] of [['TrainingPipeline', 'EvaluateFunctionRole'], ['Drift', 'PlanFunctionRole'], ['BatchInference', 'QualityPlanFunctionRole']] as const) {
      expect(writesIn(registryGrantOf(grants, stack, role)), `${stack}/${role}`).toEqual([]);
    }
    // The check finds writes where there are some.
    expect(writesIn(registryGrantOf(grants, 'TrainingPipeline', 'RegisterFunctionRole'))).toContain('DELETE /api/2.0/mlflow/registered-models/delete*');
  });

  it('no role but the release machine (and staging data scientists) may transition a stage or move an alias', () => {
    const promoters = grants
      .filter((g) => g.api === 'Registry' && g.routes.some((r) => /transition-stage|registered-models\/alias$/.test(r) && !r.startsWith('GET ')))
      .map((g) => `${g.stack}/${g.role.replace(/[0-9A-F]{8}$/, '')}`)
      .sort();
    expect(promoters).toEqual(name === 'production' ? ['Release/ReleaseFunctionRole'] : ['Registry/DataScientistRole', 'Release/ReleaseFunctionRole']);
    expect(grants.some((g) => g.routes.includes('* /*') && g.api === 'Registry')).toBe(false);
  });

  it("the registry's guard names the release machine's role, which has that name", () => {
    const registry = templates['Registry']!;
    const fn = Object.values(registry.findResources('AWS::Lambda::Function')).find((f) => f['Properties']['Environment']['Variables']['REGISTRY_TABLE_NAME'])!;
    const promoters = fn['Properties']['Environment']['Variables']['PRODUCTION_PROMOTERS'];
    const release = templates['Release']!.findResources('AWS::IAM::Role');
    const releaseRole = Object.entries(release).find(([id]) => id.startsWith('ReleaseFunctionRole'))![1];
    expect(releaseRole['Properties']['RoleName']).toBe(releasePromoterRoleName(name));
    if (name === 'production') {
      expect(promoters).toEqual({
        'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${stage.config.account}:role/${releasePromoterRoleName(name)}`]],
      });
    } else {
      expect(promoters).toBeUndefined();
    }
  });

  it('every role holding an invoke grant is named under the stage prefix the resource policies admit', () => {
    const prefix = `mlops-${name}-`;
    for (const g of grants) {
      const stack = stage.node.children.filter(Stack.isStack).find((s) => s.node.id === g.stack)!;
      const role = environments[name].templates[g.stack]!.findResources('AWS::IAM::Role')[g.role]!;
      const roleName: string = role['Properties']['RoleName'] ?? stack.stackName;
      expect(roleName.startsWith(prefix), `${g.stack}/${g.role}`).toBe(true);
    }
  });

  it("fails if a role's inline policies outgrow IAM's 10,240 characters once resolved", () => {
    // Tokens resolve to at most these lengths: a partition, an API id, a function or role ARN.
    const resolvedSize = (doc: unknown) =>
      JSON.stringify(doc)
        .replace(/\{"Ref":"AWS::Partition"\}/g, '"aws-us-gov"')
        .replace(/\{"Fn::ImportValue":"[^"]+"\}/g, '"abcdefghij"')
        .replace(/\{"(Ref|Fn::GetAtt)":[^{}]*\}/g, '"arn:aws:lambda:us-east-1:123456789012:function:mlops-production-Stack-Function-ABCDEFGHIJKL"')
        .replace(/\s/g, '').length;
    for (const [stack, t] of Object.entries(templates)) {
      const byRole = new Map<string, number>();
      for (const p of Object.values(t.findResources('AWS::IAM::Policy'))) {
        for (const role of p['Properties']['Roles'] ?? []) {
          if (!role.Ref) continue;
          byRole.set(role.Ref, (byRole.get(role.Ref) ?? 0) + resolvedSize(p['Properties']['PolicyDocument']));
        }
      }
      for (const [role, size] of byRole) expect(size, `${stack}/${role}`).toBeLessThan(10_240);
    }
  });
});

describe.each(['local', 'staging', 'production'] as const)('API resource policies in %s', (name) => {
  const { templates, stage } = environments[name];
  const apis = Object.entries(templates).flatMap(([stack, t]) =>
    Object.values(t.findResources('AWS::ApiGateway::RestApi')).map((api) => ({ stack, policy: api['Properties']['Policy'] })),
  );

  it(name === 'local' ? 'has none: nothing but 127.0.0.1 reaches the local APIs' : 'denies every principal but the roles of the stage, on every API', () => {
    expect(apis.map((a) => a.stack).sort()).toEqual(name === 'local' ? ['FeatureStore', 'Registry'] : ['FeatureStore', 'Registry', 'Serving']);
    for (const { stack, policy } of apis) {
      if (name === 'local') {
        expect(policy, stack).toBeUndefined();
        continue;
      }
      expect(policy, stack).toEqual(
        denyAllBut([{ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, `:iam::${stage.config.account}:role/mlops-${name}-*`]] }]),
      );
    }
  });

  it('fails if a resource policy allows anything: for same-account callers an Allow would add to their IAM grants', () => {
    for (const { policy } of apis) {
      for (const st of policy?.Statement ?? []) expect(st.Effect).toBe('Deny');
    }
  });
});
