/**
 * The online store port and its rules (keys, versions, expiry); its DynamoDB implementation is
 * `DynamoDbOnlineStore` in lib/adapters/dynamodb/online-store.ts. Layout on DynamoDB: one item per (feature view, entity key) holding the latest feature
 * values. Layout (also in `ONLINE_TABLE_SPEC`):
 *
 *   pk          S  `<feature_view>#<join_key>=<value>[|…]`  (see `onlineKey`)
 *   view        S  feature view name
 *   entity      M  join key → value
 *   features    M  feature → value; a pushed null is stored as NULL (served as NULL_VALUE)
 *   event_ts    N  event time, epoch ms — the version of the item
 *   created_ts  N  creation time, epoch ms — breaks ties between equal event times
 *   expires_at  N  epoch seconds (views with a TTL): event time + TTL + a grace period, for
 *                  DynamoDB's TTL sweeper. The grace keeps expired rows readable for a while, so
 *                  the server reports OUTSIDE_MAX_AGE rather than NOT_FOUND right after expiry.
 *
 * Features live in one map attribute rather than one attribute each so that feature names can
 * never clash with the system attributes or DynamoDB's reserved words.
 *
 * Writes never replace a newer version with an older one. Two modes, because BatchWriteItem has no
 * conditions:
 * - `conditional` (push): one conditional PutItem per item; race-free.
 * - `batch` (materialization, the default): read the stored versions with BatchGetItem, drop
 *   incoming rows that are older, write the rest with BatchWriteItem (25 per call). A concurrent
 *   writer of the same key between the read and the write can still be overwritten by an older
 *   value; materialization runs once per view at a time, and a push racing it is re-won by the next
 *   push or materialization. This trade buys 25× fewer write calls for bulk loads.
 */
import type { ScalarValue } from './values';

/** How long past its TTL an item stays in the table before DynamoDB may delete it. */
export const EXPIRY_GRACE_SECONDS = 7 * 86_400;

/** One row of one feature view, as written to and read from the online store. */
export interface OnlineRecord {
  /** Partition key, from `onlineKey(view, joinKeyValues)`. */
  readonly pk: string;
  readonly view: string;
  readonly entity: Readonly<Record<string, ScalarValue>>;
  readonly features: Readonly<Record<string, ScalarValue | null>>;
  readonly eventTimeMs: number;
  readonly createdTimeMs: number;
  /** @default - never expires */
  readonly expiresAtSeconds?: number;
}

/** Counts of a `writeMany`. */
export interface WriteResult {
  /** Items written. */
  readonly written: number;
  /** Incoming rows dropped because the store (or the same batch) held a newer version. */
  readonly skippedStale: number;
}

/**
 * The online store the feature server and materialization write to and read from: the latest
 * version of each (feature view, entity key). Implemented over DynamoDB by `DynamoDbOnlineStore`
 * (lib/adapters/dynamodb/online-store.ts).
 */
export interface OnlineStore {
  /** The stored rows of the given keys; missing keys are absent from the result. */
  readMany(pks: readonly string[]): Promise<Map<string, OnlineRecord>>;
  /**
   * Writes rows, never replacing a stored newer version (see {@link newer}); within one call only
   * the newest row per key is kept. `conditional` is race-free per item (pushes); `batch` trades
   * that for far fewer calls (bulk loads).
   */
  writeMany(records: readonly OnlineRecord[], options?: { mode?: 'batch' | 'conditional' }): Promise<WriteResult>;
}

/**
 * The item's `expires_at` for a view's TTL (0 = no expiry).
 *
 * @example
 * expiresAtFor(86_400, 0); // 86400 + 7 days of grace, in epoch seconds
 */
export function expiresAtFor(ttlSeconds: number, eventTimeMs: number): number | undefined {
  return ttlSeconds > 0 ? Math.floor(eventTimeMs / 1000) + ttlSeconds + EXPIRY_GRACE_SECONDS : undefined;
}

/** Whether `a` is a newer version than `b` (later event time, then later creation). */
export function newer(
  a: { eventTimeMs: number; createdTimeMs: number },
  b: { eventTimeMs: number; createdTimeMs: number },
) {
  return (
    a.eventTimeMs > b.eventTimeMs || (a.eventTimeMs === b.eventTimeMs && a.createdTimeMs > b.createdTimeMs)
  );
}

/** Splits a list into consecutive parts of at most `size` items. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}
