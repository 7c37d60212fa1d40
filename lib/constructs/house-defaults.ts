/**
 * The house defaults of one environment, resolved once from its config by the stage
 * (`stacks/mlops-stage.ts`) and passed to every stack, so no stack re-derives a removal policy, a
 * log retention or a function size from the config.
 *
 * @example
 * const base = resolveHouseDefaults(config);                     // before the lake exists
 * const house = withLogsKey(base, dataLake.lake.logsKey);        // every log group encrypted
 * new MlopsFunction(this, 'Step', { ...house.logs, ...house.workflowFunction, entry, description });
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import { type EnvironmentConfig, workflowReservedConcurrency } from '../config';

/** Log group settings of a function, state machine or API. */
export interface LogDefaults {
  readonly logRetention: logs.RetentionDays;
  /** @default - CloudWatch Logs' service-owned encryption (only before the lake's logs key exists) */
  readonly logsEncryptionKey?: kms.IKey;
  /** The log group's fate with its stack: the environment's data removal policy. */
  readonly removalPolicy: RemovalPolicy;
}

/** Memory and reserved concurrency of a function. */
export interface FunctionSizing {
  readonly memorySize: number;
  /** @default - the account's shared pool */
  readonly reservedConcurrentExecutions?: number;
}

export interface HouseDefaults {
  /** What happens to data stores (buckets, tables, keys, log groups) when their stack goes. */
  readonly removalPolicy: RemovalPolicy;
  /** Whether data stores are kept (`removalPolicy` RETAIN): deletion protection, key pending windows. */
  readonly retain: boolean;
  readonly logs: LogDefaults;
  /** Functions that serve requests (registry, features): `lambda.reservedConcurrency`. */
  readonly serviceFunction: FunctionSizing;
  /** Workflow steps: capped by `WORKFLOW_RESERVED_CONCURRENCY` (see `workflowReservedConcurrency`). */
  readonly workflowFunction: FunctionSizing;
  /**
   * Whether CloudWatch alarms are built: everywhere but local, where nothing watches CloudWatch
   * (the stage's alarm topic and coverage follow the same rule).
   */
  readonly monitored: boolean;
}

export const removalPolicyOf = (config: EnvironmentConfig): RemovalPolicy =>
  config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

/** The environment's house defaults; log groups are not encrypted until {@link withLogsKey}. */
export function resolveHouseDefaults(config: EnvironmentConfig): HouseDefaults {
  const removalPolicy = removalPolicyOf(config);
  const memorySize = config.lambda.memorySizeMb;
  return {
    removalPolicy,
    retain: config.removalPolicy === 'retain',
    logs: { logRetention: config.logs.retentionDays as logs.RetentionDays, removalPolicy },
    serviceFunction: { memorySize, reservedConcurrentExecutions: config.lambda.reservedConcurrency ?? undefined },
    workflowFunction: { memorySize, reservedConcurrentExecutions: workflowReservedConcurrency(config) },
    monitored: config.name !== 'local',
  };
}

/** The same defaults with every log group encrypted by the lake's logs key. */
export function withLogsKey(house: HouseDefaults, logsEncryptionKey: kms.IKey): HouseDefaults {
  return { ...house, logs: { ...house.logs, logsEncryptionKey } };
}

/** A stack's house defaults: the stage's, or (a stack built alone, in a test) the config's with the lake's logs key. */
export function houseFor(config: EnvironmentConfig, logsKey: kms.IKey, house?: HouseDefaults): HouseDefaults {
  return house ?? withLogsKey(resolveHouseDefaults(config), logsKey);
}
