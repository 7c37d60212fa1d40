/**
 * Builds the CDK app: one `MlopsStage` per selected environment. `bin/app.ts` runs it for the CDK
 * CLI; the local runtime runs it in-process to synthesize the local stage it then brings up.
 *
 * @example
 * const app = createMlopsApp({ configs: resolveEnvironments('local'), nag: false, outdir: '.mlops/local/assembly' });
 * app.synth();
 */
import { App } from 'aws-cdk-lib';
import { type EnvironmentConfig, FEATURE_FLAGS } from '../lib/config';
import { MlopsStage, stageId } from './mlops-stage';

export interface CreateMlopsAppOptions {
  readonly configs: readonly EnvironmentConfig[];
  /** @default true */
  readonly nag?: boolean;
  /**
   * Runs CDK's CloudFormation template validator at synthesis (WASM, a few seconds). Off only for
   * the local stage `mlops up` synthesizes for itself (bin/synth-local.ts).
   * @default true
   */
  readonly validation?: boolean;
  /** @default - the CDK default (CDK_OUTDIR or a temp dir) */
  readonly outdir?: string;
  /** Extra context (the CLI's context arrives through CDK_CONTEXT_JSON by itself). */
  readonly context?: Record<string, unknown>;
}

export function createMlopsApp(options: CreateMlopsAppOptions): App {
  const app = new App({
    outdir: options.outdir,
    builtinCloudFormationValidation: options.validation ?? true,
    // Path metadata lets the local runtime and error messages name constructs, as `cdk synth` does.
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true, ...options.context },
  });
  for (const config of options.configs)
    new MlopsStage(app, stageId(config.name), { config, nag: options.nag });
  return app;
}
