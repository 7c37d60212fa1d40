/**
 * Third-party container images the cluster runs (the Seldon Core operator and executor, the
 * router's nginx), pinned by digest and pulled through the environment's ECR pull-through cache
 * rather than from Docker Hub: a tag can be moved to other content, a digest cannot, and the nodes
 * reach ECR over the VPC instead of the internet through NAT.
 *
 * A pinned reference keeps its tag for the reader (`seldon-core-executor:1.17.1@sha256:…`); the
 * runtime resolves the digest and ignores the tag.
 *
 * @example
 * const executor = parsePinnedImage('docker.io/seldonio/seldon-core-executor:1.17.1@sha256:…');
 * mirroredReference(executor, '123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-staging-docker-hub');
 * // → 123456789012.dkr.ecr.us-east-1.amazonaws.com/mlops-staging-docker-hub/seldonio/seldon-core-executor:1.17.1@sha256:…
 */

/** An image on Docker Hub named by repository, tag and digest. */
export interface PinnedImage {
  /** The repository on Docker Hub (`seldonio/seldon-core-executor`; official images are `library/<name>`). */
  readonly repository: string;
  readonly tag: string;
  /** `sha256:` and 64 hex digits: the manifest (list) digest the runtime pulls. */
  readonly digest: string;
}

/** `docker.io/<repository>:<tag>@sha256:<64 hex>`, the only form config may name an image in. */
export const PINNED_IMAGE = /^docker\.io\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+):([\w][\w.-]{0,127})@(sha256:[0-9a-f]{64})$/;

/**
 * The digest of zeros stands for a pin nobody has looked up yet: it can never match an image, so a
 * deployment fails at the pull instead of running whatever the tag names today.
 */
export const UNRESOLVED_DIGEST = `sha256:${'0'.repeat(64)}`;

/** A parser of `pattern` (groups: repository, tag, digest) that names the expected `form` on failure. */
const pinnedParser =
  (pattern: RegExp, form: string) =>
  (reference: string): PinnedImage => {
    const m = pattern.exec(reference);
    if (m === null) throw new Error(`An image must be pinned as ${form}, but "${reference}" was provided`);
    return { repository: m[1]!, tag: m[2]!, digest: m[3]! };
  };

/** Reads a pinned reference; throws naming the value when it has no digest or another registry. */
export const parsePinnedImage = pinnedParser(PINNED_IMAGE, 'docker.io/<repository>:<tag>@sha256:<64 hex digits>');

/** `registry.k8s.io/<repository>:<tag>@sha256:<64 hex>`: Kubernetes' own images (the cluster autoscaler). */
export const K8S_PINNED_IMAGE = /^registry\.k8s\.io\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*):([\w][\w.-]{0,127})@(sha256:[0-9a-f]{64})$/;

/** Reads a pinned registry.k8s.io reference; throws naming the value otherwise. */
export const parseK8sPinnedImage = pinnedParser(K8S_PINNED_IMAGE, 'registry.k8s.io/<repository>:<tag>@sha256:<64 hex digits>');

/** `ghcr.io/<repository>:<tag>@sha256:<64 hex>`: images on GitHub's container registry (KEDA). */
export const GHCR_PINNED_IMAGE = /^ghcr\.io\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)+):([\w][\w.-]{0,127})@(sha256:[0-9a-f]{64})$/;

/** Reads a pinned ghcr.io reference; throws naming the value otherwise. */
export const parseGhcrPinnedImage = pinnedParser(GHCR_PINNED_IMAGE, 'ghcr.io/<owner>/<repository>:<tag>@sha256:<64 hex digits>');

/** The image's reference through a pull-through cache whose repositories live under `mirror` (`<registry>/<prefix>`). */
export const mirroredReference = (image: PinnedImage, mirror: string): string =>
  `${mirror}/${image.repository}:${image.tag}@${image.digest}`;

/**
 * Container image references in rendered manifests or Helm values: every `image` field, and
 * Seldon's `EXECUTOR_CONTAINER_IMAGE_AND_VERSION` (the image the operator gives each predictor).
 */
export function imageReferencesIn(value: unknown): string[] {
  const found: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o['image'] === 'string') found.push(o['image']);
      if (o['name'] === 'EXECUTOR_CONTAINER_IMAGE_AND_VERSION' && typeof o['value'] === 'string') found.push(o['value']);
      Object.values(o).forEach(visit);
    }
  };
  visit(value);
  return found;
}

/** Whether a reference names its content by digest (`…@sha256:<64 hex>`), not by a tag alone. */
export const isDigestPinned = (reference: string): boolean => /@sha256:[0-9a-f]{64}$/.test(reference);
