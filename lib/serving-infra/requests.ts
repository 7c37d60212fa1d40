/**
 * What the serving deployer Lambda accepts (from the canary state machine) and reads from its
 * environment, validated once; and the dispatch from a request to the deployer core.
 *
 * @example
 * const { settings } = deployerEnvironment(handlerEnv(deployerEnvShape));
 * const result = await dispatch(k8s, settings, parseDeployerRequest(event));
 */
import { z } from 'zod';
import { type CanaryAlarmsPort, DEFAULT_CANARY_THRESHOLDS } from './canary-alarms';
import {
  applyPromotion,
  checkAvailable,
  type CanaryCheck,
  checkCanary,
  type DeployerSettings,
  type DeployResult,
  liveDeployment,
  promoteCanary,
  rollbackCanary,
  syncRouter,
} from './deployer';
import type { KubernetesClient } from './kubernetes';

const name = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a Kubernetes name');
const version = z.string().regex(/^[0-9]{1,12}$/, 'must be a registry version number');

const requestSchema = z.discriminatedUnion('action', [
  z.object({
    action: z.literal('apply'),
    detail: z.object({
      eventId: z.string().min(1),
      modelName: z.string().min(1),
      version: z.string().min(1),
      artifactUri: z.string().min(1),
      artifactSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits').optional(),
      artifactVersionId: z.string().min(1).max(1024).optional(),
      previousVersion: z.string().nullable().optional(),
    }),
  }),
  z.object({ action: z.literal('status'), deployment: name }),
  /** With `deployment`, only its route shard; without, every shard. */
  z.object({ action: z.literal('route'), deployment: name.optional() }),
  /** With `routesOnly`, the routes change and the predictors stay (the router reloads in between). */
  z.object({ action: z.literal('promote'), deployment: name, version: version.optional(), routesOnly: z.boolean().optional() }),
  z.object({ action: z.literal('rollback'), deployment: name, version: version.optional(), routesOnly: z.boolean().optional() }),
  z.object({ action: z.literal('check'), deployment: name, version }),
]);

export type DeployerRequest = z.infer<typeof requestSchema>;

/** Thrown for a request the deployer does not understand; the message names the bad field. */
export class DeployerRequestError extends Error {
  override readonly name = 'DeployerRequestError';
}

/** Validates a request; throws {@link DeployerRequestError} naming the first bad field. */
export function parseDeployerRequest(input: unknown): DeployerRequest {
  const parsed = requestSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new DeployerRequestError(`${issue.path.join('.') || 'request'}: ${issue.message}`);
  }
  return parsed.data;
}

/** What a step returns to the state machine. */
export type DeployerResponse =
  | DeployResult
  | CanaryCheck
  | { readonly state: string }
  | { readonly hash: string; readonly changed: boolean };

export async function dispatch(
  k8s: KubernetesClient,
  settings: DeployerSettings,
  request: DeployerRequest,
  alarms?: CanaryAlarmsPort,
): Promise<DeployerResponse> {
  switch (request.action) {
    case 'apply':
      return applyPromotion(k8s, settings, request.detail, alarms);
    case 'status':
      return { state: await checkAvailable(k8s, settings.namespace, request.deployment) };
    case 'route':
      return syncRouter(
        k8s,
        settings.namespace,
        request.deployment === undefined ? undefined : await liveDeployment(k8s, settings.namespace, request.deployment),
      );
    case 'promote':
      return promoteCanary(k8s, settings, request.deployment, { version: request.version, alarms, routesOnly: request.routesOnly });
    case 'rollback':
      return rollbackCanary(k8s, settings, request.deployment, { version: request.version, alarms, routesOnly: request.routesOnly });
    case 'check':
      return checkCanary(k8s, settings, alarms, request.deployment, request.version);
  }
}

/** The CPU share model autoscalers hold when the environment names none. */
export const DEFAULT_TARGET_CPU_UTILIZATION = 70;

/** The deployer Lambda's environment, for `handlerEnv` (lib/adapters/handler-env.ts). */
export const deployerEnvShape = {
  CLUSTER_NAME: z.string().min(1),
  CLUSTER_ENDPOINT: z.url(),
  CLUSTER_CA: z.string().min(1),
  MODEL_NAMESPACE: name,
  MODEL_IMAGE: z.string().min(1),
  MODEL_REPLICAS: z.coerce.number().int().positive(),
  MODEL_MAX_REPLICAS: z.coerce.number().int().positive().optional(),
  MODEL_TARGET_CPU_UTILIZATION: z.coerce.number().int().min(10).max(100).optional(),
  MODEL_TARGET_REQUESTS_PER_SECOND: z.coerce.number().positive().max(100_000).optional(),
  CANARY_TRAFFIC_PERCENT: z.coerce.number().int().min(0).max(100),
  REQUEST_LOG_URI: z
    .string()
    .regex(/^s3:\/\/[^/]+\//, 'must be s3://bucket/prefix/')
    .optional(),
  REQUEST_LOG_SAMPLE_RATE: z.coerce.number().min(0).max(1).optional(),
  CANARY_ALARM_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,120}$/, 'must be letters, digits, ".", "_" or "-"')
    .optional(),
  CANARY_ERROR_RATE: z.coerce.number().gt(0).max(1).optional(),
  CANARY_LATENCY_P99_SECONDS: z.coerce.number().positive().optional(),
  AWS_REGION: z.string().min(1),
};

/** The validated environment. */
export type DeployerEnv = z.infer<z.ZodObject<typeof deployerEnvShape>>;

export interface DeployerEnvironment {
  readonly settings: DeployerSettings;
  readonly clusterName: string;
  readonly clusterEndpoint: string;
  readonly clusterCa: string;
  readonly region: string;
}

/**
 * What the deployer needs of its validated environment.
 *
 * @example
 * const { settings, clusterEndpoint } = deployerEnvironment(handlerEnv(deployerEnvShape));
 */
export function deployerEnvironment(e: DeployerEnv): DeployerEnvironment {
  return {
    clusterName: e.CLUSTER_NAME,
    clusterEndpoint: e.CLUSTER_ENDPOINT,
    clusterCa: e.CLUSTER_CA,
    region: e.AWS_REGION,
    settings: {
      namespace: e.MODEL_NAMESPACE,
      image: e.MODEL_IMAGE,
      replicas: e.MODEL_REPLICAS,
      ...(e.MODEL_MAX_REPLICAS === undefined
        ? {}
        : {
            autoscaling: {
              maxReplicas: e.MODEL_MAX_REPLICAS,
              targetCpuUtilization: e.MODEL_TARGET_CPU_UTILIZATION ?? DEFAULT_TARGET_CPU_UTILIZATION,
              ...(e.MODEL_TARGET_REQUESTS_PER_SECOND !== undefined && {
                targetRequestsPerSecond: e.MODEL_TARGET_REQUESTS_PER_SECOND,
                metricsRegion: e.AWS_REGION,
              }),
            },
          }),
      canaryTrafficPercent: e.CANARY_TRAFFIC_PERCENT,
      ...(e.REQUEST_LOG_URI === undefined ? {} : { requestLogUri: e.REQUEST_LOG_URI }),
      ...(e.REQUEST_LOG_SAMPLE_RATE === undefined ? {} : { requestLogSampleRate: e.REQUEST_LOG_SAMPLE_RATE }),
      ...(e.CANARY_ALARM_PREFIX === undefined
        ? {}
        : {
            canaryAlarmPrefix: e.CANARY_ALARM_PREFIX,
            canaryThresholds: {
              errorRate: e.CANARY_ERROR_RATE ?? DEFAULT_CANARY_THRESHOLDS.errorRate,
              latencyP99Seconds: e.CANARY_LATENCY_P99_SECONDS ?? DEFAULT_CANARY_THRESHOLDS.latencyP99Seconds,
            },
          }),
    },
  };
}
