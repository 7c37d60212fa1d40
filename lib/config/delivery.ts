/**
 * The delivery pipeline's config: where the pipeline lives (the tooling account), which repository
 * and branch it builds through which CodeConnections connection, and the staging and production
 * environments it deploys (their own configs, resolved as `-c env=staging` resolves them).
 *
 * Each value comes from CDK context `delivery:<key>`, then `MLOPS_DELIVERY_<KEY>`, then an offline
 * placeholder, so `npx cdk synth -c env=delivery` runs with no credentials; deploying the pipeline
 * needs the real ones (README, "Delivery").
 *
 * @example
 * const delivery = resolveDelivery({ context: { 'delivery:account': '111122223333', 'delivery:repository': 'acme/mlops-kit' } });
 */
import { z } from 'zod';
import { ConfigError, PLACEHOLDER_REGION, resolveEnvironment, type ResolveOptions } from './environments';
import type { EnvironmentConfig } from './schema';

/** The name `-c env=<name>` selects the delivery pipeline by. */
export const DELIVERY = 'delivery';

/** Offline placeholders; a connection ARN of zeros can never match a real connection. */
export const DELIVERY_PLACEHOLDERS = {
  account: '111111111111',
  region: PLACEHOLDER_REGION,
  connectionArn: 'arn:aws:codeconnections:us-east-1:111111111111:connection/00000000-0000-0000-0000-000000000000',
  repository: 'example-org/mlops-kit',
  branch: 'main',
} as const;

/** The delivery settings, as context keys (`delivery:<key>`) and variables (`MLOPS_DELIVERY_<KEY>`). */
const KEYS = ['account', 'region', 'connectionArn', 'repository', 'branch'] as const;

export const deliveryConfigSchema = z.object({
  /** The tooling account the pipeline (and its artifact bucket and key) lives in. */
  account: z.string().regex(/^\d{12}$/, 'delivery.account must be a 12-digit AWS account id'),
  region: z.string().regex(/^[a-z]{2}(-gov)?-[a-z]+-\d$/, 'delivery.region must look like us-east-1'),
  /** A CodeConnections (or CodeStar Connections) connection to the repository's host. */
  connectionArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection\/[0-9a-f-]{36}$/,
      'delivery.connectionArn must be a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<uuid>)',
    ),
  /** `owner/name` on the connection's host. */
  repository: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'delivery.repository must be owner/name (e.g. acme/mlops-kit)'),
  /** The branch whose pushes deploy. */
  branch: z.string().min(1, 'delivery.branch must not be empty').regex(/^[^\s~^:?*[\\]+$/, 'delivery.branch must be a git branch name'),
});

export type DeliverySettings = z.infer<typeof deliveryConfigSchema>;

/** The pipeline's settings and the two environments it deploys, each validated. */
export interface DeliveryConfig extends DeliverySettings {
  readonly staging: EnvironmentConfig;
  readonly production: EnvironmentConfig;
}

/**
 * Resolves and validates the delivery config; staging and production are resolved from the same
 * context and variables (`staging:account`, `MLOPS_PRODUCTION_ACCOUNT`, …) as a manual deploy.
 *
 * @throws ConfigError naming every invalid value
 */
export function resolveDelivery(options: ResolveOptions = {}): DeliveryConfig {
  const context = options.context ?? {};
  const env = options.env ?? {};
  const pick = (key: (typeof KEYS)[number]): unknown => {
    const variable = `MLOPS_DELIVERY_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
    return [context[`${DELIVERY}:${key}`], env[variable]].find((v) => v !== undefined && v !== '') ?? DELIVERY_PLACEHOLDERS[key];
  };
  const parsed = deliveryConfigSchema.safeParse(Object.fromEntries(KEYS.map((k) => [k, pick(k)])));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.message}, but ${JSON.stringify(pick(i.path[0] as (typeof KEYS)[number]))} was provided`);
    throw new ConfigError(`Invalid config for the delivery pipeline:\n${problems.join('\n')}`);
  }
  return {
    ...parsed.data,
    staging: resolveEnvironment('staging', options),
    production: resolveEnvironment('production', options),
  };
}

/** The context keys `bin/app.ts` passes to {@link resolveDelivery}. */
export const DELIVERY_CONTEXT_KEYS: readonly string[] = KEYS.map((k) => `${DELIVERY}:${k}`);
