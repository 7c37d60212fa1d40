/**
 * Shared test helpers for the stack tests: one way to build an environment's stage, synthesize it
 * once per test file, and read the resulting templates, IAM statements and cdk-nag results.
 *
 * Synthesis is slow (seconds per environment), so {@link synthOnce} builds every requested
 * environment into one App, synthesizes that App once and caches the result in this module. The
 * stack tests run in vitest's `stacks` project without isolation (vitest.config.ts): one module
 * graph per worker, so every file a worker runs reads the same synthesis. Tests must therefore
 * never add to a shared stage; a test that changes a stack builds its own (`buildStage(newApp(), …)`).
 *
 * @example
 * // test/registry-stack/synth.ts
 * export const buildStage = stackOnLake(RegistryStack, 'Registry');
 * export const synthRegistry = synthStack(buildStage, ENVIRONMENT_NAMES);
 * // test/registry-stack/stack.test.ts
 * const { template, stage, stack } = synthRegistry().staging;
 */
import {
  App,
  type AppProps,
  type PolicyValidationPluginReport,
  Stack,
  Stage,
  Tags,
  Validations,
} from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { Construct, IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { type EnvironmentConfig, type EnvironmentName, FEATURE_FLAGS, resolveEnvironment } from '../lib/config';
import type { DataLake } from '../lib/constructs/data-lake';
import { nagPacksFor } from '../lib/constructs/nag';
import { useValidationCache } from '../lib/constructs/validation-cache';
import { DataLakeStack } from '../stacks/data-lake-stack';
import { stageId } from '../stacks/mlops-stage';

/**
 * An App with the kit's feature flags and `aws:cdk:path` metadata on every resource (which
 * {@link logicalIdAt} reads), whose CloudFormation validation reads the kit's validation cache as
 * the real app's does (`useValidationCache`), so an unchanged template is not validated again.
 */
export const newApp = (props: AppProps = {}): App => {
  useValidationCache();
  return new App({
    ...props,
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true, ...props.context },
  });
};

/** An environment's stage, named, placed and tagged as `MlopsStage` does it, with no stacks yet. */
export function environmentStage(app: App, config: EnvironmentConfig): Stage {
  const stage = new Stage(app, stageId(config.name), {
    env: { account: config.account, region: config.region },
  });
  for (const [key, value] of Object.entries(config.tags)) Tags.of(stage).add(key, value);
  return stage;
}

/** Builds what a test file inspects into an App, for one environment's config. */
export type StageFactory<B> = (app: App, config: EnvironmentConfig) => B;

/**
 * A function that, on its first call, builds each named environment (offline config: placeholder
 * account and region, whatever the shell exports) into one App, synthesizes the App once, and
 * maps each built environment through `read` (where templates are taken); later calls return the
 * same result.
 *
 * @param names the environments to build (`ENVIRONMENT_NAMES` for all of them)
 */
export function synthOnce<B, R, N extends EnvironmentName>(
  build: StageFactory<B>,
  read: (built: B) => R,
  names: readonly N[],
): () => Record<N, R> {
  let cache: Record<N, R> | undefined;
  return () => {
    if (cache) return cache;
    const app = newApp();
    const built = names.map((name) => [name, build(app, resolveEnvironment(name, { env: {} }))] as const);
    app.synth();
    cache = Object.fromEntries(built.map(([name, b]) => [name, read(b)])) as Record<N, R>;
    return cache;
  };
}

/** A stage holding the data lake and the one stack a test file is about. */
export interface StackStage<S extends Stack> {
  readonly config: EnvironmentConfig;
  readonly stage: Stage;
  readonly lake: DataLakeStack;
  readonly stack: S;
}

/** A built stage with the template of its stack under test. */
export type Synthesized<B> = B & { readonly template: Template };

/**
 * {@link synthOnce} for a factory whose result names one `stack`: each environment's result
 * gains that stack's `template`.
 *
 * @param names the environments to build (`ENVIRONMENT_NAMES` for all of them)
 */
export function synthStack<B extends { readonly stack: Stack }, N extends EnvironmentName>(
  build: StageFactory<B>,
  names: readonly N[],
): () => Record<N, Synthesized<B>> {
  return synthOnce(build, (b) => ({ ...b, template: Template.fromStack(b.stack) }), names);
}

/**
 * A {@link StageFactory} for a stack that needs only the environment's config and data lake: an
 * {@link environmentStage} with a `DataLake` stack and the stack under test, as `MlopsStage` wires
 * them.
 */
export function stackOnLake<S extends Stack>(
  StackClass: new (scope: Construct, id: string, props: { config: EnvironmentConfig; lake: DataLake }) => S,
  id: string,
): StageFactory<StackStage<S>> {
  return (app, config) => {
    const stage = environmentStage(app, config);
    const lake = new DataLakeStack(stage, 'DataLake', { config });
    return { config, stage, lake, stack: new StackClass(stage, id, { config, lake: lake.lake }) };
  };
}

/** The logical id of the only resource of a type whose path ends with `pathEnd` (asserted). */
export function logicalIdAt(t: Template, type: string, pathEnd: string): string {
  const ids = Object.entries(t.findResources(type))
    .filter(([, r]) => String(r['Metadata']?.['aws:cdk:path'] ?? '').endsWith(pathEnd))
    .map(([id]) => id);
  expect(ids, `${type} at …${pathEnd}`).toHaveLength(1);
  return ids[0]!;
}

/** An IAM policy statement with `Action` and `Resource` always as arrays. */
export interface Statement {
  Action: string[];
  Resource: unknown[];
  Condition?: Record<string, unknown>;
}

/** Every statement of the inline policies attached to a role, each asserted to be an Allow. */
export function statementsOf(t: Template, roleId: string): Statement[] {
  return Object.values(t.findResources('AWS::IAM::Policy'))
    .filter((p) => (p['Properties']['Roles'] as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => p['Properties']['PolicyDocument']['Statement'] as Record<string, unknown>[])
    .map((s) => {
      expect(s['Effect']).toBe('Allow');
      return {
        Action: ([] as string[]).concat(s['Action'] as string | string[]),
        Resource: ([] as unknown[]).concat(s['Resource']),
        Condition: s['Condition'] as Record<string, unknown> | undefined,
      };
    });
}

/** An Allow statement found anywhere in a template, with where it is. */
export interface FoundStatement {
  where: string;
  actions: string[];
  resources: unknown[];
  condition?: Record<string, unknown>;
}

/** Every Allow statement in the template's resources (inline, managed, role and resource policies). */
export function allowStatements(template: Record<string, any>): FoundStatement[] {
  const found: FoundStatement[] = [];
  const visit = (node: unknown, where: string) => {
    if (Array.isArray(node)) {
      for (const [i, n] of node.entries()) visit(n, `${where}[${i}]`);
    } else if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (obj['Effect'] === 'Allow' && obj['Action'] !== undefined) {
        const actions = ([] as unknown[]).concat(obj['Action']).map(String);
        found.push({
          where,
          actions,
          resources: ([] as unknown[]).concat(obj['Resource']),
          ...(obj['Condition'] === undefined ? {} : { condition: obj['Condition'] as Record<string, unknown> }),
        });
      }
      for (const [k, v] of Object.entries(obj)) visit(v, `${where}.${k}`);
    }
  };
  visit(template['Resources'], 'Resources');
  return found;
}

/** A cdk-nag report's violations, one `<rule> at <construct path>` line per violating resource. */
export const findingsOf = (report: PolicyValidationPluginReport): string[] =>
  report.violations.flatMap((v) =>
    v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
  );

/** Asserts a cdk-nag report has no unacknowledged finding (listing them if it has). */
export function expectNoUnacknowledgedFindings(report: PolicyValidationPluginReport): void {
  expect(findingsOf(report)).toEqual([]);
  expect(report.success).toBe(true);
}

/** A finding acknowledged on a construct, with the reason given. */
export interface Acknowledgement {
  readonly path: string;
  readonly id: string;
  readonly reason: string;
  readonly scope: IConstruct;
}

/**
 * Every acknowledgement recorded on `scope` and the constructs below it (CDK records them as
 * `{ "<source>::<rule id>": reason }` metadata).
 */
export function acknowledgementsIn(scope: IConstruct): Acknowledgement[] {
  const acks: Acknowledgement[] = [];
  for (const c of scope.node.findAll()) {
    for (const entry of c.node.metadata) {
      if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
      for (const [id, reason] of Object.entries(entry.data as Record<string, string>)) {
        acks.push({ path: c.node.path, id, reason, scope: c });
      }
    }
  }
  return acks;
}

/**
 * Asserts what a stack of the kit promises about its acknowledged findings: it has some (the house
 * constructs acknowledge their known ones), none is on the whole stack, each gives a specific
 * reason, and none is a blanket AwsSolutions-IAM5, which would hide the next wildcard grant.
 */
export function expectSpecificAcknowledgements(stack: Stack): void {
  const acks = acknowledgementsIn(stack);
  expect(acks.length).toBeGreaterThan(0);
  for (const ack of acks) {
    expect(Stack.isStack(ack.scope), `${ack.id} acknowledged on the whole stack`).toBe(false);
    expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(60);
    expect(ack.id, ack.path).not.toMatch(/^AwsSolutions-IAM5$/);
  }
}

/**
 * Declares the cdk-nag tests a stack-on-lake test file runs for each environment: no unacknowledged
 * finding from any pack the environment is held to (validated over the whole stage, the lake
 * included), and acknowledgements only as {@link expectSpecificAcknowledgements} allows.
 *
 * @example
 * describeStackNag('the registry', synthRegistry());
 */
export function describeStackNag<N extends EnvironmentName>(
  what: string,
  environments: Record<N, { readonly stage: Stage; readonly stack: Stack }>,
): void {
  describe.each(Object.keys(environments) as N[])(`cdk-nag on ${what} in %s`, (name) => {
    const { stage, stack } = environments[name];

    it.each(nagPacksFor({ name }).map((p) => [p.readPackName, p] as const))(
      'has zero unacknowledged %s findings',
      (_, pack) => {
        expectNoUnacknowledgedFindings(pack.validateScope(stage));
      },
    );

    it('acknowledges findings only on specific constructs of the stack, each with a specific reason', () => {
      expectSpecificAcknowledgements(stack);
    });
  });
}
