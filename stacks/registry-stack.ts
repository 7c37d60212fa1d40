/**
 * The model registry of one environment: the MLflow-compatible registry and tracking service
 * (`lambdas/registry.ts`) behind an `MlopsApi`, its DynamoDB table, the platform's EventBridge bus
 * (promotion events go there; the serving deployer subscribes to it), and the two roles that call
 * the API: pipelines and data scientists.
 *
 * Decisions:
 * - The table ({@link REGISTRY_TABLE_SPEC}) is encrypted with the lake's customer-managed key, as
 *   every data store of the kit is. The registry is a system of record (nothing rebuilds it), so
 *   where `registry.pointInTimeRecovery` is on it also gets an AWS Backup plan (daily for 35 days,
 *   monthly for a year): PITR answers operator error within 35 days, the plan answers what is
 *   found later. Production also has deletion protection and RETAIN.
 * - The function gets exactly the DynamoDB calls the registry's adapter makes
 *   (`lib/adapters/dynamodb/registry-store.ts`), on the table and its one index by name, and the
 *   key only through DynamoDB (`Binding.table`): CDK's `grantReadWriteData` would add Scan, ConditionCheckItem and
 *   the stream reads, `index/*`, and the key's wildcard actions without a `kms:ViaService` condition.
 * - `ARTIFACTS_BUCKET` comes with `s3:ListBucket` under `mlflow/` only: the handler writes the name
 *   into default artifact URIs (`s3://<bucket>/mlflow/<experiment>`) and lists them for MLflow's
 *   `artifacts/list`; it never reads or writes an object (a listing needs no key permission).
 *   Clients upload artifacts with their own credentials.
 * - Callers get the access levels of `lib/registry/access.ts` they need (`read`, `write`,
 *   `promote`), as `execute-api:Invoke` on those methods and paths only ({@link grantAccess}).
 *   Where `registry.productionThroughReleaseOnly` is on (production), the data-scientist role has
 *   no `promote`, and the handler refuses a move into Production or of the `champion` alias from
 *   any role but the release machine's (`releasePromoterRoleName`, `PRODUCTION_PROMOTERS`).
 * - With IAM auth, the API's resource policy denies every principal but the stage's roles
 *   (`stageRoleArnPattern`) and `api.callers`: a name pattern, because the roles that call the
 *   registry live in stacks that depend on this one.
 *
 * @example
 * const lake = new DataLakeStack(stage, 'DataLake', { config }).lake;
 * const registry = new RegistryStack(stage, 'Registry', { config, lake });
 * registry.grantAccess(servingDeployerRole, ['read']);
 * new TrainingPipelineStack(stage, 'TrainingPipeline', { config, lake, registry });
 * new events.Rule(stage, 'OnPromotion', {
 *   eventBus: registry.eventBus,
 *   eventPattern: { source: [PROMOTION_EVENT_SOURCE], detailType: [PROMOTION_DETAIL_TYPE] },
 * });
 */
import { Aws, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as backup from 'aws-cdk-lib/aws-backup';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as schedulerTargets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { type EnvironmentConfig, releasePromoterRoleName } from '../lib/config';
import { Binding } from '../lib/constructs/binding';
import type { DataLake } from '../lib/constructs/data-lake';
import { LakeKey } from '../lib/constructs/lake-key';
import { type HouseDefaults, houseFor } from '../lib/constructs/house-defaults';
import { type ApiRoute, MlopsApi, stageApiCallers } from '../lib/constructs/mlops-api';
import { lambdaEntry, MlopsFunction } from '../lib/constructs/mlops-function';
import { RegistryTable } from '../lib/constructs/registry-table';
import { ApiCallerRole } from '../lib/constructs/api-caller-role';
import { SchedulerRole } from '../lib/constructs/scheduler-role';
import { REGISTRY_TABLE_SPEC } from '../lib/shared/registry-table-spec';
import { ACCESS_ROUTES, type RegistryAccess } from '../lib/registry/access';

/** The API paths the registry serves: MLflow's REST API and the `ajax-api` alias its UI calls. */
export const REGISTRY_ROUTES = ['/api/2.0/mlflow/{proxy+}', '/ajax-api/2.0/mlflow/{proxy+}'] as const;

/** The prefixes of {@link REGISTRY_ROUTES}, in front of the endpoints of `ACCESS_ROUTES`. */
const REGISTRY_PREFIXES = REGISTRY_ROUTES.map((r) => r.replace('/mlflow/{proxy+}', ''));

/** The methods and paths of the registry API that the access levels given allow. */
export function registryRoutes(access: readonly RegistryAccess[]): ApiRoute[] {
  if (access.length === 0) throw new Error('registry access must name at least one level (read, write, promote), but none was provided');
  return [...new Set(access)].flatMap((level) =>
    ACCESS_ROUTES[level].flatMap((r) => REGISTRY_PREFIXES.map((prefix) => ({ method: r.method, path: `${prefix}${r.path}` }))),
  );
}

/** The registry as the stacks that call it see it: its URL with the access levels a caller needs. */
export interface RegistryEndpoints {
  /** The registry's base URL (`REGISTRY_URL`) with `execute-api:Invoke` for these levels only. */
  endpointFor(...access: RegistryAccess[]): Binding;
}

/**
 * The DynamoDB calls of the registry adapter (lib/adapters/dynamodb/registry-store.ts): consistent gets, queries on
 * the table and `gsi1`, conditional puts, updates and deletes, and chunked batches.
 */
export const REGISTRY_TABLE_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
] as const;

export interface RegistryStackProps extends StackProps {
  readonly config: EnvironmentConfig;
  /** The environment's data lake (from `DataLakeStack`): its key, logs key and artifacts bucket. */
  readonly lake: DataLake;
  /**
   * The environment's house defaults (the stage resolves them once).
   * @default - resolved from `config`, log groups encrypted with the lake's logs key
   */
  readonly house?: HouseDefaults;
}

export class RegistryStack extends Stack implements RegistryEndpoints {
  /** The registry table, built from {@link REGISTRY_TABLE_SPEC}. */
  readonly table: RegistryTable;
  /** The platform's event bus; the registry puts `ModelVersionPromoted` events on it. */
  readonly eventBus: events.EventBus;
  /** Encrypts the events on {@link eventBus}. */
  readonly eventBusKey: LakeKey;
  /** The registry and tracking service (`lambdas/registry.ts`). */
  readonly function: MlopsFunction;
  /** `ANY /api/2.0/mlflow/{proxy+}` and `ANY /ajax-api/2.0/mlflow/{proxy+}`. */
  readonly api: MlopsApi;
  /**
   * Assumed by people of this account signed in with MFA: reads and writes the registry; promotes
   * too unless `registry.productionThroughReleaseOnly`.
   */
  readonly dataScientistRole: iam.Role;
  /** Re-sends promotion events a failed publish left in a model's outbox (`lambdas/registry-outbox.ts`). */
  readonly outboxFunction: MlopsFunction;
  /** Runs {@link outboxFunction} on `registry.outboxFlushSchedule`. */
  readonly outboxSchedule: scheduler.Schedule;
  /** Daily and monthly backups of the table; present where `registry.pointInTimeRecovery` is on. */
  readonly backupPlan?: backup.BackupPlan;

  constructor(scope: Construct, id: string, props: RegistryStackProps) {
    super(scope, id, props);
    const { config, lake } = props;
    const house = houseFor(config, lake.logsKey, props.house);
    const removalPolicy = house.removalPolicy;

    this.table = new RegistryTable(this, 'Table', {
      encryptionKey: lake.key,
      pointInTimeRecovery: config.registry.pointInTimeRecovery,
      environmentName: config.name,
      removalPolicy,
    });
    if (config.registry.pointInTimeRecovery) this.backupPlan = this.createBackupPlan(removalPolicy, lake.key);

    // Promotion and drift events name models and versions: encrypted with a key of the kit's, whose
    // policy lets EventBridge use it for this bus only (CDK adds that statement).
    this.eventBusKey = new LakeKey(this, 'EventBusKey', {
      description: `mlops-kit ${config.name} platform event bus encryption`,
      removalPolicy,
    });
    this.eventBus = new events.EventBus(this, 'EventBus', {
      description: `mlops-kit ${config.name} platform events (registry promotions)`,
      kmsKey: this.eventBusKey,
    });

    this.function = new MlopsFunction(this, 'Registry', {
      entry: lambdaEntry('registry'),
      description: 'MLflow-compatible model registry and tracking',
      ...house.serviceFunction,
      // API Gateway answers 504 after 29 s: stopping first frees the concurrency instead of running
      // on unseen. The slowest of 2,000 contended creates in bench/registry took 1.6 s.
      timeout: Duration.seconds(28),
      ...house.logs,
    });
    this.function
      .bind(
        'REGISTRY_TABLE_NAME',
        Binding.table(this.table, {
          actions: REGISTRY_TABLE_ACTIONS,
          indexes: REGISTRY_TABLE_SPEC.globalSecondaryIndexes.map((g) => g.indexName),
        }),
      )
      // Default artifact URIs, and `artifacts/list` under them: a listing only (no object access,
      // so no key and no GetBucketLocation, which `LakeBucket.objects({ list })` would add).
      .bind(
        'ARTIFACTS_BUCKET',
        Binding.of(lake.artifacts.bucketName, (grantee) =>
          grantee.grantPrincipal.addToPrincipalPolicy(
            new iam.PolicyStatement({
              actions: ['s3:ListBucket'],
              resources: [lake.artifacts.bucketArn],
              conditions: { StringLike: { 's3:prefix': 'mlflow/*' } },
            }),
          ),
        ),
      )
      .bind('EVENT_BUS_NAME', Binding.eventBus(this.eventBus));
    if (config.registry.productionThroughReleaseOnly) {
      // By name, not by reference: the release stack (which owns the role) depends on this one.
      this.function.function.addEnvironment(
        'PRODUCTION_PROMOTERS',
        `arn:${Aws.PARTITION}:iam::${this.account}:role/${releasePromoterRoleName(config.name)}`,
      );
    }

    // The outbox flush reads model records (by name, and the model listing on gsi1) and takes and
    // clears a lease and the sent events with conditional updates; nothing else.
    this.outboxFunction = new MlopsFunction(this, 'OutboxFlush', {
      entry: lambdaEntry('registry-outbox'),
      description: 'Registry: re-send promotion events a failed PutEvents left in a model outbox',
      ...house.workflowFunction,
      timeout: Duration.minutes(2),
      ...house.logs,
    })
      .bind(
        'REGISTRY_TABLE_NAME',
        Binding.table(this.table, {
          actions: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:UpdateItem'],
          indexes: REGISTRY_TABLE_SPEC.globalSecondaryIndexes.map((g) => g.indexName),
        }),
      )
      .bind('EVENT_BUS_NAME', Binding.eventBus(this.eventBus));
    this.outboxSchedule = new scheduler.Schedule(this, 'OutboxFlushSchedule', {
      description: `mlops-kit ${config.name}: re-send promotion events left in the registry outbox`,
      schedule: scheduler.ScheduleExpression.expression(config.registry.outboxFlushSchedule),
      target: new UnqualifiedLambdaInvoke(this.outboxFunction.function, {
        role: new SchedulerRole(this, 'OutboxFlushRole', { description: 'Invokes the registry outbox flush on its schedule' }),
        // A missed flush is made up by the next one: no retries needed beyond a couple.
        retryAttempts: 2,
        maxEventAge: Duration.minutes(10),
      }),
    });

    this.api = new MlopsApi(this, 'Api', {
      description: `mlops-kit ${config.name} model registry (MLflow REST)`,
      auth: config.api.auth,
      throttleRateLimit: config.api.throttleRateLimit,
      throttleBurstLimit: config.api.throttleBurstLimit,
      waf: config.api.waf,
      wafRateLimitPer5Minutes: config.api.wafRateLimitPer5Minutes,
      ...stageApiCallers(this, config),
      ...house.logs,
    });
    for (const route of REGISTRY_ROUTES) this.api.addLambdaRoute(route, this.function.function);

    // No role for "pipelines": each workflow function gets its own, granted per route
    // (`registry.grantAccess`); a shared one trusted by Lambda and Step Functions was unused.
    const scientistAccess: RegistryAccess[] = config.registry.productionThroughReleaseOnly ? ['read', 'write'] : ['read', 'write', 'promote'];
    this.dataScientistRole = new ApiCallerRole(this, 'DataScientistRole', {
      api: this.api,
      invoke: this.invokeGrant(scientistAccess),
      assumedBy: new iam.AccountRootPrincipal().withConditions({ Bool: { 'aws:MultiFactorAuthPresent': 'true' } }),
      description: config.registry.productionThroughReleaseOnly
        ? "People of this account, signed in with MFA, who browse and register models in the environment's registry (Production only through a release)"
        : "People of this account, signed in with MFA, who browse and promote models in the environment's registry",
    });

    const out = (name: string, value: string, description: string) =>
      new CfnOutput(this, name, { value, description });
    out(
      'ApiUrl',
      this.api.api.url,
      'Registry base URL (ends in /v1/); MLflow clients append api/2.0/mlflow/…',
    );
    out('TableName', this.table.tableName, 'DynamoDB registry table');
    out('EventBusName', this.eventBus.eventBusName, 'Platform event bus (ModelVersionPromoted events)');
    out('EventBusArn', this.eventBus.eventBusArn, 'Platform event bus ARN, for rules in other stacks');
    out('FunctionName', this.function.function.functionName, 'Registry Lambda function');
    out('DataScientistRoleArn', this.dataScientistRole.roleArn, 'Role for data scientists (MFA required)');
  }

  /** Daily backups kept 35 days and monthly ones kept a year, in a vault of this stack. */
  private createBackupPlan(removalPolicy: RemovalPolicy, key: kms.IKey): backup.BackupPlan {
    const vault = new backup.BackupVault(this, 'BackupVault', {
      removalPolicy,
      // The kit's key, not AWS Backup's default one: its use is logged and the account controls it.
      encryptionKey: key,
      // Governance-mode vault lock: nobody without backup:DeleteBackupVaultLockConfiguration can
      // delete recovery points early or shorten their retention (the plan keeps 35 days to 1 year).
      lockConfiguration: { minRetention: Duration.days(35), maxRetention: Duration.days(366) },
    });
    const plan = backup.BackupPlan.dailyMonthly1YearRetention(this, 'BackupPlan', vault);
    const selection = plan.addSelection('Table', {
      resources: [backup.BackupResource.fromDynamoDbTable(this.table)],
    });
    Validations.of(selection).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
      reason:
        'AWS Backup runs backup jobs as this role; AWS publishes and maintains this service-role policy for exactly that, with the per-service backup actions each resource type needs.',
    });
    return plan;
  }

  /**
   * Lets a principal call the registry API's methods and paths of the access levels given
   * (`lib/registry/access.ts`), and nothing else of it.
   */
  grantAccess(grantee: iam.IGrantable, access: readonly RegistryAccess[]): void {
    this.api.grantInvoke(grantee, this.invokeGrant(access));
  }

  /** The registry's base URL for a function's environment, with the access levels given. */
  endpointFor(...access: RegistryAccess[]): Binding {
    return Binding.of(this.api.api.url, (grantee) => this.grantAccess(grantee, access));
  }

  /** The registry's base URL for a function that only reads it. */
  get endpoint(): Binding {
    return this.endpointFor('read');
  }

  private invokeGrant(access: readonly RegistryAccess[]) {
    const levels = [...new Set(access)];
    return {
      routes: registryRoutes(levels),
      name: levels.map((l) => l[0]!.toUpperCase() + l.slice(1)).join(''),
      reason: `This policy holds one statement: execute-api:Invoke on the registry's MLflow endpoints of the ${levels.join(', ')} level(s) (lib/registry/access.ts), each by method; a * stands for endpoint names under one MLflow prefix whose every endpoint is of those levels (or only reads).`,
    };
  }
}

/**
 * Scheduler's Lambda target, granted `lambda:InvokeFunction` on the function it invokes only: the
 * library's grant adds every version and alias (`<arn>:*`), which an unqualified schedule never calls.
 */
class UnqualifiedLambdaInvoke extends schedulerTargets.LambdaInvoke {
  constructor(
    private readonly fn: lambda.IFunction,
    props: schedulerTargets.ScheduleTargetBaseProps,
  ) {
    super(fn, props);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.fn.functionArn] }));
  }
}
