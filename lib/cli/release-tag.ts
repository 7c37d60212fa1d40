/**
 * Git tags as model releases: `release/<model>/<version>` names the registry version to release
 * from staging to production. The release build (`bin/release-tag.ts`, run by the delivery stack's
 * tag-triggered pipeline) reads the release tags at the tagged commit and runs one
 * `mlops release` per tag.
 *
 * @example
 * parseReleaseTag('release/wine-quality/3'); // { model: 'wine-quality', version: '3' }
 * releaseCommand({ model: 'wine-quality', version: '3' }, { from: 'staging', to: 'production' });
 * // ['npx', 'mlops', 'release', '--model', 'wine-quality', '--version', '3', '--from', 'staging', '--to', 'production',
 * //  '--from-profile', 'staging', '--to-profile', 'production']
 */

/** The tag namespace; CodePipeline's trigger matches `release/*`. */
export const RELEASE_TAG_PREFIX = 'release/';

/** A model version a tag names. */
export interface ReleaseRef {
  readonly tag: string;
  readonly model: string;
  readonly version: string;
}

/** A tag that starts with `release/` but does not name a model version. */
export class ReleaseTagError extends Error {
  override readonly name = 'ReleaseTagError';
}

// Registry model names may hold more, but a tag segment cannot hold '/', and a shell word should not need quoting.
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// Registry versions are whole numbers counted from 1.
const VERSION = /^[1-9][0-9]{0,8}$/;

/** Parses `release/<model>/<version>` (or `refs/tags/release/…`). */
export function parseReleaseTag(tag: string): ReleaseRef {
  const name = tag.trim().replace(/^refs\/tags\//, '');
  if (!name.startsWith(RELEASE_TAG_PREFIX)) {
    throw new ReleaseTagError(`a release tag must start with ${RELEASE_TAG_PREFIX}, but ${JSON.stringify(tag)} was provided`);
  }
  const parts = name.slice(RELEASE_TAG_PREFIX.length).split('/');
  if (parts.length !== 2) {
    throw new ReleaseTagError(`a release tag must be release/<model>/<version>, but ${JSON.stringify(tag)} was provided`);
  }
  const [model, version] = parts as [string, string];
  if (!MODEL.test(model)) {
    throw new ReleaseTagError(
      `the model in a release tag must be letters, digits, '.', '_' and '-' (starting with a letter or digit), but ${JSON.stringify(model)} was provided in ${JSON.stringify(tag)}`,
    );
  }
  if (!VERSION.test(version)) {
    throw new ReleaseTagError(`the version in a release tag must be a registry version (1, 2, …), but ${JSON.stringify(version)} was provided in ${JSON.stringify(tag)}`);
  }
  return { tag: name, model, version };
}

/**
 * The release tags among `tags` (one per line, as `git tag --points-at HEAD` prints them), parsed;
 * other tags are ignored, a malformed release tag is an error.
 */
export function releaseRefs(tags: readonly string[]): ReleaseRef[] {
  const seen = new Set<string>();
  return tags
    .map((t) => t.trim())
    .filter((t) => t.replace(/^refs\/tags\//, '').startsWith(RELEASE_TAG_PREFIX))
    .map(parseReleaseTag)
    .filter((r) => !seen.has(r.tag) && seen.add(r.tag));
}

/**
 * The `mlops release` invocation for a ref, as argv: each environment through the AWS profile of
 * its own name (the release build writes `staging` and `production`, each assuming that account's
 * release role).
 */
export function releaseCommand(ref: Pick<ReleaseRef, 'model' | 'version'>, envs: { from: string; to: string }): string[] {
  return [
    'npx', 'mlops', 'release', '--model', ref.model, '--version', ref.version, '--from', envs.from, '--to', envs.to,
    '--from-profile', envs.from, '--to-profile', envs.to,
  ];
}
