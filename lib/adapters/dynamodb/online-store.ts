/**
 * The feature server's {@link OnlineStore} on DynamoDB (item layout and write modes: see
 * lib/features/online-store.ts).
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  PutCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  chunk,
  newer,
  type OnlineRecord,
  type OnlineStore,
  type WriteResult,
} from '../../features/online-store';
import type { MaterializationLog, MaterializationWindow } from '../../features/registry-rest';
import { materializationRecordKey } from '../../features/stack-support';
import type { ScalarValue } from '../../features/values';

/** BatchGetItem's limit of keys per call. */
export const BATCH_GET_LIMIT = 100;
/** BatchWriteItem's limit of items per call. */
export const BATCH_WRITE_LIMIT = 25;

/** Options of `DynamoDbOnlineStore`. */
export interface OnlineStoreProps {
  readonly client: DynamoDBDocumentClient;
  readonly tableName: string;
  /** Attempts per batch call, including the first, while DynamoDB returns unprocessed keys. @default 8 */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles each attempt, with full jitter. @default 25 */
  readonly baseDelayMs?: number;
  /** @default 1000 */
  readonly maxDelayMs?: number;
  /** Batch calls in flight at once. @default 4 */
  readonly concurrency?: number;
  /** @default setTimeout-based sleep */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Thrown when DynamoDB still returns unprocessed keys or items after the last attempt. */
export class UnprocessedError extends Error {
  override readonly name = 'UnprocessedError';
}

/**
 * Reads and writes feature rows in the DynamoDB online table.
 *
 * @example
 * const store = new DynamoDbOnlineStore({ client: dynamoDocumentClient(env), tableName });
 * await store.writeMany([record]);
 * const rows = await store.readMany([record.pk]); // Map pk → record
 */
export class DynamoDbOnlineStore implements OnlineStore, MaterializationLog {
  private readonly client: DynamoDBDocumentClient;
  private readonly tableName: string;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly concurrency: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(props: OnlineStoreProps) {
    this.client = props.client;
    this.tableName = props.tableName;
    this.maxAttempts = props.maxAttempts ?? 8;
    this.baseDelayMs = props.baseDelayMs ?? 25;
    this.maxDelayMs = props.maxDelayMs ?? 1000;
    this.concurrency = props.concurrency ?? 4;
    this.sleep = props.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  /**
   * Reads the items of the given keys: one BatchGetItem per 100 distinct keys (more only when
   * DynamoDB returns unprocessed keys, which are retried with backoff). Missing keys are absent
   * from the result.
   */
  async readMany(pks: readonly string[]): Promise<Map<string, OnlineRecord>> {
    const out = new Map<string, OnlineRecord>();
    await this.batchGet([...new Set(pks)], undefined, (item) =>
      out.set(item['pk'] as string, fromItem(item)),
    );
    return out;
  }

  /**
   * The last window the materialization machine recorded for each view (its `RecordWindow` item
   * beside the view's rows), read with the same BatchGetItem the lookups use.
   */
  async lastWindows(views: readonly string[]): Promise<Map<string, MaterializationWindow>> {
    const out = new Map<string, MaterializationWindow>();
    await this.batchGet([...new Set(views)].map(materializationRecordKey), undefined, (item) => {
      if (typeof item['view'] === 'string' && typeof item['window_start'] === 'string' && typeof item['window_end'] === 'string') {
        out.set(item['view'], { start: item['window_start'], end: item['window_end'] });
      }
    });
    return out;
  }

  /**
   * Each view's materialization record as stored (the plan validates it): views never
   * materialized are absent.
   */
  async recordedWindows(views: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
    const out = new Map<string, Record<string, unknown>>();
    const byKey = new Map(views.map((v) => [materializationRecordKey(v), v]));
    await this.batchGet([...byKey.keys()], undefined, (item) => {
      const view = byKey.get(String(item['pk']));
      if (view !== undefined) out.set(view, item);
    });
    return out;
  }

  /**
   * Writes rows, never replacing a stored newer version (see the module comment for the modes).
   * Within one call, only the newest row per key is kept.
   */
  async writeMany(
    records: readonly OnlineRecord[],
    options: { mode?: 'batch' | 'conditional' } = {},
  ): Promise<WriteResult> {
    const latest = new Map<string, OnlineRecord>();
    for (const r of records) {
      const seen = latest.get(r.pk);
      if (!seen || !newer(seen, r)) latest.set(r.pk, r);
    }
    const duplicates = records.length - latest.size;
    const result =
      options.mode === 'conditional'
        ? await this.writeConditional([...latest.values()])
        : await this.writeBatched([...latest.values()]);
    return { written: result.written, skippedStale: result.skippedStale + duplicates };
  }

  private async writeConditional(records: OnlineRecord[]): Promise<WriteResult> {
    let written = 0;
    let skippedStale = 0;
    await mapLimit(records, this.concurrency, async (r) => {
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: toItem(r),
            ConditionExpression:
              'attribute_not_exists(pk) OR event_ts < :e OR (event_ts = :e AND created_ts <= :c)',
            ExpressionAttributeValues: { ':e': r.eventTimeMs, ':c': r.createdTimeMs },
          }),
        );
        written++;
      } catch (err) {
        if ((err as Error).name !== 'ConditionalCheckFailedException') throw err;
        skippedStale++;
      }
    });
    return { written, skippedStale };
  }

  private async writeBatched(records: OnlineRecord[]): Promise<WriteResult> {
    const stored = new Map<string, { eventTimeMs: number; createdTimeMs: number }>();
    await this.batchGet(
      records.map((r) => r.pk),
      { ProjectionExpression: 'pk, event_ts, created_ts' },
      (item) =>
        stored.set(item['pk'] as string, {
          eventTimeMs: Number(item['event_ts']),
          createdTimeMs: Number(item['created_ts'] ?? 0),
        }),
    );
    const fresh = records.filter((r) => {
      const s = stored.get(r.pk);
      return !s || !newer(s, r);
    });
    await mapLimit(chunk(fresh, BATCH_WRITE_LIMIT), this.concurrency, async (part) => {
      let pending: unknown[] = part.map((r) => ({ PutRequest: { Item: toItem(r) } }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > this.maxAttempts) {
          throw new UnprocessedError(
            `BatchWriteItem left ${pending.length} items unprocessed after ${this.maxAttempts} attempts`,
          );
        }
        if (attempt > 1) await this.backoff(attempt);
        const res = await this.client.send(
          new BatchWriteCommand({ RequestItems: { [this.tableName]: pending as never } }),
        );
        pending = res.UnprocessedItems?.[this.tableName] ?? [];
      }
    });
    return { written: fresh.length, skippedStale: records.length - fresh.length };
  }

  private async batchGet(
    pks: readonly string[],
    extra: { ProjectionExpression?: string } | undefined,
    onItem: (item: Record<string, unknown>) => void,
  ): Promise<void> {
    await mapLimit(chunk(pks, BATCH_GET_LIMIT), this.concurrency, async (part) => {
      let pending: Record<string, unknown>[] = part.map((pk) => ({ pk }));
      for (let attempt = 1; pending.length > 0; attempt++) {
        if (attempt > this.maxAttempts) {
          throw new UnprocessedError(
            `BatchGetItem left ${pending.length} keys unprocessed after ${this.maxAttempts} attempts`,
          );
        }
        if (attempt > 1) await this.backoff(attempt);
        const res: BatchGetCommandOutput = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ...extra } } }),
        );
        for (const item of res.Responses?.[this.tableName] ?? []) onItem(item);
        pending = res.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
    });
  }

  // Full jitter (AWS architecture blog "Exponential Backoff And Jitter"): spreads retries of
  // concurrent callers so they do not throttle again in lockstep.
  private backoff(attempt: number): Promise<void> {
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 2));
    return this.sleep(Math.random() * cap);
  }
}

function toItem(r: OnlineRecord): Record<string, unknown> {
  return {
    pk: r.pk,
    view: r.view,
    entity: r.entity,
    features: r.features,
    event_ts: r.eventTimeMs,
    created_ts: r.createdTimeMs,
    ...(r.expiresAtSeconds !== undefined ? { expires_at: r.expiresAtSeconds } : {}),
  };
}

function fromItem(item: Record<string, unknown>): OnlineRecord {
  const expires = item['expires_at'];
  return {
    pk: item['pk'] as string,
    view: item['view'] as string,
    entity: (item['entity'] ?? {}) as Record<string, ScalarValue>,
    features: (item['features'] ?? {}) as Record<string, ScalarValue | null>,
    eventTimeMs: Number(item['event_ts']),
    createdTimeMs: Number(item['created_ts'] ?? 0),
    ...(expires !== undefined ? { expiresAtSeconds: Number(expires) } : {}),
  };
}

/** Runs `fn` over items with at most `limit` calls in flight; rejects on the first failure. */
async function mapLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
