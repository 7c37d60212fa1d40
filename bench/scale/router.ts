/**
 * bench/scale/router: the prediction router's routes at 10,000 models. Renders 10,000
 * SeldonDeployments (every tenth mid-canary) as the deployer does, then prints the size of the
 * routes as one ConfigMap (the layout before the shards) and of the largest of the 64 shard
 * ConfigMaps, against Kubernetes' 1 MiB object limit; and the time the deployer takes for one
 * model's route change (`syncRouter` with that deployment, against the loopback imitation of the
 * Kubernetes API the deployer tests use, holding all 10,000 deployments), and for a full sync.
 *
 *   npx tsx bench/scale/router.ts [--models 10000]
 */
import { syncRouter } from '../../lib/serving-infra/deployer';
import { httpTransport, KubernetesClient } from '../../lib/serving-infra/kubernetes';
import { ALL_ROUTE_SHARDS, routeShardOf } from '../../lib/serving-infra/route-shards';
import { renderRoutes } from '../../lib/serving-infra/router';
import { renderSeldonDeployment, type SeldonDeploymentManifest } from '../../lib/serving-infra/seldon';
import { FakeApiServer } from '../../test/serving-stack/fake-kubernetes';

const arg = process.argv.indexOf('--models');
const models = arg > 0 ? Number(process.argv[arg + 1]) : 10_000;
if (!Number.isInteger(models) || models < 1) {
  console.error(`--models must be a positive integer, but ${process.argv[arg + 1]} was provided`);
  process.exit(2);
}
const LIMIT = 1024 * 1024;
const SDEP = '/apis/machinelearning.seldon.io/v1/namespaces/seldon/seldondeployments';

const deployments: SeldonDeploymentManifest[] = [];
for (let i = 0; i < models; i++) {
  const model = `model-${String(i).padStart(5, '0')}-quality`;
  const [sdep] = renderSeldonDeployment({
    model,
    version: '12',
    artifactUri: `s3://artifacts/runs/${model}/12/model.tar.gz`,
    image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/model-server@sha256:' + 'a'.repeat(64),
    replicas: 2,
    ...(i % 10 === 0 && { canary: { version: '13', artifactUri: `s3://artifacts/runs/${model}/13/model.tar.gz`, trafficPercent: 10 } }),
  });
  deployments.push(sdep!);
}
const size = (r: { maps: string; locations: string }) => Buffer.byteLength(r.maps) + Buffer.byteLength(r.locations);
const single = size(renderRoutes(deployments));
const byShard = new Map<string, SeldonDeploymentManifest[]>(ALL_ROUTE_SHARDS.map((s) => [s, []]));
for (const d of deployments) byShard.get(routeShardOf('seldon', d.metadata.name))!.push(d);
const shardSizes = [...byShard.values()].map((members) => size(renderRoutes(members)));
const largest = Math.max(...shardSizes);
const perModel = single / models;
console.log(`models: ${models.toLocaleString('en')} (every tenth mid-canary)`);
console.log(`routes as one ConfigMap (before): ${(single / 1024).toFixed(0)} KiB = ${((100 * single) / LIMIT).toFixed(0)} % of the 1 MiB limit (~${Math.floor(LIMIT / perModel).toLocaleString('en')} models fit)`);
console.log(
  `largest of ${ALL_ROUTE_SHARDS.length} shards (after): ${(largest / 1024).toFixed(0)} KiB = ${((100 * largest) / LIMIT).toFixed(1)} % of the limit; ` +
    `shard sizes ${Math.min(...shardSizes)}–${largest} bytes (~${Math.floor((ALL_ROUTE_SHARDS.length * LIMIT * 0.9) / perModel).toLocaleString('en')} models fit at 90 % per shard)`,
);

const api = new FakeApiServer();
await api.start();
try {
  for (const d of deployments) api.objects.set(`${SDEP}/${d.metadata.name}`, { ...d, metadata: { ...d.metadata, resourceVersion: '1' } } as never);
  const k8s = new KubernetesClient(httpTransport({ endpoint: api.url, token: async () => 'k8s-aws-v1.bench' }));
  let t = performance.now();
  const full = await syncRouter(k8s, 'seldon');
  const fullMs = performance.now() - t;
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const d = deployments[(i * 487) % deployments.length]!;
    const changed = { ...d, spec: { ...d.spec, predictors: d.spec.predictors.map((p, j) => ({ ...p, traffic: j === 0 ? 100 : 0 })) } };
    api.requests.length = 0;
    t = performance.now();
    await syncRouter(k8s, 'seldon', changed);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  console.log(`full sync (all shards written): ${fullMs.toFixed(0)} ms, ${full.shards.length} shards`);
  console.log(
    `one model's route change (its shard only): p50 ${times[10]!.toFixed(1)} ms, max ${times[19]!.toFixed(1)} ms over 20 changes; ` +
      `Kubernetes API calls per change: ${api.requests.length}`,
  );
} finally {
  await api.stop();
}
