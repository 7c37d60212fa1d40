/**
 * A data-lake bucket with the kit's guardrails fixed: public access blocked, TLS 1.2+ only, bucket
 * owner owns every object, server access logs, and lifecycle rules for old versions and
 * incomplete uploads. Encryption is SSE-KMS with the lake key, except for the access-log bucket
 * (S3 log delivery can only write SSE-S3 objects).
 *
 * Object access is granted with {@link LakeBucket.grantObjects} (or bound with a name through
 * {@link LakeBucket.objects}): named actions under key prefixes, the key only through S3. CDK's
 * inherited `grantRead`/`grantPut` give `s3:GetObject*`, `s3:List*` and the key's wildcard actions.
 *
 * @example
 * const raw = new LakeBucket(this, 'Raw', { encryptionKey: key, accessLogs, versioned: true });
 * raw.grantObjects(machine.role, { read: 'wine/', list: 'wine/' }, 'Athena reads the table under wine/');
 * fn.bind('RAW_BUCKET', raw.objects({ put: 'uploads/' }, 'each upload is named at run time'));
 */
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { Binding, grantKeyVia, principalConstruct } from './binding';

/**
 * Object calls under key prefixes of one bucket; each level is a prefix (`''` for the whole
 * bucket) and grants what its name says, nothing else.
 */
export interface ObjectAccess {
  /**
   * `s3:GetObject` under this prefix (and `kms:Decrypt` through S3).
   * @default - no reads
   */
  readonly read?: string;
  /**
   * `s3:GetObject` on exactly these key patterns (IAM wildcards: every `model.tar.gz` under `runs/`), for a
   * reader that may see one kind of object under a prefix but not the rest.
   * @default - none
   */
  readonly readKeys?: readonly string[];
  /**
   * `s3:ListBucket` and `s3:GetBucketLocation`, listing only keys under this prefix (`''`: no
   * prefix condition).
   * @default - no listing
   */
  readonly list?: string;
  /**
   * Single-request `s3:PutObject` under this prefix (and `kms:GenerateDataKey` through S3): small
   * objects a handler writes whole.
   * @default - no single-request writes
   */
  readonly put?: string;
  /**
   * Writes that may be multipart (SageMaker's model upload, Athena's UNLOAD): `s3:PutObject`,
   * `s3:AbortMultipartUpload`, `s3:ListMultipartUploadParts`, and `kms:GenerateDataKey` with
   * `kms:Decrypt` (a multipart upload decrypts the data key again).
   * @default - no multipart writes
   */
  readonly write?: string;
}

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
   * Prefixes whose current objects expire after the days given (e.g. a request log of model inputs).
   * @default - none
   */
  readonly prefixExpirations?: readonly { readonly prefix: string; readonly days: number }[];
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

/** Which writes {@link LakeBucket.writeOnce} holds to creating new objects only. */
export interface WriteOnceOptions {
  /** Prefixes where every `PutObject` must carry `If-None-Match: *` (so none replaces an object). */
  readonly prefixes: readonly string[];
  /**
   * A prefix whose writer cannot send the header (SageMaker uploads a training job's model): only
   * principals carrying the tag may write under it at all.
   * @default - none
   */
  readonly taggedWriter?: { readonly prefix: string; readonly tagKey: string; readonly tagValue: string };
  /**
   * Also refuse `s3:DeleteObjectVersion` under all of them, to everyone: a version a registry
   * entry pins stays until the lifecycle rules expire it. Not with `RemovalPolicy.DESTROY`, whose
   * auto-delete empties the bucket version by version.
   * @default false
   */
  readonly keepVersions?: boolean;
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
        ...(props.prefixExpirations ?? []).map(({ prefix, days }) => ({
          id: `expire-${prefix.replace(/[^A-Za-z0-9-]/g, '')}`,
          prefix,
          expiration: Duration.days(days),
        })),
        ...(transitions.length > 0 ? [{ id: 'colder-storage', transitions }] : []),
      ],
    });
  }

  /**
   * Grants exactly the object access given, with the bucket's key only through S3, and
   * acknowledges the cdk-nag finding each prefix wildcard raises, on the grantee's role, with `why`
   * (why the key names under the prefix are only known at run time).
   */
  grantObjects(grantee: iam.IGrantable, access: ObjectAccess, why: string): void {
    const levels = Object.keys(access) as (keyof ObjectAccess)[];
    if (levels.length === 0) {
      throw new Error('object access must name at least one of read, list, put or write, but {} was provided');
    }
    if (why.trim() === '') {
      throw new Error('object access must say why its keys are only known at run time, but an empty reason was provided');
    }
    const { arn, nagName } = this.arnFor(grantee);
    const principal = grantee.grantPrincipal;
    const kms: string[] = [];
    const wildcards = new Set<string>();
    if (access.read !== undefined) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${arn}/${access.read}*`] }),
      );
      wildcards.add(access.read);
      kms.push('kms:Decrypt');
    }
    for (const pattern of access.readKeys ?? []) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${arn}/${pattern}`] }),
      );
      kms.push('kms:Decrypt');
    }
    if (access.list !== undefined) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:ListBucket', 's3:GetBucketLocation'],
          resources: [arn],
          ...(access.list ? { conditions: { StringLike: { 's3:prefix': [`${access.list}*`] } } } : {}),
        }),
      );
    }
    if (access.write !== undefined) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
          resources: [`${arn}/${access.write}*`],
        }),
      );
      wildcards.add(access.write);
      kms.push('kms:GenerateDataKey', 'kms:Decrypt');
    }
    if (access.put !== undefined) {
      principal.addToPrincipalPolicy(
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [`${arn}/${access.put}*`] }),
      );
      wildcards.add(access.put);
      kms.push('kms:GenerateDataKey');
    }
    grantKeyVia(grantee, this.encryptionKey?.keyArn, [...new Set(kms)], 's3');
    const role = principalConstruct(grantee);
    if (!role) return;
    for (const prefix of wildcards) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagName}/${prefix}*]`,
        reason: `Object access is granted on the key prefix "${prefix || '(whole bucket)'}" only: ${why}.`,
      });
    }
    for (const pattern of access.readKeys ?? []) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagName}/${pattern}]`,
        reason: `Reads are granted on the key pattern "${pattern}" only: ${why}.`,
      });
    }
  }

  /**
   * Makes the objects under the given prefixes write-once, in the bucket policy (so it binds every
   * principal, whatever its IAM policy says): a `PutObject` without `If-None-Match: *` is denied,
   * and S3 answers 412 to one with it on an existing key. CopyObject into those prefixes is then
   * refused by S3 (it cannot be conditional), so writers stream the bytes instead, or copy server
   * side as a multipart upload: `s3:ObjectCreationOperation` exempts CreateMultipartUpload,
   * UploadPart and UploadPartCopy (which take no conditional header), and the
   * CompleteMultipartUpload that creates the object must carry `If-None-Match: *` like a PutObject.
   */
  writeOnce(options: WriteOnceOptions): void {
    if (options.prefixes.length === 0) {
      throw new Error('write-once must name at least one prefix, but none was provided');
    }
    const all = [...options.prefixes, ...(options.taggedWriter ? [options.taggedWriter.prefix] : [])];
    const empty = all.find((p) => !/^[A-Za-z0-9][A-Za-z0-9._-]*\/$/.test(p));
    if (empty !== undefined) {
      throw new Error(`a write-once prefix must be a folder name ending in "/", but ${JSON.stringify(empty)} was provided`);
    }
    const keys = (prefixes: readonly string[]) => prefixes.map((p) => this.arnForObjects(`${p}*`));
    this.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WriteOnceRequiresIfNoneMatch',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: keys(options.prefixes),
        conditions: { Null: { 's3:if-none-match': 'true' }, Bool: { 's3:ObjectCreationOperation': 'true' } },
      }),
    );
    const tagged = options.taggedWriter;
    if (tagged !== undefined) {
      this.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'OnlyTheTaggedWriter',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:PutObject'],
          resources: keys([tagged.prefix]),
          conditions: { StringNotEquals: { [`aws:PrincipalTag/${tagged.tagKey}`]: tagged.tagValue } },
        }),
      );
    }
    if (options.keepVersions) {
      this.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'KeepWriteOnceVersions',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:DeleteObjectVersion'],
          resources: keys(all),
        }),
      );
    }
  }

  /** The bucket's name for a function's environment, with {@link grantObjects}' access. */
  objects(access: ObjectAccess, why: string): Binding {
    return Binding.of(this.bucketName, (grantee) => this.grantObjects(grantee, access, why));
  }

  /**
   * The bucket's ARN as the grantee's stack sees it, and how cdk-nag prints it in a finding id:
   * the export name when the bucket is in another stack (what a cross-stack reference creates
   * anyway), `<LogicalId.Arn>` when it is the same one.
   */
  arnFor(grantee: iam.IGrantable): { arn: string; nagName: string } {
    const construct = principalConstruct(grantee);
    const here = construct ? Stack.of(construct) : Stack.of(this);
    const owner = Stack.of(this);
    if (owner === here) {
      const cfn = this.node.defaultChild as CfnElement;
      return { arn: this.bucketArn, nagName: `<${here.resolve(here.getLogicalId(cfn))}.Arn>` };
    }
    const arn = owner.exportValue(this.bucketArn);
    const imported = here.resolve(arn) as { 'Fn::ImportValue'?: unknown };
    if (typeof imported['Fn::ImportValue'] !== 'string') {
      throw new Error(
        `the lake bucket ARN must import as a named export, but ${JSON.stringify(imported)} was resolved`,
      );
    }
    return { arn, nagName: imported['Fn::ImportValue'] };
  }
}
