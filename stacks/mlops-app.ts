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
import { PREFIX_ACKNOWLEDGEMENTS } from '../lib/constructs/nag';
import { useNagCache } from '../lib/constructs/nag-cache';
import { useValidationCache } from '../lib/constructs/validation-cache';
import { MlopsStage, stageId } from './mlops-stage';

export interface CreateMlopsAppOptions {
  readonly configs: readonly EnvironmentConfig[];
  /** @default true */
  readonly nag?: boolean;
  /**
   * Runs CDK's CloudFormation template validator at synthesis (WASM, a few seconds for templates
   * not validated before; findings are cached per template by content). Off only for the local
   * stage `mlops up` synthesizes for itself (bin/synth-local.ts).
   * @default true
   */
  readonly validation?: boolean;
  /** @default - the CDK default (CDK_OUTDIR or a temp dir) */
  readonly outdir?: string;
  /** Extra context (the CLI's context arrives through CDK_CONTEXT_JSON by itself). */
  readonly context?: Record<string, unknown>;
}

/**
 * The app fails synthesis itself on an unacknowledged finding. The CDK CLI turns that off (it reads
 * the report instead), but `cdk synth` checks only the stacks it selected, and with every stack in
 * a stage it selects none: a cdk-nag error passed `npx cdk synth` with exit code 0.
 */
export const FAIL_ON_FINDINGS = { '@aws-cdk/core:failSynthOnValidationErrors': true } as const;

export function createMlopsApp(options: CreateMlopsAppOptions): App {
  // Unchanged templates are not validated again, nor unchanged stages nagged again (both caches are
  // keyed by the content of what they check: lib/constructs/{validation,nag}-cache.ts).
  if (options.validation ?? true) useValidationCache();
  if (options.nag ?? true) useNagCache([PREFIX_ACKNOWLEDGEMENTS]);
  const app = new App({
    outdir: options.outdir,
    builtinCloudFormationValidation: options.validation ?? true,
    // Path metadata lets the local runtime and error messages name constructs, as `cdk synth` does.
    context: { ...FEATURE_FLAGS, 'aws:cdk:enable-path-metadata': true, ...options.context },
    postCliContext: FAIL_ON_FINDINGS,
  });
  for (const config of options.configs)
    new MlopsStage(app, stageId(config.name), { config, nag: options.nag });
  return app;
}
