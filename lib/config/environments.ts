/**
 * The three environments and how each is resolved: defaults below, then account and region from
 * CDK context or environment variables, then validation. Unknown names fail with the valid list.
 *
 * @example
 * const [staging] = resolveEnvironments('staging', { context: { 'staging:account': '111122223333' } });
 */

import {
  ENVIRONMENT_NAMES,
  type EnvironmentConfig,
  type EnvironmentName,
  environmentConfigSchema,
} from './schema';

/** Placeholders that let synthesis run offline with no credentials; `cdk deploy` needs real ones. */
export const PLACEHOLDER_ACCOUNT = '123456789012';
export const PLACEHOLDER_REGION = 'us-east-1';
/** The local environment never talks to AWS; its ids only have to be well formed. */
export const LOCAL_ACCOUNT = '000000000000';

type Defaults = Omit<EnvironmentConfig, 'account' | 'region'>;

const commonTags = { project: 'mlops-kit' };

/**
 * The defaults of a new account (Lambda concurrent executions; API Gateway's account-level
 * throttle per region). Set the ones Service Quotas shows when they differ.
 */
export const DEFAULT_ACCOUNT_QUOTAS: Defaults['accountQuotas'] = {
  lambdaConcurrency: 1000,
  apiGatewayThrottleRps: 10_000,
  apiGatewayThrottleBurst: 5000,
};

/**
 * The EKS managed add-on builds every environment pins (Kubernetes 1.36); one list so staging runs
 * what production will. Check them with `aws eks describe-addon-versions` before a deploy.
 */
const EKS_ADDON_VERSIONS = {
  vpcCni: 'v1.20.4-eksbuild.1',
  coredns: 'v1.12.4-eksbuild.1',
  kubeProxy: 'v1.36.0-eksbuild.1',
  podIdentityAgent: 'v1.3.8-eksbuild.2',
  cloudwatchObservability: 'v4.5.0-eksbuild.1',
  metricsServer: 'v0.8.0-eksbuild.1',
};

/**
 * The third-party images every environment runs, by digest (one list, so staging runs what
 * production will). nginx-unprivileged's digest is the 1.28-alpine index as public Dockerfiles pin
 * it; Seldon Core's two are not resolved yet (no registry is reachable where this was written):
 * the digest of zeros matches no image, so pulls fail until `docker buildx imagetools inspect
 * seldonio/seldon-core-operator:1.17.1` (and -executor) fills them in. Synthesis warns meanwhile.
 */
const SERVING_IMAGES = {
  seldonOperator: `docker.io/seldonio/seldon-core-operator:1.17.1@sha256:${'0'.repeat(64)}`,
  seldonExecutor: `docker.io/seldonio/seldon-core-executor:1.17.1@sha256:${'0'.repeat(64)}`,
  router: 'docker.io/nginxinc/nginx-unprivileged:1.28-alpine@sha256:7377697a821c131a924a7105fafbe7414db4e9fcc77a6f08f776f33f141ec3f8',
  // The cluster's Kubernetes minor (1.36); the digest is not looked up yet (zeros: pulls fail, synthesis warns).
  clusterAutoscaler: `registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.0@sha256:${'0'.repeat(64)}`,
  // KEDA 2.20.2 (the chart KEDA_CHART installs), from ghcr.io.
  kedaOperator: `ghcr.io/kedacore/keda:2.20.2@sha256:${'0'.repeat(64)}`,
  kedaMetricsApiServer: `ghcr.io/kedacore/keda-metrics-apiserver:2.20.2@sha256:${'0'.repeat(64)}`,
  kedaAdmissionWebhooks: `ghcr.io/kedacore/keda-admission-webhooks:2.20.2@sha256:${'0'.repeat(64)}`,
};

/**
 * The Docker Hub credential of the pull-through cache: a placeholder that can never match a real
 * secret (deploying fails until the environment names its own `ecr-pullthroughcache/…` secret).
 */
const DOCKER_HUB_CREDENTIAL_PLACEHOLDER =
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/docker-hub-000000';

/** The GitHub credential of the ghcr.io cache (KEDA's images): a placeholder, as for Docker Hub. */
const GITHUB_CREDENTIAL_PLACEHOLDER =
  'arn:aws:secretsmanager:us-east-1:123456789012:secret:ecr-pullthroughcache/github-000000';

export const ENVIRONMENT_DEFAULTS: Record<EnvironmentName, Defaults> = {
  local: {
    name: 'local',
    removalPolicy: 'destroy',
    dataLake: {
      noncurrentVersionExpirationDays: 7,
      infrequentAccessAfterDays: null,
      archiveAfterDays: null,
      athenaResultsExpirationDays: 1,
      accessLogsExpirationDays: 7,
      requestLogExpirationDays: 35,
      glueDatabaseName: 'mlops_local',
    },
    athena: { bytesScannedCutoffPerQuery: 1_000_000_000 },
    logs: { retentionDays: 7, sagemakerTrainingLogGroup: 'create' },
    alarms: { enabled: false, periodMinutes: 5, evaluationPeriods: 1, lambdaErrors: 1, lambdaThrottles: 1, api5xxRate: 0.05, apiP99Ms: 5000, dynamoThrottles: 1, deadLetterMessages: 1 },
    lambda: { memorySizeMb: 512, reservedConcurrency: null },
    api: {
      auth: 'none',
      throttleRateLimit: 1000,
      throttleBurstLimit: 2000,
      waf: false,
      wafRateLimitPer5Minutes: 2000,
      callers: [],
      predictions: { throttleRateLimit: 1000, throttleBurstLimit: 2000, wafRateLimitPer5Minutes: 2000 },
    },
    registry: { pointInTimeRecovery: false, outboxFlushSchedule: 'rate(5 minutes)', productionThroughReleaseOnly: false },
    pipelines: {
      trainingSchedule: null,
      materializationSchedule: null,
      driftSchedule: null,
      // Locally nobody is paged: drift closes the loop by itself, which is what a demo should show.
      retraining: 'auto',
      trainingInstanceType: 'm5.large',
      trainingMaxRuntimeSeconds: 3600,
      trainingAvailabilityZones: null,
      // One process is one host locally: a run may not ask for more instances.
      trainingLimits: { instanceTypes: ['m5.large', 'm5.xlarge'], maxInstanceCount: 1, maxVolumeSizeGb: 50, inputModes: ['File', 'FastFile'] },
    },
    drift: { maxWindowDays: 31, thresholds: {} },
    // Two cores: four children at once keep the machine responsive during a run.
    batchInference: { objectsPerBatch: 10, maxConcurrency: 4, toleratedFailurePercentage: 0 },
    // Two cores: two workers at once; a part per worker so a run's parts spread over both.
    materialization: { partsPerBatch: 1, maxConcurrency: 2, toleratedFailurePercentage: 0 },
    serving: {
      availabilityZones: ['a'],
      nodeInstanceType: 'none',
      minNodes: 0,
      desiredNodes: 0,
      maxNodes: 1,
      privateEndpoint: false,
      publicEndpointCidrs: [],
      addonVersions: EKS_ADDON_VERSIONS,
      images: SERVING_IMAGES,
      dockerHubCredentialArn: DOCKER_HUB_CREDENTIAL_PLACEHOLDER,
      canaryTrafficPercent: 10,
      modelReplicas: 1,
      autoscaling: { maxReplicas: 4, targetCpuUtilization: 70 },
      // Logging every prediction filled 115 MB in a short local session; a tenth still feeds drift checks.
      requestLogSampleRate: 0.1,
    },
    modelQuality: {
      schedule: null,
      models: ['wine-quality'],
      windowHours: 24,
      rmseMax: 0.9,
      maeMax: 0.7,
      r2Min: 0.2,
      minLabeled: 20,
    },
    accountQuotas: DEFAULT_ACCOUNT_QUOTAS,
    tags: { ...commonTags, environment: 'local' },
    release: { from: null, to: null },
  },
  staging: {
    name: 'staging',
    removalPolicy: 'destroy',
    dataLake: {
      noncurrentVersionExpirationDays: 30,
      infrequentAccessAfterDays: null,
      archiveAfterDays: null,
      athenaResultsExpirationDays: 7,
      accessLogsExpirationDays: 90,
      requestLogExpirationDays: 90,
      glueDatabaseName: 'mlops_staging',
    },
    athena: { bytesScannedCutoffPerQuery: 10_000_000_000 },
    logs: { retentionDays: 30, sagemakerTrainingLogGroup: 'create' },
    alarms: {
      enabled: true,
      periodMinutes: 5,
      evaluationPeriods: 1,
      lambdaErrors: 1,
      lambdaThrottles: 1,
      // Staging takes test traffic and canaries: a looser 5xx share and latency than production.
      api5xxRate: 0.05,
      apiP99Ms: 5000,
      dynamoThrottles: 1,
      deadLetterMessages: 1,
    },
    lambda: { memorySizeMb: 512, reservedConcurrency: null },
    api: {
      auth: 'iam',
      throttleRateLimit: 50,
      throttleBurstLimit: 100,
      waf: false,
      wafRateLimitPer5Minutes: 2000,
      callers: [],
      predictions: { throttleRateLimit: 100, throttleBurstLimit: 200, wafRateLimitPer5Minutes: 2000 },
    },
    registry: { pointInTimeRecovery: false, outboxFlushSchedule: 'rate(5 minutes)', productionThroughReleaseOnly: false },
    pipelines: {
      trainingSchedule: 'cron(0 6 ? * MON *)',
      materializationSchedule: 'rate(1 day)',
      driftSchedule: 'rate(1 day)',
      retraining: 'auto',
      trainingInstanceType: 'm5.large',
      trainingMaxRuntimeSeconds: 3600,
      trainingAvailabilityZones: ['a', 'b'],
      trainingLimits: { instanceTypes: ['m5.large', 'm5.xlarge', 'c5.xlarge'], maxInstanceCount: 2, maxVolumeSizeGb: 100, inputModes: ['File', 'FastFile'] },
    },
    drift: { maxWindowDays: 31, thresholds: {} },
    batchInference: { objectsPerBatch: 25, maxConcurrency: 10, toleratedFailurePercentage: 0 },
    // Each worker writes at most ~4 parts; 20 at once stay well inside on-demand write capacity.
    materialization: { partsPerBatch: 4, maxConcurrency: 20, toleratedFailurePercentage: 0 },
    serving: {
      availabilityZones: ['a', 'b'],
      nodeInstanceType: 't3.large',
      minNodes: 1,
      desiredNodes: 2,
      maxNodes: 3,
      privateEndpoint: false,
      // Office or VPN egress ranges that may reach the Kubernetes API; none keeps it private.
      publicEndpointCidrs: [],
      addonVersions: EKS_ADDON_VERSIONS,
      images: SERVING_IMAGES,
      dockerHubCredentialArn: DOCKER_HUB_CREDENTIAL_PLACEHOLDER,
      githubCredentialArn: GITHUB_CREDENTIAL_PLACEHOLDER,
      canaryTrafficPercent: 20,
      modelReplicas: 1,
      autoscaling: { maxReplicas: 4, targetCpuUtilization: 70, targetRequestsPerSecond: 250 },
      requestLogSampleRate: 1,
    },
    modelQuality: {
      schedule: 'rate(1 day)',
      models: ['wine-quality'],
      windowHours: 24,
      rmseMax: 0.9,
      maeMax: 0.7,
      r2Min: 0.2,
      minLabeled: 100,
    },
    accountQuotas: DEFAULT_ACCOUNT_QUOTAS,
    tags: { ...commonTags, environment: 'staging' },
    release: { from: null, to: 'production' },
  },
  production: {
    name: 'production',
    removalPolicy: 'retain',
    dataLake: {
      noncurrentVersionExpirationDays: 365,
      infrequentAccessAfterDays: 30,
      archiveAfterDays: 180,
      athenaResultsExpirationDays: 30,
      accessLogsExpirationDays: 365,
      requestLogExpirationDays: 180,
      glueDatabaseName: 'mlops_production',
    },
    athena: { bytesScannedCutoffPerQuery: 100_000_000_000 },
    logs: { retentionDays: 365, sagemakerTrainingLogGroup: 'create' },
    alarms: {
      enabled: true,
      periodMinutes: 5,
      evaluationPeriods: 2,
      lambdaErrors: 1,
      lambdaThrottles: 1,
      api5xxRate: 0.01,
      apiP99Ms: 2000,
      dynamoThrottles: 1,
      deadLetterMessages: 1,
    },
    lambda: { memorySizeMb: 1024, reservedConcurrency: 100 },
    api: {
      auth: 'iam',
      throttleRateLimit: 500,
      throttleBurstLimit: 1000,
      waf: true,
      // People and pipelines: 2,000 requests per 5 minutes (~7 req/s) per IP is generous.
      wafRateLimitPer5Minutes: 2000,
      // 1,000 req/s sustained with headroom to 2,000; the three stages' bursts total the account's 5,000.
      // WAF per IP: 300,000 per 5 minutes is 1,000 req/s from one backend caller (behind one NAT).
      callers: [],
      predictions: { throttleRateLimit: 2000, throttleBurstLimit: 3000, wafRateLimitPer5Minutes: 300_000 },
    },
    registry: { pointInTimeRecovery: true, outboxFlushSchedule: 'rate(5 minutes)', productionThroughReleaseOnly: true },
    pipelines: {
      trainingSchedule: 'cron(0 6 ? * MON *)',
      materializationSchedule: 'rate(1 hour)',
      driftSchedule: 'rate(1 day)',
      // A human decides whether production retrains: the alarm topic gets the event and the command.
      retraining: 'notify',
      trainingInstanceType: 'm5.xlarge',
      trainingMaxRuntimeSeconds: 4 * 3600,
      trainingAvailabilityZones: ['a', 'b'],
      trainingLimits: {
        instanceTypes: ['m5.large', 'm5.xlarge', 'm5.2xlarge', 'm5.4xlarge', 'c5.2xlarge', 'c5.4xlarge', 'r5.2xlarge'],
        maxInstanceCount: 4,
        maxVolumeSizeGb: 500,
        inputModes: ['File', 'FastFile'],
      },
    },
    drift: { maxWindowDays: 31, thresholds: {} },
    batchInference: { objectsPerBatch: 25, maxConcurrency: 10, toleratedFailurePercentage: 0 },
    // Each worker writes at most ~4 parts; 20 at once stay well inside on-demand write capacity.
    materialization: { partsPerBatch: 4, maxConcurrency: 20, toleratedFailurePercentage: 0 },
    serving: {
      availabilityZones: ['a', 'b', 'c'],
      nodeInstanceType: 'm5.large',
      minNodes: 3,
      desiredNodes: 3,
      maxNodes: 9,
      privateEndpoint: true,
      publicEndpointCidrs: [],
      addonVersions: EKS_ADDON_VERSIONS,
      images: SERVING_IMAGES,
      dockerHubCredentialArn: DOCKER_HUB_CREDENTIAL_PLACEHOLDER,
      githubCredentialArn: GITHUB_CREDENTIAL_PLACEHOLDER,
      canaryTrafficPercent: 10,
      modelReplicas: 3,
      autoscaling: { maxReplicas: 12, targetCpuUtilization: 70, targetRequestsPerSecond: 250 },
      requestLogSampleRate: 1,
    },
    modelQuality: {
      schedule: 'rate(1 day)',
      models: ['wine-quality'],
      windowHours: 24,
      rmseMax: 0.9,
      maeMax: 0.7,
      r2Min: 0.2,
      minLabeled: 100,
    },
    accountQuotas: DEFAULT_ACCOUNT_QUOTAS,
    tags: { ...commonTags, environment: 'production' },
    release: { from: 'staging', to: null },
  },
};

/** What the resolver reads; the CDK app passes its context and `process.env`. */
export interface ResolveOptions {
  /** CDK context values (`-c key=value`, cdk.json). */
  readonly context?: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
  /** Partial overrides merged over the defaults (tests use this for "fails if …" cases). */
  readonly overrides?: Partial<Record<EnvironmentName, DeepPartial<Defaults>>>;
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Thrown for an unknown environment name or a config that fails validation. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Resolves the environments to synthesize: one when `selected` names it, all three when it is
 * undefined or empty.
 */
export function resolveEnvironments(selected: unknown, options: ResolveOptions = {}): EnvironmentConfig[] {
  const names = selectEnvironmentNames(selected);
  return names.map((name) => resolveEnvironment(name, options));
}

export function selectEnvironmentNames(selected: unknown): EnvironmentName[] {
  if (selected === undefined || selected === null || selected === '') return [...ENVIRONMENT_NAMES];
  if (typeof selected !== 'string' || !(ENVIRONMENT_NAMES as readonly string[]).includes(selected)) {
    throw new ConfigError(
      `Unknown environment '${String(selected)}': valid environments are ${ENVIRONMENT_NAMES.join(', ')} ` +
        '(pass one with -c env=<name>, or none to synthesize all three)',
    );
  }
  return [selected as EnvironmentName];
}

/**
 * Account and region, first found wins: context `<env>:account` / `<env>:region`, then
 * `MLOPS_<ENV>_ACCOUNT` / `MLOPS_<ENV>_REGION`, then `CDK_DEFAULT_ACCOUNT` / `CDK_DEFAULT_REGION`
 * (what `cdk deploy` sets from the credentials in use), then the offline placeholders.
 * The local environment always uses its fixed local ids.
 */
export function resolveEnvironment(name: EnvironmentName, options: ResolveOptions = {}): EnvironmentConfig {
  const context = options.context ?? {};
  const env = options.env ?? {};
  const upper = name.toUpperCase();
  const pick = (...values: unknown[]) =>
    values.find((v) => typeof v === 'string' && v !== '') as string | undefined;
  const accountOf = (n: EnvironmentName) =>
    n === 'local'
      ? LOCAL_ACCOUNT
      : (pick(context[`${n}:account`], env[`MLOPS_${n.toUpperCase()}_ACCOUNT`], env['CDK_DEFAULT_ACCOUNT']) ??
        PLACEHOLDER_ACCOUNT);
  const account = accountOf(name);
  const region =
    pick(context[`${name}:region`], env[`MLOPS_${upper}_REGION`], env['CDK_DEFAULT_REGION']) ??
    PLACEHOLDER_REGION;
  const merged = deepMerge(ENVIRONMENT_DEFAULTS[name], options.overrides?.[name] ?? {});
  // The other side of a release is resolved like this environment's own account.
  const { from, to } = merged.release;
  merged.release = {
    ...merged.release,
    ...(from && !merged.release.fromAccount ? { fromAccount: accountOf(from) } : {}),
    ...(to && !merged.release.toAccount ? { toAccount: accountOf(to) } : {}),
  };
  const parsed = environmentConfigSchema.safeParse({ ...merged, account, region });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new ConfigError(`Invalid config for environment '${name}':\n${problems.join('\n')}`);
  }
  return parsed.data;
}

function deepMerge<T>(base: T, over: unknown): T {
  if (over === undefined) return base;
  if (!isPlainObject(base) || !isPlainObject(over)) return over as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge((base as Record<string, unknown>)[k], v);
  return out as T;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
