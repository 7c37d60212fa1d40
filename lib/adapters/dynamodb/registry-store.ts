/**
 * The registry and tracking cores' storage port over one DynamoDB table (layout in
 * `registry-table.ts`): strongly consistent reads, conditional writes whose failed condition resolves
 * `false`/`undefined`, paginated queries, chunked batch writes.
 *
 * @example
 * const store = new DynamoRegistryStore(new DynamoDBClient({}), process.env.REGISTRY_TABLE_NAME!);
 * const registry = new ModelRegistry({ store, events });
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type {
  Change,
  ListOptions,
  Listed,
  Listing,
  Position,
  Precondition,
  RecordRef,
  RecordStore,
  StoredRecord,
} from '../../registry/store';
import { InvalidPosition } from '../../registry/store';
import { attributeValue, conditionExpression, Placeholders, updateExpression } from './registry-expressions';
import {
  GSI1,
  indexEntryOf,
  type Key,
  keyOf,
  metricHistoryPk,
  modelPk,
  modelTagPartition,
  padVersion,
  refOf,
  runMetricPartition,
  runPk,
  sortableDouble,
  versionTagPartition,
} from './registry-table';

type Item = Record<string, unknown>;

/** True when DynamoDB refused a write because its condition did not hold. */
export const isConditionFailure = (error: unknown): boolean =>
  (error as { name?: string }).name === 'ConditionalCheckFailedException';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The item a record is stored as: its key, its index entry, its fields (`expiresAt` as `ttl`). */
function toItem(ref: RecordRef, record: StoredRecord): Item {
  const { expiresAt, ...fields } = record;
  return {
    ...keyOf(ref),
    ...indexEntryOf(ref, record),
    ...fields,
    ...(expiresAt !== undefined && { ttl: attributeValue('expiresAt', expiresAt) }),
  };
}

/** The record an item holds, without the table's own attributes. */
function toRecord(item: Item): StoredRecord {
  const { pk: _pk, sk: _sk, gsi1pk: _gpk, gsi1sk: _gsk, ttl: _ttl, ...record } = item;
  return record;
}

/** The query behind each listing of the port. */
function queryOf(listing: Listing): Omit<QueryCommandInput, 'TableName'> {
  const byPk = (pk: string) => ({
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': pk },
  });
  const byIndex = (gsi1pk: string) => ({
    IndexName: GSI1,
    KeyConditionExpression: 'gsi1pk = :g',
    ExpressionAttributeValues: { ':g': gsi1pk },
  });
  switch (listing.of) {
    case 'models':
      return listing.namePrefix === undefined || listing.namePrefix === ''
        ? byIndex('RM')
        : {
            IndexName: GSI1,
            KeyConditionExpression: 'gsi1pk = :g AND begins_with(gsi1sk, :p)',
            ExpressionAttributeValues: { ':g': 'RM', ':p': listing.namePrefix },
          };
    case 'modelTags':
      return {
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :t)',
        ExpressionAttributeValues: { ':pk': modelPk(listing.modelId), ':t': 'T#' },
      };
    case 'modelsByTag':
      return byIndex(modelTagPartition(listing.key, listing.value));
    case 'versionsByTag':
      return byIndex(versionTagPartition(listing.key, listing.value));
    case 'runsByMetric': {
      // A sort key is `<sortable value>#<run id>`: '$' sorts just above '#', so `<v>$` bounds every
      // key of exactly v from above.
      const at = sortableDouble(listing.value);
      const [condition, bound] = {
        '<': ['gsi1sk < :s', at],
        '<=': ['gsi1sk < :s', `${at}$`],
        '>': ['gsi1sk > :s', `${at}$`],
        '>=': ['gsi1sk >= :s', at],
        '=': ['begins_with(gsi1sk, :s)', `${at}#`],
      }[listing.op];
      return {
        IndexName: GSI1,
        KeyConditionExpression: `gsi1pk = :g AND ${condition}`,
        ExpressionAttributeValues: { ':g': runMetricPartition(listing.experimentId, listing.key), ':s': bound },
      };
    }
    case 'experiments':
      return byIndex('EXP');
    case 'runsOfExperiment':
      return byIndex(`EXPRUNS#${listing.experimentId}`);
    case 'versionsOfRun':
      return { ...byIndex(`MVRUN#${listing.runId}`), ProjectionExpression: 'pk, sk' };
    case 'modelRecords':
      return byPk(modelPk(listing.modelId));
    case 'runRecords':
      return byPk(runPk(listing.runId));
    case 'metricHistory':
      return byPk(metricHistoryPk(listing.runId, listing.key));
    case 'modelVersions': {
      // `V#` sorts below every padded number; with `below`, the range ends just under that version.
      const range =
        listing.below === undefined
          ? { condition: 'begins_with(sk, :v)', values: { ':v': 'V#' } }
          : { condition: 'sk BETWEEN :v AND :w', values: { ':v': 'V#', ':w': `V#${padVersion(Math.max(0, listing.below - 1))}` } };
      return {
        KeyConditionExpression: `pk = :pk AND ${range.condition}`,
        ScanIndexForward: !listing.descending,
        ...(listing.registration !== undefined && { FilterExpression: 'idem = :h' }),
        ExpressionAttributeValues: {
          ':pk': modelPk(listing.modelId),
          ...range.values,
          ...(listing.registration !== undefined && { ':h': listing.registration }),
        },
      };
    }
  }
}

/**
 * {@link RecordStore} over a DynamoDB table built from `REGISTRY_TABLE_SPEC`.
 */
/**
 * A position handed back by a client (inside a page token) must be a key of the listing's own
 * partition, with string attributes only: DynamoDB would otherwise answer a ValidationException, or
 * page another listing.
 */
function checkPosition(query: Omit<QueryCommandInput, 'TableName'>, after: Position): void {
  const values = query.ExpressionAttributeValues ?? {};
  const partition = query.IndexName === undefined ? { key: 'pk', value: values[':pk'] } : { key: 'gsi1pk', value: values[':g'] };
  const expected = query.IndexName === undefined ? ['pk', 'sk'] : ['gsi1pk', 'gsi1sk', 'pk', 'sk'];
  const keys = Object.keys(after).sort();
  if (
    keys.join() !== [...expected].sort().join() ||
    Object.values(after).some((v) => typeof v !== 'string') ||
    after[partition.key] !== partition.value
  ) {
    throw new InvalidPosition('the position is not a key of this listing');
  }
}

export class DynamoRegistryStore implements RecordStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  async get(ref: RecordRef): Promise<StoredRecord | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: keyOf(ref), ConsistentRead: true }));
    return out.Item && toRecord(out.Item);
  }

  async getMany(refs: readonly RecordRef[]): Promise<Listed[]> {
    const keyList = refs.map(keyOf);
    const chunks: Key[][] = [];
    for (let i = 0; i < keyList.length; i += 100) chunks.push(keyList.slice(i, i + 100));
    // BatchGetItem takes 100 keys; the chunks of a larger read go out together.
    const read = async (chunk: Key[]): Promise<Item[]> => {
      const items: Item[] = [];
      let pending = chunk;
      while (pending.length > 0) {
        const out = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }),
        );
        items.push(...(out.Responses?.[this.tableName] ?? []));
        pending = (out.UnprocessedKeys?.[this.tableName]?.Keys as Key[] | undefined) ?? [];
        if (pending.length > 0) await sleep(20 + Math.random() * 50);
      }
      return items;
    };
    return (await Promise.all(chunks.map(read))).flat().map((item) => ({ ref: refOf(item), record: toRecord(item) }));
  }

  async put(ref: RecordRef, record: StoredRecord, when?: Precondition): Promise<boolean> {
    const p = new Placeholders();
    const condition = when && conditionExpression(when, p);
    return this.unlessConditionFails(async () => {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: toItem(ref, record),
          ...(condition && { ConditionExpression: condition, ...p.fields() }),
        }),
      );
      return true;
    }, false);
  }

  async putAll(entries: readonly { ref: RecordRef; record: StoredRecord }[]): Promise<void> {
    await this.batchWrite(entries.map(({ ref, record }) => ({ PutRequest: { Item: toItem(ref, record) } })));
  }

  async update(ref: RecordRef, changes: readonly Change[], when?: Precondition): Promise<StoredRecord | undefined> {
    const p = new Placeholders();
    const update = updateExpression(ref, changes, p);
    const condition = when && conditionExpression(when, p);
    return this.unlessConditionFails(async () => {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          ReturnValues: 'ALL_NEW',
          UpdateExpression: update,
          ...(condition && { ConditionExpression: condition }),
          ...p.fields(),
        }),
      );
      return toRecord(out.Attributes ?? {});
    }, undefined);
  }

  async remove(ref: RecordRef, when?: Precondition): Promise<boolean> {
    const p = new Placeholders();
    const condition = when && conditionExpression(when, p);
    return this.unlessConditionFails(async () => {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: keyOf(ref),
          ...(condition && { ConditionExpression: condition, ...p.fields() }),
        }),
      );
      return true;
    }, false);
  }

  async removeAll(refs: readonly RecordRef[]): Promise<void> {
    await this.batchWrite(refs.map((ref) => ({ DeleteRequest: { Key: keyOf(ref) } })));
  }

  async list(listing: Listing, options: ListOptions = {}): Promise<{ entries: Listed[]; next?: Position }> {
    const query = queryOf(listing);
    const entries = (items: Item[]) => items.map((item) => ({ ref: refOf(item), record: toRecord(item) }));
    if (options.after !== undefined) checkPosition(query, options.after);
    if (options.limit !== undefined) {
      const page = await this.queryPage({ ...query, Limit: options.limit, ExclusiveStartKey: options.after });
      return { entries: entries(page.items), ...(page.lastKey && { next: page.lastKey }) };
    }
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined = options.after;
    do {
      const page = await this.queryPage({ ...query, ExclusiveStartKey: start });
      items.push(...page.items);
      start = page.lastKey;
    } while (start);
    return { entries: entries(items) };
  }

  /** One page of a query (consistent on the base table; GSIs are eventually consistent). */
  private async queryPage(
    input: Omit<QueryCommandInput, 'TableName'>,
  ): Promise<{ items: Item[]; lastKey?: Record<string, unknown> }> {
    const out = await this.doc.send(
      new QueryCommand({ TableName: this.tableName, ConsistentRead: !input.IndexName, ...input }),
    );
    return { items: out.Items ?? [], lastKey: out.LastEvaluatedKey };
  }

  private async unlessConditionFails<T, F>(write: () => Promise<T>, failed: F): Promise<T | F> {
    try {
      return await write();
    } catch (error) {
      if (isConditionFailure(error)) return failed;
      throw error;
    }
  }

  /** Puts and deletes in chunks of 25, resubmitting what DynamoDB leaves unprocessed. */
  private async batchWrite(
    requests: ({ PutRequest: { Item: Item } } | { DeleteRequest: { Key: Key } })[],
  ): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending: typeof requests = requests.slice(i, i + 25);
      for (let round = 0; pending.length > 0; round++) {
        const out = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
        pending = (out.UnprocessedItems?.[this.tableName] as typeof requests | undefined) ?? [];
        if (pending.length > 0) await sleep(Math.random() * Math.min(1000, 20 * 2 ** round));
      }
    }
  }
}
