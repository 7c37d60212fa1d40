/**
 * A data-lake bucket with the kit's guardrails fixed: public access blocked, TLS 1.2+ only, bucket
 * owner owns every object, server access logs, and lifecycle rules for old versions and
 * incomplete uploads. Encryption is SSE-KMS with the lake key, except for the access-log bucket
 * (S3 log delivery can only write SSE-S3 objects).
 *
 * @example
 * const raw = new LakeBucket(this, 'Raw', { encryptionKey: key, accessLogs, versioned: true });
 */
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

export interface LakeBucketProps {
  /**
   * The key objects are encrypted with; undefined means SSE-S3 (only for the access-log bucket).
   * @default - SSE-S3
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * Where server access logs go; undefined only for the access-log bucket itself.
   * @default - no access logging
   */
  readonly accessLogs?: s3.IBucket;
  /**
   * Keep every object version (dataset versions are S3 object versions).
   * @default true
   */
  readonly versioned?: boolean;
  /**
   * Days a noncurrent version is kept.
   * @default 30
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Days after which current objects expire; for transient data such as query results.
   * @default - never
   */
  readonly expirationDays?: number;
  /**
   * Days after which current objects move to Intelligent-Tiering.
   * @default - stay in Standard
   */
  readonly infrequentAccessAfterDays?: number;
  /**
   * Days after which current objects move to Glacier Instant Retrieval.
   * @default - never archived
   */
  readonly archiveAfterDays?: number;
  /**
   * RETAIN keeps the bucket and its data when the stack goes; DESTROY empties and deletes it.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

export class LakeBucket extends s3.Bucket {
  constructor(scope: Construct, id: string, props: LakeBucketProps = {}) {
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const versioned = props.versioned ?? true;
    const transitions: s3.Transition[] = [];
    if (props.infrequentAccessAfterDays !== undefined) {
      transitions.push({
        storageClass: s3.StorageClass.INTELLIGENT_TIERING,
        transitionAfter: Duration.days(props.infrequentAccessAfterDays),
      });
    }
    if (props.archiveAfterDays !== undefined) {
      transitions.push({
        storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
        transitionAfter: Duration.days(props.archiveAfterDays),
      });
    }
    super(scope, id, {
      encryption: props.encryptionKey ? s3.BucketEncryption.KMS : s3.BucketEncryption.S3_MANAGED,
      encryptionKey: props.encryptionKey,
      bucketKeyEnabled: props.encryptionKey ? true : undefined,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      versioned,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: props.accessLogs ? `${id.toLowerCase()}/` : undefined,
      removalPolicy,
      autoDeleteObjects: removalPolicy === RemovalPolicy.DESTROY,
      lifecycleRules: [
        {
          id: 'abort-incomplete-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(7),
        },
        ...(versioned
          ? [
              {
                id: 'expire-noncurrent-versions',
                noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpirationDays ?? 30),
              },
            ]
          : []),
        ...(props.expirationDays !== undefined
          ? [{ id: 'expire-objects', expiration: Duration.days(props.expirationDays) }]
          : []),
        ...(transitions.length > 0 ? [{ id: 'colder-storage', transitions }] : []),
      ],
    });
  }
}
