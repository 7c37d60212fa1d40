/**
 * The cdk-nag rule packs each environment is held to, run during synthesis.
 *
 * cdk-nag 3 packs are CDK policy-validation plugins that walk the whole app, whichever Stage
 * registered them; {@link StageNagPlugin} narrows a pack to one stage, so production alone is held
 * to the compliance packs (NIST 800-53 R5, HIPAA Security, PCI DSS 3.2.1) and a finding is reported
 * once, against the stage it belongs to.
 *
 * Findings are acknowledged with `Validations.of(construct).acknowledge({ id, reason })` on the
 * construct concerned. Some finding ids embed a token only known after synthesis (a cross-stack
 * export name in an ARN); {@link acknowledgeFindingPrefix} acknowledges those by id prefix, on one
 * construct, with a reason, and {@link KitNagPack} applies it.
 *
 * @example
 * Validations.of(stage).addPlugins(...nagPluginsFor(stage, config));
 */
import { createRequire } from 'node:module';
import { type IPolicyValidationContext, type IPolicyValidationPlugin, type PolicyValidationPluginReport, Stage } from 'aws-cdk-lib';
import type { NagPack } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import { activeNagCache } from './nag-cache';

/** Metadata key of the prefix acknowledgements. */
export const PREFIX_ACKNOWLEDGEMENTS = 'mlops-kit:acknowledged-finding-prefixes';

/** Acknowledges findings whose id starts with `prefix` on `construct` and its children. */
export function acknowledgeFindingPrefix(construct: IConstruct, prefix: string, reason: string): void {
  construct.node.addMetadata(PREFIX_ACKNOWLEDGEMENTS, { prefix, reason });
}

/** A cdk-nag pack with the kit's prefix acknowledgements applied to its report. */
export class KitNagPack {
  constructor(private readonly pack: NagPack) {}

  get readPackName(): string {
    return this.pack.readPackName;
  }

  /** What the pack's report depends on besides the tree: its name, class and options, and this wrapper (the nag cache's key). */
  get identity(): string {
    const { verbose } = this.pack as unknown as { verbose?: boolean };
    return `${this.readPackName}\n${this.pack.constructor.name} verbose=${String(verbose)}\n${KitNagPack.toString()}`;
  }

  validateScope(scope: IConstruct): PolicyValidationPluginReport {
    const report = this.pack.validateScope(scope);
    const byPath = new Map(scope.node.findAll().map((c) => [c.node.path, c] as const));
    const acknowledged = (path: string | undefined, rule: string) => {
      for (let c = path ? byPath.get(path) : undefined; c; c = c.node.scope) {
        for (const m of c.node.metadata) {
          if (m.type === PREFIX_ACKNOWLEDGEMENTS && rule.startsWith((m.data as { prefix: string }).prefix)) return true;
        }
      }
      return false;
    };
    const violations = report.violations
      .map((v) => ({ ...v, violatingResources: v.violatingResources.filter((r) => !acknowledged(r.constructPath, v.ruleName)) }))
      .filter((v) => v.violatingResources.length > 0);
    return { ...report, violations, success: violations.length === 0 };
  }
}

/**
 * The finding-id prefixes of the compliance packs production is held to: NIST 800-53 R5, HIPAA
 * Security and PCI DSS 3.2.1, the packs the Landing Zone Accelerator's most regulated
 * configurations run.
 */
export const COMPLIANCE_PACKS = ['NIST.800.53.R5', 'HIPAA.Security', 'PCI.DSS.321'] as const;

/**
 * cdk-nag, loaded when a pack is first made: a synthesis without nag (the local stage `mlops up`
 * synthesizes, `-c nag=false`) does not load it, nor the aws-cdk-lib service modules its rules read
 * (the local stage: 2.31 → 1.99 s, bench/HISTORY.md).
 */
let cdkNag: typeof import('cdk-nag') | undefined;
const nagModule = (): typeof import('cdk-nag') =>
  (cdkNag ??= createRequire(import.meta.url)('cdk-nag') as typeof import('cdk-nag'));

const compliancePacks = (): NagPack[] => {
  const { HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks } = nagModule();
  return [
    new NIST80053R5Checks(undefined, { verbose: true }),
    new HIPAASecurityChecks(undefined, { verbose: true }),
    new PCIDSS321Checks(undefined, { verbose: true }),
  ];
};

/**
 * Acknowledgements of one cdk-nag rule (`IAMNoInlinePolicy`, `LambdaDLQ`, …) under every compliance
 * pack. The packs map the same rule function to their own controls, so a finding on a resource is
 * one fact whichever pack reports it, and one reason answers it; naming the rule once keeps the
 * three from drifting apart. A pack that does not run the rule ignores its id.
 *
 * @example
 * Validations.of(role).acknowledge(...complianceAcks('IAMNoInlinePolicy', INLINE_POLICY_REASON));
 */
export function complianceAcks(rule: string, reason: string): { id: string; reason: string }[] {
  return COMPLIANCE_PACKS.map((pack) => ({ id: `${pack}-${rule}`, reason }));
}

/** The packs an environment is held to: AwsSolutions everywhere, the compliance packs in production. */
export function nagPacksFor(config: Pick<EnvironmentConfig, 'name'>): KitNagPack[] {
  const packs: NagPack[] = [new (nagModule().AwsSolutionsChecks)(undefined, { verbose: true })];
  if (config.name === 'production') packs.push(...compliancePacks());
  return packs.map((p) => new KitNagPack(p));
}

export class StageNagPlugin implements IPolicyValidationPlugin {
  readonly name: string;

  constructor(
    private readonly scope: IConstruct,
    private readonly pack: KitNagPack,
  ) {
    this.name = pack.readPackName;
  }

  validate(context: IPolicyValidationContext): PolicyValidationPluginReport {
    const run = () => this.pack.validateScope(this.scope);
    // An unchanged stage is not walked again when the app caches reports (lib/constructs/nag-cache.ts).
    return activeNagCache()?.report(this.scope, this.pack.identity, context, run) ?? run();
  }
}

export const nagPluginsFor = (scope: IConstruct, config: Pick<EnvironmentConfig, 'name'>): StageNagPlugin[] =>
  nagPacksFor(config).map((pack) => new StageNagPlugin(scope, pack));

/**
 * The reason every house role gives the compliance packs' IAMNoInlinePolicy: the kit's permissions are
 * CDK grants scoped to one role's own resources, and belong to the role's lifecycle.
 */
export const INLINE_POLICY_REASON =
  "Permissions are CDK grants scoped to this role's own resources (a table, a bucket, a log group); kept inline they are created, changed and deleted with the role, where a reusable managed policy would outlive it and invite sharing.";

/**
 * The packs the delivery stack is held to: AwsSolutions and the compliance packs, since it deploys
 * to production and holds what production is built from. The stages it deploys are nested in it and
 * validated by their own packs (`MlopsStage`), so their findings are left out here.
 */
export function deliveryNagPacks(): KitNagPack[] {
  return [new (nagModule().AwsSolutionsChecks)(undefined, { verbose: true }), ...compliancePacks()].map((p) => new KitNagPack(p));
}

/** A pack's report over `scope` without the findings inside stages nested in it. */
export function validateOutsideStages(pack: KitNagPack, scope: IConstruct): PolicyValidationPluginReport {
  const report = pack.validateScope(scope);
  const stages = scope.node.findAll().filter((c) => c !== scope && Stage.isStage(c)).map((s) => `${s.node.path}/`);
  const violations = report.violations
    .map((v) => ({ ...v, violatingResources: v.violatingResources.filter((r) => !stages.some((s) => (r.constructPath ?? '').startsWith(s))) }))
    .filter((v) => v.violatingResources.length > 0);
  return { ...report, violations, success: violations.length === 0 };
}

export const deliveryNagPlugins = (scope: IConstruct): IPolicyValidationPlugin[] =>
  deliveryNagPacks().map((pack) => ({ name: pack.readPackName, validate: () => validateOutsideStages(pack, scope) }));
