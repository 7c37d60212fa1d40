/**
 * The cdk-nag rule packs each environment is held to, run during synthesis.
 *
 * cdk-nag 3 packs are CDK policy-validation plugins that walk the whole app, whichever Stage
 * registered them; {@link StageNagPlugin} narrows a pack to one stage, so production alone is held
 * to NIST 800-53 R5 and a finding is reported once, against the stage it belongs to.
 *
 * @example
 * Validations.of(stage).addPlugins(...nagPluginsFor(stage, config));
 */
import type {
  IPolicyValidationContext,
  IPolicyValidationPlugin,
  PolicyValidationPluginReport,
} from 'aws-cdk-lib';
import { AwsSolutionsChecks, type NagPack, NIST80053R5Checks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import type { EnvironmentConfig } from '../config';

/** The packs an environment is held to: AwsSolutions everywhere, NIST 800-53 R5 in production. */
export function nagPacksFor(config: Pick<EnvironmentConfig, 'name'>): NagPack[] {
  const packs: NagPack[] = [new AwsSolutionsChecks(undefined, { verbose: true })];
  if (config.name === 'production') packs.push(new NIST80053R5Checks(undefined, { verbose: true }));
  return packs;
}

export class StageNagPlugin implements IPolicyValidationPlugin {
  readonly name: string;

  constructor(
    private readonly scope: IConstruct,
    private readonly pack: NagPack,
  ) {
    this.name = pack.readPackName;
  }

  validate(_context: IPolicyValidationContext): PolicyValidationPluginReport {
    return this.pack.validateScope(this.scope);
  }
}

export const nagPluginsFor = (scope: IConstruct, config: Pick<EnvironmentConfig, 'name'>): StageNagPlugin[] =>
  nagPacksFor(config).map((pack) => new StageNagPlugin(scope, pack));

/**
 * The reason every house role gives NIST 800-53 R5's IAMNoInlinePolicy: the kit's permissions are
 * CDK grants scoped to one role's own resources, and belong to the role's lifecycle.
 */
export const INLINE_POLICY_REASON =
  "Permissions are CDK grants scoped to this role's own resources (a table, a bucket, a log group); kept inline they are created, changed and deleted with the role, where a reusable managed policy would outlive it and invite sharing.";
