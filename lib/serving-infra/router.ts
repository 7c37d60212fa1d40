/**
 * The prediction router: a small nginx in front of every SeldonDeployment, configured from the
 * deployments' own `traffic` weights. Seldon Core 1.x leaves the split between predictors to an
 * ingress (Istio or Ambassador); the kit's router is that ingress, with nothing else to install.
 *
 * The static part (`BASE_CONFIG`) is applied once by CDK; the deployer owns the routes ConfigMaps
 * (one per shard, `route-shards.ts`) and rewrites a deployment's shard from the live deployments
 * after every change, so the two never overwrite each other and a lost ConfigMap is rebuilt by the
 * next deployment. The shards are projected into one directory; a reloader beside nginx (same
 * image, shared process namespace) checks the files every {@link RELOAD_INTERVAL_SECONDS} s and
 * reloads nginx (`nginx -s reload`: new workers, no dropped connection, no pod restart) once
 * `nginx -t` accepts them; a file set nginx rejects is never loaded, the running routes stay.
 *
 * | external path                                   | upstream                                       |
 * |-------------------------------------------------|------------------------------------------------|
 * | `/seldon/<ns>/<deployment>/…` (prefix stripped)  | predictor Service `<deployment>-v<n>:8000` (executor) |
 * | `/v2/models/<model>[/…]`                         | container Service `<deployment>-v<n>-model:9000` (OIP v2) |
 *
 * @example
 * const { maps, locations } = renderRoutes(await listDeployments());
 */
import { createHash } from 'node:crypto';
import { ALL_ROUTE_SHARDS } from './route-shards';
import {
  EXECUTOR_PORT,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  MODEL_PORT,
  modelServiceName,
  predictorServiceName,
  type SeldonDeploymentManifest,
} from './seldon';

/** Kubernetes names of the router's objects (namespace {@link ROUTER_NAMESPACE}). */
export const ROUTER_NAME = 'mlops-router';
export const ROUTER_NAMESPACE = 'seldon';
export const ROUTER_ROUTES_CONFIGMAP = 'mlops-router-routes';
export const ROUTER_BASE_CONFIGMAP = 'mlops-router-base';
/** The router pods' port; the NLB's target group sends traffic here. */
export const ROUTER_PORT = 8080;
/** The annotation on a routes ConfigMap holding the hash of its files (an unchanged shard is not rewritten). */
export const ROUTES_HASH_ANNOTATION = 'mlops-kit/routes-hash';
/** The ConfigMap of one route shard. */
export const routesConfigMapName = (shard: string): string => `${ROUTER_ROUTES_CONFIGMAP}-${shard}`;
/** How often the reloader compares the mounted route files with what nginx loaded. */
export const RELOAD_INTERVAL_SECONDS = 5;
/** Where the routes are mounted in both containers. */
export const ROUTES_DIR = '/etc/nginx/routes';

/**
 * The reloader's loop (busybox sh of the nginx image). `nginx -s reload` signals the master named
 * in /tmp/nginx.pid (the shared /tmp). The first pass reloads once, harmlessly, after start.
 * `routes-applied` records the checksums nginx runs with, for an operator (`kubectl exec`).
 */
export const RELOAD_SCRIPT = `applied=""
while true; do
  now=$(cat ${ROUTES_DIR}/*.maps ${ROUTES_DIR}/*.locations 2>/dev/null | md5sum)
  if [ "$now" != "$applied" ]; then
    if nginx -t -q 2>/tmp/routes-rejected && nginx -s reload; then
      applied="$now"
      md5sum ${ROUTES_DIR}/*.maps ${ROUTES_DIR}/*.locations > /tmp/routes-applied 2>/dev/null
      echo "routes reloaded: $now"
    else
      echo "routes not loaded (nginx -t or reload failed); keeping the running ones" >&2
      cat /tmp/routes-rejected >&2
    fi
  fi
  sleep ${RELOAD_INTERVAL_SECONDS}
done
`;

/**
 * `conf.d/default.conf` of the router, included by nginx inside `http {}`. The resolver makes nginx
 * look upstream Services up per request, so a route to a Service that does not exist yet is a 502
 * for that route, not a router that fails to start.
 */
export const BASE_CONFIG = `# mlops-kit prediction router (static part; routes come from ${ROUTER_ROUTES_CONFIGMAP})
resolver kube-dns.kube-system.svc.cluster.local valid=10s ipv6=off;
client_max_body_size 8m;
proxy_http_version 1.1;
proxy_connect_timeout 5s;
proxy_read_timeout 60s;
include ${ROUTES_DIR}/*.maps;
server {
  listen ${ROUTER_PORT};
  default_type application/json;
  location = /healthz { access_log off; return 200 '{"status":"ok"}'; }
  location = /v2/health/live { return 200 '{"live":true}'; }
  include ${ROUTES_DIR}/*.locations;
  location / { return 404 '{"error":"no model is deployed at this path"}'; }
}
`;

export interface RouterRoutes {
  /** http-level `split_clients` blocks (file `routes.maps`). */
  readonly maps: string;
  /** server-level `location` blocks (file `routes.locations`). */
  readonly locations: string;
  /** A short hash of both, for the router's restart annotation. */
  readonly hash: string;
}

const variable = (namespace: string, name: string, suffix: string) =>
  `$mlops_${`${namespace}_${name}`.replace(/[^A-Za-z0-9]/g, '_')}_${suffix}`;

/**
 * Renders the routes for a set of deployments, in name order so the same deployments always give
 * the same file (and hash).
 */
export function renderRoutes(deployments: readonly SeldonDeploymentManifest[]): RouterRoutes {
  const maps: string[] = ['# generated by the mlops-kit serving deployer: do not edit'];
  const locations: string[] = ['# generated by the mlops-kit serving deployer: do not edit'];
  const sorted = [...deployments].sort((a, b) =>
    `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`),
  );
  for (const sdep of sorted) {
    const namespace = sdep.metadata.namespace ?? ROUTER_NAMESPACE;
    const name = sdep.metadata.name;
    const model = sdep.metadata.annotations?.['mlops-kit/model-name'] ?? name;
    const predictors = sdep.spec.predictors.filter((p) => p.traffic > 0);
    if (predictors.length === 0) continue;
    const versionOf = (p: { name: string }) => p.name.replace(/^v/, '');
    const split = (suffix: string, host: (version: string) => string, port: number) => {
      const v = variable(namespace, name, suffix);
      // The last entry takes the remainder ("*"): nginx needs the listed shares to stay under 100%.
      const lines = predictors.map((p, i) =>
        i === predictors.length - 1
          ? `  * ${host(versionOf(p))}.${namespace}.svc.cluster.local:${port};`
          : `  ${p.traffic}% ${host(versionOf(p))}.${namespace}.svc.cluster.local:${port};`,
      );
      maps.push(`split_clients "\${request_id}" ${v} {\n${lines.join('\n')}\n}`);
      return v;
    };
    const seldon = split('seldon', (version) => predictorServiceName(name, version), EXECUTOR_PORT);
    const oip = split('oip', (version) => modelServiceName(name, version), MODEL_PORT);
    const prefix = `/seldon/${namespace}/${name}`;
    locations.push(
      `location ${prefix}/ {\n  rewrite ^${prefix}(/.*)$ $1 break;\n  proxy_pass http://${seldon};\n}`,
      `location = /v2/models/${model} { proxy_pass http://${oip}; }`,
      `location /v2/models/${model}/ { proxy_pass http://${oip}; }`,
    );
  }
  const mapsText = `${maps.join('\n')}\n`;
  const locationsText = `${locations.join('\n')}\n`;
  const hash = createHash('sha256').update(mapsText).update(locationsText).digest('hex').slice(0, 16);
  return { maps: mapsText, locations: locationsText, hash };
}

/**
 * The router's ConfigMap, Deployment, Service, PodDisruptionBudget and TargetGroupBinding.
 *
 * @param image the unprivileged nginx image (listens on 8080, runs as uid 101), by digest
 *   (`serving.images.router` through the environment's pull-through cache)
 */
export function routerManifests(targetGroupArn: string, image: string): Record<string, unknown>[] {
  const labels = { 'app.kubernetes.io/name': ROUTER_NAME, [MANAGED_BY_LABEL]: MANAGED_BY };
  const volumeMounts = [
    { name: 'base', mountPath: '/etc/nginx/conf.d', readOnly: true },
    { name: 'routes', mountPath: ROUTES_DIR, readOnly: true },
    // nginx's pid file and temp paths; shared, so the reloader finds the master's pid.
    { name: 'tmp', mountPath: '/tmp' },
  ];
  const metadata = (name: string) => ({ name, namespace: ROUTER_NAMESPACE, labels });
  return [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: metadata(ROUTER_BASE_CONFIGMAP),
      data: { 'default.conf': BASE_CONFIG },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: metadata(ROUTER_NAME),
      spec: {
        replicas: 2,
        selector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        template: {
          metadata: { labels },
          spec: {
            // nginx only proxies; it has no business with the Kubernetes API.
            automountServiceAccountToken: false,
            // The reloader signals nginx's master process (same user, uid 101).
            shareProcessNamespace: true,
            securityContext: {
              runAsNonRoot: true,
              runAsUser: 101,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            topologySpreadConstraints: [
              {
                maxSkew: 1,
                topologyKey: 'topology.kubernetes.io/zone',
                whenUnsatisfiable: 'ScheduleAnyway',
                labelSelector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } },
              },
            ],
            containers: [
              {
                name: 'nginx',
                image,
                ports: [{ name: 'http', containerPort: ROUTER_PORT }],
                readinessProbe: { httpGet: { path: '/healthz', port: ROUTER_PORT }, periodSeconds: 5 },
                livenessProbe: { httpGet: { path: '/healthz', port: ROUTER_PORT }, periodSeconds: 10 },
                resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '128Mi' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts,
              },
              {
                name: 'reloader',
                image,
                command: ['/bin/sh', '-c', RELOAD_SCRIPT],
                resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '32Mi' } },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts,
              },
            ],
            volumes: [
              { name: 'base', configMap: { name: ROUTER_BASE_CONFIGMAP } },
              {
                name: 'routes',
                projected: {
                  sources: [
                    // Written by the deployer, one per shard; absent until a model of the shard is deployed.
                    ...ALL_ROUTE_SHARDS.map((shard) => ({
                      configMap: {
                        name: routesConfigMapName(shard),
                        optional: true,
                        items: [
                          { key: 'routes.maps', path: `${shard}.maps` },
                          { key: 'routes.locations', path: `${shard}.locations` },
                        ],
                      },
                    })),
                    // The single ConfigMap of earlier releases, kept until the deployer's first full
                    // sync empties it, so an upgrade never serves without routes.
                    {
                      configMap: {
                        name: ROUTER_ROUTES_CONFIGMAP,
                        optional: true,
                        items: [
                          { key: 'routes.maps', path: 'legacy.maps' },
                          { key: 'routes.locations', path: 'legacy.locations' },
                        ],
                      },
                    },
                  ],
                },
              },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: metadata(ROUTER_NAME),
      spec: {
        type: 'ClusterIP',
        selector: { 'app.kubernetes.io/name': ROUTER_NAME },
        ports: [{ name: 'http', port: ROUTER_PORT, targetPort: ROUTER_PORT }],
      },
    },
    {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: metadata(ROUTER_NAME),
      spec: { minAvailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': ROUTER_NAME } } },
    },
    {
      apiVersion: 'elbv2.k8s.aws/v1beta1',
      kind: 'TargetGroupBinding',
      metadata: metadata(ROUTER_NAME),
      spec: {
        serviceRef: { name: ROUTER_NAME, port: ROUTER_PORT },
        targetGroupARN: targetGroupArn,
        targetType: 'ip',
      },
    },
  ];
}
