/**
 * The environment config schema. One validated object per environment (`local`, `staging`,
 * `production`) drives every stack; stacks never read context or environment variables themselves.
 */
import { z } from 'zod';

export const ENVIRONMENT_NAMES = ['local', 'staging', 'production'] as const;
export type EnvironmentName = (typeof ENVIRONMENT_NAMES)[number];

const days = (what: string) =>
  z
    .number({ error: `${what} must be a whole number of days` })
    .int(`${what} must be a whole number of days`)
    .positive(`${what} must be at least 1 day`);

/** CloudWatch Logs only accepts these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Concurrent executions Lambda keeps unreserved in every account and region. */
export const LAMBDA_UNRESERVED_MINIMUM = 100;

const IPV4_CIDR = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}\/(3[0-2]|[12]?\d)$/;
const addonVersion = z
  .string()
  .regex(/^v\d+\.\d+\.\d+-eksbuild\.\d+$/, 'serving.addonVersions entries must be EKS add-on builds such as v1.20.4-eksbuild.1');
const pinnedImage = z
  .string()
  .regex(
    /^docker\.io\/[a-z0-9._/-]+:[\w][\w.-]*@sha256:[0-9a-f]{64}$/,
    'serving.images entries must be pinned by digest, such as docker.io/seldonio/seldon-core-executor:1.17.1@sha256:<64 hex digits>',
  );
/** A KEDA image on ghcr.io, pinned by digest. */
const ghcrImage = (field: string, repository: string) =>
  z
    .string()
    .regex(
      new RegExp(`^ghcr\\.io/kedacore/${repository}:[\\w][\\w.-]*@sha256:[0-9a-f]{64}$`),
      `serving.images.${field} must be pinned by digest, such as ghcr.io/kedacore/${repository}:2.20.2@sha256:<64 hex digits>`,
    );
const accountId = z.string().regex(/^\d{12}$/, 'account must be a 12-digit AWS account id');
const region = z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'region must look like us-east-1');

export const environmentConfigSchema = z
  .object({
    name: z.enum(ENVIRONMENT_NAMES),
    account: accountId,
    region,
    /** RETAIN keeps data and keys when a stack is deleted; DESTROY lets `cdk destroy` clean up. */
    removalPolicy: z.enum(['retain', 'destroy']),
    dataLake: z.object({
      /** Days a superseded object version (an old dataset version) is kept. */
      noncurrentVersionExpirationDays: days('dataLake.noncurrentVersionExpirationDays'),
      /** Days after which current objects move to a colder storage class; null keeps them in Standard. */
      infrequentAccessAfterDays: days('dataLake.infrequentAccessAfterDays').nullable(),
      archiveAfterDays: days('dataLake.archiveAfterDays').nullable(),
      /** Days Athena query results are kept. */
      athenaResultsExpirationDays: days('dataLake.athenaResultsExpirationDays'),
      accessLogsExpirationDays: days('dataLake.accessLogsExpirationDays'),
      /**
       * Days the model servers' request log (model inputs and outputs, `predictions/` in the raw
       * zone) is kept: long enough for drift windows and late labels, not forever.
       */
      requestLogExpirationDays: days('dataLake.requestLogExpirationDays'),
      /** Glue database name; Athena SQL names it, so it is readable and unique per environment. */
      glueDatabaseName: z
        .string()
        .regex(
          /^[a-z][a-z0-9_]{0,254}$/,
          'dataLake.glueDatabaseName must be lower-case letters, digits and _',
        ),
    }),
    athena: z.object({
      /** Per-query scan cutoff; Athena's minimum is 10 MB. */
      bytesScannedCutoffPerQuery: z
        .number()
        .int()
        .min(
          10_000_000,
          'athena.bytesScannedCutoffPerQuery must be at least 10,000,000 bytes (Athena minimum)',
        ),
    }),
    logs: z.object({
      retentionDays: z.number().refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
        message: `logs.retentionDays must be one of ${LOG_RETENTION_DAYS.join(', ')}`,
      }),
      /**
       * SageMaker writes every training job of the account and region to one fixed group,
       * `/aws/sagemaker/TrainingJobs`, which it would create with no retention and no key. `create`:
       * the training stack creates it with the retention and the logs key (CloudFormation fails if
       * it already exists: import it, or delete it first). `existing`: another stack of the account
       * and region owns it (two environments sharing an account set one of them to `existing`).
       */
      sagemakerTrainingLogGroup: z.enum(['create', 'existing']),
    }),
    /**
     * The environment's alarms (see `lib/constructs/operations-coverage.ts`): every alarm of the
     * stage notifies the alarm topic when `enabled`; with `enabled: false` the alarms and the
     * dashboard still exist but no alarm has an action (nobody is paged).
     */
    alarms: z.object({
      enabled: z.boolean(),
      /** Where alarm notifications go; empty means the topic exists with no subscriber. */
      email: z.email().optional(),
      /** Length of one alarm evaluation period. */
      periodMinutes: z.number().int().min(1).max(60),
      /** Consecutive breaching periods before an alarm fires. */
      evaluationPeriods: z.number().int().min(1).max(24),
      /** Lambda errors per period (any function) at which its alarm fires. */
      lambdaErrors: z.number().int().min(1),
      /** Lambda throttles per period at which its alarm fires. */
      lambdaThrottles: z.number().int().min(1),
      /** Share of an API's requests answered 5xx (0..1) at which its alarm fires. */
      api5xxRate: z
        .number()
        .gt(0, 'alarms.api5xxRate must be a share between 0 and 1')
        .max(1, 'alarms.api5xxRate must be a share between 0 and 1'),
      /** An API's p99 latency (ms) at which its alarm fires; API Gateway answers 504 after 29 s. */
      apiP99Ms: z.number().int().min(1).max(29_000),
      /** DynamoDB read + write throttle events per period at which a table's alarm fires. */
      dynamoThrottles: z.number().int().min(1),
      /** Messages in a dead-letter queue at which its alarm fires. */
      deadLetterMessages: z.number().int().min(1),
    }),
    lambda: z.object({
      memorySizeMb: z.number().int().min(128).max(10_240),
      /**
       * Reserved concurrency of each request-serving function (registry, feature server); workflow
       * steps reserve at most 10 of it. null leaves the account pool shared. The deploy preflight
       * holds the stage's total to `accountQuotas.lambdaConcurrency` minus 100.
       */
      reservedConcurrency: z.number().int().positive().nullable(),
    }),
    api: z.object({
      /** `iam` requires SigV4-signed requests; `none` is only allowed for the local environment. */
      auth: z.enum(['none', 'iam']),
      throttleRateLimit: z.number().positive(),
      throttleBurstLimit: z.number().int().positive(),
      waf: z.boolean(),
      /** Requests per 5 minutes from one IP before WAF blocks it (registry and feature APIs; AWS allows 10 to 2e9). */
      wafRateLimitPer5Minutes: z.number().int().min(10).max(2_000_000_000),
      /**
       * The prediction API's own limits: it carries model traffic (1 k req/s from a few backend
       * callers in production), where the registry and feature APIs carry people and pipelines.
       */
      predictions: z.object({
        throttleRateLimit: z.number().positive(),
        throttleBurstLimit: z.number().int().positive(),
        wafRateLimitPer5Minutes: z.number().int().min(10).max(2_000_000_000),
      }),
      /**
       * Roles outside the stage that may call its APIs (the applications that ask for predictions,
       * say), as role ARNs (`*` allowed in the name). With `auth: 'iam'` every API's resource policy
       * denies all but the stage's own roles (`stageRoleArnPattern`) and these; each still needs
       * its own `execute-api:Invoke` grant.
       */
      callers: z.array(
        z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@*/-]+$/, 'api.callers entries must be IAM role ARNs such as arn:aws:iam::123456789012:role/scoring-app'),
      ),
    }),
    registry: z.object({
      pointInTimeRecovery: z.boolean(),
      /**
       * EventBridge Scheduler expression of the promotion-outbox flush, which re-sends promotion
       * events a failed PutEvents left behind (`lambdas/registry-outbox.ts`).
       */
      outboxFlushSchedule: z.string().regex(/^rate\(\d+ (minute|minutes|hour|hours)\)$/, 'registry.outboxFlushSchedule must be a rate such as rate(5 minutes)'),
      /**
       * Only the release machine (its role, `releasePromoterRoleName`) may move a version into
       * Production or move the `champion` alias: the data-scientist role gets no `promote` grant
       * and the registry refuses everyone else with PERMISSION_DENIED. A version gets there only
       * through a release and its approval.
       */
      productionThroughReleaseOnly: z.boolean(),
    }),
    pipelines: z.object({
      /** EventBridge Scheduler expression for retraining, or null for no schedule. */
      trainingSchedule: z.string().nullable(),
      materializationSchedule: z.string().nullable(),
      driftSchedule: z.string().nullable(),
      /**
       * What a `DriftDetected` or `ModelQualityBelowThreshold` event does: `auto` starts the
       * training pipeline with the report in its input, `notify` sends the event and the command
       * to run to the alarm topic, `off` ignores it.
       */
      retraining: z.enum(['auto', 'notify', 'off']),
      trainingInstanceType: z
        .string()
        .regex(/^[a-z0-9]+\.[a-z0-9]+$/, 'use the form m5.large (CDK adds ml.)'),
      trainingMaxRuntimeSeconds: z
        .number()
        .int()
        .positive()
        .max(28 * 24 * 3600),
      /**
       * Zones (suffixes of the region: a, b, c) of the training VPC's isolated subnets, where the
       * SageMaker training jobs run (`TrainingNetwork`); null runs them without a VPC (local, whose
       * engine has no network to place them in).
       */
      trainingAvailabilityZones: z.array(z.string().regex(/^[a-z]$/, 'pipelines.trainingAvailabilityZones entries must be zone suffixes such as a')).min(1).nullable(),
      /**
       * What one training run may ask for in its input (`instance_type`, `instance_count`,
       * `volume_size_gb`; lib/pipelines/input.ts). A run that asks for nothing gets
       * `trainingInstanceType`, one instance and 10 GB.
       */
      trainingLimits: z.object({
        instanceTypes: z.array(z.string().regex(/^[a-z0-9]+\.[a-z0-9]+$/, 'use the form m5.large (CDK adds ml.)')).min(1),
        maxInstanceCount: z.number().int().min(1).max(100),
        maxVolumeSizeGb: z.number().int().min(10).max(16_384),
        /**
         * SageMaker input modes a run may ask for (`input_mode`), the first the default: `File`
         * copies the channels onto the volume first, `FastFile` streams them as the trainer reads.
         */
        inputModes: z.array(z.enum(['File', 'FastFile'])).min(1),
      }),
    }),
    /** The drift machine (stacks/drift-stack.ts). */
    drift: z.object({
      /** The longest window one execution aggregates, in days. */
      maxWindowDays: z.number().int().min(1).max(366),
      /**
       * Overrides of the drift tests' thresholds and rules (lib/drift `DriftOptions`: `ksPValue`,
       * `wassersteinDistance`, `jensenShannonDistance`, `driftShare`, …); the rest keep Evidently's defaults.
       */
      thresholds: z.record(z.string(), z.number()),
    }),
    /**
     * The batch inference machine's Distributed Map (stacks/batch-inference-stack.ts): one child
     * execution (one Lambda invocation) per `objectsPerBatch` input objects.
     */
    batchInference: z.object({
      /** Input objects per child execution (ItemBatcher MaxItemsPerBatch), predicted one after the other. */
      objectsPerBatch: z.number().int().min(1).max(1000),
      /**
       * Child executions at once (MaxConcurrency): Lambda invocations of the predict function at once.
       * Where the environment reserves Lambda concurrency, the predict function reserves this many.
       */
      maxConcurrency: z.number().int().min(1).max(10_000),
      /**
       * Share of input objects (percent) that may fail before the run fails
       * (ToleratedFailurePercentage); the failed ones are listed in the run's results manifest.
       */
      toleratedFailurePercentage: z.number().min(0).max(100),
    }),
    /**
     * Materialization's per-view Distributed Map (lib/constructs/materialization-steps.ts): one
     * child execution (one worker Lambda invocation) per `partsPerBatch` UNLOAD parts.
     */
    materialization: z.object({
      /** UNLOAD parts per child execution (ItemBatcher MaxItemsPerBatch), streamed one after the other. */
      partsPerBatch: z.number().int().min(1).max(100),
      /** Child executions at once per view (MaxConcurrency): bounds the online table's write load. */
      maxConcurrency: z.number().int().min(1).max(1000),
      /**
       * Share of parts (percent) that may fail before the view's Map Run fails
       * (ToleratedFailurePercentage). A view with any failed part writes what it can but does not
       * record its window, so the next run redoes it.
       */
      toleratedFailurePercentage: z.number().min(0).max(100),
    }),
    serving: z.object({
      /** Availability zones the VPC spans, as suffixes of the region (a, b, c). */
      availabilityZones: z.array(z.string().regex(/^[a-z]$/)).min(1),
      nodeInstanceType: z.string(),
      minNodes: z.number().int().nonnegative(),
      desiredNodes: z.number().int().nonnegative(),
      maxNodes: z.number().int().positive(),
      /** A private-only EKS API endpoint (no public access). */
      privateEndpoint: z.boolean(),
      /**
       * Source networks that may reach a public EKS API endpoint (with `privateEndpoint: false`);
       * empty keeps the endpoint private. Never the whole internet.
       */
      publicEndpointCidrs: z.array(
        z
          .string()
          .regex(IPV4_CIDR, 'serving.publicEndpointCidrs entries must be IPv4 CIDR blocks such as 203.0.113.0/24')
          .refine((c) => !c.endsWith('/0'), 'serving.publicEndpointCidrs entries must be narrower than /0 (the whole internet)'),
      ),
      /**
       * Pinned EKS managed add-on versions (`aws eks describe-addon-versions --kubernetes-version
       * 1.36`); raise them here, one reviewed change, when EKS publishes new builds.
       */
      addonVersions: z.object({
        vpcCni: addonVersion,
        coredns: addonVersion,
        kubeProxy: addonVersion,
        podIdentityAgent: addonVersion,
        /** The CloudWatch agent (Container Insights and the model servers' Prometheus series). */
        cloudwatchObservability: addonVersion,
        /** metrics-server (the resource metrics API the model deployments' autoscalers read). */
        metricsServer: addonVersion,
      }),
      /**
       * Model pods scale between `modelReplicas` and `maxReplicas` on CPU (a HorizontalPodAutoscaler
       * per predictor); nodes follow between `minNodes` and `maxNodes` (the cluster autoscaler).
       */
      autoscaling: z.object({
        maxReplicas: z.number().int().positive(),
        /** Average CPU use, as a percentage of the pods' CPU request, the autoscaler holds. */
        targetCpuUtilization: z.number().int().min(10).max(100),
        /**
         * Requests per second per pod the autoscaler holds as well as the CPU target: KEDA scales each
         * predictor on the larger of the two, reading the model servers' `Requests` from CloudWatch.
         * Needs `images.keda*` and `githubCredentialArn` (KEDA's images are on ghcr.io).
         * @default - CPU only (a HorizontalPodAutoscaler per predictor)
         */
        targetRequestsPerSecond: z.number().positive().max(100_000).optional(),
      }),
      /**
       * Third-party images the cluster runs, pinned by digest (`docker buildx imagetools inspect
       * <image>:<tag>`); the nodes pull them through the environment's ECR pull-through cache of
       * Docker Hub, never from Docker Hub by tag.
       */
      images: z.object({
        seldonOperator: pinnedImage,
        seldonExecutor: pinnedImage,
        /** The prediction router (nginx, unprivileged: port 8080, uid 101). */
        router: pinnedImage,
        /** The cluster autoscaler, its minor version the cluster's Kubernetes minor (cached from registry.k8s.io). */
        clusterAutoscaler: z
          .string()
          .regex(
            /^registry\.k8s\.io\/[a-z0-9./_-]+:[\w][\w.-]{0,127}@sha256:[0-9a-f]{64}$/,
            'serving.images.clusterAutoscaler must be pinned by digest, such as registry.k8s.io/autoscaling/cluster-autoscaler:v1.36.0@sha256:<64 hex digits>',
          ),
        /** KEDA's operator, metrics API server and admission webhooks (cached from ghcr.io), one release. */
        kedaOperator: ghcrImage('kedaOperator', 'keda'),
        kedaMetricsApiServer: ghcrImage('kedaMetricsApiServer', 'keda-metrics-apiserver'),
        kedaAdmissionWebhooks: ghcrImage('kedaAdmissionWebhooks', 'keda-admission-webhooks'),
      }),
      /**
       * The Secrets Manager secret (`ecr-pullthroughcache/…`) of a GitHub username and token with
       * `read:packages`, which ECR's pull-through cache of ghcr.io requires.
       * @default - no ghcr.io cache (then `autoscaling.targetRequestsPerSecond` cannot be set)
       */
      githubCredentialArn: z
        .string()
        .regex(
          /^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/[\w/+=.@-]+$/,
          'serving.githubCredentialArn must be the ARN of a Secrets Manager secret named ecr-pullthroughcache/…',
        )
        .optional(),
      /**
       * The Secrets Manager secret (`ecr-pullthroughcache/…`, `{"username","accessToken"}`) of a
       * Docker Hub account, which ECR's pull-through cache rule for Docker Hub requires; created by
       * the operator, never in a template.
       */
      dockerHubCredentialArn: z
        .string()
        .regex(
          /^arn:aws[\w-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/[\w/+=.@-]+$/,
          'serving.dockerHubCredentialArn must be the ARN of a Secrets Manager secret named ecr-pullthroughcache/…',
        ),
      /** Traffic share (percent) a new model version gets as a canary before promotion. */
      canaryTrafficPercent: z.number().int().min(0).max(100),
      modelReplicas: z.number().int().positive(),
      /**
       * Fraction of predictions the model server writes to the request log (drift analysis reads
       * it); Seldon feedback is always logged. Locally the log is also size-capped.
       */
      requestLogSampleRate: z
        .number({ error: 'serving.requestLogSampleRate must be a number between 0 and 1' })
        .min(0, 'serving.requestLogSampleRate must be between 0 and 1')
        .max(1, 'serving.requestLogSampleRate must be between 0 and 1'),
    }),
    /**
     * Model quality once labels arrive (the `quality` state machine): predictions in the request
     * log joined with the lake's labels by request id, RMSE/MAE/R² per model version and window.
     */
    modelQuality: z.object({
      /** EventBridge Scheduler expression, or null for runs by hand only (`mlops quality`). */
      schedule: z.string().nullable(),
      /** The registered models a scheduled run checks (one execution each) and the alarms watch. */
      models: z.array(z.string().regex(/^[A-Za-z0-9._-]+$/, 'modelQuality.models must be registered model names')),
      /** How far back a scheduled run looks, in hours (a run by hand may give its own window). */
      windowHours: z.number().int().min(1).max(24 * 31),
      /** Alarm and `ModelQualityBelowThreshold` when RMSE is above this. */
      rmseMax: z.number().positive(),
      /** … or MAE above this. */
      maeMax: z.number().positive(),
      /** … or R² below this. */
      r2Min: z.number().max(1),
      /** Fewer labeled predictions than this in a window: metrics published, no verdict. */
      minLabeled: z.number().int().min(1),
    }),
    /**
     * The account's regional quotas the deploy preflight checks the stage against (Service Quotas
     * shows the real ones; raise these to match after an increase).
     */
    accountQuotas: z.object({
      /** Lambda concurrent executions; Lambda keeps 100 of them unreserved. */
      lambdaConcurrency: z
        .number()
        .int()
        .min(
          LAMBDA_UNRESERVED_MINIMUM,
          `accountQuotas.lambdaConcurrency must be at least ${LAMBDA_UNRESERVED_MINIMUM} (what Lambda keeps unreserved)`,
        ),
      /** API Gateway steady-state requests per second, shared by every REST API stage of the region. */
      apiGatewayThrottleRps: z.number().positive(),
      /** API Gateway burst, shared likewise. */
      apiGatewayThrottleBurst: z.number().int().positive(),
    }),
    tags: z.record(z.string(), z.string()),
    /**
     * Model releases between environments (the `release` state machine). `from`: the environment
     * this one releases models from; its release-source role (`releaseSourceRoleName`) in
     * `fromAccount` is the one role the release machine may assume. `to`: the environment allowed
     * to release from this one; `toAccount` may assume this environment's release-source role.
     * The accounts are resolved like the environments' own (context, `MLOPS_<ENV>_ACCOUNT`, …).
     */
    release: z.object({
      from: z.enum(ENVIRONMENT_NAMES).nullable(),
      fromAccount: accountId.optional(),
      to: z.enum(ENVIRONMENT_NAMES).nullable(),
      toAccount: accountId.optional(),
    }),
  })
  .superRefine((c, ctx) => {
    for (const side of ['from', 'to'] as const) {
      if (c.release[side] === c.name) {
        ctx.addIssue({
          code: 'custom',
          path: ['release', side],
          message: `release.${side} must name another environment, but ${c.name} releases ${side === 'from' ? 'from' : 'to'} itself`,
        });
      }
    }
    if (c.name !== 'local' && c.api.auth === 'none') {
      ctx.addIssue({
        code: 'custom',
        path: ['api', 'auth'],
        message: `api.auth must be 'iam' in ${c.name}, but 'none' was provided: only local may serve unauthenticated`,
      });
    }
    if (c.name !== 'local' && c.pipelines.trainingAvailabilityZones === null) {
      ctx.addIssue({
        code: 'custom',
        path: ['pipelines', 'trainingAvailabilityZones'],
        message: `pipelines.trainingAvailabilityZones must name zones in ${c.name} (training jobs run in a VPC there), but null was provided`,
      });
    }
    if (c.name === 'local' && c.registry.productionThroughReleaseOnly) {
      ctx.addIssue({
        code: 'custom',
        path: ['registry', 'productionThroughReleaseOnly'],
        message: 'registry.productionThroughReleaseOnly must be false in local (its gateway has no IAM to name the caller, so nobody could promote), but true was provided',
      });
    }
    if (c.name === 'production' && !c.registry.productionThroughReleaseOnly) {
      ctx.addIssue({
        code: 'custom',
        path: ['registry', 'productionThroughReleaseOnly'],
        message: 'registry.productionThroughReleaseOnly must be true in production, but false was provided',
      });
    }
    if (c.name === 'production' && c.removalPolicy !== 'retain') {
      ctx.addIssue({
        code: 'custom',
        path: ['removalPolicy'],
        message: `removalPolicy must be 'retain' in production, but '${c.removalPolicy}' was provided`,
      });
    }
    if (c.name === 'production' && !c.serving.privateEndpoint) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'privateEndpoint'],
        message: 'serving.privateEndpoint must be true in production, but false was provided',
      });
    }
    if (c.serving.privateEndpoint && c.serving.publicEndpointCidrs.length > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'publicEndpointCidrs'],
        message: `serving.publicEndpointCidrs must be empty when serving.privateEndpoint is true, but ${c.serving.publicEndpointCidrs.join(', ')} was provided`,
      });
    }
    if (!c.pipelines.trainingLimits.instanceTypes.includes(c.pipelines.trainingInstanceType)) {
      ctx.addIssue({
        code: 'custom',
        path: ['pipelines', 'trainingLimits', 'instanceTypes'],
        message: `pipelines.trainingLimits.instanceTypes must include pipelines.trainingInstanceType, but ${c.pipelines.trainingInstanceType} was provided`,
      });
    }
    if (c.name === 'local' && c.pipelines.retraining === 'notify') {
      ctx.addIssue({
        code: 'custom',
        path: ['pipelines', 'retraining'],
        message: "pipelines.retraining must be 'auto' or 'off' in local (it has no alarm topic to notify), but 'notify' was provided",
      });
    }
    if (c.serving.autoscaling.targetRequestsPerSecond !== undefined && c.serving.githubCredentialArn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'githubCredentialArn'],
        message: `serving.githubCredentialArn must name the ghcr.io cache's credential when serving.autoscaling.targetRequestsPerSecond is set (KEDA's images are on ghcr.io), but none was provided`,
      });
    }
    const kedaTags = [c.serving.images.kedaOperator, c.serving.images.kedaMetricsApiServer, c.serving.images.kedaAdmissionWebhooks].map(
      (i) => /:([\w][\w.-]*)@/.exec(i)?.[1],
    );
    if (new Set(kedaTags).size !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'images'],
        message: `serving.images.keda* must be one KEDA release, but the tags ${kedaTags.join(', ')} were provided`,
      });
    }
    const { minNodes, desiredNodes, maxNodes } = c.serving;
    if (!(minNodes <= desiredNodes && desiredNodes <= maxNodes)) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving'],
        message: `serving nodes must satisfy min <= desired <= max, but ${minNodes} <= ${desiredNodes} <= ${maxNodes} was provided`,
      });
    }
    if (c.serving.autoscaling.maxReplicas < c.serving.modelReplicas) {
      ctx.addIssue({
        code: 'custom',
        path: ['serving', 'autoscaling', 'maxReplicas'],
        message: `serving.autoscaling.maxReplicas must be at least serving.modelReplicas (${c.serving.modelReplicas}), but ${c.serving.autoscaling.maxReplicas} was provided`,
      });
    }
    const { infrequentAccessAfterDays: ia, archiveAfterDays: archive } = c.dataLake;
    if (ia !== null && ia < 30) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataLake', 'infrequentAccessAfterDays'],
        message: `dataLake.infrequentAccessAfterDays must be at least 30 (S3 minimum), but ${ia} was provided`,
      });
    }
    if (ia !== null && archive !== null && archive <= ia) {
      ctx.addIssue({
        code: 'custom',
        path: ['dataLake', 'archiveAfterDays'],
        message: `dataLake.archiveAfterDays must be after infrequentAccessAfterDays (${ia}), but ${archive} was provided`,
      });
    }
  });

export type EnvironmentConfig = z.infer<typeof environmentConfigSchema>;

/** The role an environment's release machine assumes in its source environment (a name both sides know). */
export const releaseSourceRoleName = (environment: string): string => `mlops-${environment}-release-source`;

/**
 * The release machine's function role: a name the registry knows without a reference to the
 * release stack (which depends on the registry), for its production guard.
 */
export const releasePromoterRoleName = (environment: string): string => `mlops-${environment}-release-promoter`;

/**
 * Every role of an environment's stage: CloudFormation names a role `<stack name>-<logical id>-<suffix>`
 * and the stacks are `mlops-<environment>-<Stack>`; the kit's fixed names (`releaseSourceRoleName`,
 * `releasePromoterRoleName`) share the prefix. For resource policies, which cannot reference roles
 * of the stacks that depend on the API's.
 */
export const stageRoleArnPattern = (environment: string, account: string, partition: string): string =>
  `arn:${partition}:iam::${account}:role/mlops-${environment}-*`;
