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
 * The materialization machine (lib/constructs/materialization-steps.ts): Plan (each view's window
 * from its recorded end, Feast's `materialize-incremental`) → a Distributed Map over the views →
 * per view: UNLOAD the window's rows (one per entity, `dt` partitions pruned) to
 * `materialize/unload/<execution>/<view>/` → a Distributed Map over those parts (ItemReader,
 * ItemBatcher, `config.materialization` workers at once, ResultWriter under `materialize/results/`)
 * whose workers stream their parts into the online table with BatchWriteItem → Count → record the
 * window end only when every part was written.
 *
 * Offline tables are partitioned by event day (`dt=YYYY-MM-DD/`, Glue partition projection), so a
 * window's queries read only its days.
 *
 * @example
 * const lake = new DataLakeStack(stage, 'DataLake', { config }).lake;
 * const features = new FeatureStoreStack(stage, 'FeatureStore', { config, lake });
 * features.api.grantInvoke(servingRole);
 */
import {
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
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type { Construct } from 'constructs';
import type { EnvironmentConfig } from '../lib/config';
import { Binding, grantKeyVia, TABLE_KEY_ACTIONS } from '../lib/constructs/binding';
import type { DataLake } from '../lib/constructs/data-lake';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { LakeTable } from '../lib/constructs/lake-table';
import { MaterializationSteps } from '../lib/constructs/materialization-steps';
import { SchedulerRole } from '../lib/constructs/scheduler-role';
import { MlopsApi, stageApiCallers } from '../lib/constructs/mlops-api';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { MlopsStateMachine } from '../lib/constructs/mlops-state-machine';
import { declareStateMachine } from '../lib/constructs/platform-facts';
import {
  dayProjection,
  FEATURE_STORE_PREFIX,
  ONLINE_TABLE_SPEC,
  type OfflineTableSpec,
  offlineTableSpecs,
} from '../lib/features/definitions';
import {
  MATERIALIZATION_RESULTS_PREFIX,
  MATERIALIZATION_S3_PREFIX,
  MATERIALIZATION_UNLOAD_PREFIX,
} from '../lib/features/stack-support';
import { REGISTRY_PATHS, REGISTRY_PREFIX } from '../lib/features/registry-rest';
import { wineRepo } from '../lib/features/wine';
import { complianceAcks } from '../lib/constructs/nag';

export { FEATURE_STORE_PREFIX };

/** Views materialized at once: bounds concurrent Athena UNLOADs. */
export const MATERIALIZATION_MAX_CONCURRENCY = 4;

/** The calls `OnlineStore` makes: BatchGetItem for reads and newer-wins checks, BatchWriteItem and conditional PutItem for writes. */
const ONLINE_TABLE_ACTIONS = ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:PutItem'];

export interface FeatureStoreStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The environment's data lake (from `DataLakeStack`): Glue database, buckets, keys, workgroup. */
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
}

export class FeatureStoreStack extends Stack {
  /** The DynamoDB online table (`ONLINE_TABLE_SPEC`). */
  readonly onlineTable: dynamodb.Table;
  /** The offline tables of the repo, registered in the lake's Glue database. */
  readonly offlineTables: readonly glue.CfnTable[];
  /** The feature server (`lambdas/features.ts`). */
  readonly server: MlopsFunction;
  /** `POST /get-online-features`, `POST /push`, `GET /health`, `GET /api/v1/{projects,entities,feature_views,feature_services}`. */
  readonly api: MlopsApi;
  /** The plan step (`lambdas/materialize-plan.ts`). */
  readonly materializePlan: MlopsFunction;
  /** The Distributed Map's worker and the Map Run's counts (`lambdas/materialize-write.ts`). */
  readonly materializeWrite: MlopsFunction;
  readonly materialization: MlopsStateMachine;
  /** Starts materialization on `config.pipelines.materializationSchedule`; absent when that is null. */
  readonly schedule?: scheduler.CfnSchedule;
  private readonly offlineSpecs: readonly OfflineTableSpec[];

  constructor(scope: Construct, id: string, props: FeatureStoreStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const house = houseFor(config, lake.logsKey, props.house);

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
      removalPolicy: house.removalPolicy,
      // A retained table must also survive a DeleteTable call outside CloudFormation.
      deletionProtection: house.removalPolicy === RemovalPolicy.RETAIN,
    });
    if (!config.registry.pointInTimeRecovery) {
      Validations.of(this.onlineTable).acknowledge({
        id: 'AwsSolutions-DDB3',
        reason: `Point-in-time recovery follows registry.pointInTimeRecovery, off in ${config.name}: online features are derived data that the materialization workflow rebuilds from the lake.`,
      });
    }
    if (config.name === 'production') {
      Validations.of(this.onlineTable).acknowledge(...complianceAcks('DynamoDBInBackupPlan', 'Online features are derived from the versioned lake and rebuilt by materialization; point-in-time recovery (35 days) covers operator error, so an AWS Backup plan would only copy reproducible data.'));
    }

    // --- Feature server -------------------------------------------------------------------------
    this.server = new MlopsFunction(this, 'FeatureServer', {
      entry: lambdaEntry('features'),
      description: 'Feast-compatible feature server: online lookups and pushes',
      ...house.serviceFunction,
      // API Gateway gives up after 29 s; a lookup is a few BatchGetItem calls.
      timeout: Duration.seconds(10),
      ...house.logs,
    });
    this.bindOnlineTable(this.server);
    this.bindOfflinePushes(this.server, lake);

    this.api = new MlopsApi(this, 'Api', {
      description: `mlops-kit ${config.name} feature server`,
      auth: config.api.auth,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      waf: config.api.waf,
      wafRateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes,
      ...stageApiCallers(this, config),
      ...house.logs,
    });
    this.api.addLambdaRoute('/get-online-features', this.server.function, ['POST']);
    this.api.addLambdaRoute('/push', this.server.function, ['POST']);
    this.api.addLambdaRoute('/health', this.server.function, ['GET']);
    // Feast's registry REST listings (read-only): the console's Features page reads them.
    for (const path of REGISTRY_PATHS) {
      this.api.addLambdaRoute(`${REGISTRY_PREFIX}${path}`, this.server.function, ['GET']);
    }

    // --- Materialization ------------------------------------------------------------------------
    this.materializePlan = new MlopsFunction(this, 'MaterializePlan', {
      ...house.workflowFunction,
      entry: lambdaEntry('materialize-plan'),
      description: "Materialization plan: reads each view's recorded window, renders each view's UNLOAD",
      memorySize: 256,
      ...house.logs,
    });
    // Reads the MATERIALIZATION#<view> records only (BatchGetItem): never writes the table.
    this.materializePlan.bind(
      'ONLINE_TABLE_NAME',
      Binding.table(this.onlineTable, { actions: ['dynamodb:BatchGetItem'] }),
    );
    const { materialization } = config;
    const reserved = house.workflowFunction.reservedConcurrentExecutions;
    this.materializeWrite = new MlopsFunction(this, 'MaterializeWrite', {
      ...house.workflowFunction,
      entry: lambdaEntry('materialize-write'),
      description: 'Materialization worker: streams UNLOAD parts into the online table with BatchWriteItem',
      timeout: Duration.minutes(15),
      // As many as the Map runs workers at once, so a run is not throttled by its own reservation.
      ...(reserved === undefined
        ? {}
        : { reservedConcurrentExecutions: Math.max(reserved, materialization.maxConcurrency) }),
      ...house.logs,
    });
    this.bindOnlineTable(this.materializeWrite);
    this.materializeWrite.bind(
      'UNLOAD_BUCKET',
      lake.curated.objects(
        { read: MATERIALIZATION_S3_PREFIX },
        "a worker reads the UNLOAD parts of its batch and the Map Run's result files, named at run time under materialize/",
      ),
    );

    this.materialization = new MlopsStateMachine(this, 'Materialization', {
      comment: `mlops-kit ${config.name}: materialize feature views from the lake into the online table`,
      definition: new MaterializationSteps(this, 'MaterializationSteps', {
        plan: this.materializePlan,
        write: this.materializeWrite,
        onlineTable: this.onlineTable,
        curated: lake.curated,
        workGroupName: lake.workGroupName,
        databaseName: lake.databaseName,
        viewsAtOnce: MATERIALIZATION_MAX_CONCURRENCY,
        partsPerBatch: materialization.partsPerBatch,
        maxConcurrency: materialization.maxConcurrency,
        toleratedFailurePercentage: materialization.toleratedFailurePercentage,
      }).definition,
      // Shorter than the hourly production schedule, so a stuck run ends before the next piles up.
      timeout: Duration.hours(1),
      ...house.logs,
    });
    this.grantMaterialization(this.materialization, lake);
    this.materialization.acknowledgeInvoke([this.materializePlan, this.materializeWrite]);
    declareStateMachine(this.materialization, 'materialization');

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
      const table = new LakeTable(this, `OfflineTable-${spec.table}`, {
        database: lake.database,
        name: spec.table,
        description: json
          ? `Feature store push source ${spec.table}: rows pushed to the offline store, JSON lines`
          : `Feature store batch source ${spec.table}: feature rows with event and created timestamps, Parquet`,
        location: `s3://${lake.curated.bucketName}/${spec.location}`,
        format: spec.format,
        columns: spec.columns,
        partitionKeys: spec.partitionKeys,
        // Partition projection: a day is queryable the moment its first file exists; a query
        // filtering on dt reads only those days' prefixes.
        parameters: dayProjection(`s3://${lake.curated.bucketName}/${spec.location}`),
      });
      return table;
    });
  }

  /**
   * `ONLINE_TABLE_NAME` with exactly the calls `OnlineStore` makes (BatchGetItem for reads and
   * newer-wins checks, BatchWriteItem and conditional PutItem for writes) and the key through
   * DynamoDB only.
   */
  private bindOnlineTable(fn: MlopsFunction): void {
    fn.bind('ONLINE_TABLE_NAME', Binding.table(this.onlineTable, { actions: ONLINE_TABLE_ACTIONS }));
  }

  /**
   * `OFFLINE_BUCKET` / `OFFLINE_PREFIX` for offline pushes: single-request PutObject under each
   * push source's table prefix only, and the lake key through S3 only.
   */
  private bindOfflinePushes(fn: MlopsFunction, lake: DataLake): void {
    const pushTables = this.offlineSpecs.filter((spec) => spec.format === 'json');
    fn.bind(
      'OFFLINE_BUCKET',
      Binding.of(lake.curated.bucketName, (grantee) => {
        for (const t of pushTables) {
          lake.curated.grantObjects(
            grantee,
            { put: t.location },
            'offline pushes append one new object per push, with a time-ordered unique name, under the push table prefix',
          );
        }
      }),
    );
    fn.function.addEnvironment('OFFLINE_PREFIX', FEATURE_STORE_PREFIX);
  }

  /**
   * What the materialization machine needs: the query grant on the feature store's tables only
   * (narrower than every table of the lake), reads of their files under the feature store's
   * prefix, the UNLOAD's writes and the ItemReader's listing under `materialize/unload/`, the
   * ResultWriter's files under `materialize/results/`, and the lake key through DynamoDB for the
   * Record window task. (Starting the Map's child executions is granted by CDK, on this machine only.)
   */
  private grantMaterialization(machine: MlopsStateMachine, lake: DataLake): void {
    const role = machine.stateMachine.role;
    lake.grantQuery(role, { tables: this.offlineSpecs.map((t) => t.table) });
    lake.curated.grantObjects(
      role,
      { list: `${FEATURE_STORE_PREFIX}/`, read: `${FEATURE_STORE_PREFIX}/` },
      "Athena reads the projected dt= prefixes of the feature store's tables; the grant covers the feature store's prefix of the curated bucket, not the rest of the zone",
    );
    lake.curated.grantObjects(
      role,
      { write: MATERIALIZATION_UNLOAD_PREFIX, list: MATERIALIZATION_UNLOAD_PREFIX },
      "each run UNLOADs to materialize/unload/<execution>/<view>/ (Athena writes with the caller's credentials) and the ItemReader lists it, named at run time",
    );
    lake.curated.grantObjects(
      role,
      { read: MATERIALIZATION_RESULTS_PREFIX, write: MATERIALIZATION_RESULTS_PREFIX },
      'the ResultWriter writes materialize/results/<map run id>/ (manifest and result files), the id given by Step Functions at run time',
    );
    // Kept from before the one query grant, which lists only under results/: whether Athena needs
    // ListBucketMultipartUploads and an unconditioned listing of the result bucket is issue 18's.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
        resources: [lake.athenaResults.arnFor(role).arn],
      }),
    );
    grantKeyVia(role, this.onlineTable.encryptionKey?.keyArn, TABLE_KEY_ACTIONS, 'dynamodb');
  }

  /** An EventBridge Scheduler schedule that starts the machine with the scheduled time as `end`. */
  private scheduleMaterialization(expression: string): scheduler.CfnSchedule {
    const role = new SchedulerRole(this, 'ScheduleRole', {
      description: 'Starts the feature materialization workflow on schedule',
    });
    this.materialization.stateMachine.grantStartExecution(role);
    return new scheduler.CfnSchedule(this, 'MaterializationSchedule', {
      description: 'Materialize every online feature view from its recorded window end to the scheduled time',
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
