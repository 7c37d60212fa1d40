/**
 * The data lake: one KMS key, raw / curated / artifacts buckets (versioned: an object version is a
 * dataset version), an Athena results bucket, a server-access-log bucket, a Glue database with the
 * example tables, and an Athena workgroup that enforces its result location, encryption and
 * per-query scan cutoff.
 *
 * @example
 * const lake = new DataLake(this, 'Lake', { config });
 * lake.grantQuery(machine.role);   // Athena in the workgroup, Glue reads, the result prefix
 * lake.raw.grantObjects(machine.role, { read: '', list: '' }, 'a run reads the table its input names');
 */
import { ArnFormat, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { EnvironmentConfig } from '../config';
import {
  WINE_COLUMNS,
  WINE_LABEL_COLUMNS,
  WINE_LABELS_PREFIX,
  WINE_LABELS_TABLE,
  WINE_RAW_PREFIX,
} from '../datasets/wine';
import { principalConstruct } from './binding';
import { LakeBucket } from './lake-bucket';

/** Where the workgroup puts query results in the results bucket. */
export const ATHENA_RESULTS_PREFIX = 'results/';

export interface QueryGrantOptions {
  /**
   * The Glue tables of the lake database the queries read, by name.
   * @default - every table of the lake database (`table/<database>/*`)
   */
  readonly tables?: readonly string[];
}

export interface DataLakeProps {
  readonly config: EnvironmentConfig;
}

/** Glue table names of the example data set. */
export const WINE_RAW_TABLE = 'winequality_red_raw';

export class DataLake extends Construct {
  readonly key: kms.Key;
  /** Encrypts the platform's CloudWatch log groups (function, workflow, API and WAF logs). */
  readonly logsKey: kms.Key;
  readonly accessLogs: LakeBucket;
  readonly raw: LakeBucket;
  readonly curated: LakeBucket;
  readonly artifacts: LakeBucket;
  readonly athenaResults: LakeBucket;
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly workGroup: athena.CfnWorkGroup;
  readonly workGroupName: string;
  readonly tables: glue.CfnTable[] = [];

  constructor(scope: Construct, id: string, props: DataLakeProps) {
    super(scope, id);
    const { config } = props;
    const retain = config.removalPolicy === 'retain';
    const removalPolicy = retain ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const lake = config.dataLake;

    this.key = new kms.Key(this, 'Key', {
      description: `mlops-kit ${config.name} data lake key`,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: retain ? Duration.days(30) : Duration.days(7),
      policy: accountKeyPolicy(),
    });

    this.logsKey = new kms.Key(this, 'LogsKey', {
      description: `mlops-kit ${config.name} CloudWatch Logs key`,
      enableKeyRotation: true,
      removalPolicy,
      pendingWindow: retain ? Duration.days(30) : Duration.days(7),
      policy: accountKeyPolicy(),
    });
    const stack = Stack.of(this);
    this.logsKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptsThisAccountsLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: '*',
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          },
        },
      }),
    );

    this.accessLogs = new LakeBucket(this, 'AccessLogs', {
      removalPolicy,
      expirationDays: lake.accessLogsExpirationDays,
      noncurrentVersionExpirationDays: 1,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'NIST.800.53.R5-S3DefaultEncryptionKMS',
      reason:
        'S3 server access log delivery can only write to a bucket encrypted with SSE-S3 (AES-256); the logs hold request metadata, not lake data.',
    });
    Validations.of(this).acknowledge({
      id: 'NIST.800.53.R5-S3BucketReplicationEnabled',
      reason:
        'Cross-region replication needs a second region and key chosen per deployment; the kit protects data with versioning, noncurrent-version retention and RETAIN in production.',
    });
    const dataBucket = (bucketId: string) =>
      new LakeBucket(this, bucketId, {
        encryptionKey: this.key,
        accessLogs: this.accessLogs,
        removalPolicy,
        noncurrentVersionExpirationDays: lake.noncurrentVersionExpirationDays,
        infrequentAccessAfterDays: lake.infrequentAccessAfterDays ?? undefined,
        archiveAfterDays: lake.archiveAfterDays ?? undefined,
      });
    this.raw = dataBucket('Raw');
    this.curated = dataBucket('Curated');
    this.artifacts = dataBucket('Artifacts');
    this.athenaResults = new LakeBucket(this, 'AthenaResults', {
      encryptionKey: this.key,
      accessLogs: this.accessLogs,
      removalPolicy,
      expirationDays: lake.athenaResultsExpirationDays,
      noncurrentVersionExpirationDays: 1,
    });

    const account = Stack.of(this).account;
    this.databaseName = lake.glueDatabaseName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: account,
      databaseInput: { name: this.databaseName, description: `mlops-kit ${config.name} data lake` },
    });
    this.addTable('WineRawTable', {
      name: WINE_RAW_TABLE,
      description: 'UCI red-wine quality, as uploaded (semicolon-separated CSV with a header row)',
      location: `s3://${this.raw.bucketName}/${WINE_RAW_PREFIX}`,
      format: 'csv',
      columns: WINE_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
    });
    this.addTable('WineLabelsTable', {
      name: WINE_LABELS_TABLE,
      description: 'Quality of each example wine by wine_id, with the time it was known (CSV with a header row)',
      location: `s3://${this.raw.bucketName}/${WINE_LABELS_PREFIX}`,
      format: 'csv',
      csvDelimiter: ',',
      columns: WINE_LABEL_COLUMNS.map((c) => ({ name: c.name, type: c.type })),
    });

    this.workGroupName = `mlops-${config.name}`;
    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: `mlops-kit ${config.name}: enforced result location, SSE-KMS results, per-query scan cutoff`,
      state: 'ENABLED',
      recursiveDeleteOption: !retain,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        bytesScannedCutoffPerQuery: config.athena.bytesScannedCutoffPerQuery,
        engineVersion: { selectedEngineVersion: 'Athena engine version 3' },
        resultConfiguration: {
          outputLocation: `s3://${this.athenaResults.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          expectedBucketOwner: account,
          encryptionConfiguration: { encryptionOption: 'SSE_KMS', kmsKey: this.key.keyArn },
        },
      },
    });
    this.workGroup.applyRemovalPolicy(removalPolicy);
  }

  /** Registers an external table in the lake's Glue database. */
  addTable(
    id: string,
    table: {
      name: string;
      description: string;
      location: string;
      format: 'csv' | 'parquet';
      columns: { name: string; type: string }[];
      csvDelimiter?: string;
    },
  ): glue.CfnTable {
    const csv = table.format === 'csv';
    const cfn = new glue.CfnTable(this, id, {
      catalogId: Stack.of(this).account,
      databaseName: this.databaseName,
      tableInput: {
        name: table.name,
        description: table.description,
        tableType: 'EXTERNAL_TABLE',
        parameters: csv
          ? { classification: 'csv', 'skip.header.line.count': '1' }
          : { classification: 'parquet', 'parquet.compression': 'SNAPPY' },
        storageDescriptor: {
          location: table.location,
          columns: table.columns,
          inputFormat: csv
            ? 'org.apache.hadoop.mapred.TextInputFormat'
            : 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
          outputFormat: csv
            ? 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
            : 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
          serdeInfo: csv
            ? {
                serializationLibrary: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
                parameters: { 'field.delim': table.csvDelimiter ?? ';' },
              }
            : { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
        },
      },
    });
    cfn.addResourceDependency(this.database);
    this.tables.push(cfn);
    return cfn;
  }

  /**
   * What `athena:startQueryExecution.sync` in the lake workgroup needs: the query actions on the
   * workgroup, Glue reads of the lake database's tables (all of them, or those named), and the
   * workgroup's result prefix. The data a query reads or UNLOADs is granted separately, with
   * {@link LakeBucket.grantObjects} on the zone it lives in: a query's caller reads it.
   */
  grantQuery(grantee: iam.IGrantable, options: QueryGrantOptions = {}): void {
    const tables = options.tables;
    if (tables !== undefined && tables.length === 0) {
      throw new Error('query grant tables must name at least one Glue table (or be left out for all), but [] was provided');
    }
    const stack = this.stackOf(grantee);
    const glueArn = (resource: string, resourceName?: string) =>
      stack.formatArn({ service: 'glue', resource, resourceName });
    const principal = grantee.grantPrincipal;
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:StopQueryExecution'],
        resources: [this.workGroupArn(stack)],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: [
          glueArn('catalog'),
          glueArn('database', this.databaseName),
          ...(tables ?? ['*']).map((t) => glueArn('table', `${this.databaseName}/${t}`)),
        ],
      }),
    );
    const role = principalConstruct(grantee);
    if (tables === undefined && role) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:glue:${stack.region}:${stack.account}:table/${this.databaseName}/*]`,
        reason:
          'The pipeline queries the lake table its execution input names (any table of the lake database); Glue reads only, on that one database.',
      });
    }
    this.athenaResults.grantObjects(
      grantee,
      { read: ATHENA_RESULTS_PREFIX, list: ATHENA_RESULTS_PREFIX, write: ATHENA_RESULTS_PREFIX },
      "Athena names each result object after its query execution id, known only at run time, under the workgroup's result prefix",
    );
  }

  /**
   * What reading a finished query's results needs: `athena:GetQueryResults` in the workgroup and
   * the result objects (with the key through S3).
   */
  grantQueryResults(grantee: iam.IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['athena:GetQueryResults'],
        resources: [this.workGroupArn(this.stackOf(grantee))],
      }),
    );
    this.athenaResults.grantObjects(
      grantee,
      { read: ATHENA_RESULTS_PREFIX },
      "Athena names each result object after its query execution id, known only at run time; the grant covers the lake workgroup's result prefix only",
    );
  }

  private workGroupArn(stack: Stack): string {
    return stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: this.workGroupName });
  }

  private stackOf(grantee: iam.IGrantable): Stack {
    const construct = principalConstruct(grantee);
    return construct ? Stack.of(construct) : Stack.of(this);
  }

  /** The data buckets (not the log bucket), for assertions and bulk grants. */
  get dataBuckets(): s3.IBucket[] {
    return [this.raw, this.curated, this.artifacts, this.athenaResults];
  }
}

/**
 * The key policy: the account (and through it, IAM policies) may administer and use the key, with
 * the actions listed instead of the default `kms:*`, so no statement in the kit grants a whole
 * service. Grants to functions and roles come from IAM policies the constructs add.
 */
export function accountKeyPolicy(): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid: 'AccountAdministersAndUsesKeyThroughIam',
        principals: [new iam.AccountRootPrincipal()],
        actions: [
          'kms:Create*',
          'kms:Describe*',
          'kms:Enable*',
          'kms:List*',
          'kms:Put*',
          'kms:Update*',
          'kms:Revoke*',
          'kms:Disable*',
          'kms:Get*',
          'kms:Delete*',
          'kms:TagResource',
          'kms:UntagResource',
          'kms:ScheduleKeyDeletion',
          'kms:CancelKeyDeletion',
          'kms:RotateKeyOnDemand',
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncrypt*',
          'kms:GenerateDataKey*',
        ],
        resources: ['*'],
      }),
    ],
  });
}
