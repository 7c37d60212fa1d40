/**
 * The kit's one grant vocabulary. Every permission is granted by the construct that owns the
 * resource, in terms of what the caller does with it:
 *
 * - `lakeBucket.grantObjects(grantee, { read, list, put, write }, why)`: object calls under key
 *   prefixes, with the lake key only through S3 (see `LakeBucket`);
 * - `lake.grantQuery(grantee, { tables })`, `lake.grantQueryResults(grantee)`: Athena in the lake
 *   workgroup, Glue reads, the workgroup's result prefix (see `DataLake`);
 * - `registry.grantAccess(grantee, [read, write, promote])`: the registry API, per method (see `RegistryStack`);
 * - {@link grantTableCalls}: named DynamoDB calls on a table and its indexes, the key only through
 *   DynamoDB; CDK's own `bus.grantPutEventsTo`, `topic.grantPublish`, `bucket.grantRead` otherwise.
 *
 * A function that is told a resource's name in its environment gets it with the permission in one
 * call, `fn.bind(NAME, binding)`: a {@link Binding} is the value and the grant that makes it
 * usable, so no name reaches a handler without the access it needs. Each grant method above has a
 * binding twin (`lakeBucket.objects(...)`, `registry.endpointFor(...)`, `Binding.table(...)`, ...).
 *
 * @example
 * fn.bind('ARTIFACTS_BUCKET', lake.artifacts.objects({ put: 'runs/' }, 'each run writes under its own prefix'));
 * fn.bind('EVENT_BUS_NAME', Binding.eventBus(bus));
 * lake.grantQuery(machine.role);
 */
import { Stack } from 'aws-cdk-lib';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import type * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';

/** A value a function reads from its environment, and the grant that makes the value usable. */
export class Binding {
  /** Any value with its grant (for a resource the kit has no binding of its own for). */
  static of(value: string, grant: (grantee: iam.IGrantable) => void): Binding {
    return new Binding(value, grant);
  }

  /** An event bus's name, with `events:PutEvents` on it. */
  static eventBus(bus: events.IEventBus): Binding {
    return new Binding(bus.eventBusName, (grantee) => bus.grantPutEventsTo(grantee));
  }

  /** A table's name, with exactly the DynamoDB calls given (see {@link grantTableCalls}). */
  static table(table: dynamodb.ITable, calls: TableCalls): Binding {
    return new Binding(table.tableName, (grantee) => grantTableCalls(grantee, table, calls));
  }

  private constructor(
    /** What the function finds in its environment: a bucket or table name, a URL. */
    readonly value: string,
    private readonly grantFn: (grantee: iam.IGrantable) => void,
  ) {}

  /** Grants what using {@link value} needs. */
  grant(grantee: iam.IGrantable): void {
    this.grantFn(grantee);
  }
}

/** DynamoDB calls a principal makes on one table. */
export interface TableCalls {
  /** The calls, e.g. `['dynamodb:GetItem', 'dynamodb:Query']`. */
  readonly actions: readonly string[];
  /**
   * Index names the calls also use, granted by name (no `index/*`).
   * @default - none: the table only
   */
  readonly indexes?: readonly string[];
}

/** What DynamoDB asks of the caller's key permissions for a table encrypted with a customer key. */
export const TABLE_KEY_ACTIONS = ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'];

/**
 * Exactly the DynamoDB calls given on the table (and its named indexes), and — for a table with a
 * customer-managed key — the key's data actions only when DynamoDB uses it for this principal:
 * CDK's `grantReadWriteData` adds Scan, ConditionCheckItem, the stream reads, `index/*`, and the
 * key's wildcard actions without a `kms:ViaService` condition.
 */
export function grantTableCalls(grantee: iam.IGrantable, table: dynamodb.ITable, calls: TableCalls): void {
  if (calls.actions.length === 0) {
    throw new Error(`table calls must name at least one DynamoDB action, but none were provided`);
  }
  const bad = calls.actions.find((a) => !a.startsWith('dynamodb:'));
  if (bad !== undefined) {
    throw new Error(`table calls must be DynamoDB actions (dynamodb:*), but ${bad} was provided`);
  }
  const indexes = (calls.indexes ?? []).map((name) => `${table.tableArn}/index/${name}`);
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({ actions: [...calls.actions], resources: [table.tableArn, ...indexes] }),
  );
  grantKeyVia(grantee, table.encryptionKey?.keyArn, TABLE_KEY_ACTIONS, 'dynamodb');
}

/** The key's given actions, only in calls the named service makes for the principal. */
export function grantKeyVia(
  grantee: iam.IGrantable,
  keyArn: string | undefined,
  actions: readonly string[],
  service: 's3' | 'dynamodb' | 'sns' | 'sqs',
): void {
  if (keyArn === undefined || actions.length === 0) return;
  grantee.grantPrincipal.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: [...actions],
      resources: [keyArn],
      conditions: { StringEquals: { 'kms:ViaService': `${service}.${regionOf(grantee)}.amazonaws.com` } },
    }),
  );
}

/** The construct whose policy a grant lands in: cdk-nag acknowledgements go on it. */
export function principalConstruct(grantee: iam.IGrantable): IConstruct | undefined {
  const principal = grantee.grantPrincipal;
  return Construct.isConstruct(principal) ? principal : undefined;
}

function regionOf(grantee: iam.IGrantable): string {
  const construct = principalConstruct(grantee) ?? (Construct.isConstruct(grantee) ? grantee : undefined);
  if (!construct) {
    throw new Error(
      `a grant with a kms:ViaService condition needs a grantee in a stack, but ${grantee.grantPrincipal.toString()} was provided`,
    );
  }
  return Stack.of(construct).region;
}
