/**
 * `mlops render seldon`: prints the SeldonDeployment the serving deployer would apply for a model
 * version in an environment, from the same render function and the environment's config, so a
 * rollout can be reviewed (or applied by hand with `kubectl apply -f -`) before the registry
 * promotes anything.
 *
 * @example
 * mlops render seldon --model wine-quality --version 5 --env production
 * mlops render seldon --model wine-quality --version 5 --canary-of 4 --env staging --format json \
 *   --artifact-uri s3://artifacts/training/job-5/output/model.tar.gz --image 1234….dkr.ecr….amazonaws.com/…:tag
 */
import type { Command } from 'commander';
import { ConfigError, type EnvironmentConfig, resolveEnvironment, selectEnvironmentNames } from '../config';
import type { renderSeldonDeployment as RenderSeldonDeployment } from '../serving-infra/seldon';
import { CliError, type CommandModule } from './program';

/** What the image is called when none is given: the asset's ECR URI is only known once deployed. */
export const imagePlaceholder = (env: string): string =>
  `<model-server image: the ModelServerImageUri output of mlops-${env}-Serving, or pass --image>`;

/** What an artifact is called when none is given: the registry knows it (get-download-uri). */
export const artifactPlaceholder = (model: string, version: string): string =>
  `<artifact of ${model} version ${version}: the registry's download URI, or pass --artifact-uri>`;

interface RenderOptions {
  readonly model: string;
  readonly version: string;
  readonly env: string;
  readonly canaryOf?: string;
  readonly format: string;
  readonly artifactUri?: string;
  /** The new version's `mlops.artifact_sha256` and `mlops.artifact_version_id`, as the deployer pins them. */
  readonly artifactSha256?: string;
  readonly artifactVersionId?: string;
  readonly previousArtifactUri?: string;
  readonly image?: string;
  readonly requestLogUri?: string;
}

function environment(name: string): EnvironmentConfig {
  try {
    const [selected] = selectEnvironmentNames(name);
    return resolveEnvironment(selected!, { env: process.env });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message);
    throw err;
  }
}

/**
 * The manifests as text. With `canaryOf`, the previous version stays the stable predictor and the
 * new one gets `serving.canaryTrafficPercent` of the traffic, as during a rollout.
 */
export async function renderSeldonText(options: RenderOptions): Promise<string> {
  if (options.format !== 'yaml' && options.format !== 'json') {
    throw new CliError(`--format must be yaml or json, but ${JSON.stringify(options.format)} was provided`);
  }
  const config = environment(options.env);
  // Loaded when the command runs (see lib/cli/local.ts).
  const [{ stringify }, { MODEL_NAMESPACE, RenderError, renderSeldonDeployment }] = await Promise.all([
    import('yaml'),
    import('../serving-infra/seldon'),
  ]);
  const percent = config.serving.canaryTrafficPercent;
  if (options.canaryOf !== undefined && (percent <= 0 || percent >= 100)) {
    throw new CliError(
      `--canary-of needs serving.canaryTrafficPercent between 1 and 99, but ${config.name} has ${percent}: the deployer replaces versions directly there`,
    );
  }
  const newVersion = {
    version: options.version,
    artifactUri: options.artifactUri ?? artifactPlaceholder(options.model, options.version),
    ...(options.artifactSha256 === undefined ? {} : { artifactSha256: options.artifactSha256 }),
    ...(options.artifactVersionId === undefined ? {} : { artifactVersionId: options.artifactVersionId }),
  };
  const common = {
    model: options.model,
    image: options.image ?? imagePlaceholder(config.name),
    namespace: MODEL_NAMESPACE,
    replicas: config.serving.modelReplicas,
    autoscaling: { ...config.serving.autoscaling, metricsRegion: config.region },
    ...(options.requestLogUri === undefined ? {} : { requestLogUri: options.requestLogUri }),
  };
  let manifests: ReturnType<typeof RenderSeldonDeployment>;
  try {
    manifests =
      options.canaryOf === undefined
        ? renderSeldonDeployment({ ...common, ...newVersion })
        : renderSeldonDeployment({
            ...common,
            version: options.canaryOf,
            artifactUri: options.previousArtifactUri ?? artifactPlaceholder(options.model, options.canaryOf),
            canary: { ...newVersion, trafficPercent: percent },
          });
  } catch (err) {
    if (err instanceof RenderError) throw new CliError(err.message);
    throw err;
  }
  if (options.format === 'json') {
    return `${JSON.stringify(manifests.length === 1 ? manifests[0] : { apiVersion: 'v1', kind: 'List', items: manifests }, null, 2)}\n`;
  }
  return manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
}

/** Registers `mlops render seldon`. */
export const renderCommands: CommandModule = (program: Command) => {
  const render = program
    .command('render')
    .description('print what the platform would deploy, without deploying it');
  render
    .command('seldon')
    .description(
      'print the SeldonDeployment the serving deployer would apply for a model version (YAML by default)',
    )
    .requiredOption('--model <name>', 'registered model name (the deployment is its lower-cased form)')
    .requiredOption('--version <version>', 'the model version to deploy')
    .requiredOption(
      '--env <env>',
      'environment whose config sizes the deployment (local, staging, production)',
    )
    .option(
      '--canary-of <version>',
      'render a canary: this stable version plus the new one at the canary share',
    )
    .option('--format <format>', 'yaml or json', 'yaml')
    .option('--artifact-uri <uri>', "the new version's model.tar.gz (default: a named placeholder)")
    .option('--artifact-sha256 <hex>', "the new version's registered digest (mlops.artifact_sha256): MODEL_SHA256")
    .option('--artifact-version-id <id>', "the new version's S3 object version (mlops.artifact_version_id): MODEL_VERSION_ID")
    .option('--previous-artifact-uri <uri>', "the stable version's model.tar.gz with --canary-of")
    .option('--image <uri>', 'the model server image (default: a named placeholder)')
    .option(
      '--request-log-uri <s3-uri>',
      's3://bucket/prefix/ for request logs (the deployer uses the raw bucket)',
    )
    .action(async (opts: RenderOptions) => {
      process.stdout.write(await renderSeldonText(opts));
    });
};
