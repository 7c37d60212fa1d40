/**
 * An ECR pull-through cache of Docker Hub: the cluster's third-party images (Seldon Core, nginx)
 * are pulled by digest from `<account>.dkr.ecr.<region>.amazonaws.com/<prefix>/<repository>`,
 * which ECR fills from Docker Hub on the first pull and serves from then on (scanned, in the
 * account, reached through the VPC's ECR endpoints or NAT, never rate-limited by Docker Hub).
 *
 * Why a pull-through cache and not a copy at deploy time: it needs no Docker where `cdk synth` or
 * `cdk deploy` runs (a `DockerImageAsset` of `FROM seldonio/…@sha256:…` would need a Docker engine
 * to publish; cdk-ecr-deployment runs a Lambda with a copying binary and its own internet path),
 * and a pull by digest is byte-for-byte the upstream image. Docker Hub rules require a credential
 * (a Secrets Manager secret named `ecr-pullthroughcache/…`), which the environment names.
 *
 * @example
 * const mirror = new ImageMirror(this, 'ImageMirror', { environmentName: 'staging', dockerHubCredentialArn });
 * mirror.grantPull(nodeRole);
 * const image = mirror.referenceOf('docker.io/seldonio/seldon-core-executor:1.17.1@sha256:…');
 */
import { Annotations, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { mirroredReference, parseGhcrPinnedImage, parseK8sPinnedImage, parsePinnedImage, type PinnedImage, UNRESOLVED_DIGEST } from '../serving-infra/images';
import { PropsError } from './validate-props';

export interface ImageMirrorProps {
  /** Names the cache's repository prefix (`mlops-<env>-docker-hub`), so environments sharing an account do not collide. */
  readonly environmentName: string;
  /** The `ecr-pullthroughcache/…` secret holding a Docker Hub username and access token. */
  readonly dockerHubCredentialArn: string;
  /**
   * The `ecr-pullthroughcache/…` secret holding a GitHub username and token (`read:packages`): ECR
   * caches ghcr.io only with a credential. Images from ghcr.io (KEDA) need it.
   * @default - no ghcr.io cache
   */
  readonly githubCredentialArn?: string;
}

export class ImageMirror extends Construct {
  /** The repository prefix the cached images live under. */
  readonly prefix: string;
  readonly rule: ecr.CfnPullThroughCacheRule;
  /** The prefix of images cached from registry.k8s.io (no credential: a public registry). */
  readonly k8sPrefix: string;
  readonly k8sRule: ecr.CfnPullThroughCacheRule;
  /** The prefix of images cached from ghcr.io. @default - none (no `githubCredentialArn`) */
  readonly ghcrPrefix?: string;

  constructor(scope: Construct, id: string, props: ImageMirrorProps) {
    super(scope, id);
    this.prefix = `mlops-${props.environmentName}-docker-hub`;
    if (this.prefix.length > 30) {
      throw new PropsError(
        `ImageMirror environmentName must be at most 13 characters (ECR repository prefixes are at most 30), but "${props.environmentName}" was provided`,
      );
    }
    this.rule = new ecr.CfnPullThroughCacheRule(this, 'DockerHub', {
      ecrRepositoryPrefix: this.prefix,
      upstreamRegistry: 'docker-hub',
      upstreamRegistryUrl: 'registry-1.docker.io',
      credentialArn: props.dockerHubCredentialArn,
    });
    this.k8sPrefix = `mlops-${props.environmentName}-k8s`;
    this.k8sRule = new ecr.CfnPullThroughCacheRule(this, 'K8sRegistry', {
      ecrRepositoryPrefix: this.k8sPrefix,
      upstreamRegistry: 'k8s',
      upstreamRegistryUrl: 'registry.k8s.io',
    });
    if (props.githubCredentialArn !== undefined) {
      this.ghcrPrefix = `mlops-${props.environmentName}-ghcr`;
      new ecr.CfnPullThroughCacheRule(this, 'GitHubRegistry', {
        ecrRepositoryPrefix: this.ghcrPrefix,
        upstreamRegistry: 'github-container-registry',
        upstreamRegistryUrl: 'ghcr.io',
        credentialArn: props.githubCredentialArn,
      });
    }
  }

  /** `<account>.dkr.ecr.<region>.<suffix>/<ghcr prefix>`: where images cached from ghcr.io are. */
  get ghcrRegistry(): string {
    if (this.ghcrPrefix === undefined) {
      throw new PropsError('ImageMirror needs a githubCredentialArn to cache images from ghcr.io, but none was provided');
    }
    const stack = Stack.of(this);
    return `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${this.ghcrPrefix}`;
  }

  /** The parsed pin of a ghcr.io image (`ghcr.io/<owner>/<repository>:<tag>@sha256:…`), warned about when unresolved. */
  ghcrPinned(pinned: string): PinnedImage {
    const image = parseGhcrPinnedImage(pinned);
    this.warnUnresolved(image);
    return image;
  }

  /** The mirrored reference of a pinned registry.k8s.io image (`registry.k8s.io/<repository>:<tag>@sha256:…`). */
  k8sReferenceOf(pinned: string): string {
    const image = parseK8sPinnedImage(pinned);
    this.warnUnresolved(image);
    const stack = Stack.of(this);
    return mirroredReference(image, `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${this.k8sPrefix}`);
  }

  /** `<account>.dkr.ecr.<region>.<suffix>/<prefix>`: the registry path Helm values put before a repository. */
  get registry(): string {
    const stack = Stack.of(this);
    return `${stack.account}.dkr.ecr.${stack.region}.${stack.urlSuffix}/${this.prefix}`;
  }

  /**
   * The mirrored reference of a pinned Docker Hub image (`docker.io/<repository>:<tag>@sha256:…`).
   * An unresolved pin (the digest of zeros) is a synthesis warning: it deploys, and fails at the pull.
   */
  referenceOf(pinned: string): string {
    return mirroredReference(this.pinned(pinned), this.registry);
  }

  /** The parsed pin, warned about when unresolved. */
  pinned(pinned: string): PinnedImage {
    const image = parsePinnedImage(pinned);
    this.warnUnresolved(image);
    return image;
  }

  private warnUnresolved(image: PinnedImage): void {
    if (image.digest === UNRESOLVED_DIGEST) {
      Annotations.of(this).addWarningV2(
        'mlops-kit:unresolved-image-digest',
        `${image.repository}:${image.tag} has no digest yet (zeros): its pulls fail until serving.images names it (docker buildx imagetools inspect ${image.repository}:${image.tag})`,
      );
    }
  }

  /**
   * Lets `grantee` (the node role: the kubelet pulls) fill the cache: the first pull of an image
   * creates its repository under the prefix and imports it from Docker Hub. Reads of the cached
   * images come with the node's ECR read-only policy.
   */
  grantPull(grantee: iam.IGrantable): iam.Grant {
    const stack = Stack.of(this);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
      resourceArns: [this.prefix, this.k8sPrefix, ...(this.ghcrPrefix === undefined ? [] : [this.ghcrPrefix])].map((prefix) =>
        stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${prefix}/*` }),
      ),
    });
  }
}
