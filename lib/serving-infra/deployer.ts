/**
 * The serving deployer's core: what happens on the cluster when the registry promotes a version,
 * and when the canary that follows is promoted or rolled back. Knows nothing of Lambda or Step
 * Functions; it gets a {@link KubernetesClient} and settings.
 *
 * | step       | does                                                                                   |
 * |------------|----------------------------------------------------------------------------------------|
 * | `apply`    | first version: deploy it (plan `deploy`); otherwise add it as a canary predictor (plan `canary`); nothing when already served (plan `none`) |
 * | `status`   | throws {@link NotReadyError} until the operator reports the deployment `Available`     |
 * | `route`    | rewrites the router's route shards from the live deployments (the router reloads them) |
 * | `promote`  | canary → 100 % (router first, then the SeldonDeployment drops the old predictor)       |
 * | `rollback` | stable → 100 %, canary removed (router first)                                          |
 * | `check`    | the canary's own alarms (`canary-alarms.ts`): `ALARM` when any of them is              |
 *
 * With a {@link CanaryAlarmsPort}, `apply` creates the canary version's alarms before it serves,
 * and `promote`/`rollback` delete them: each canary is judged on its own version's metrics.
 *
 * @example
 * const result = await applyPromotion(k8s, settings, event.detail);
 * if (result.plan === 'canary') await waitThenDecide();
 */
import { createHash } from 'node:crypto';
import {
  type AlarmState,
  type CanaryAlarmsPort,
  canaryAlarmNames,
  canaryAlarmSpecs,
  type CanaryThresholds,
} from './canary-alarms';
import { type KubernetesClient, objectPath } from './kubernetes';
import { ALL_ROUTE_SHARDS, ROUTE_SHARD_LABEL, routeShardOf } from './route-shards';
import {
  ROUTER_NAMESPACE,
  ROUTER_ROUTES_CONFIGMAP,
  ROUTES_HASH_ANNOTATION,
  renderRoutes,
  routesConfigMapName,
} from './router';
import {
  deploymentNameFor,
  type LiveState,
  liveStateOf,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  type ModelAutoscaling,
  type ModelResources,
  renderSeldonDeployment,
  SELDON_API_VERSION,
  type SeldonDeploymentManifest,
  type ServedVersion,
} from './seldon';

/** What the deployer needs to know about the environment (from the Lambda's environment). */
export interface DeployerSettings {
  readonly namespace: string;
  readonly image: string;
  readonly replicas: number;
  /** Scale predictors from `replicas` up to this on CPU. @default - fixed replicas */
  readonly autoscaling?: ModelAutoscaling;
  /** Share of traffic a new version gets as a canary; 0 or 100 deploys without a canary. */
  readonly canaryTrafficPercent: number;
  readonly resources?: ModelResources;
  /** `s3://bucket/prefix/` for request logs. @default - no request log */
  readonly requestLogUri?: string;
  /** Fraction of predictions logged (`serving.requestLogSampleRate`). @default - the server's (1) */
  readonly requestLogSampleRate?: number;
  /** Prefix of the per-canary alarm names; the deployer may manage only alarms under it. @default - no canary alarms */
  readonly canaryAlarmPrefix?: string;
  /** @default DEFAULT_CANARY_THRESHOLDS */
  readonly canaryThresholds?: CanaryThresholds;
}

/** The fields of a `ModelVersionPromoted` event the deployer uses. */
export interface PromotionDetail {
  readonly eventId: string;
  readonly modelName: string;
  readonly version: string;
  readonly artifactUri: string;
  /** The version's registered digest and object version (the registry's `mlops.artifact_*` tags). */
  readonly artifactSha256?: string;
  readonly artifactVersionId?: string;
  readonly previousVersion?: string | null;
}

export type Plan = 'deploy' | 'canary' | 'none';

export interface DeployResult {
  readonly plan: Plan;
  readonly namespace: string;
  readonly deployment: string;
  readonly stableVersion: string;
  readonly canaryVersion?: string;
  readonly reason: string;
  /** The canary's alarms, when the deployer created them. */
  readonly alarms?: readonly string[];
}

/** The verdict of a canary's alarms. */
export interface CanaryCheck {
  /** `ALARM` when any of the canary's alarms is in ALARM or missing; else `OK`. */
  readonly state: 'OK' | 'ALARM';
  readonly alarms: Readonly<Record<string, AlarmState | 'MISSING'>>;
}

/** The deployment is not `Available` yet (Step Functions retries on this error name). */
export class NotReadyError extends Error {
  override readonly name = 'NotReady';
}

/** The request does not fit the deployment's state (e.g. promote without a canary). */
export class DeployerStateError extends Error {
  override readonly name = 'DeployerStateError';
}

const sdepPath = (namespace: string, name?: string) =>
  objectPath(SELDON_API_VERSION, 'seldondeployments', namespace, name);

async function liveState(
  k8s: KubernetesClient,
  namespace: string,
  name: string,
): Promise<LiveState | undefined> {
  const live = await k8s.get(sdepPath(namespace, name));
  if (live === undefined) return undefined;
  const state = liveStateOf(live);
  if (state === undefined) {
    throw new DeployerStateError(
      `SeldonDeployment ${namespace}/${name} exists but was not created by mlops-kit (no ${MANAGED_BY} annotations); remove it or rename the model`,
    );
  }
  return state;
}

/** The live state of a deployment that has a canary; otherwise the error naming what was asked. */
async function liveWithCanary(
  k8s: KubernetesClient,
  namespace: string,
  name: string,
  action: 'promote' | 'roll back' | 'check',
): Promise<LiveState & { readonly canary: NonNullable<LiveState['canary']> }> {
  const live = await liveState(k8s, namespace, name);
  if (live?.canary === undefined) {
    throw new DeployerStateError(`SeldonDeployment ${namespace}/${name} has no canary to ${action}`);
  }
  return { ...live, canary: live.canary };
}

function render(
  settings: DeployerSettings,
  model: string,
  stable: ServedVersion,
  extra: { canary?: ServedVersion; previous?: string; eventId?: string } = {},
): SeldonDeploymentManifest {
  const [sdep] = renderSeldonDeployment({
    model,
    version: stable.version,
    artifactUri: stable.artifactUri,
    ...(stable.artifactSha256 === undefined ? {} : { artifactSha256: stable.artifactSha256 }),
    ...(stable.artifactVersionId === undefined ? {} : { artifactVersionId: stable.artifactVersionId }),
    image: settings.image,
    namespace: settings.namespace,
    replicas: settings.replicas,
    ...(settings.autoscaling === undefined ? {} : { autoscaling: settings.autoscaling }),
    ...(settings.resources === undefined ? {} : { resources: settings.resources }),
    ...(settings.requestLogUri === undefined ? {} : { requestLogUri: settings.requestLogUri }),
    ...(settings.requestLogSampleRate === undefined
      ? {}
      : { requestLogSampleRate: settings.requestLogSampleRate }),
    ...(extra.canary === undefined
      ? {}
      : { canary: { ...extra.canary, trafficPercent: settings.canaryTrafficPercent } }),
    ...(extra.previous === undefined ? {} : { previous: extra.previous }),
    ...(extra.eventId === undefined ? {} : { eventId: extra.eventId }),
  });
  return sdep!;
}

/**
 * Turns a promotion into the deployment's desired state and applies it. Idempotent: the same
 * promotion delivered twice (EventBridge delivers at least once; a version can enter Production
 * and become champion) finds the version already served and plans `none`.
 */
export async function applyPromotion(
  k8s: KubernetesClient,
  settings: DeployerSettings,
  detail: PromotionDetail,
  alarms?: CanaryAlarmsPort,
): Promise<DeployResult> {
  const name = deploymentNameFor(detail.modelName);
  const namespace = settings.namespace;
  const incoming: ServedVersion = {
    version: detail.version,
    artifactUri: detail.artifactUri,
    ...(detail.artifactSha256 === undefined ? {} : { artifactSha256: detail.artifactSha256 }),
    ...(detail.artifactVersionId === undefined ? {} : { artifactVersionId: detail.artifactVersionId }),
  };
  const live = await liveState(k8s, namespace, name);
  const result = (plan: Plan, stable: string, reason: string, canary?: string): DeployResult => ({
    plan,
    namespace,
    deployment: name,
    stableVersion: stable,
    ...(canary === undefined ? {} : { canaryVersion: canary }),
    reason,
  });

  if (live === undefined) {
    await k8s.apply(render(settings, detail.modelName, incoming, { eventId: detail.eventId }));
    return result('deploy', incoming.version, 'first version of this model: deployed at 100 %');
  }
  if (live.stable.version === incoming.version) {
    return result(
      'none',
      live.stable.version,
      `version ${incoming.version} is already the stable version`,
      live.canary?.version,
    );
  }
  if (live.canary?.version === incoming.version) {
    return result(
      'none',
      live.stable.version,
      `version ${incoming.version} is already the canary`,
      incoming.version,
    );
  }
  const p = settings.canaryTrafficPercent;
  if (p <= 0 || p >= 100) {
    await k8s.apply(
      render(settings, detail.modelName, incoming, {
        previous: live.stable.version,
        eventId: detail.eventId,
      }),
    );
    return result(
      'deploy',
      incoming.version,
      `canaryTrafficPercent is ${p}: replaced version ${live.stable.version} directly`,
    );
  }
  // The alarms exist before the canary serves, so none of its requests go unwatched.
  const prefix = alarms === undefined ? undefined : settings.canaryAlarmPrefix;
  const names =
    prefix === undefined ? undefined : canaryAlarmNames({ prefix, deployment: name, version: incoming.version });
  if (prefix !== undefined) {
    await alarms!.put(
      canaryAlarmSpecs(
        { prefix, model: detail.modelName, deployment: name, version: incoming.version },
        settings.canaryThresholds,
      ),
    );
  }
  // A canary still in progress for an older version is replaced: the newest promotion wins.
  await k8s.apply(
    render(settings, detail.modelName, live.stable, { canary: incoming, eventId: detail.eventId }),
  );
  if (prefix !== undefined && live.canary !== undefined) {
    await alarms!.delete(canaryAlarmNames({ prefix, deployment: name, version: live.canary.version }));
  }
  return {
    ...result(
      'canary',
      live.stable.version,
      `version ${incoming.version} serves ${p} % next to version ${live.stable.version}`,
      incoming.version,
    ),
    ...(names === undefined ? {} : { alarms: names }),
  };
}

/**
 * Reads the canary's own alarms. The version must still be the deployment's canary: a rollout
 * superseded by a newer promotion must not judge (and then promote or roll back) the newer one.
 */
export async function checkCanary(
  k8s: KubernetesClient,
  settings: DeployerSettings,
  alarms: CanaryAlarmsPort | undefined,
  deployment: string,
  version: string,
): Promise<CanaryCheck> {
  const prefix = settings.canaryAlarmPrefix;
  if (alarms === undefined || prefix === undefined) {
    throw new DeployerStateError('check needs the canary alarms: CANARY_ALARM_PREFIX is not set');
  }
  await liveCanaryVersion(k8s, settings.namespace, deployment, version, 'check');
  const names = canaryAlarmNames({ prefix, deployment, version });
  const states = await alarms.states(names);
  const out: Record<string, AlarmState | 'MISSING'> = {};
  for (const n of names) out[n] = states[n] ?? 'MISSING';
  // A missing alarm cannot vouch for the canary: roll back rather than promote blind.
  const state = Object.values(out).some((v) => v === 'ALARM' || v === 'MISSING') ? 'ALARM' : 'OK';
  return { state, alarms: out };
}

async function liveCanaryVersion(
  k8s: KubernetesClient,
  namespace: string,
  deployment: string,
  version: string | undefined,
  action: 'promote' | 'roll back' | 'check',
): Promise<LiveState & { readonly canary: NonNullable<LiveState['canary']> }> {
  const live = await liveWithCanary(k8s, namespace, deployment, action);
  if (version !== undefined && live.canary.version !== version) {
    throw new DeployerStateError(
      `SeldonDeployment ${namespace}/${deployment}: version must be the canary to ${action}, but the canary is now version ${live.canary.version} and ${version} was provided (a newer promotion replaced it)`,
    );
  }
  return live;
}

async function deleteCanaryAlarms(
  settings: DeployerSettings,
  alarms: CanaryAlarmsPort | undefined,
  deployment: string,
  version: string,
): Promise<void> {
  if (alarms === undefined || settings.canaryAlarmPrefix === undefined) return;
  await alarms.delete(canaryAlarmNames({ prefix: settings.canaryAlarmPrefix, deployment, version }));
}

interface SdepStatus {
  status?: { state?: string; description?: string };
}

/** Resolves when the deployment is `Available`; throws {@link NotReadyError} before. */
export async function checkAvailable(
  k8s: KubernetesClient,
  namespace: string,
  deployment: string,
): Promise<string> {
  const live = await k8s.get<SdepStatus>(sdepPath(namespace, deployment));
  if (live === undefined)
    throw new DeployerStateError(`SeldonDeployment ${namespace}/${deployment} does not exist`);
  const state = live.status?.state ?? 'Creating';
  if (state === 'Failed') {
    throw new DeployerStateError(
      `SeldonDeployment ${namespace}/${deployment} failed: ${live.status?.description ?? 'no description'}`,
    );
  }
  if (state !== 'Available')
    throw new NotReadyError(`SeldonDeployment ${namespace}/${deployment} is ${state}`);
  return state;
}

/**
 * Rewrites the router's routes from the live deployments (with `override` in place of its live
 * version, for a change about to be applied). With `override` only its shard is rendered, from the
 * deployments labelled with that shard; without, every shard (a full sync). A shard's ConfigMap is
 * written only when its routes changed; the router's reloader picks the files up (no restart).
 * Returns a hash over the shards written or checked.
 */
export async function syncRouter(
  k8s: KubernetesClient,
  namespace: string,
  override?: SeldonDeploymentManifest,
): Promise<{ hash: string; changed: boolean; shards: string[] }> {
  const legacy = await k8s.get<{ data?: Record<string, string> }>(
    objectPath('v1', 'configmaps', ROUTER_NAMESPACE, ROUTER_ROUTES_CONFIGMAP),
  );
  // Routes still in the single ConfigMap of earlier releases: move every shard at once.
  const migrating = legacy !== undefined && legacy.data?.['routes.locations']?.includes('location') === true;
  const managed = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
  const overrideShard =
    override === undefined ? undefined : routeShardOf(override.metadata.namespace ?? namespace, override.metadata.name);
  const shards = overrideShard === undefined || migrating ? [...ALL_ROUTE_SHARDS] : [overrideShard];
  const live =
    shards.length === 1
      ? [
          ...(await k8s.list<SeldonDeploymentManifest>(sdepPath(namespace), `${managed},${ROUTE_SHARD_LABEL}=${shards[0]}`)),
          // Deployments applied before shard labels existed: found by their name's shard.
          ...(await k8s.list<SeldonDeploymentManifest>(sdepPath(namespace), `${managed},!${ROUTE_SHARD_LABEL}`)),
        ]
      : await k8s.list<SeldonDeploymentManifest>(sdepPath(namespace), managed);
  const deployments =
    override === undefined
      ? live
      : [...live.filter((d) => d.metadata.name !== override.metadata.name), override];
  const byShard = new Map<string, SeldonDeploymentManifest[]>(shards.map((shard) => [shard, []]));
  for (const d of deployments) byShard.get(routeShardOf(d.metadata.namespace ?? namespace, d.metadata.name))?.push(d);
  const hashes: string[] = [];
  let changed = false;
  for (const [shard, members] of byShard) {
    const routes = renderRoutes(members);
    hashes.push(routes.hash);
    const name = routesConfigMapName(shard);
    const current = await k8s.get<{ metadata: { annotations?: Record<string, string> } }>(
      objectPath('v1', 'configmaps', ROUTER_NAMESPACE, name),
    );
    if (current?.metadata.annotations?.[ROUTES_HASH_ANNOTATION] === routes.hash) continue;
    // An empty shard that was never written needs no ConfigMap (the volume source is optional).
    if (current === undefined && members.length === 0) continue;
    await k8s.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: ROUTER_NAMESPACE,
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY },
        annotations: { [ROUTES_HASH_ANNOTATION]: routes.hash },
      },
      data: { 'routes.maps': routes.maps, 'routes.locations': routes.locations },
    });
    changed = true;
  }
  if (migrating) {
    // Every shard now holds its routes: the old file goes empty (the router ignores it from now on).
    const empty = '# moved to the route shards (mlops-router-routes-NN)\n';
    await k8s.apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: ROUTER_ROUTES_CONFIGMAP, namespace: ROUTER_NAMESPACE, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } },
      data: { 'routes.maps': empty, 'routes.locations': empty },
    });
    changed = true;
  }
  const hash = createHash('sha256').update(hashes.join(',')).digest('hex').slice(0, 16);
  return { hash, changed, shards };
}

/** A deployment as it is live, or undefined when it does not exist. */
export async function liveDeployment(
  k8s: KubernetesClient,
  namespace: string,
  name: string,
): Promise<SeldonDeploymentManifest | undefined> {
  return k8s.get<SeldonDeploymentManifest>(sdepPath(namespace, name));
}

type EndCanaryOptions = { version?: string; alarms?: CanaryAlarmsPort; routesOnly?: boolean };

/**
 * Makes the canary the stable version at 100 %: routes first, then the predictor change. With
 * `routesOnly`, stops after the routes: the state machine waits for the router to reload them
 * before it calls again to drop the old predictor, so no request is routed to a removed one.
 */
export const promoteCanary = (k8s: KubernetesClient, settings: DeployerSettings, deployment: string, options: EndCanaryOptions = {}) =>
  endCanary(k8s, settings, deployment, options, 'promote');

/** Removes the canary, the stable version back at 100 %: routes first, then the predictor change (`routesOnly` as for promote). */
export const rollbackCanary = (k8s: KubernetesClient, settings: DeployerSettings, deployment: string, options: EndCanaryOptions = {}) =>
  endCanary(k8s, settings, deployment, options, 'roll back');

/** A canary's end, either way: the version kept at 100 % gets the routes, then the other predictor goes. */
async function endCanary(
  k8s: KubernetesClient,
  settings: DeployerSettings,
  deployment: string,
  options: EndCanaryOptions,
  verb: 'promote' | 'roll back',
): Promise<DeployResult> {
  const live = await liveCanaryVersion(k8s, settings.namespace, deployment, options.version, verb);
  const promote = verb === 'promote';
  const kept = promote ? live.canary : live.stable;
  const previous = promote ? live.stable.version : live.previous;
  const desired = render(settings, live.model, kept, previous === undefined ? {} : { previous });
  await syncRouter(k8s, settings.namespace, desired);
  if (options.routesOnly === true) {
    const leaving = promote ? `version ${live.stable.version}` : `canary version ${live.canary.version}`;
    return {
      plan: 'canary',
      namespace: settings.namespace,
      deployment,
      stableVersion: live.stable.version,
      canaryVersion: live.canary.version,
      reason: `routes send 100 % to version ${kept.version}; ${leaving} stays until the router has reloaded`,
    };
  }
  await k8s.apply(desired);
  await deleteCanaryAlarms(settings, options.alarms, deployment, live.canary.version);
  return {
    plan: 'deploy',
    namespace: settings.namespace,
    deployment,
    stableVersion: kept.version,
    reason: promote
      ? `version ${live.canary.version} promoted to 100 %; version ${live.stable.version} removed`
      : `canary version ${live.canary.version} rolled back; version ${live.stable.version} serves 100 %`,
  };
}
