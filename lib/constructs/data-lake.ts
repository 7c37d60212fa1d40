/**
 * The data lake: one KMS key, raw / curated / artifacts buckets (versioned: an object version is a
 * dataset version), an Athena results bucket, a server-access-log bucket, a Glue database with the
 * example tables, and an Athena workgroup that enforces its result location, encryption and
 * per-query scan cutoff.
 *
 * @example
 * const lake = new DataLake(this, 'Lake', { environmentName: 'staging', databaseName: 'mlops_staging', bytesScannedCutoffPerQuery: 10e9 });
 * lake.grantQuery(machine.role);   // Athena in the workgroup, Glue reads, the result prefix
 * lake.raw.grantObjects(machine.role, { read: '', list: '' }, 'a run reads the table its input names');
 */
import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import {
  WINE_COLUMNS,
  WINE_LABEL_COLUMNS,
  WINE_LABELS_PREFIX,
  WINE_LABELS_TABLE,
  WINE_RAW_PREFIX,
  WINE_RAW_TABLE,
} from '../datasets/wine';
import { ARTIFACT_PREFIXES } from '../pipelines/artifact-layout';
import { textTwinName } from '../pipelines/validate-sql';
import { principalConstruct } from './binding';
import { LakeBucket } from './lake-bucket';
import { LakeKey } from './lake-key';
import { LakeTable, type LakeTableProps } from './lake-table';
import { LakeWorkGroup } from './lake-workgroup';
import { complianceAcks } from './nag';

export { accountKeyPolicy } from './lake-key';

/** Where the workgroup puts query results in the results bucket. */
export const ATHENA_RESULTS_PREFIX = 'results/';

/**
 * The principal tag of the one writer of `models/` (the SageMaker training role): SageMaker
 * uploads the model without `If-None-Match`, so that prefix is held by who may write, not how.
 */
/**
 * Every `model.tar.gz` a registered version may name: a training job's (under `models/`), a
 * release's copy, and the `runs/` layout before writers had their own prefixes. The model server,
 * batch inference and evaluation read these keys and nothing else of the artifacts bucket (not the
 * splits under `data/`).
 */
export const MODEL_ARTIFACT_KEYS = ['models/*/model.tar.gz', 'releases/*/model.tar.gz', 'runs/*/model.tar.gz'] as const;

/** Every `baseline.json` a version's `mlops.baseline_uri` may name (see {@link MODEL_ARTIFACT_KEYS}). */
export const BASELINE_KEYS = ['baselines/*/baseline.json', 'releases/*/baseline.json', 'runs/*/baseline.json'] as const;

export const MODEL_WRITER_TAG = { key: 'mlops-kit:artifact-writer', value: 'training-job' } as const;

export interface QueryGrantOptions {
  /**
   * The Glue tables of the lake database the queries read, by name.
   * @default - every table of the lake database (`table/<database>/*`)
   */
  readonly tables?: readonly string[];
}

export interface DataLakeProps {
  /** The environment's name, in descriptions and the workgroup's name (`mlops-<name>`). */
  readonly environmentName: string;
  /** The Glue database; Athena SQL names it, so it is readable and unique per environment. */
  readonly databaseName: string;
  /** Bytes a query may scan before Athena cancels it. */
  readonly bytesScannedCutoffPerQuery: number;
  /**
   * What happens to keys, buckets and the workgroup when the stack goes.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Days a superseded object version (an old dataset version) is kept.
   * @default 30
   */
  readonly noncurrentVersionExpirationDays?: number;
  /**
   * Days after which current data objects move to Intelligent-Tiering.
   * @default - they stay in Standard
   */
  readonly infrequentAccessAfterDays?: number;
  /**
   * Days after which current data objects move to Glacier Instant Retrieval.
   * @default - never archived
   */
  readonly archiveAfterDays?: number;
  /**
   * Days Athena query results are kept.
   * @default 7
   */
  readonly athenaResultsExpirationDays?: number;
  /**
   * Days server access logs are kept.
   * @default 90
   */
  readonly accessLogsExpirationDays?: number;
  /**
   * The model servers' request log in the raw zone, expired after `days` (it holds model inputs).
   * @default - kept like the rest of the raw zone
   */
  readonly requestLog?: { readonly prefix: string; readonly days: number };
}

export { WINE_RAW_TABLE } from '../datasets/wine';

export class DataLake extends Construct {
  readonly key: LakeKey;
  /** Encrypts the platform's CloudWatch log groups (function, workflow, API and WAF logs). */
  readonly logsKey: LakeKey;
  readonly accessLogs: LakeBucket;
  readonly raw: LakeBucket;
  readonly curated: LakeBucket;
  readonly artifacts: LakeBucket;
  readonly athenaResults: LakeBucket;
  readonly database: glue.CfnDatabase;
  readonly databaseName: string;
  readonly workGroup: LakeWorkGroup;
  readonly workGroupName: string;
  /** The lake's own tables (not the feature store's), as the pipelines' `LAKE_TABLES` lists them. */
  readonly tables: LakeTable[] = [];

  constructor(scope: Construct, id: string, props: DataLakeProps) {
    super(scope, id);
    const env = props.environmentName;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key = new LakeKey(this, 'Key', { description: `mlops-kit ${env} data lake key`, removalPolicy });
    this.logsKey = new LakeKey(this, 'LogsKey', { description: `mlops-kit ${env} CloudWatch Logs key`, removalPolicy });
    this.allowLogsToUse(this.logsKey);

    this.accessLogs = new LakeBucket(this, 'AccessLogs', {
      removalPolicy,
      expirationDays: props.accessLogsExpirationDays ?? 90,
      noncurrentVersionExpirationDays: 1,
    });
    Validations.of(this.accessLogs).acknowledge(...complianceAcks('S3DefaultEncryptionKMS', 'S3 server access log delivery can only write to a bucket encrypted with SSE-S3 (AES-256); the logs hold request metadata, not lake data.'));
    Validations.of(this).acknowledge(...complianceAcks('S3BucketReplicationEnabled', 'Cross-region replication needs a second region and key chosen per deployment; the kit protects data with versioning, noncurrent-version retention and RETAIN in production.'));
    const dataBucket = (bucketId: string, prefixExpirations?: { prefix: string; days: number }[]) =>
      new LakeBucket(this, bucketId, {
        prefixExpirations,
        encryptionKey: this.key,
        accessLogs: this.accessLogs,
        removalPolicy,
        noncurrentVersionExpirationDays: props.noncurrentVersionExpirationDays,
        infrequentAccessAfterDays: props.infrequentAccessAfterDays,
        archiveAfterDays: props.archiveAfterDays,
      });
    this.raw = dataBucket('Raw', props.requestLog ? [props.requestLog] : undefined);
    this.curated = dataBucket('Curated');
    this.artifacts = dataBucket('Artifacts');
    // Written once (issue 18): nothing replaces a split, a baseline or a model a version names.
    this.artifacts.writeOnce({
      prefixes: [ARTIFACT_PREFIXES.runs, ARTIFACT_PREFIXES.data, ARTIFACT_PREFIXES.baselines],
      taggedWriter: { prefix: ARTIFACT_PREFIXES.models, tagKey: MODEL_WRITER_TAG.key, tagValue: MODEL_WRITER_TAG.value },
      keepVersions: removalPolicy === RemovalPolicy.RETAIN,
    });
    this.athenaResults = new LakeBucket(this, 'AthenaResults', {
      encryptionKey: this.key,
      accessLogs: this.accessLogs,
      removalPolicy,
      expirationDays: props.athenaResultsExpirationDays ?? 7,
      noncurrentVersionExpirationDays: 1,
    });

    this.databaseName = props.databaseName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: Stack.of(this).account,
      databaseInput: { name: this.databaseName, description: `mlops-kit ${env} data lake` },
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

    this.workGroupName = `mlops-${env}`;
    this.workGroup = new LakeWorkGroup(this, 'WorkGroup', {
      workGroupName: this.workGroupName,
      description: `mlops-kit ${env}: enforced result location, SSE-KMS results, per-query scan cutoff`,
      resultLocation: `s3://${this.athenaResults.bucketName}/${ATHENA_RESULTS_PREFIX}`,
      encryptionKey: this.key,
      bytesScannedCutoffPerQuery: props.bytesScannedCutoffPerQuery,
      removalPolicy,
    });
  }

  /**
   * Registers an external table in the lake's Glue database; it joins `LAKE_TABLES`. A CSV table
   * also gets its text twin (`<name>__text`: the same files, every column a string), which "Validate
   * data" aggregates over: the typed table reads an empty cell, `abc` and `5.5` in an `int` column
   * all as NULL, so only the text tells them apart (lib/pipelines/validate-sql.ts).
   */
  addTable(id: string, table: Omit<LakeTableProps, 'database'>): LakeTable {
    const cfn = new LakeTable(this, id, { ...table, database: this.database });
    this.tables.push(cfn);
    if (table.format === 'csv') {
      new LakeTable(this, `${id}Text`, {
        ...table,
        database: this.database,
        name: textTwinName(table.name),
        description: `${table.name} as text (every column a string), for validation`,
        columns: table.columns.map((c) => ({ name: c.name, type: 'string' })),
      });
    }
    return cfn;
  }

  /** CloudWatch Logs encrypts this account's log groups with the key (a key-policy statement). */
  private allowLogsToUse(key: LakeKey): void {
    const stack = Stack.of(this);
    key.addToResourcePolicy(
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
