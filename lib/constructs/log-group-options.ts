/**
 * The log-group props every kit construct that owns a log group takes (functions, state machines,
 * APIs and the constructs built on them), documented once; the stage fills them from the
 * environment's house defaults (`house.logs`).
 *
 * @example
 * new MlopsFunction(this, 'Step', { ...house.logs, entry: lambdaEntry('pipeline-validate'), description: 'Validate data' });
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface LogGroupOptions {
  /**
   * How long the log group keeps its events.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Encrypts the log group(s) with this key (the data lake's `logsKey`).
   * @default - CloudWatch Logs' service-owned encryption
   */
  readonly logsEncryptionKey?: kms.IKey;
  /**
   * What happens to the log group(s) when the stack is deleted.
   * @default RemovalPolicy.DESTROY
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * A log group with the kit's defaults for what the props leave out (a month, the service-owned
 * key, DESTROY), the one place they are written.
 *
 * @example
 * this.logGroup = houseLogGroup(this, 'Logs', props);
 */
export function houseLogGroup(
  scope: Construct,
  id: string,
  props: LogGroupOptions & { readonly logGroupName?: string },
): logs.LogGroup {
  return new logs.LogGroup(scope, id, {
    logGroupName: props.logGroupName,
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    encryptionKey: props.logsEncryptionKey,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.DESTROY,
  });
}
