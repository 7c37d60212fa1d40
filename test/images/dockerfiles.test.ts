/**
 * Issue 18, supply chain: the kit's images are right by construction. Each Dockerfile is parsed
 * (no Docker here): every FROM is pinned by digest, on Node 24, the runtime stage is distroless and
 * runs as a non-root user (the trainer's documented exception aside), and nothing is fetched by URL.
 * That COPY sources exist in the build context the CDK asset stages is checked beside each asset
 * (test/serving-stack/stack.test.ts, test/pipelines/stacks.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { MODEL_SERVER_UID } from '../../lib/serving-infra/seldon';
import {
  addsFromUrls,
  contextSources,
  DOCKERFILES,
  fromImage,
  isRoot,
  parseDockerfile,
  readDockerfile,
  runtimeUser,
  stagesOf,
  unpinnedFroms,
} from './dockerfile';

/**
 * Images allowed to run as root, and why. SageMaker runs training containers as root and mounts
 * /opt/ml owned by root (its documented contract), so a non-root trainer could not write its model.
 */
const ROOT_IMAGES: Record<string, string> = {
  'lib/trainer/Dockerfile': 'SageMaker training containers run as root and write root-owned /opt/ml',
};

describe.each(DOCKERFILES)('%s', (path) => {
  const instructions = readDockerfile(path);
  const stages = stagesOf(instructions);

  it('pins every base image by digest', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(unpinnedFroms(instructions)).toEqual([]);
  });

  it('builds on node:24 and runs on distroless Node 24 (no shell, no package manager)', () => {
    const images = stages.map((s) => fromImage(s.from));
    expect(images[0]).toMatch(/^node:24-bookworm-slim@sha256:[0-9a-f]{64}$/);
    expect(images.at(-1)).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot@sha256:[0-9a-f]{64}$/);
    // Distroless has no shell: the runtime stage may not RUN anything.
    expect(stages.at(-1)!.body.filter((i) => i.keyword === 'RUN')).toEqual([]);
  });

  it('runs as a non-root user, or is a documented exception', () => {
    const user = runtimeUser(instructions);
    if (ROOT_IMAGES[path] === undefined) {
      expect(isRoot(user), `${path} runs as ${user}`).toBe(false);
      // Numeric, so Kubernetes' runAsNonRoot can verify it without the image's /etc/passwd.
      expect(user).toMatch(/^\d+(:\d+)?$/);
    } else {
      expect(user).toBe('0:0');
    }
  });

  it('fetches nothing by URL and copies only from the build context or its own stages', () => {
    expect(addsFromUrls(instructions)).toEqual([]);
    expect(contextSources(instructions).every((src) => !src.startsWith('/') && !src.includes('..'))).toBe(true);
  });
});

it('runs the model server as the uid model pods declare', () => {
  expect(runtimeUser(readDockerfile('lib/serving/Dockerfile'))).toBe(`${MODEL_SERVER_UID}:${MODEL_SERVER_UID}`);
});

describe('the Dockerfile rules catch what they guard', () => {
  it('fails if a FROM names an image by tag only (a stage named earlier is no image)', () => {
    const parsed = parseDockerfile(
      [
        'FROM node:24-bookworm-slim AS build',
        'FROM --platform=linux/amd64 build AS again',
        'FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:' + 'a'.repeat(64),
        'FROM busybox:latest@sha256:abc',
      ].join('\n'),
    );
    expect(unpinnedFroms(parsed)).toEqual(['node:24-bookworm-slim', 'busybox:latest@sha256:abc']);
  });

  it('fails if the runtime stage names no user (Docker runs it as root) or root', () => {
    expect(runtimeUser(parseDockerfile('FROM a@sha256:x AS b\nUSER 1000\nFROM c\n'))).toBe('root');
    expect(isRoot(runtimeUser(parseDockerfile('FROM c\nUSER 0:0\n')))).toBe(true);
    expect(isRoot(runtimeUser(parseDockerfile('FROM c\nUSER 65532:65532\n')))).toBe(false);
  });

  it('fails if ADD fetches a URL; reads continuation lines and skips comments', () => {
    const parsed = parseDockerfile(
      '# ADD https://example.com/not-an-instruction\nFROM c\nADD --chmod=644 \\\n  https://example.com/x.tgz /x\nCOPY --from=build /out /out\nCOPY a b ./\n',
    );
    expect(addsFromUrls(parsed)).toEqual(['--chmod=644 https://example.com/x.tgz /x']);
    expect(contextSources(parsed)).toEqual(['https://example.com/x.tgz', 'a', 'b']);
  });
});
