/**
 * What each kit image's Docker build context holds: the repository root filtered down to the package
 * manifests and the `lib/` directories its build reaches, and nothing else.
 *
 * The context is what CDK copies into the cloud assembly (`asset.<hash>/`) and fingerprints for the
 * image's asset hash on every synthesis, and what `cdk deploy` sends to Docker. All of `lib/` (342
 * files) made both images depend on code they never run: editing a construct, the local platform or
 * the console changed both image tags, so a deploy rebuilt and pushed both; and a cold synthesis
 * copied 692 files for them. The trainer's build reaches 15 files of `lib/` (its esbuild entry
 * `lib/trainer/container.ts`), the model server's 24 (`lib/serving/bundle.ts`, which bundles
 * `lib/serving/entry.ts`); their directories are listed below.
 *
 * test/images/contexts.test.ts holds the lists to the builds: it stages each context as CDK does and
 * runs the Dockerfile's build step in it, and checks every module the entry's import graph reaches is
 * in the context, and in the repository's `.dockerignore` (which `docker build` applies when an image
 * is built by hand from the repository root, and which holds both images' directories).
 *
 * @example
 * new ecrAssets.DockerImageAsset(this, 'TrainerImage', { directory: PROJECT_ROOT, file: 'lib/trainer/Dockerfile', ...imageContext(TRAINER_CONTEXT) });
 */
import { IgnoreMode } from 'aws-cdk-lib';

/** The package manifests every image's build stage installs from. */
export const IMAGE_MANIFESTS = ['package.json', 'package-lock.json', 'tsconfig.json'] as const;

/** The `lib/` directories the trainer image's build reaches (lib/trainer/Dockerfile). */
export const TRAINER_CONTEXT = ['lib/model', 'lib/shared', 'lib/trainer'] as const;

/** The `lib/` directories the model server image's build reaches (lib/serving/Dockerfile). */
export const MODEL_SERVER_CONTEXT = ['lib/adapters', 'lib/model', 'lib/pipelines', 'lib/serving', 'lib/shared'] as const;

/**
 * A DockerImageAsset's context options for an image whose build reaches `directories`: Docker's
 * ignore rules, everything excluded but the manifests and those directories (after the repository's
 * `.dockerignore`, which CDK reads first, so these decide).
 */
export function imageContext(directories: readonly string[]): { ignoreMode: IgnoreMode; exclude: string[] } {
  return {
    ignoreMode: IgnoreMode.DOCKER,
    exclude: ['**', ...IMAGE_MANIFESTS.map((f) => `!${f}`), ...directories.map((d) => `!${d}/**`)],
  };
}
