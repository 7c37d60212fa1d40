/**
 * The repository's `.dockerignore` holds what each image's build needs when the image is built by
 * hand from the repository root (`docker build -f lib/serving/Dockerfile .`, as the Dockerfiles'
 * headers say): the context Docker would send is staged with CDK's implementation of Docker's ignore
 * rules, and each Dockerfile's bundling step runs in it. The contexts the CDK assets stage (narrower,
 * lib/constructs/image-context.ts) are checked the same way beside each asset
 * (test/pipelines/stacks.test.ts, test/serving-stack/stack.test.ts).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSystem, IgnoreMode } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { MODEL_SERVER_CONTEXT, TRAINER_CONTEXT } from '../../lib/constructs/image-context';
import { PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { bundleInContext } from './dockerfile';

const scratch = mkdtempSync(join(tmpdir(), 'mlops-dockerignore-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The repository root as `docker build` sends it: `.dockerignore` applied. */
function dockerBuildContext(): string {
  const patterns = readFileSync(join(PROJECT_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const dir = join(scratch, 'context');
  FileSystem.copyDirectory(PROJECT_ROOT, dir, { exclude: patterns, ignoreMode: IgnoreMode.DOCKER });
  return dir;
}

describe('.dockerignore', () => {
  const context = dockerBuildContext();

  it("sends the manifests and the lib/ directories of both images' builds, nothing else", () => {
    expect(readdirSync(context).sort()).toEqual(['lib', 'package-lock.json', 'package.json', 'tsconfig.json']);
    expect(readdirSync(join(context, 'lib')).map((d) => `lib/${d}`).sort()).toEqual(
      [...new Set([...TRAINER_CONTEXT, ...MODEL_SERVER_CONTEXT])].sort(),
    );
  });

  it.each(['lib/trainer/Dockerfile', 'lib/serving/Dockerfile'])('holds what %s bundles from', { timeout: 120_000 }, (dockerfile) => {
    const built = bundleInContext(context, dockerfile);
    expect(built.failure).toBeUndefined();
    expect(Object.values(built.written)).toHaveLength(1);
    expect(Object.values(built.written)[0]).toBeGreaterThan(50_000);
  });
});
