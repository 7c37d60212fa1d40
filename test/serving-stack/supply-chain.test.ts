/**
 * Issue 18, supply chain: Seldon Core must stay below 1.18 (1.17.1 is the last Apache-2.0 release;
 * 1.18 and later are BSL). The guard reads every version pin of Seldon Core in the repository's
 * tracked files and in the synthesized staging and production templates, so an upgrade anywhere
 * (the constant, a chart, an image, a vendored fixture) fails it.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { resolveEnvironment } from '../../lib/config';
import { ImageMirror } from '../../lib/constructs/image-mirror';
import { PROJECT_ROOT } from '../../lib/constructs/mlops-function';
import { SELDON_CHART, SELDON_CORE_VERSION } from '../../lib/constructs/model-cluster';
import { chartVersion, gitTreeId, listingSha256, verifyChart } from '../../lib/serving-infra/chart-provenance';
import { imageReferencesIn, isDigestPinned, UNRESOLVED_DIGEST } from '../../lib/serving-infra/images';
import { AWS_ENVIRONMENTS, synthServing } from './synth';

/** The first version under the Business Source License. */
const FIRST_BSL = [1, 18] as const;

/**
 * Seldon Core version pins in a text: `Seldon Core 1.17.1`, `seldon-core-1.17.1`, `seldon-core v1.17.1`,
 * `seldon-core-operator 1.17.1`, images `seldonio/seldon-core-executor:1.17.1`, and the kit's
 * `SELDON_CORE_VERSION = '1.17.1'`: full major.minor.patch versions, as charts, images and releases
 * are named, so prose about a release line ("1.18 or later is BSL") is not read as a pin. Not other
 * Seldon products (MLServer, mock images).
 */
export function seldonCoreVersionsIn(text: string): string[] {
  const patterns = [
    /seldon[-_ ]core(?:[-_][a-z0-9]+)*[-_ :]+v?(\d+\.\d+\.\d+)/gi,
    /SELDON_CORE_VERSION\s*=\s*['"]v?(\d+\.\d+\.\d+)['"]/g,
  ];
  return patterns.flatMap((re) => [...text.matchAll(re)].map((m) => m[1]!));
}

const isBsl = (version: string): boolean => {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return major > FIRST_BSL[0] || (major === FIRST_BSL[0] && minor >= FIRST_BSL[1]);
};

/** This file: its "recognizes a BSL pin" cases are the only BSL versions the repository may name. */
const THIS_FILE = 'test/serving-stack/supply-chain.test.ts';

/** Text files git tracks (no lockfile: package names there are not Seldon pins; not this file). */
function trackedTexts(): { path: string; text: string }[] {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: PROJECT_ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((f) => f !== '' && f !== 'package-lock.json' && f !== THIS_FILE && !/\.(png|jpg|gif|ico|woff2?|parquet|gz|zip)$/.test(f));
  return files.flatMap((path) => {
    try {
      return [{ path, text: readFileSync(join(PROJECT_ROOT, path), 'utf8') }];
    } catch {
      return []; // deleted in the work tree
    }
  });
}

describe('Seldon Core stays below 1.18 (BSL)', () => {
  it('pins the kit constant to an Apache-2.0 release', () => {
    expect(isBsl(SELDON_CORE_VERSION), SELDON_CORE_VERSION).toBe(false);
  });

  it('fails if any tracked file pins Seldon Core 1.18 or later', () => {
    const pins = trackedTexts().flatMap(({ path, text }) => seldonCoreVersionsIn(text).map((v) => ({ path, v })));
    // Not blind: the constant, the README, the vendored CRD and specs all name the version.
    expect(pins.length).toBeGreaterThan(5);
    expect(pins.filter((p) => isBsl(p.v)).map((p) => `${p.path}: ${p.v}`)).toEqual([]);
  });

  it.each(AWS_ENVIRONMENTS)('fails if the %s template installs a Seldon Core chart or image of 1.18 or later', (name) => {
    const { template } = synthServing()[name];
    const charts = Object.values(template.findResources('Custom::AWSCDK-EKS-HelmChart')).filter(
      (c) => c['Properties']['Release'] === 'seldon-core',
    );
    expect(charts).toHaveLength(1);
    // The chart is the vendored directory (an asset), whose Chart.yaml names its version.
    expect(charts[0]!['Properties']['ChartAssetURL']).toBeDefined();
    const version = chartVersion(SELDON_CHART.directory)!;
    expect(version).toBe(SELDON_CORE_VERSION);
    expect(isBsl(version)).toBe(false);
    const text = [JSON.stringify(template.toJSON()), ...clusterImagesOf(template.toJSON())].join('\n');
    const pins = seldonCoreVersionsIn(text);
    // Not blind: the operator's and the executor's images name their version.
    expect(pins.length).toBeGreaterThanOrEqual(2);
    expect(pins.filter(isBsl)).toEqual([]);
  });

  it.each([
    ["SELDON_CORE_VERSION = '1.18.0'", '1.18.0'],
    ['image: seldonio/seldon-core-executor:1.19.2', '1.19.2'],
    ['helm install seldon-core-operator 2.0.0', '2.0.0'],
    ['Seldon Core v1.18.1', '1.18.1'],
  ])('recognizes a BSL pin in %j', (text, version) => {
    expect(seldonCoreVersionsIn(text)).toEqual([version]);
    expect(isBsl(version)).toBe(true);
  });

  it('reads no Seldon Core pin from other Seldon products or from prose about the licence', () => {
    expect(seldonCoreVersionsIn('seldonio/mlserver:1.20.0 and seldonio/mock_classifier:1.0')).toEqual([]);
    expect(seldonCoreVersionsIn('Seldon Core 1.17.1 is the last Apache-2.0 release; 1.18+ is BSL')).toEqual(['1.17.1']);
    expect(seldonCoreVersionsIn('a test fails if Seldon Core 1.18 or later is pinned')).toEqual([]);
  });
});

/**
 * A template's values with every intrinsic flattened to text (`Fn::Join` joined, other tokens as
 * `TOKEN`), so the manifests and Helm values it carries as JSON strings can be parsed.
 */
function flatten(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flatten);
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if (Array.isArray(o['Fn::Join'])) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => (typeof p === 'string' ? p : 'TOKEN')).join(sep);
  }
  if (Object.keys(o).some((k) => k === 'Ref' || k.startsWith('Fn::'))) return 'TOKEN';
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, flatten(v)]));
}

/**
 * Every container image a template makes the cluster pull: `image` fields and the executor image of
 * the Kubernetes manifests it applies, and the Helm charts' image values (`registry`/`repository`/
 * `tag`, which the charts render as `<registry>/<repository>:<tag>`).
 */
export function clusterImagesOf(template: Record<string, any>): string[] {
  const resources = Object.values(template['Resources'] ?? {}) as { Type: string; Properties?: Record<string, unknown> }[];
  const documents = resources.flatMap((r) => {
    const p = flatten(r.Properties ?? {}) as Record<string, unknown>;
    if (r.Type === 'Custom::AWSCDK-EKS-KubernetesResource') return [JSON.parse(String(p['Manifest']))];
    if (r.Type === 'Custom::AWSCDK-EKS-HelmChart' && p['Values'] !== undefined) return [JSON.parse(String(p['Values']))];
    return [];
  });
  const helmImages: string[] = [];
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(visit);
    else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if (typeof o['repository'] === 'string' && typeof o['tag'] === 'string') {
        // As the container runtime reads it: a first path part with a dot is a registry host already.
        const repository = o['repository'] as string;
        const hosted = o['registry'] === undefined && /^[^/]+\.[^/]+\//.test(repository);
        helmImages.push(`${hosted ? '' : `${o['registry'] ?? 'docker.io'}/`}${repository}:${o['tag']}`);
      }
      Object.values(o).forEach(visit);
    }
  };
  documents.forEach(visit);
  return [...imageReferencesIn(documents), ...helmImages];
}

describe.each(AWS_ENVIRONMENTS)('Images the %s cluster pulls', (name) => {
  const { template } = synthServing()[name];
  const images = clusterImagesOf(template.toJSON());

  it('are the router, the Seldon operator and executor, each from the ECR pull-through cache by digest', () => {
    // <account>.dkr.ecr.<region>.<URL suffix>/<the environment's cache prefix>/<Docker Hub repository>
    const mirror = `^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.TOKEN/mlops-${name}-docker-hub/`;
    const from = (repository: string) => new RegExp(`${mirror}${repository}@sha256:[0-9a-f]{64}$`);
    // nginx runs twice in the router pod: the router and its route reloader (same image).
    expect(images.filter((i) => from('nginxinc/nginx-unprivileged:1\\.28-alpine').test(i))).toHaveLength(2);
    expect(images.filter((i) => from(`seldonio/seldon-core-operator:${SELDON_CORE_VERSION}`).test(i))).toHaveLength(1);
    expect(images.filter((i) => from(`seldonio/seldon-core-executor:${SELDON_CORE_VERSION}`).test(i))).toHaveLength(1);
    // The cluster autoscaler comes from Kubernetes' own registry, through a second cache rule.
    const k8sMirror = `^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.TOKEN/mlops-${name}-k8s/`;
    expect(images.filter((i) => new RegExp(`${k8sMirror}autoscaling/cluster-autoscaler:v1\\.36\\.\\d+@sha256:[0-9a-f]{64}$`).test(i))).toHaveLength(1);
    // KEDA (request-rate autoscaling) comes from ghcr.io, through a third rule with its own credential.
    const ghcrMirror = `^\\d{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.TOKEN/mlops-${name}-ghcr/`;
    for (const keda of ['keda', 'keda-metrics-apiserver', 'keda-admission-webhooks']) {
      expect(images.filter((i) => new RegExp(`${ghcrMirror}kedacore/${keda}:2\\.20\\.2@sha256:[0-9a-f]{64}$`).test(i)), keda).toHaveLength(1);
    }
    expect(images.filter((i) => ![mirror, k8sMirror, ghcrMirror].some((m) => new RegExp(m).test(i)))).toEqual([]);
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: `mlops-${name}-ghcr`,
      UpstreamRegistry: 'github-container-registry',
      UpstreamRegistryUrl: 'ghcr.io',
      CredentialArn: Match.stringLikeRegexp('^arn:aws:secretsmanager:.*:secret:ecr-pullthroughcache/'),
    });
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: `mlops-${name}-k8s`,
      UpstreamRegistry: 'k8s',
      UpstreamRegistryUrl: 'registry.k8s.io',
    });
    template.hasResourceProperties('AWS::ECR::PullThroughCacheRule', {
      EcrRepositoryPrefix: `mlops-${name}-docker-hub`,
      UpstreamRegistry: 'docker-hub',
      UpstreamRegistryUrl: 'registry-1.docker.io',
      CredentialArn: Match.stringLikeRegexp('^arn:aws:secretsmanager:.*:secret:ecr-pullthroughcache/'),
    });
  });

  it('fails if any image in the manifests or chart values is referenced by tag only', () => {
    expect(images.length).toBeGreaterThanOrEqual(3);
    expect(images.filter((i) => !isDigestPinned(i))).toEqual([]);
  });

  it("names the kit's own model server image by its content hash in CDK's immutable-tag assets repository", () => {
    // The deployer renders each SeldonDeployment with MODEL_IMAGE at run time. The image is a CDK
    // asset: its tag is the SHA-256 of the build context, in the bootstrap repository, whose tags
    // are IMMUTABLE (aws-cdk's bootstrap template), so the tag names one image as a digest would.
    const text = JSON.stringify(template.toJSON());
    const assets = [...text.matchAll(/container-assets-[\w-]+:([^"\\]+)/g)].map((m) => m[1]!);
    expect(assets.length).toBeGreaterThan(0);
    expect(assets.filter((tag) => !/^[0-9a-f]{64}$/.test(tag))).toEqual([]);
  });
});

describe('the image guard catches a tag-only reference', () => {
  it('reads manifests and Helm values, and tells a digest from a tag', () => {
    const template = {
      Resources: {
        M: {
          Type: 'Custom::AWSCDK-EKS-KubernetesResource',
          Properties: {
            Manifest: {
              'Fn::Join': ['', ['[{"spec":{"containers":[{"image":"', { Ref: 'AWS::AccountId' }, '.dkr.ecr/x/nginx:1.28"}]}}]']],
            },
          },
        },
        H: {
          Type: 'Custom::AWSCDK-EKS-HelmChart',
          Properties: { Values: JSON.stringify({ image: { repository: 'seldonio/seldon-core-operator', tag: '1.17.1' } }) },
        },
      },
    };
    const images = clusterImagesOf(template);
    expect(images).toEqual(['TOKEN.dkr.ecr/x/nginx:1.28', 'docker.io/seldonio/seldon-core-operator:1.17.1']);
    expect(images.filter((i) => !isDigestPinned(i))).toHaveLength(2);
    expect(isDigestPinned(`x/nginx:1.28@sha256:${'a'.repeat(64)}`)).toBe(true);
  });
});

describe('The vendored Seldon Core chart', () => {
  it('is the upstream v1.17.1 chart directory, byte for byte (git tree and sha256 pinned)', () => {
    expect(gitTreeId(SELDON_CHART.directory)).toBe(SELDON_CHART.gitTree);
    expect(listingSha256(SELDON_CHART.directory)).toBe(SELDON_CHART.sha256);
    expect(() => verifyChart(SELDON_CHART.directory, SELDON_CHART)).not.toThrow();
  });

  it('fails synthesis if a file of the chart changes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlops-chart-'));
    try {
      cpSync(SELDON_CHART.directory, dir, { recursive: true });
      writeFileSync(join(dir, 'values.yaml'), `${readFileSync(join(dir, 'values.yaml'), 'utf8')}\nextra: true\n`);
      expect(() => verifyChart(dir, SELDON_CHART)).toThrow(
        `The chart in ${dir} must be the git tree ${SELDON_CHART.gitTree} (the upstream release's), but`,
      );
      writeFileSync(join(dir, 'Chart.yaml'), readFileSync(join(dir, 'Chart.yaml'), 'utf8').replace('version: 1.17.1', 'version: 1.18.0'));
      expect(() => verifyChart(dir, SELDON_CHART)).toThrow('must be version 1.17.1, but Chart.yaml declares 1.18.0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Image pins in config and the mirror', () => {
  const digest = `sha256:${'b'.repeat(64)}`;
  const credential = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-AbCdEf';

  it.each([
    [{ images: { router: 'docker.io/nginxinc/nginx-unprivileged:1.28-alpine' } }, /serving\.images entries must be pinned by digest/],
    [{ images: { seldonExecutor: `quay.io/seldonio/seldon-core-executor:1.17.1@${digest}` } }, /serving\.images entries must be pinned by digest/],
    [{ dockerHubCredentialArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:docker-hub' }, /serving\.dockerHubCredentialArn must be the ARN of a Secrets Manager secret named ecr-pullthroughcache\//],
  ])('fails if the config gives %o', (serving, message) => {
    expect(() => resolveEnvironment('production', { env: {}, overrides: { production: { serving } } })).toThrow(message);
  });

  it('mirrors a pinned image under the environment prefix, keeping tag and digest, and warns on an unresolved digest', () => {
    const app = new App();
    const stack = new Stack(app, 'Mirror', { env: { account: '123456789012', region: 'eu-west-1' } });
    const mirror = new ImageMirror(stack, 'Mirror', { environmentName: 'staging', dockerHubCredentialArn: credential });
    expect(stack.resolve(mirror.referenceOf(`docker.io/seldonio/seldon-core-executor:1.17.1@${digest}`))).toEqual({
      'Fn::Join': ['', ['123456789012.dkr.ecr.eu-west-1.', { Ref: 'AWS::URLSuffix' }, `/mlops-staging-docker-hub/seldonio/seldon-core-executor:1.17.1@${digest}`]],
    });
    Annotations.fromStack(stack).hasNoWarning('*', Match.anyValue());
    mirror.referenceOf(`docker.io/seldonio/seldon-core-operator:1.17.1@${UNRESOLVED_DIGEST}`);
    Annotations.fromStack(stack).hasWarning('/Mirror/Mirror', Match.stringLikeRegexp('seldonio/seldon-core-operator:1.17.1 has no digest yet'));
    expect(() => mirror.referenceOf('docker.io/seldonio/seldon-core-executor:1.17.1')).toThrow(
      'An image must be pinned as docker.io/<repository>:<tag>@sha256:<64 hex digits>, but "docker.io/seldonio/seldon-core-executor:1.17.1" was provided',
    );
  });

  it('fails if the environment name makes the cache prefix longer than ECR allows (30)', () => {
    const stack = new Stack(new App(), 'Long');
    expect(() => new ImageMirror(stack, 'Mirror', { environmentName: 'pre-production', dockerHubCredentialArn: credential })).toThrow(
      'ImageMirror environmentName must be at most 13 characters (ECR repository prefixes are at most 30), but "pre-production" was provided',
    );
  });
});
