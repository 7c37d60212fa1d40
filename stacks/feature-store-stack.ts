/**
 * The feature store of one environment: the offline tables of the feature repo in the lake's Glue
 * database, the DynamoDB online table, the Feast-compatible feature server behind an `MlopsApi`,
 * and the materialization workflow (offline → online) with its schedule.
 *
 * Where things live:
 * - Offline tables are registered in the lake's one Glue database (`config.dataLake.glueDatabaseName`),
 *   not in a `features` database: the definitions' `database` is a logical name, and the SQL the
 *   workflow runs names `"<lake database>"."<table>"` through `lakeRelation` (lib/features/stack-support.ts).
 *   Their files sit in the curated bucket under {@link FEATURE_STORE_PREFIX}.
 * - The online table is encrypted with the lake's key; every grant on it is restricted to calls
 *   made through DynamoDB (`kms:ViaService`).
 *
 * The materialization machine (JSONPath, every Task an integration the local runner has):
 *
 *   Plan (lambda:invoke: validate `{start?, end?, featureView?}`, default the window, render SQL)
 *   → MaterializeEachView (Map over views, 4 at a time)
 *       RunQuery (athena:startQueryExecution.sync) → WriteOnline (lambda:invoke materialize-write)
 *       → RecordWindow (dynamodb:putItem, the view's last window; an older window never replaces
 *         a newer one) → ViewMaterialized (counts)
 *   → Succeed `{start, end, views: [{featureView, start, end, queryExecutionId, rowsRead, written,
 *     skippedStale, windowRecorded}]}`; any failure → MaterializationFailed with the cause.
 *
 * @example
 * const lake = new DataLakeStack(stage, 'DataLake', { config }).lake;
 * const features = new FeatureStoreStack(stage, 'FeatureStore', { config, lake });
 * features.api.grantInvoke(servingRole);
 */
import {
  Aws,
  type CfnElement,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import type { DataLake } from '../lib/constructs/data-lake';
import type { LakeBucket } from '../lib/constructs/lake-bucket';
import { MlopsApi } from '../lib/constructs/mlops-api';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import { INLINE_POLICY_REASON } from '../lib/constructs/nag';
import {
  FEATURE_STORE_PREFIX,
  ONLINE_TABLE_SPEC,
  type OfflineTableSpec,
  offlineTableSpecs,
} from '../lib/features/definitions';
import { MATERIALIZATION_RECORD_PREFIX } from '../lib/features/stack-support';
import { workflowReservedConcurrency } from '../lib/pipelines/infra';
import { wineRepo } from '../lib/features/wine';

export { FEATURE_STORE_PREFIX };

/** Views materialized at once: bounds concurrent Athena queries and DynamoDB write load. */
export const MATERIALIZATION_MAX_CONCURRENCY = 4;

const RESULT_OBJECTS_REASON =
  "Athena names each result object after its query execution id, known only at run time; the grant covers the lake workgroup's result prefix only.";

export interface FeatureStoreStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The environment's data lake (from `DataLakeStack`): Glue database, buckets, keys, workgroup. */
  readonly lake: DataLake;
}

export class FeatureStoreStack extends Stack {
  /** The DynamoDB online table (`ONLINE_TABLE_SPEC`). */
  readonly onlineTable: dynamodb.Table;
  /** The offline tables of the repo, registered in the lake's Glue database. */
  readonly offlineTables: readonly glue.CfnTable[];
  /** The feature server (`lambdas/features.ts`). */
  readonly server: MlopsFunction;
  /** `POST /get-online-features`, `POST /push`, `GET /health`. */
  readonly api: MlopsApi;
  /** The plan step (`lambdas/materialize-plan.ts`). */
  readonly materializePlan: MlopsFunction;
  /** The write step (`lambdas/materialize-write.ts`). */
  readonly materializeWrite: MlopsFunction;
  readonly materialization: MlopsStateMachine;
  /** Starts materialization on `config.pipelines.materializationSchedule`; absent when that is null. */
  readonly schedule?: scheduler.CfnSchedule;
  private readonly offlineSpecs: readonly OfflineTableSpec[];

  constructor(scope: Construct, id: string, props: FeatureStoreStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const removalPolicy = config.removalPolicy === 'retain' ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const logRetention = config.logs.retentionDays as logs.RetentionDays;
    const houseDefaults = { logRetention, logsEncryptionKey: lake.logsKey, removalPolicy };

    this.offlineSpecs = offlineTableSpecs(wineRepo, FEATURE_STORE_PREFIX);
    this.offlineTables = this.registerOfflineTables(lake);

    this.onlineTable = new dynamodb.Table(this, 'OnlineTable', {
      partitionKey: {
        name: ONLINE_TABLE_SPEC.partitionKey.name,
        type: ONLINE_TABLE_SPEC.partitionKey.type as dynamodb.AttributeType,
      },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: ONLINE_TABLE_SPEC.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: config.registry.pointInTimeRecovery },
      encryption: dynamodb.TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: lake.key,
      removalPolicy,
    });
    if (!config.registry.pointInTimeRecovery) {
      Validations.of(this.onlineTable).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason: `Point-in-time recovery follows registry.pointInTimeRecovery, off in ${config.name}: online features are derived data that the materialization workflow rebuilds from the lake.`,
      });
    }
    if (config.name === 'production') {
      Validations.of(this.onlineTable).acknowledge({
        id: 'NIST.800.53.R5-DynamoDBInBackupPlan',
        reason:
          'Online features are derived from the versioned lake and rebuilt by materialization; point-in-time recovery (35 days) covers operator error, so an AWS Backup plan would only copy reproducible data.',
      });
    }

    // --- Feature server -------------------------------------------------------------------------
    this.server = new MlopsFunction(this, 'FeatureServer', {
      entry: lambdaEntry('features'),
      description: 'Feast-compatible feature server: online lookups and pushes',
      memorySize: config.lambda.memorySizeMb,
      // API Gateway gives up after 29 s; a lookup is a few BatchGetItem calls.
      timeout: Duration.seconds(10),
      reservedConcurrentExecutions: config.lambda.reservedConcurrency ?? undefined,
      ...houseDefaults,
    });
    this.bindOnlineTable(this.server);
    this.bindOfflinePushes(this.server, lake);

    this.api = new MlopsApi(this, 'Api', {
      description: `mlops-kit ${config.name} feature server`,
      auth: config.api.auth,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      waf: config.api.waf,
      ...houseDefaults,
    });
    this.api.addLambdaRoute('/get-online-features', this.server.function, ['POST']);
    this.api.addLambdaRoute('/push', this.server.function, ['POST']);
    this.api.addLambdaRoute('/health', this.server.function, ['GET']);

    // --- Materialization ------------------------------------------------------------------------
    // One run needs at most MATERIALIZATION_MAX_CONCURRENCY at a time.
    const workflowConcurrency = workflowReservedConcurrency(config);
    this.materializePlan = new MlopsFunction(this, 'MaterializePlan', {
      entry: lambdaEntry('materialize-plan'),
      description: 'Materialization plan: validates the window and renders each view query',
      memorySize: 256,
      reservedConcurrentExecutions: workflowConcurrency,
      ...houseDefaults,
    });
    this.materializeWrite = new MlopsFunction(this, 'MaterializeWrite', {
      entry: lambdaEntry('materialize-write'),
      description: 'Materialization write: Athena results to the online table',
      memorySize: config.lambda.memorySizeMb,
      timeout: Duration.minutes(5),
      reservedConcurrentExecutions: workflowConcurrency,
      ...houseDefaults,
    });
    this.bindOnlineTable(this.materializeWrite);
    this.grantQueryResults(this.materializeWrite, lake);

    this.materialization = new MlopsStateMachine(this, 'Materialization', {
      comment: `mlops-kit ${config.name}: materialize feature views from the lake into the online table`,
      definition: this.materializationDefinition(lake),
      // Shorter than the hourly production schedule, so a stuck run ends before the next piles up.
      timeout: Duration.hours(1),
      ...houseDefaults,
    });
    declareStateMachine(this.materialization, 'materialization');
    this.grantMaterializationQueries(
      this.materialization.stateMachine,
      this.materialization.stateMachine.role,
      lake,
    );
    this.grantOnlineKey(this.materialization.stateMachine);
    this.acknowledgeMachineGrants();

    if (config.pipelines.materializationSchedule !== null) {
      this.schedule = this.scheduleMaterialization(config.pipelines.materializationSchedule);
    }

    new CfnOutput(this, 'ApiUrl', { value: this.api.api.url, description: 'Feature server base URL' });
    new CfnOutput(this, 'OnlineTableName', {
      value: this.onlineTable.tableName,
      description: 'DynamoDB online feature table',
    });
    new CfnOutput(this, 'MaterializationStateMachineArn', {
      value: this.materialization.stateMachineArn,
      description: 'Materialization workflow; input {start?, end?, featureView?}',
    });
  }

  /** One Glue table per offline table spec of the repo, in the lake's database. */
  private registerOfflineTables(lake: DataLake): glue.CfnTable[] {
    const taken = new Map(
      lake.tables.map((t) => [
        Stack.of(lake).resolve((t.tableInput as glue.CfnTable.TableInputProperty).name),
        'the lake',
      ]),
    );
    return this.offlineSpecs.map((spec) => {
      const owner = taken.get(spec.table);
      if (owner) {
        throw new Error(
          `feature store table names must be unique in Glue database ${lake.databaseName}, but ${spec.table} (from ${spec.database}) is already defined by ${owner}`,
        );
      }
      taken.set(spec.table, `logical database ${spec.database}`);
      const json = spec.format === 'json';
      const table = new glue.CfnTable(this, `OfflineTable-${spec.table}`, {
        catalogId: this.account,
        databaseName: lake.databaseName,
        tableInput: {
          name: spec.table,
          description: json
            ? `Feature store push source ${spec.table}: rows pushed to the offline store, JSON lines`
            : `Feature store batch source ${spec.table}: feature rows with event and created timestamps, Parquet`,
          tableType: 'EXTERNAL_TABLE',
          parameters: json
            ? { classification: 'json' }
            : { classification: 'parquet', 'parquet.compression': 'SNAPPY' },
          storageDescriptor: {
            location: `s3://${lake.curated.bucketName}/${spec.location}`,
            columns: spec.columns.map((c) => ({ name: c.name, type: c.type })),
            inputFormat: json
              ? 'org.apache.hadoop.mapred.TextInputFormat'
              : 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat',
            outputFormat: json
              ? 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
              : 'org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat',
            serdeInfo: json
              ? { serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe' }
              : { serializationLibrary: 'org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe' },
          },
        },
      });
      table.addResourceDependency(lake.database);
      return table;
    });
  }

  /**
   * `ONLINE_TABLE_NAME` with exactly the calls `OnlineStore` makes (BatchGetItem for reads and
   * newer-wins checks, BatchWriteItem and conditional PutItem for writes) and the key through
   * DynamoDB only.
   */
  private bindOnlineTable(fn: MlopsFunction): void {
    fn.function.addEnvironment('ONLINE_TABLE_NAME', this.onlineTable.tableName);
    this.onlineTable.grant(
      fn.function,
      'dynamodb:BatchGetItem',
      'dynamodb:BatchWriteItem',
      'dynamodb:PutItem',
    );
    this.grantOnlineKey(fn.function);
  }

  /** The lake key's data actions, only when DynamoDB calls KMS for the online table. */
  private grantOnlineKey(grantee: iam.IGrantable): void {
    const key = this.onlineTable.encryptionKey!;
    iam.Grant.addToPrincipal({
      grantee,
      actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
      resourceArns: [key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${this.region}.amazonaws.com` } },
    });
  }

  /**
   * `OFFLINE_BUCKET` / `OFFLINE_PREFIX` for offline pushes: PutObject under each push source's
   * table prefix only, and the lake key through S3 only.
   */
  private bindOfflinePushes(fn: MlopsFunction, lake: DataLake): void {
    fn.function.addEnvironment('OFFLINE_BUCKET', lake.curated.bucketName);
    fn.function.addEnvironment('OFFLINE_PREFIX', FEATURE_STORE_PREFIX);
    const curated = this.lakeArn(lake.curated);
    for (const t of this.offlineSpecs.filter((spec) => spec.format === 'json')) {
      fn.function.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['s3:PutObject'], resources: [`${curated.arn}/${t.location}*`] }),
      );
      Validations.of(fn.function.role!).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${curated.nagName}/${t.location}*]`,
        reason:
          'Offline pushes append one new object per push, with a time-ordered unique name, under the push table prefix; PutObject is granted on that prefix only.',
      });
    }
    fn.function.addToRolePolicy(this.lakeKeyViaS3(lake, ['kms:GenerateDataKey']));
  }

  /** materialize-write reads results through the Athena API: GetQueryResults and the result objects. */
  private grantQueryResults(fn: MlopsFunction, lake: DataLake): void {
    const results = this.lakeArn(lake.athenaResults);
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['athena:GetQueryResults'], resources: [this.workGroupArn(lake)] }),
    );
    fn.function.addToRolePolicy(
      new iam.PolicyStatement({ actions: ['s3:GetObject'], resources: [`${results.arn}/results/*`] }),
    );
    fn.function.addToRolePolicy(this.lakeKeyViaS3(lake, ['kms:Decrypt']));
    Validations.of(fn.function.role!).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${results.nagName}/results/*]`,
      reason: RESULT_OBJECTS_REASON,
    });
  }

  /**
   * What `athena:startQueryExecution.sync` needs to run the materialization queries: the query
   * actions in the lake workgroup, Glue reads of the feature store's tables only, reads of their
   * files, and the workgroup's result prefix. Narrower than `DataLake.grantQuery`, which reads the
   * whole raw and curated zones.
   */
  private grantMaterializationQueries(grantee: iam.IGrantable, role: iam.IRole, lake: DataLake): void {
    const curated = this.lakeArn(lake.curated);
    const results = this.lakeArn(lake.athenaResults);
    const glueArn = (resource: string, resourceName?: string) =>
      this.formatArn({ service: 'glue', resource, resourceName });
    const statements = [
      new iam.PolicyStatement({
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:StopQueryExecution'],
        resources: [this.workGroupArn(lake)],
      }),
      new iam.PolicyStatement({
        actions: ['glue:GetDatabase', 'glue:GetTable', 'glue:GetPartitions'],
        resources: [
          glueArn('catalog'),
          glueArn('database', lake.databaseName),
          ...this.offlineSpecs.map((t) => glueArn('table', `${lake.databaseName}/${t.table}`)),
        ],
      }),
      new iam.PolicyStatement({
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [curated.arn],
        conditions: { StringLike: { 's3:prefix': [`${FEATURE_STORE_PREFIX}/*`] } },
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [`${curated.arn}/${FEATURE_STORE_PREFIX}/*`],
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [results.arn],
      }),
      new iam.PolicyStatement({
        actions: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: [`${results.arn}/results/*`],
      }),
      this.lakeKeyViaS3(lake, ['kms:Decrypt', 'kms:GenerateDataKey']),
    ];
    for (const statement of statements) grantee.grantPrincipal.addToPrincipalPolicy(statement);
    Validations.of(role).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${curated.nagName}/${FEATURE_STORE_PREFIX}/*]`,
        reason:
          "Athena reads every object under a table's location; the grant covers the feature store's prefix of the curated bucket only, not the rest of the zone.",
      },
      { id: `AwsSolutions-IAM5[Resource::${results.nagName}/results/*]`, reason: RESULT_OBJECTS_REASON },
    );
  }

  private workGroupArn(lake: DataLake): string {
    return this.formatArn({ service: 'athena', resource: 'workgroup', resourceName: lake.workGroupName });
  }

  /** The lake key for object encryption, only in calls S3 makes for the principal. */
  private lakeKeyViaS3(lake: DataLake, actions: string[]): iam.PolicyStatement {
    return new iam.PolicyStatement({
      actions,
      resources: [lake.key.keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` } },
    });
  }

  /**
   * A lake bucket's ARN for this stack's policies, and how cdk-nag prints it in a finding id: the
   * export name when the lake is another stack (what `Stack.exportValue` would create for the
   * reference anyway), `<LogicalId.Arn>` when it is this one.
   */
  private lakeArn(bucket: LakeBucket): { arn: string; nagName: string } {
    const owner = Stack.of(bucket);
    const cfn = bucket.node.defaultChild as CfnElement;
    if (owner === this)
      return { arn: bucket.bucketArn, nagName: `<${this.resolve(this.getLogicalId(cfn))}.Arn>` };
    const arn = owner.exportValue(bucket.bucketArn);
    const imported = this.resolve(arn) as { 'Fn::ImportValue'?: unknown };
    if (typeof imported['Fn::ImportValue'] !== 'string') {
      throw new Error(
        `the lake bucket ARN must import as a named export, but ${JSON.stringify(imported)} was resolved`,
      );
    }
    return { arn, nagName: imported['Fn::ImportValue'] };
  }

  private materializationDefinition(lake: DataLake): sfn.IChainable {
    const failed = sfn.Fail.jsonPath(this, 'MaterializationFailed', {
      errorPath: '$.error.Error',
      causePath: '$.error.Cause',
    });

    const plan = tasks.LambdaInvoke.jsonPath(this, 'Plan', {
      comment: 'Validate {start?, end?, featureView?}, default the window, render each view query',
      lambdaFunction: this.materializePlan.function,
      payload: sfn.TaskInput.fromObject({
        input: sfn.JsonPath.entirePayload,
        executionStartTime: sfn.JsonPath.stringAt('$$.Execution.StartTime'),
        database: lake.databaseName,
      }),
      outputPath: '$.Payload',
      taskTimeout: sfn.Timeout.duration(Duration.minutes(1)),
    }).addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    // The optimized integration, written out: CDK's AthenaStartQueryExecution task grants s3:* reads
    // and lakeformation on "*" and Glue writes; the machine gets lake.grantQuery instead.
    const runQuery = new sfn.CustomState(this, 'RunQuery', {
      stateJson: {
        Type: 'Task',
        Comment: 'Run the view materialization query in the lake workgroup',
        Resource: `arn:${Aws.PARTITION}:states:::athena:startQueryExecution.sync`,
        Parameters: {
          'QueryString.$': '$.sql',
          WorkGroup: lake.workGroupName,
          QueryExecutionContext: { Database: lake.databaseName },
        },
        ResultSelector: { 'queryExecutionId.$': '$.QueryExecution.QueryExecutionId' },
        ResultPath: '$.query',
        // Athena's own limit for a DML query.
        TimeoutSeconds: 30 * 60,
      },
    }).addRetry({
      errors: ['Athena.TooManyRequestsException', 'Athena.InternalServerException'],
      interval: Duration.seconds(5),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });

    const writeOnline = tasks.LambdaInvoke.jsonPath(this, 'WriteOnline', {
      comment: 'Page through the query results and write newer-wins to the online table',
      lambdaFunction: this.materializeWrite.function,
      payload: sfn.TaskInput.fromObject({
        featureView: sfn.JsonPath.stringAt('$.featureView'),
        queryExecutionId: sfn.JsonPath.stringAt('$.query.queryExecutionId'),
      }),
      resultSelector: {
        rowsRead: sfn.JsonPath.numberAt('$.Payload.rowsRead'),
        written: sfn.JsonPath.numberAt('$.Payload.written'),
        skippedStale: sfn.JsonPath.numberAt('$.Payload.skippedStale'),
      },
      resultPath: '$.result',
      taskTimeout: sfn.Timeout.duration(this.materializeWrite.function.timeout!.plus(Duration.minutes(1))),
    })
      // Writes are newer-wins, so running the step again after a throttle is idempotent.
      .addRetry({
        errors: [
          'ThrottlingException',
          'ProvisionedThroughputExceededException',
          'TooManyRequestsException',
          'UnprocessedError',
        ],
        interval: Duration.seconds(10),
        maxAttempts: 3,
        backoffRate: 2,
        jitterStrategy: sfn.JitterType.FULL,
      });

    const str = (path: string) => tasks.DynamoAttributeValue.fromString(sfn.JsonPath.stringAt(path));
    const num = (path: string) =>
      tasks.DynamoAttributeValue.numberFromString(sfn.JsonPath.jsonToString(sfn.JsonPath.numberAt(path)));
    const recordWindow = tasks.DynamoPutItem.jsonPath(this, 'RecordWindow', {
      comment: "Record the view's materialized window unless a later one is already recorded",
      table: this.onlineTable,
      item: {
        [ONLINE_TABLE_SPEC.partitionKey.name]: tasks.DynamoAttributeValue.fromString(
          sfn.JsonPath.format(`${MATERIALIZATION_RECORD_PREFIX}{}`, sfn.JsonPath.stringAt('$.featureView')),
        ),
        view: str('$.featureView'),
        window_start: str('$.start'),
        window_end: str('$.end'),
        query_execution_id: str('$.query.queryExecutionId'),
        rows_read: num('$.result.rowsRead'),
        written: num('$.result.written'),
        skipped_stale: num('$.result.skippedStale'),
        execution_id: str('$$.Execution.Id'),
        recorded_at: str('$$.State.EnteredTime'),
      },
      // ISO 8601 UTC strings from the plan compare in time order.
      conditionExpression: 'attribute_not_exists(pk) OR window_end <= :end',
      expressionAttributeValues: { ':end': str('$.end') },
      resultSelector: { recorded: true },
      resultPath: '$.record',
      taskTimeout: sfn.Timeout.duration(Duration.seconds(30)),
    }).addRetry({
      errors: [
        'DynamoDB.ProvisionedThroughputExceededException',
        'DynamoDB.ThrottlingException',
        'DynamoDB.RequestLimitExceeded',
        'DynamoDB.InternalServerErrorException',
      ],
      interval: Duration.seconds(2),
      maxAttempts: 4,
      backoffRate: 2,
      jitterStrategy: sfn.JitterType.FULL,
    });

    const viewDone = sfn.Pass.jsonPath(this, 'ViewMaterialized', {
      parameters: {
        featureView: sfn.JsonPath.stringAt('$.featureView'),
        start: sfn.JsonPath.stringAt('$.start'),
        end: sfn.JsonPath.stringAt('$.end'),
        queryExecutionId: sfn.JsonPath.stringAt('$.query.queryExecutionId'),
        rowsRead: sfn.JsonPath.numberAt('$.result.rowsRead'),
        written: sfn.JsonPath.numberAt('$.result.written'),
        skippedStale: sfn.JsonPath.numberAt('$.result.skippedStale'),
        windowRecorded: sfn.JsonPath.stringAt('$.record.recorded'),
      },
    });
    const newerKept = sfn.Pass.jsonPath(this, 'NewerWindowKept', {
      comment: 'A run with a later window end already recorded its window (this one is a backfill)',
      result: sfn.Result.fromObject({ recorded: false }),
      resultPath: '$.record',
    });
    recordWindow.addCatch(newerKept.next(viewDone), {
      errors: ['DynamoDB.ConditionalCheckFailedException'],
      resultPath: sfn.JsonPath.DISCARD,
    });

    const eachView = sfn.Map.jsonPath(this, 'MaterializeEachView', {
      itemsPath: '$.views',
      maxConcurrency: MATERIALIZATION_MAX_CONCURRENCY,
      resultPath: '$.views',
    })
      .itemProcessor(runQuery.next(writeOnline).next(recordWindow).next(viewDone))
      .addCatch(failed, { errors: ['States.ALL'], resultPath: '$.error' });

    return plan.next(eachView).next(sfn.Succeed.jsonPath(this, 'Materialized'));
  }

  /**
   * Grants the machine role picks up from the tasks and `lake.grantQuery`, whose wildcards are
   * scoped to this machine's functions and the lake; acknowledged here with the reason for each.
   */
  private acknowledgeMachineGrants(): void {
    const role = this.materialization.stateMachine.role;
    for (const fn of [this.materializePlan, this.materializeWrite]) {
      const id = this.resolve(this.getLogicalId(fn.function.node.defaultChild as lambda.CfnFunction));
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${id}.Arn>:*]`,
        reason:
          'lambda:invoke tasks are granted on the function and its qualified ARNs (versions, aliases) of this one function, as CDK renders every LambdaInvoke grant.',
      });
    }
    Validations.of(role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: INLINE_POLICY_REASON,
    });
  }

  /** An EventBridge Scheduler schedule that starts the machine with the scheduled time as `end`. */
  private scheduleMaterialization(expression: string): scheduler.CfnSchedule {
    const role = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: 'Starts the feature materialization workflow on schedule',
    });
    this.materialization.stateMachine.grantStartExecution(role);
    Validations.of(role).acknowledge({
      id: 'NIST.800.53.R5-IAMNoInlinePolicy',
      reason: INLINE_POLICY_REASON,
    });
    return new scheduler.CfnSchedule(this, 'MaterializationSchedule', {
      description: 'Materialize every online feature view over its TTL window ending at the scheduled time',
      scheduleExpression: expression,
      scheduleExpressionTimezone: 'UTC',
      flexibleTimeWindow: { mode: 'OFF' },
      state: 'ENABLED',
      target: {
        arn: this.materialization.stateMachineArn,
        roleArn: role.roleArn,
        // Scheduler fills in the invocation's scheduled time: a retried invocation gets the same
        // window, and windows line up with the schedule rather than with start latency.
        input: JSON.stringify({ end: '<aws.scheduler.scheduled-time>' }),
        retryPolicy: { maximumEventAgeInSeconds: 3600, maximumRetryAttempts: 5 },
      },
    });
  }
}
