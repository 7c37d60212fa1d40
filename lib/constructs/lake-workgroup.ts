/**
 * The lake's Athena workgroup: engine version 3, an enforced result location (SSE-KMS with the
 * lake key, owned by this account), CloudWatch metrics, and a per-query scan cutoff.
 *
 * @example
 * new LakeWorkGroup(this, 'WorkGroup', {
 *   workGroupName: 'mlops-staging',
 *   description: 'mlops-kit staging',
 *   resultLocation: `s3://${results.bucketName}/results/`,
 *   encryptionKey: key,
 *   bytesScannedCutoffPerQuery: 10_000_000_000,
 * });
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface LakeWorkGroupProps {
  /** The workgroup's name: queries and grants name it. */
  readonly workGroupName: string;
  readonly description: string;
  /** `s3://bucket/prefix/` every query's result goes to. */
  readonly resultLocation: string;
  /** Encrypts the results (SSE-KMS). */
  readonly encryptionKey: kms.IKey;
  /** Bytes a query may scan before Athena cancels it; Athena's minimum is 10 MB. */
  readonly bytesScannedCutoffPerQuery: number;
  /**
   * RETAIN keeps the workgroup (and its query history) with the stack gone; otherwise it is
   * deleted with its saved queries (`recursiveDeleteOption`).
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class LakeWorkGroup extends athena.CfnWorkGroup {
  constructor(scope: Construct, id: string, props: LakeWorkGroupProps) {
    if (!Number.isInteger(props.bytesScannedCutoffPerQuery) || props.bytesScannedCutoffPerQuery < 10_000_000) {
      throw new Error(
        `bytesScannedCutoffPerQuery must be an integer of at least 10,000,000 (Athena's minimum), but ${props.bytesScannedCutoffPerQuery} was provided`,
      );
    }
    if (!/^s3:\/\/[^/]+\/(.*\/)?$/.test(props.resultLocation)) {
      throw new Error(`resultLocation must be an s3://bucket/prefix/ URI, but "${props.resultLocation}" was provided`);
    }
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    super(scope, id, {
      name: props.workGroupName,
      description: props.description,
      state: 'ENABLED',
      recursiveDeleteOption: removalPolicy !== RemovalPolicy.RETAIN,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: props.resultLocation,
          expectedBucketOwner: Stack.of(scope).account,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: props.encryptionKey.keyArn },
        },
      },
    });
    this.applyRemovalPolicy(removalPolicy);
  }
}
