/**
 * Rendering a model version as a Seldon Core 1.17 `SeldonDeployment`: one predictor for the stable
 * version, and during a canary a second predictor for the new version with its share of traffic.
 * Pure functions: the deployer Lambda, `mlops render seldon` and the tests call the same code.
 *
 * Names follow the operator's rules so the router can address what the operator creates:
 * predictor `v<version>` gets the Service `<deployment>-v<version>` (the executor, port 8000) and
 * its container `model` the Service `<deployment>-v<version>-model` (the model server, port 9000).
 *
 * @example
 * const [sdep] = renderSeldonDeployment({
 *   model: 'wine-quality', version: '4', artifactUri: 's3://artifacts/wine/4/model.tar.gz',
 *   image: '123456789012.dkr.ecr.us-east-1.amazonaws.com/model-server:abc', namespace: 'seldon',
 *   replicas: 2, resources: DEFAULT_MODEL_RESOURCES,
 *   canary: { version: '5', artifactUri: 's3://artifacts/wine/5/model.tar.gz', trafficPercent: 10 },
 * });
 */
import { requestLogDeploymentDir } from '../serving/request-log';
import { METRIC_NAMESPACES, SERVING_METRICS } from '../shared/operations';
import { ROUTE_SHARD_LABEL, routeShardOf } from './route-shards';

/** The API group and version of the CRD the kit renders (Seldon Core 1.17.1, Apache-2.0). */
export const SELDON_API_VERSION = 'machinelearning.seldon.io/v1';
export const SELDON_KIND = 'SeldonDeployment';
/** The namespace models run in. */
export const MODEL_NAMESPACE = 'seldon';
/** The Kubernetes service account model pods run as (its IAM role reads artifacts, writes request logs). */
export const MODEL_SERVICE_ACCOUNT = 'model-server';
/** The graph node and container name of the model server in every predictor. */
export const MODEL_CONTAINER = 'model';
/**
 * The uid model pods run as: the distroless base's `nonroot` user, which the model server image
 * (lib/serving/Dockerfile) names by number so `runAsNonRoot` can verify it.
 */
export const MODEL_SERVER_UID = 65532;

/** The port the Seldon executor listens on (REST), per predictor Service. */
export const EXECUTOR_PORT = 8000;
/** The port the operator assigns the first model container (`PREDICTIVE_UNIT_HTTP_SERVICE_PORT`). */
export const MODEL_PORT = 9000;
/** The label every object the kit manages carries, so the deployer can list its own deployments. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mlops-kit';

/** Annotations the deployer reads back to know what a live deployment serves. */
export const ANNOTATIONS = {
  model: 'mlops-kit/model-name',
  stableVersion: 'mlops-kit/stable-version',
  stableArtifactUri: 'mlops-kit/stable-artifact-uri',
  canaryVersion: 'mlops-kit/canary-version',
  canaryArtifactUri: 'mlops-kit/canary-artifact-uri',
  stableArtifactSha256: 'mlops-kit/stable-artifact-sha256',
  stableArtifactVersionId: 'mlops-kit/stable-artifact-version-id',
  canaryArtifactSha256: 'mlops-kit/canary-artifact-sha256',
  canaryArtifactVersionId: 'mlops-kit/canary-artifact-version-id',
  canaryTraffic: 'mlops-kit/canary-traffic-percent',
  previousVersion: 'mlops-kit/previous-version',
  eventId: 'mlops-kit/event-id',
} as const;

/** CPU and memory of one model server container. */
export interface ModelResources {
  readonly requests: { readonly cpu: string; readonly memory: string };
  readonly limits: { readonly cpu?: string; readonly memory: string };
}

/** Enough for the kit's linear models; the server holds one model in memory. */
export const DEFAULT_MODEL_RESOURCES: ModelResources = {
  requests: { cpu: '250m', memory: '256Mi' },
  limits: { memory: '512Mi' },
};

/** How a predictor's pod count follows load. */
export interface ModelAutoscaling {
  /** The most pods per predictor; at or below `replicas`, the predictor does not autoscale. */
  readonly maxReplicas: number;
  /** Average CPU use, as a percentage of the pods' CPU request, the autoscaler holds. */
  readonly targetCpuUtilization: number;
  /**
   * Requests per second per pod held as well (KEDA: the larger of the CPU and request counts wins).
   * @default - CPU only
   */
  readonly targetRequestsPerSecond?: number;
  /** The region whose CloudWatch holds the serving metrics; required with `targetRequestsPerSecond`. */
  readonly metricsRegion?: string;
}

/** The ClusterTriggerAuthentication KEDA reads CloudWatch with (its operator's own Pod Identity). */
export const KEDA_CLOUDWATCH_AUTH = 'mlops-cloudwatch';

/**
 * The predictor's `kedaSpec` (Seldon Core 1.17 renders it as a KEDA ScaledObject, which owns the
 * HorizontalPodAutoscaler): the CPU target of `hpaSpecFor`, and the version's `Requests` per minute
 * from CloudWatch (the model servers' counter, summed over pods by the CloudWatch agent's scrape),
 * divided among the pods at `targetRequestsPerSecond` each. The request signal lags a scrape and
 * CloudWatch's ingestion (about 2 minutes); CPU answers within seconds, so both are kept.
 */
function kedaSpecFor(model: string, version: string, replicas: number, scaling: ModelAutoscaling): Record<string, unknown> {
  return {
    minReplicaCount: replicas,
    maxReplicaCount: scaling.maxReplicas,
    pollingInterval: 30,
    cooldownPeriod: 300,
    triggers: [
      { type: 'cpu', metricType: 'Utilization', metadata: { value: String(scaling.targetCpuUtilization) } },
      {
        type: 'aws-cloudwatch',
        authenticationRef: { name: KEDA_CLOUDWATCH_AUTH, kind: 'ClusterTriggerAuthentication' },
        metadata: {
          namespace: METRIC_NAMESPACES.serving,
          metricName: SERVING_METRICS.requests,
          dimensionName: 'Model;ModelVersion',
          dimensionValue: `${model};${version}`,
          metricStat: 'Sum',
          metricStatPeriod: '60',
          metricCollectionTime: '180',
          metricEndTimeOffset: '60',
          targetMetricValue: String(Math.round(scaling.targetRequestsPerSecond! * 60)),
          minMetricValue: '0',
          awsRegion: scaling.metricsRegion!,
        },
      },
    ],
  };
}

/**
 * The predictor's `hpaSpec` (autoscaling/v2 metrics under `metricsv2`, as Seldon Core 1.17 takes
 * them). CPU rather than requests per second: request rate would need a custom metrics adapter,
 * and the model server's CPU per request is flat (bench/serve), so CPU tracks the request rate.
 */
function hpaSpecFor(replicas: number, autoscaling: ModelAutoscaling | undefined): Record<string, unknown> | undefined {
  if (autoscaling === undefined || autoscaling.maxReplicas <= replicas) return undefined;
  return {
    minReplicas: replicas,
    maxReplicas: autoscaling.maxReplicas,
    metricsv2: [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: autoscaling.targetCpuUtilization } },
      },
    ],
  };
}

/** A model version a predictor serves. */
export interface ServedVersion {
  readonly version: string;
  /** Where the model artifact is: `s3://bucket/…/model.tar.gz` (see lib/serving/load.ts). */
  readonly artifactUri: string;
  /**
   * The artifact's SHA-256 as registered (`mlops.artifact_sha256`); the server refuses any other
   * bytes (`MODEL_SHA256`), so the pod never becomes ready.
   * @default - not checked (a version registered before digests were recorded)
   */
  readonly artifactSha256?: string;
  /**
   * The S3 object version of the artifact (`mlops.artifact_version_id`), read instead of the
   * current one (`MODEL_VERSION_ID`).
   * @default - the current version
   */
  readonly artifactVersionId?: string;
}

export interface CanarySpec extends ServedVersion {
  /** Share of requests (1–99) the canary predictor gets. */
  readonly trafficPercent: number;
}

export interface RenderSeldonOptions extends ServedVersion {
  /** The registry's model name; becomes `MODEL_NAME` and, lower-cased, the deployment's name. */
  readonly model: string;
  /** The model server image. */
  readonly image: string;
  /** @default MODEL_NAMESPACE */
  readonly namespace?: string;
  /** Pods per predictor (the floor when `autoscaling` is given). */
  readonly replicas: number;
  /**
   * Scale each predictor between `replicas` and `maxReplicas` on CPU (a HorizontalPodAutoscaler the
   * operator creates from the predictor's `hpaSpec`; needs the metrics-server add-on).
   * @default - a fixed `replicas`
   */
  readonly autoscaling?: ModelAutoscaling;
  /** @default DEFAULT_MODEL_RESOURCES */
  readonly resources?: ModelResources;
  /** The new version, served next to the stable one at `trafficPercent`. @default - no canary */
  readonly canary?: CanarySpec;
  /** The version served before the stable one, recorded for operators. @default - none */
  readonly previous?: string;
  /** `s3://bucket/prefix/` for the request log; the version is appended. @default - no request log */
  readonly requestLogUri?: string;
  /** Fraction of predictions the server logs (`REQUEST_LOG_SAMPLE_RATE`). @default - the server's (1) */
  readonly requestLogSampleRate?: number;
  /** The promotion event this rendering answers, recorded for deduplication. @default - none */
  readonly eventId?: string;
  /** @default 10000 (the operator's preStop sleep is 10 s; keep accepting while endpoints update) */
  readonly drainDelayMs?: number;
}

/** The minimal shape of a Kubernetes object the kit reads and writes. */
export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface PredictorManifest {
  name: string;
  traffic: number;
  replicas: number;
  labels: Record<string, string>;
  componentSpecs: { spec: Record<string, unknown>; hpaSpec?: Record<string, unknown>; kedaSpec?: Record<string, unknown> }[];
  graph: Record<string, unknown>;
}

export interface SeldonDeploymentManifest extends KubernetesObject {
  spec: { name: string; protocol: string; predictors: PredictorManifest[]; [key: string]: unknown };
}

/** Thrown for inputs that cannot become a valid deployment; the message names the bad value. */
export class RenderError extends Error {
  override readonly name = 'RenderError';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// The operator names the model container's Service `<deployment>-v<version>-model`, a DNS label
// (at most 63 characters): 40 for the deployment leaves room for versions up to 12 digits.
const MAX_DEPLOYMENT_NAME = 40;
const VERSION = /^[0-9]{1,12}$/;
const MODEL_NAME = /^[A-Za-z0-9._-]+$/;

/**
 * The Kubernetes name of a model's deployment: lower case, anything else than letters, digits and
 * `-` replaced by `-`.
 *
 * @example
 * deploymentNameFor('Wine_Quality'); // 'wine-quality'
 */
export function deploymentNameFor(model: string): string {
  if (!MODEL_NAME.test(model)) {
    throw new RenderError(
      `model name must be letters, digits, '.', '_' or '-' (it is part of the OIP URL), but ${JSON.stringify(model)} was provided`,
    );
  }
  const name = model
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!DNS_LABEL.test(name) || name.length > MAX_DEPLOYMENT_NAME) {
    throw new RenderError(
      `model name must give a Kubernetes name of 1 to ${MAX_DEPLOYMENT_NAME} characters, but ${JSON.stringify(model)} gives ${JSON.stringify(name)}`,
    );
  }
  return name;
}

/** The predictor name of a version: `v<version>`. */
export const predictorNameFor = (version: string): string => `v${version}`;

/** The Service the operator creates for a predictor's executor (port {@link EXECUTOR_PORT}). */
export const predictorServiceName = (deployment: string, version: string): string =>
  `${deployment}-${predictorNameFor(version)}`;

/** The Service the operator creates for a predictor's model container (port {@link MODEL_PORT}). */
export const modelServiceName = (deployment: string, version: string): string =>
  `${deployment}-${predictorNameFor(version)}-${MODEL_CONTAINER}`;

function checkVersion(what: string, version: string): void {
  if (!VERSION.test(version)) {
    throw new RenderError(
      `${what} must be a registry version number (digits), but ${JSON.stringify(version)} was provided`,
    );
  }
}

function checkArtifact(what: string, served: ServedVersion): void {
  if (served.artifactUri.trim() === '') throw new RenderError(`${what} must be set (the model artifact's s3:// URI)`);
  const sha = served.artifactSha256;
  if (sha !== undefined && !/^[0-9a-f]{64}$/.test(sha)) {
    throw new RenderError(`the artifact SHA-256 of ${what} must be 64 lowercase hex digits, but ${JSON.stringify(sha)} was provided`);
  }
  const id = served.artifactVersionId;
  if (id !== undefined && (id === '' || id.length > 1024)) {
    throw new RenderError(`the artifact version id of ${what} must be 1-1024 characters, but ${JSON.stringify(id)} was provided`);
  }
}

/** The pinning annotations of a served version, under `stable` or `canary` names. */
function pinAnnotations(served: ServedVersion, role: 'stable' | 'canary'): Record<string, string> {
  const [sha, id] =
    role === 'stable'
      ? [ANNOTATIONS.stableArtifactSha256, ANNOTATIONS.stableArtifactVersionId]
      : [ANNOTATIONS.canaryArtifactSha256, ANNOTATIONS.canaryArtifactVersionId];
  return {
    ...(served.artifactSha256 === undefined ? {} : { [sha]: served.artifactSha256 }),
    ...(served.artifactVersionId === undefined ? {} : { [id]: served.artifactVersionId }),
  };
}

/** The pinning fields read back from annotations. */
function pinOf(a: Record<string, string>, role: 'stable' | 'canary'): Pick<ServedVersion, 'artifactSha256' | 'artifactVersionId'> {
  const sha = a[role === 'stable' ? ANNOTATIONS.stableArtifactSha256 : ANNOTATIONS.canaryArtifactSha256];
  const id = a[role === 'stable' ? ANNOTATIONS.stableArtifactVersionId : ANNOTATIONS.canaryArtifactVersionId];
  return { ...(sha === undefined ? {} : { artifactSha256: sha }), ...(id === undefined ? {} : { artifactVersionId: id }) };
}

/**
 * Renders the manifests for a model: one `SeldonDeployment`, with a second predictor when a canary
 * is given (traffic `100 - p` / `p`).
 */
export function renderSeldonDeployment(options: RenderSeldonOptions): SeldonDeploymentManifest[] {
  const name = deploymentNameFor(options.model);
  const namespace = options.namespace ?? MODEL_NAMESPACE;
  checkVersion('version', options.version);
  checkArtifact('artifactUri', options);
  if (!Number.isInteger(options.replicas) || options.replicas < 1) {
    throw new RenderError(
      `replicas must be a whole number of at least 1, but ${options.replicas} was provided`,
    );
  }
  const scaling = options.autoscaling;
  if (scaling !== undefined) {
    if (!Number.isInteger(scaling.maxReplicas) || scaling.maxReplicas < 1) {
      throw new RenderError(
        `autoscaling.maxReplicas must be a whole number of at least 1, but ${scaling.maxReplicas} was provided`,
      );
    }
    const t = scaling.targetCpuUtilization;
    if (!Number.isInteger(t) || t < 10 || t > 100) {
      throw new RenderError(
        `autoscaling.targetCpuUtilization must be a whole percentage from 10 to 100, but ${t} was provided`,
      );
    }
    const rps = scaling.targetRequestsPerSecond;
    if (rps !== undefined) {
      if (!Number.isFinite(rps) || rps <= 0 || rps > 100_000) {
        throw new RenderError(`autoscaling.targetRequestsPerSecond must be a number above 0 and at most 100000, but ${rps} was provided`);
      }
      if (!/^[a-z]{2}(-gov)?-[a-z]+-\d$/.test(scaling.metricsRegion ?? '')) {
        throw new RenderError(
          `autoscaling.metricsRegion must be an AWS region such as us-east-1 when targetRequestsPerSecond is set, but ${JSON.stringify(scaling.metricsRegion)} was provided`,
        );
      }
    }
  }
  const requestScaled = scaling !== undefined && scaling.targetRequestsPerSecond !== undefined && scaling.maxReplicas > options.replicas;
  const hpaSpec = requestScaled ? undefined : hpaSpecFor(options.replicas, scaling);
  const canary = options.canary;
  if (canary !== undefined) {
    checkVersion('canary.version', canary.version);
    checkArtifact('canary.artifactUri', canary);
    if (canary.version === options.version) {
      throw new RenderError(
        `canary.version must differ from the stable version, but both are ${options.version}`,
      );
    }
    const p = canary.trafficPercent;
    if (!Number.isInteger(p) || p < 1 || p > 99) {
      throw new RenderError(
        `canary.trafficPercent must be a whole number from 1 to 99, but ${p} was provided`,
      );
    }
  }

  const predictor = (
    served: ServedVersion,
    traffic: number,
    role: 'stable' | 'canary',
  ): PredictorManifest => ({
    name: predictorNameFor(served.version),
    traffic,
    replicas: options.replicas,
    labels: { 'mlops-kit/model-version': served.version, 'mlops-kit/role': role },
    componentSpecs: [
      {
        spec: podSpec(options, served),
        ...(hpaSpec && { hpaSpec }),
        ...(requestScaled && { kedaSpec: kedaSpecFor(options.model, served.version, options.replicas, scaling) }),
      },
    ],
    graph: {
      name: MODEL_CONTAINER,
      type: 'MODEL',
      endpoint: { type: 'REST' },
      children: [],
    },
  });

  const predictors =
    canary === undefined
      ? [predictor(options, 100, 'stable')]
      : [
          predictor(options, 100 - canary.trafficPercent, 'stable'),
          predictor(canary, canary.trafficPercent, 'canary'),
        ];

  const annotations: Record<string, string> = {
    [ANNOTATIONS.model]: options.model,
    [ANNOTATIONS.stableVersion]: options.version,
    [ANNOTATIONS.stableArtifactUri]: options.artifactUri,
    ...pinAnnotations(options, 'stable'),
  };
  if (canary !== undefined) {
    annotations[ANNOTATIONS.canaryVersion] = canary.version;
    annotations[ANNOTATIONS.canaryArtifactUri] = canary.artifactUri;
    annotations[ANNOTATIONS.canaryTraffic] = String(canary.trafficPercent);
    Object.assign(annotations, pinAnnotations(canary, 'canary'));
  }
  if (options.previous !== undefined) annotations[ANNOTATIONS.previousVersion] = options.previous;
  if (options.eventId !== undefined) annotations[ANNOTATIONS.eventId] = options.eventId;

  return [
    {
      apiVersion: SELDON_API_VERSION,
      kind: SELDON_KIND,
      metadata: {
        name,
        namespace,
        labels: {
          [MANAGED_BY_LABEL]: MANAGED_BY,
          'app.kubernetes.io/name': name,
          [ROUTE_SHARD_LABEL]: routeShardOf(namespace, name),
        },
        annotations,
      },
      spec: {
        name,
        protocol: 'seldon',
        predictors,
      },
    },
  ];
}

function podSpec(options: RenderSeldonOptions, served: ServedVersion): Record<string, unknown> {
  const env: { name: string; value: string }[] = [
    { name: 'MODEL_URI', value: served.artifactUri },
    { name: 'MODEL_NAME', value: options.model },
    { name: 'MODEL_VERSION', value: served.version },
    // The server reads exactly this object version and refuses other bytes: the pod stays unready.
    ...(served.artifactSha256 === undefined ? [] : [{ name: 'MODEL_SHA256', value: served.artifactSha256 }]),
    ...(served.artifactVersionId === undefined ? [] : [{ name: 'MODEL_VERSION_ID', value: served.artifactVersionId }]),
    { name: 'DRAIN_DELAY_MS', value: String(options.drainDelayMs ?? 10_000) },
  ];
  if (options.requestLogUri !== undefined) {
    const base = options.requestLogUri.endsWith('/') ? options.requestLogUri : `${options.requestLogUri}/`;
    env.push({
      name: 'REQUEST_LOG_URI',
      value: `${base}${requestLogDeploymentDir(deploymentNameFor(options.model))}/`,
    });
    if (options.requestLogSampleRate !== undefined) {
      env.push({ name: 'REQUEST_LOG_SAMPLE_RATE', value: String(options.requestLogSampleRate) });
    }
  }
  const resources = options.resources ?? DEFAULT_MODEL_RESOURCES;
  return {
    serviceAccountName: MODEL_SERVICE_ACCOUNT,
    // Model pods never call the Kubernetes API; Pod Identity mounts its own token for AWS calls.
    automountServiceAccountToken: false,
    terminationGracePeriodSeconds: 30,
    securityContext: { runAsNonRoot: true, runAsUser: MODEL_SERVER_UID, runAsGroup: MODEL_SERVER_UID, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: MODEL_CONTAINER,
        image: options.image,
        env,
        resources: { requests: { ...resources.requests }, limits: { ...resources.limits } },
        // The server answers /ready 503 until the model is loaded and while draining.
        readinessProbe: {
          httpGet: { path: '/ready', port: MODEL_PORT },
          periodSeconds: 5,
          failureThreshold: 3,
        },
        livenessProbe: {
          httpGet: { path: '/health/ping', port: MODEL_PORT },
          initialDelaySeconds: 10,
          periodSeconds: 10,
          failureThreshold: 3,
        },
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        },
      },
    ],
  };
}

/** What a live deployment serves, read back from its annotations. */
export interface LiveState {
  readonly name: string;
  readonly namespace: string;
  readonly model: string;
  readonly stable: ServedVersion;
  readonly canary?: CanarySpec;
  readonly previous?: string;
  readonly eventId?: string;
}

/**
 * Reads what a deployment the kit rendered serves; `undefined` for one it did not render.
 *
 * @example
 * const live = liveStateOf(await k8s.get(path)); // { stable: { version: '4', … }, canary: … }
 */
export function liveStateOf(object: KubernetesObject): LiveState | undefined {
  const a = object.metadata.annotations ?? {};
  const model = a[ANNOTATIONS.model];
  const version = a[ANNOTATIONS.stableVersion];
  const artifactUri = a[ANNOTATIONS.stableArtifactUri];
  if (model === undefined || version === undefined || artifactUri === undefined) return undefined;
  const canaryVersion = a[ANNOTATIONS.canaryVersion];
  const canaryUri = a[ANNOTATIONS.canaryArtifactUri];
  const canaryTraffic = Number(a[ANNOTATIONS.canaryTraffic]);
  return {
    name: object.metadata.name,
    namespace: object.metadata.namespace ?? MODEL_NAMESPACE,
    model,
    stable: { version, artifactUri, ...pinOf(a, 'stable') },
    ...(canaryVersion !== undefined && canaryUri !== undefined
      ? { canary: { version: canaryVersion, artifactUri: canaryUri, ...pinOf(a, 'canary'), trafficPercent: canaryTraffic } }
      : {}),
    ...(a[ANNOTATIONS.previousVersion] === undefined ? {} : { previous: a[ANNOTATIONS.previousVersion] }),
    ...(a[ANNOTATIONS.eventId] === undefined ? {} : { eventId: a[ANNOTATIONS.eventId] }),
  };
}
