/**
 * A thin layer over the DynamoDB document client: strongly consistent reads, paginated queries,
 * chunked batch writes and the retry loop every optimistic write in the core goes through.
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { MlflowError } from './errors';

export type Item = Record<string, unknown>;
export type Key = { pk: string; sk: string };

/** True when DynamoDB refused a write because its condition did not hold. */
export const isConditionFailure = (error: unknown): boolean =>
  (error as { name?: string }).name === 'ConditionalCheckFailedException';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs `attempt` until it returns a value; `undefined` means "lost a race, read again and retry".
 * `backoff: false` is for attempts that pace themselves.
 * Backoff is full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): contenders spread
 * out instead of colliding again in lockstep.
 */
export async function retryOnConflict<T>(
  attempt: () => Promise<T | undefined>,
  what: string,
  options: { maxAttempts?: number; backoff?: boolean } = {},
): Promise<T> {
  const { maxAttempts = 60, backoff = true } = options;
  for (let i = 0; i < maxAttempts; i++) {
    const result = await attempt();
    if (result !== undefined) return result;
    if (backoff) await sleep(Math.random() * Math.min(1000, 10 * 2 ** Math.min(i, 7)));
  }
  // Contention this long means the caller should retry later, which is what 409/ABORTED tells it.
  throw new MlflowError('RESOURCE_CONFLICT', `Too much concurrent modification of ${what}; try again.`);
}

/** The table and the document client, with the operations the core needs. */
export class Db {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
  }

  async get(key: Key): Promise<Item | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    );
    return out.Item;
  }

  async batchGet(keyList: Key[]): Promise<Item[]> {
    const items: Item[] = [];
    for (let i = 0; i < keyList.length; i += 100) {
      let pending: Key[] = keyList.slice(i, i + 100);
      while (pending.length > 0) {
        const out = await this.doc.send(
          new BatchGetCommand({
            RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        items.push(...(out.Responses?.[this.tableName] ?? []));
        pending = (out.UnprocessedKeys?.[this.tableName]?.Keys as Key[] | undefined) ?? [];
        if (pending.length > 0) await sleep(20 + Math.random() * 50);
      }
    }
    return items;
  }

  /** A conditional put; resolves `false` instead of throwing when the condition fails. */
  async putIf(input: Omit<PutCommandInput, 'TableName'>): Promise<boolean> {
    try {
      await this.doc.send(new PutCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  async put(item: Item): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  /** A conditional update; resolves the new item, or `undefined` when the condition fails. */
  async updateIf(input: Omit<UpdateCommandInput, 'TableName'>): Promise<Item | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({ TableName: this.tableName, ReturnValues: 'ALL_NEW', ...input }),
      );
      return out.Attributes ?? {};
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  async delete(key: Key, condition?: { expression: string; values: Item }): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: key,
          ...(condition && { ConditionExpression: condition.expression }),
          // DynamoDB refuses an empty value map (`attribute_exists(pk)` needs none).
          ...(condition && Object.keys(condition.values).length > 0 && { ExpressionAttributeValues: condition.values }),
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      throw error;
    }
  }

  /** One page of a query (consistent on the base table; GSIs are eventually consistent). */
  async queryPage(
    input: Omit<QueryCommandInput, 'TableName'>,
  ): Promise<{ items: Item[]; lastKey?: Record<string, unknown> }> {
    const out = await this.doc.send(
      new QueryCommand({ TableName: this.tableName, ConsistentRead: !input.IndexName, ...input }),
    );
    return { items: out.Items ?? [], lastKey: out.LastEvaluatedKey };
  }

  /** Every item a query matches, following `LastEvaluatedKey`. */
  async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.queryPage({ ...input, ExclusiveStartKey: start });
      items.push(...page.items);
      start = page.lastKey;
    } while (start);
    return items;
  }

  /** Items of one partition whose sort key starts with `prefix`. */
  partition(pk: string, prefix: string): Promise<Item[]> {
    return this.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
    });
  }

  /** Puts and deletes in chunks of 25, resubmitting what DynamoDB leaves unprocessed. */
  async batchWrite(puts: Item[], deletes: Key[] = []): Promise<void> {
    const requests = [
      ...puts.map((Item) => ({ PutRequest: { Item } })),
      ...deletes.map((Key) => ({ DeleteRequest: { Key } })),
    ];
    for (let i = 0; i < requests.length; i += 25) {
      let pending: typeof requests = requests.slice(i, i + 25);
      for (let round = 0; pending.length > 0; round++) {
        const out = await this.doc.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }),
        );
        pending = (out.UnprocessedItems?.[this.tableName] as typeof requests | undefined) ?? [];
        if (pending.length > 0) await sleep(Math.random() * Math.min(1000, 20 * 2 ** round));
      }
    }
  }
}
