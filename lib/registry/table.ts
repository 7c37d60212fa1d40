/**
 * The registry's single DynamoDB table: its shape ({@link REGISTRY_TABLE_SPEC}, shared by the CDK stack
 * and the local runtime so both build the same table) and the item keys the core writes.
 *
 * Why this layout: DynamoDB Local engines used by the kit (dynalite) have no TransactWriteItems, and
 * the same code must run locally and on AWS. So every invariant is held by a conditional write on ONE
 * item:
 * - a registered model lives under an immutable id (`RM#<id>`); its name is a pointer item
 *   (`RMNAME#<name>`), so a rename rewrites two pointers and the head, never the versions;
 * - the model's head item owns every cross-version fact (stage of each version, aliases, a revision
 *   number, the promotion-event outbox), so "transition and archive the others" or "move an alias and
 *   publish" is a single conditional UpdateItem;
 * - a version item's key is its number, so `attribute_not_exists` on the put IS the allocation:
 *   no counter to drift, no gap when a writer dies between two writes.
 */
import { CreateTableCommand, type DynamoDBClient, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';

/** Key and index names of the registry table, as the CDK stack and the local runtime create it. */
export const REGISTRY_TABLE_SPEC = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  billingMode: 'PAY_PER_REQUEST',
  globalSecondaryIndexes: [
    {
      /**
       * Listings: `RM` → registered models by name, `EXP` → experiments by name,
       * `EXPRUNS#<experimentId>` → runs by start time, `MVRUN#<runId>` → model versions of a run.
       */
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
      projectionType: 'ALL',
    },
  ],
  /** Epoch seconds; only short-lived idempotency claims carry it. The core never relies on deletion. */
  timeToLiveAttribute: 'ttl',
} as const;

/** The first GSI's name, used by the core's queries. */
export const GSI1 = REGISTRY_TABLE_SPEC.globalSecondaryIndexes[0].indexName;

/**
 * Creates the registry table from {@link REGISTRY_TABLE_SPEC} (local runtime and tests; on AWS the CDK
 * stack builds it). TTL is enabled where the engine supports it (dynalite does not; nothing depends on it).
 *
 * @example
 * await createRegistryTable(new DynamoDBClient({ endpoint: 'http://127.0.0.1:4567' }), 'registry');
 */
export async function createRegistryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const spec = REGISTRY_TABLE_SPEC;
  const gsiAttributes = spec.globalSecondaryIndexes.flatMap((g) => [g.partitionKey, g.sortKey]);
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: spec.billingMode,
      AttributeDefinitions: [spec.partitionKey, spec.sortKey, ...gsiAttributes].map((a) => ({
        AttributeName: a.name,
        AttributeType: a.type,
      })),
      KeySchema: [
        { AttributeName: spec.partitionKey.name, KeyType: 'HASH' },
        { AttributeName: spec.sortKey.name, KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: spec.globalSecondaryIndexes.map((g) => ({
        IndexName: g.indexName,
        KeySchema: [
          { AttributeName: g.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: g.sortKey.name, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: g.projectionType },
      })),
    }),
  );
  try {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: spec.timeToLiveAttribute, Enabled: true },
      }),
    );
  } catch (error) {
    // dynalite answers UnknownOperationException; expired claims are ignored by the core anyway.
    if ((error as { name?: string }).name !== 'UnknownOperationException') throw error;
  }
}

/** Width of zero-padded version numbers in sort keys, so lexical order is numeric order. */
const VERSION_WIDTH = 10;

export const padVersion = (version: number): string => String(version).padStart(VERSION_WIDTH, '0');

/**
 * Encodes a (possibly negative) safe integer so that lexical order of the strings is numeric order.
 */
export const sortableInt = (n: number): string => String(n + 2 ** 53).padStart(17, '0');

/** Item keys, in one place so the layout above stays readable. */
export const keys = {
  modelName: (name: string) => ({ pk: `RMNAME#${name}`, sk: '#' }),
  modelHead: (modelId: string) => ({ pk: `RM#${modelId}`, sk: '#HEAD' }),
  modelTag: (modelId: string, key: string) => ({ pk: `RM#${modelId}`, sk: `T#${key}` }),
  version: (modelId: string, version: number) => ({ pk: `RM#${modelId}`, sk: `V#${padVersion(version)}` }),
  idempotency: (modelId: string, hash: string) => ({ pk: `RM#${modelId}`, sk: `IDEM#${hash}` }),
  experimentSequence: () => ({ pk: 'EXPSEQ', sk: '#' }),
  experimentName: (name: string) => ({ pk: `EXPNAME#${name}`, sk: '#' }),
  experiment: (experimentId: string) => ({ pk: `EXP#${experimentId}`, sk: '#' }),
  run: (runId: string) => ({ pk: `RUN#${runId}`, sk: '#INFO' }),
  runParam: (runId: string, key: string) => ({ pk: `RUN#${runId}`, sk: `P#${key}` }),
  runTag: (runId: string, key: string) => ({ pk: `RUN#${runId}`, sk: `T#${key}` }),
  runLatestMetric: (runId: string, key: string) => ({ pk: `RUN#${runId}`, sk: `L#${key}` }),
  metricHistory: (runId: string, key: string) => `MH#${runId}#${key}`,
} as const;
