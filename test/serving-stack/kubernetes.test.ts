/**
 * The deployer core against a loopback HTTP server that imitates the Kubernetes API's semantics the
 * deployer relies on (create → 201, 409 AlreadyExists, replace with resourceVersion, 404 Status,
 * label-selector lists, merge patches): without a cluster, the honest boundary to test at.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  applyPromotion,
  checkAvailable,
  type DeployerSettings,
  NotReadyError,
  promoteCanary,
  rollbackCanary,
  syncRouter,
} from '../../lib/serving-infra/deployer';
import {
  eksToken,
  httpTransport,
  KubernetesClient,
  KubernetesError,
} from '../../lib/serving-infra/kubernetes';
import { dispatch, parseDeployerRequest } from '../../lib/serving-infra/requests';
import { routeShardOf } from '../../lib/serving-infra/route-shards';
import { ROUTER_ROUTES_CONFIGMAP, routesConfigMapName } from '../../lib/serving-infra/router';
import type { SeldonDeploymentManifest } from '../../lib/serving-infra/seldon';
import { FakeApiServer } from './fake-kubernetes';

const SDEP = '/apis/machinelearning.seldon.io/v1/namespaces/seldon/seldondeployments';
const CONFIGMAPS = '/api/v1/namespaces/seldon/configmaps';
/** The route shard ConfigMap of wine-quality. */
const ROUTES = `${CONFIGMAPS}/${routesConfigMapName(routeShardOf('seldon', 'wine-quality'))}`;
const LEGACY_ROUTES = `${CONFIGMAPS}/${ROUTER_ROUTES_CONFIGMAP}`;
const ROUTER = '/apis/apps/v1/namespaces/seldon/deployments/mlops-router';

const settings: DeployerSettings = {
  namespace: 'seldon',
  image: 'registry.example/model-server:1',
  replicas: 2,
  canaryTrafficPercent: 20,
  requestLogUri: 's3://raw/predictions/',
};
const promotion = (version: string, eventId = `e-${version}`) => ({
  eventId,
  modelName: 'wine-quality',
  version,
  artifactUri: `s3://artifacts/job-${version}/output/model.tar.gz`,
  previousVersion: null,
});

const api = new FakeApiServer();
let k8s: KubernetesClient;
beforeAll(async () => {
  await api.start();
  k8s = new KubernetesClient(httpTransport({ endpoint: api.url, token: async () => 'k8s-aws-v1.test' }));
});
afterAll(() => api.stop());
beforeEach(() => {
  api.objects.clear();
  api.requests.length = 0;
});

const live = () => api.objects.get(`${SDEP}/wine-quality`) as unknown as SeldonDeploymentManifest;
const traffic = () => live().spec.predictors.map((p) => [p.name, p.traffic]);

describe('KubernetesClient over HTTP', () => {
  it('creates with POST (201) and sends the bearer token', async () => {
    const result = await k8s.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'seldon' },
    });
    expect(result).toBe('created');
    expect(api.requests.map((r) => [r.method, r.path, r.auth])).toEqual([
      ['POST', '/api/v1/namespaces/seldon/configmaps', 'Bearer k8s-aws-v1.test'],
    ]);
  });

  it('replaces on 409 with the live resourceVersion', async () => {
    const cm = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'seldon' },
      data: { v: '1' },
    };
    await k8s.apply(cm);
    const liveVersion = api.objects.get('/api/v1/namespaces/seldon/configmaps/a')!.metadata.resourceVersion;
    const result = await k8s.apply({ ...cm, data: { v: '2' } });
    expect(result).toBe('replaced');
    expect(api.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'GET', 'PUT']);
    const put = api.requests[3]!.body as { metadata: { resourceVersion: string }; data: { v: string } };
    expect(put.metadata.resourceVersion).toBe(liveVersion);
    expect(api.objects.get('/api/v1/namespaces/seldon/configmaps/a')).toMatchObject({ data: { v: '2' } });
  });

  it('surfaces API errors with the Status reason and message', async () => {
    api.failNext = {
      status: 403,
      reason: 'Forbidden',
      message: 'cannot create seldondeployments in the namespace "kube-system"',
    };
    const attempt = k8s.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'a', namespace: 'seldon' },
    });
    await expect(attempt).rejects.toBeInstanceOf(KubernetesError);
    api.failNext = { status: 403, reason: 'Forbidden', message: 'cannot create seldondeployments' };
    await expect(
      k8s.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', namespace: 'seldon' } }),
    ).rejects.toThrow(
      /POST \/api\/v1\/namespaces\/seldon\/configmaps failed with 403 Forbidden: cannot create seldondeployments/,
    );
  });

  it('sends merge patches with their content type', async () => {
    await k8s.mergePatch(ROUTER, { spec: { replicas: 2 } });
    expect(api.requests[0]).toMatchObject({ method: 'PATCH', contentType: 'application/merge-patch+json' });
  });
});

describe('the deployer core', () => {
  it('deploys the first version of a model at 100 %', async () => {
    const result = await applyPromotion(k8s, settings, promotion('1'));
    expect(result).toMatchObject({ plan: 'deploy', deployment: 'wine-quality', stableVersion: '1' });
    expect(traffic()).toEqual([['v1', 100]]);
  });

  it('adds a new version as a canary at the configured share, and ignores a repeated promotion', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    const result = await applyPromotion(k8s, settings, promotion('2'));
    expect(result).toMatchObject({ plan: 'canary', stableVersion: '1', canaryVersion: '2' });
    expect(traffic()).toEqual([
      ['v1', 80],
      ['v2', 20],
    ]);
    // The same version promoted again (at-least-once delivery, or Production then champion).
    const again = await applyPromotion(k8s, settings, promotion('2', 'e-other'));
    expect(again.plan).toBe('none');
    expect(traffic()).toEqual([
      ['v1', 80],
      ['v2', 20],
    ]);
  });

  it('replaces versions directly when the canary share is 0', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    const result = await applyPromotion(k8s, { ...settings, canaryTrafficPercent: 0 }, promotion('2'));
    expect(result.plan).toBe('deploy');
    expect(traffic()).toEqual([['v2', 100]]);
  });

  it('promotes: routes to the canary first, then drops the old predictor', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    await applyPromotion(k8s, settings, promotion('2'));
    api.requests.length = 0;
    const result = await promoteCanary(k8s, settings, 'wine-quality');
    expect(result.stableVersion).toBe('2');
    expect(traffic()).toEqual([['v2', 100]]);
    const writes = api.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    // The shard's routes are written before the predictor change; the router is never restarted.
    expect(writes.indexOf(`POST ${CONFIGMAPS}`)).toBeGreaterThanOrEqual(0);
    expect(writes.indexOf(`POST ${CONFIGMAPS}`)).toBeLessThan(writes.lastIndexOf(`PUT ${SDEP}/wine-quality`));
    expect(writes.filter((w) => w.includes(ROUTER))).toEqual([]);
    // Only the shard of wine-quality: one routes ConfigMap written (created), none of the other 63.
    expect(writes.filter((w) => w.includes(CONFIGMAPS))).toEqual([`POST ${CONFIGMAPS}`]);
    expect([...api.objects.keys()].filter((k) => k.startsWith(`${CONFIGMAPS}/`))).toEqual([ROUTES]);
    const routes = api.objects.get(ROUTES) as unknown as { data: Record<string, string> };
    expect(routes.data['routes.maps']).toContain('* wine-quality-v2.seldon.svc.cluster.local:8000;');
    expect(routes.data['routes.maps']).not.toContain('wine-quality-v1.');
    expect(live().metadata.annotations?.['mlops-kit/previous-version']).toBe('1');
  });

  it('rolls back: the stable version alone at 100 %', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    await applyPromotion(k8s, settings, promotion('2'));
    const result = await rollbackCanary(k8s, settings, 'wine-quality');
    expect(result.stableVersion).toBe('1');
    expect(traffic()).toEqual([['v1', 100]]);
  });

  it('pins each predictor to the promoted version\'s digest and S3 object version, through canary and promotion', async () => {
    // prepare: the registry's promotion events carry the version's mlops.artifact_* tags
    const pinned = (version: string) => ({
      ...promotion(version),
      artifactSha256: version.repeat(64).slice(0, 64).replace(/[^0-9a-f]/g, 'a'),
      artifactVersionId: `object-version-${version}`,
    });
    const envOf = (p: number) => {
      const spec = live().spec.predictors[p]!.componentSpecs[0]!.spec as { containers: { env: { name: string; value: string }[] }[] };
      return Object.fromEntries(spec.containers[0]!.env.map((e) => [e.name, e.value]));
    };
    // act
    await applyPromotion(k8s, settings, pinned('1'));
    await applyPromotion(k8s, settings, pinned('2'));
    // assess: the manifest the API server received carries both pins, per predictor
    expect([envOf(0)['MODEL_SHA256'], envOf(0)['MODEL_VERSION_ID']]).toEqual([pinned('1').artifactSha256, 'object-version-1']);
    expect([envOf(1)['MODEL_SHA256'], envOf(1)['MODEL_VERSION_ID']]).toEqual([pinned('2').artifactSha256, 'object-version-2']);
    await promoteCanary(k8s, settings, 'wine-quality');
    expect([envOf(0)['MODEL_SHA256'], envOf(0)['MODEL_VERSION_ID']]).toEqual([pinned('2').artifactSha256, 'object-version-2']);
    expect(live().metadata.annotations).toMatchObject({
      'mlops-kit/stable-artifact-sha256': pinned('2').artifactSha256,
      'mlops-kit/stable-artifact-version-id': 'object-version-2',
    });
  });

  it('fails if there is no canary to promote or roll back', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    await expect(promoteCanary(k8s, settings, 'wine-quality')).rejects.toThrow(/has no canary to promote/);
    await expect(rollbackCanary(k8s, settings, 'wine-quality')).rejects.toThrow(/has no canary to roll back/);
  });

  it('fails if a deployment of the same name was not made by the kit', async () => {
    api.objects.set(`${SDEP}/wine-quality`, { metadata: { name: 'wine-quality', resourceVersion: '9' } });
    await expect(applyPromotion(k8s, settings, promotion('1'))).rejects.toThrow(
      /was not created by mlops-kit/,
    );
  });

  it('reports NotReady until the operator says Available, and Failed as an error', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    await expect(checkAvailable(k8s, 'seldon', 'wine-quality')).rejects.toBeInstanceOf(NotReadyError);
    const path = `${SDEP}/wine-quality`;
    api.objects.set(path, { ...api.objects.get(path)!, status: { state: 'Available' } });
    await expect(checkAvailable(k8s, 'seldon', 'wine-quality')).resolves.toBe('Available');
    api.objects.set(path, {
      ...api.objects.get(path)!,
      status: { state: 'Failed', description: 'image pull' },
    });
    await expect(checkAvailable(k8s, 'seldon', 'wine-quality')).rejects.toThrow(/failed: image pull/);
  });

  it('rewrites a route shard only when its routes changed, and never restarts the router', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    const first = await syncRouter(k8s, 'seldon');
    expect(first.changed).toBe(true);
    expect(first.shards).toHaveLength(64);
    // A full sync writes the shards that hold routes: here only wine-quality's.
    const written = [...api.objects.keys()].filter((k) => k.startsWith(`${CONFIGMAPS}/`));
    expect(written).toEqual([ROUTES]);
    expect(api.objects.get(ROUTER)).toBeUndefined();
    api.requests.length = 0;
    const second = await syncRouter(k8s, 'seldon');
    expect(second).toMatchObject({ hash: first.hash, changed: false });
    expect(api.requests.filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('keeps deployments of different shards in their own ConfigMaps', async () => {
    const models = ['wine-quality', 'churn', 'fraud-score', 'ltv', 'eta', 'demand'];
    for (const m of models) await applyPromotion(k8s, settings, { ...promotion('1', `e-${m}`), modelName: m });
    await syncRouter(k8s, 'seldon');
    for (const m of models) {
      const cm = api.objects.get(`${CONFIGMAPS}/${routesConfigMapName(routeShardOf('seldon', m))}`) as unknown as {
        data: Record<string, string>;
      };
      expect(cm.data['routes.locations']).toContain(`location /seldon/seldon/${m}/ {`);
      // Every ConfigMap holds only the deployments of its own shard.
      for (const other of models.filter((o) => routeShardOf('seldon', o) !== routeShardOf('seldon', m))) {
        expect(cm.data['routes.locations']).not.toContain(`/seldon/seldon/${other}/`);
      }
    }
  });

  it('moves routes of the single ConfigMap of earlier releases into the shards at once, then empties it', async () => {
    await applyPromotion(k8s, settings, promotion('1'));
    await applyPromotion(k8s, settings, { ...promotion('1', 'e-churn'), modelName: 'churn' });
    // A deployment applied by an earlier release: no shard label.
    const path = `${SDEP}/churn`;
    const churn = api.objects.get(path)!;
    const { ['mlops-kit/route-shard']: _dropped, ...oldLabels } = churn.metadata.labels as Record<string, string>;
    api.objects.set(path, { ...churn, metadata: { ...churn.metadata, labels: oldLabels } });
    api.objects.set(LEGACY_ROUTES, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROUTER_ROUTES_CONFIGMAP, resourceVersion: '1' },
      data: { 'routes.maps': '# old', 'routes.locations': 'location /seldon/seldon/churn/ {}' },
    });
    // A promote touches one shard, but with routes still in the old ConfigMap every shard is written.
    await applyPromotion(k8s, settings, promotion('2'));
    await promoteCanary(k8s, settings, 'wine-quality');
    const churnShard = api.objects.get(`${CONFIGMAPS}/${routesConfigMapName(routeShardOf('seldon', 'churn'))}`) as unknown as {
      data: Record<string, string>;
    };
    expect(churnShard.data['routes.locations']).toContain('location /seldon/seldon/churn/ {');
    const legacy = api.objects.get(LEGACY_ROUTES) as unknown as { data: Record<string, string> };
    expect(legacy.data['routes.locations']).not.toContain('location');
    // Once moved, a promote writes one shard again.
    await applyPromotion(k8s, settings, promotion('3'));
    api.requests.length = 0;
    await promoteCanary(k8s, settings, 'wine-quality');
    // The apply of an existing ConfigMap is a POST answered 409, then the PUT.
    expect(
      api.requests.filter((r) => r.method === 'PUT' && r.path.startsWith(CONFIGMAPS)).map((r) => r.path),
    ).toEqual([ROUTES]);
  });
});

describe('deployer requests', () => {
  it('dispatches a state-machine step to the core', async () => {
    const result = await dispatch(
      k8s,
      settings,
      parseDeployerRequest({ action: 'apply', detail: promotion('1') }),
    );
    expect(result).toMatchObject({ plan: 'deploy' });
  });

  it.each([
    [{ action: 'deploy' }, /action/],
    [{ action: 'promote', deployment: 'Wine Quality' }, /deployment: must be a Kubernetes name/],
    [{ action: 'apply', detail: { modelName: 'x' } }, /detail\.eventId/],
  ])('fails if the request is malformed (%o)', (request, message) => {
    expect(() => parseDeployerRequest(request)).toThrow(message);
  });
});

describe('EKS token', () => {
  it('is a k8s-aws-v1 token over a presigned STS GetCallerIdentity URL bound to the cluster', async () => {
    const token = await eksToken({
      clusterName: 'mlops-staging',
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      now: new Date('2026-11-23T10:00:00Z'),
    });
    expect(token).toMatch(/^k8s-aws-v1\.[A-Za-z0-9_-]+$/);
    const url = new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
    expect(url.host).toBe('sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261123/eu-west-1/sts/aws4_request');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });
});
