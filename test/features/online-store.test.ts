/**
 * The DynamoDB online store against dynalite. Call counts come from a spy on the real client's
 * `send` (calls go through to dynalite); DynamoDB's throttling answers (UnprocessedKeys/Items),
 * which dynalite never gives, are produced by forwarding only part of a request to dynalite.
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandOutput,
  GetCommand,
} from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DirectoryOfflineWriter } from '../../lib/features/offline-writer';
import { DynamoDbOnlineStore, UnprocessedError } from '../../lib/adapters/dynamodb/online-store';
import { EXPIRY_GRACE_SECONDS, type OnlineRecord } from '../../lib/features/online-store';
import { createFeatureServer } from '../../lib/features/serving';
import { onlineKey } from '../../lib/features/values';
import { driverRepo, type LocalDynamo, removeScratchDirs, scratchDir, startDynalite } from './helpers';

let dynamo: LocalDynamo;
let tableCount = 0;

/** A fresh table per test, so counts and contents never leak between tests. */
async function freshStore(extra: Partial<ConstructorParameters<typeof DynamoDbOnlineStore>[0]> = {}) {
  const tableName = `online_${++tableCount}`;
  await dynamo.createOnlineTable(tableName);
  return { tableName, store: new DynamoDbOnlineStore({ client: dynamo.doc, tableName, baseDelayMs: 1, ...extra }) };
}

const record = (
  id: number,
  eventTimeMs: number,
  conv: number,
  createdTimeMs = eventTimeMs,
): OnlineRecord => ({
  pk: onlineKey('driver_hourly_stats', [['driver_id', id]]),
  view: 'driver_hourly_stats',
  entity: { driver_id: id },
  features: { conv_rate: conv, acc_rate: null, avg_daily_trips: id },
  eventTimeMs,
  createdTimeMs,
});

const sendSpy = () => vi.spyOn(dynamo.doc, 'send');
const callsOf = (spy: ReturnType<typeof sendSpy>, type: new (...a: never[]) => unknown) =>
  spy.mock.calls.map(([command]) => command).filter((c) => c instanceof type);

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterEach(() => {
  vi.restoreAllMocks();
});
afterAll(async () => {
  await removeScratchDirs();
  await dynamo?.close();
});

describe('readMany', () => {
  it.each([
    [1, 1],
    [100, 1],
    [101, 2],
    [250, 3],
  ])('reads %i distinct entities with %i BatchGetItem call(s)', async (entities, calls) => {
    // prepare
    const { store } = await freshStore();
    await store.writeMany(Array.from({ length: entities }, (_, i) => record(i, 1000, i / 10)));
    const spy = sendSpy();
    // act: every key asked twice; duplicates must not cost extra calls
    const keys = Array.from({ length: entities }, (_, i) => record(i, 0, 0).pk);
    const rows = await store.readMany([...keys, ...keys]);
    // assess
    expect(callsOf(spy, BatchGetCommand)).toHaveLength(calls);
    expect(rows.size).toBe(entities);
    expect(rows.get(keys[entities - 1]!)?.features['conv_rate']).toBe((entities - 1) / 10);
  });

  it('serves 250 entities of a lookup with three BatchGetItem calls', async () => {
    // prepare
    const { store } = await freshStore();
    const server = createFeatureServer({
      repo: driverRepo,
      store,
      offline: new DirectoryOfflineWriter({ root: await scratchDir('reads') }),
    });
    const spy = sendSpy();
    // act
    const ids = Array.from({ length: 250 }, (_, i) => i);
    const res = await server.getOnlineFeatures({
      features: ['driver_hourly_stats:conv_rate', 'driver_hourly_stats:acc_rate'],
      entities: { driver_id: ids },
    });
    // assess
    expect(callsOf(spy, BatchGetCommand)).toHaveLength(3);
    expect(res.results[1]!.statuses.every((s) => s === 'NOT_FOUND')).toBe(true);
  });

  it('retries unprocessed keys with backoff until all are read', async () => {
    // prepare
    const sleeps: number[] = [];
    const { store, tableName } = await freshStore({ sleep: async (ms) => void sleeps.push(ms) });
    await store.writeMany(Array.from({ length: 10 }, (_, i) => record(i, 1000, i)));
    const realSend = dynamo.doc.send.bind(dynamo.doc) as (
      c: BatchGetCommand,
    ) => Promise<BatchGetCommandOutput>;
    const spy = sendSpy();
    // First call: DynamoDB processes only 4 keys and hands the other 6 back, as under throttling.
    spy.mockImplementationOnce((async (command: BatchGetCommand) => {
      const keys = command.input.RequestItems![tableName]!.Keys!;
      const served = await realSend(
        new BatchGetCommand({ RequestItems: { [tableName]: { Keys: keys.slice(0, 4) } } }),
      );
      return { ...served, UnprocessedKeys: { [tableName]: { Keys: keys.slice(4) } } };
    }) as never);
    // act
    const rows = await store.readMany(Array.from({ length: 10 }, (_, i) => record(i, 0, 0).pk));
    // assess
    expect(rows.size).toBe(10);
    const gets = callsOf(spy, BatchGetCommand) as BatchGetCommand[];
    expect(gets).toHaveLength(2);
    expect(gets[1]!.input.RequestItems![tableName]!.Keys).toHaveLength(6);
    expect(sleeps).toHaveLength(1);
  });

  it('fails with UnprocessedError when keys stay unprocessed after the last attempt', async () => {
    // prepare
    const { store, tableName } = await freshStore({ maxAttempts: 3, sleep: async () => {} });
    sendSpy().mockImplementation((async (command: BatchGetCommand) => ({
      Responses: { [tableName]: [] },
      UnprocessedKeys: command.input.RequestItems,
      $metadata: {},
    })) as never);
    // act / assess
    await expect(store.readMany([record(1, 0, 0).pk])).rejects.toThrow(UnprocessedError);
  });
});

describe('writeMany', () => {
  it('writes 60 rows in BatchWriteItem calls of at most 25 items', async () => {
    // prepare
    const { store } = await freshStore();
    const spy = sendSpy();
    // act
    const result = await store.writeMany(Array.from({ length: 60 }, (_, i) => record(i, 1000, i)));
    // assess
    const writes = callsOf(spy, BatchWriteCommand) as BatchWriteCommand[];
    const sizes = writes.map((w) => Object.values(w.input.RequestItems!)[0]!.length).sort((a, b) => b - a);
    expect(sizes).toEqual([25, 25, 10]);
    expect(result).toEqual({ written: 60, skippedStale: 0 });
    expect((await store.readMany(Array.from({ length: 60 }, (_, i) => record(i, 0, 0).pk))).size).toBe(60);
  });

  it.each(['batch', 'conditional'] as const)(
    '%s mode: an older event never replaces a newer one',
    async (mode) => {
      // prepare: the newer version is stored first
      const { store } = await freshStore();
      await store.writeMany([record(7, 2000, 0.2)], { mode });
      // act: a late-arriving older version, and a newer one for another key
      const result = await store.writeMany([record(7, 1000, 0.1), record(8, 1000, 0.8)], { mode });
      // assess
      expect(result).toEqual({ written: 1, skippedStale: 1 });
      const rows = await store.readMany([record(7, 0, 0).pk, record(8, 0, 0).pk]);
      expect(rows.get(record(7, 0, 0).pk)).toMatchObject({ eventTimeMs: 2000, features: { conv_rate: 0.2 } });
      expect(rows.get(record(8, 0, 0).pk)?.features['conv_rate']).toBe(0.8);
    },
  );

  it.each(['batch', 'conditional'] as const)(
    '%s mode: same event time, the later-created row wins',
    async (mode) => {
      // prepare
      const { store } = await freshStore();
      await store.writeMany([record(7, 1000, 0.1, 5000)], { mode });
      const conv = async () =>
        (await store.readMany([record(7, 0, 0).pk])).get(record(7, 0, 0).pk)?.features['conv_rate'];
      // act / assess: created earlier → kept out; created later → replaces
      await store.writeMany([record(7, 1000, 0.2, 4000)], { mode });
      expect(await conv()).toBe(0.1);
      await store.writeMany([record(7, 1000, 0.3, 6000)], { mode });
      expect(await conv()).toBe(0.3);
    },
  );

  it('keeps only the newest row per key within one call', async () => {
    // prepare
    const { store } = await freshStore();
    // act
    const result = await store.writeMany([record(1, 3000, 0.3), record(1, 1000, 0.1), record(1, 2000, 0.2)]);
    // assess
    expect(result).toEqual({ written: 1, skippedStale: 2 });
    expect((await store.readMany([record(1, 0, 0).pk])).get(record(1, 0, 0).pk)?.features['conv_rate']).toBe(
      0.3,
    );
  });

  it('retries unprocessed items until all are written', async () => {
    // prepare
    const { store, tableName } = await freshStore({ sleep: async () => {} });
    const realSend = dynamo.doc.send.bind(dynamo.doc) as (
      c: BatchWriteCommand,
    ) => Promise<BatchWriteCommandOutput>;
    const spy = sendSpy();
    let throttled = false;
    spy.mockImplementation((async (command: unknown) => {
      if (command instanceof BatchWriteCommand && !throttled) {
        // The first write call: DynamoDB takes 5 items and returns the rest unprocessed.
        throttled = true;
        const items = command.input.RequestItems![tableName]!;
        await realSend(new BatchWriteCommand({ RequestItems: { [tableName]: items.slice(0, 5) } }));
        return { UnprocessedItems: { [tableName]: items.slice(5) }, $metadata: {} };
      }
      return realSend(command as BatchWriteCommand);
    }) as never);
    // act
    const result = await store.writeMany(Array.from({ length: 20 }, (_, i) => record(i, 1000, i)));
    // assess
    expect(result.written).toBe(20);
    expect(callsOf(spy, BatchWriteCommand)).toHaveLength(2);
    vi.restoreAllMocks();
    expect((await store.readMany(Array.from({ length: 20 }, (_, i) => record(i, 0, 0).pk))).size).toBe(20);
  });

  it('stores the layout ONLINE_TABLE_SPEC documents, with expires_at past the TTL', async () => {
    // prepare
    const { store, tableName } = await freshStore();
    const server = createFeatureServer({
      repo: driverRepo,
      store,
      offline: new DirectoryOfflineWriter({ root: await scratchDir('layout') }),
    });
    // act
    await server.push({
      push_source_name: 'driver_stats_push_source',
      df: {
        driver_id: [5],
        event_timestamp: ['1970-01-02T00:00:00Z'],
        created: ['1970-01-02T00:00:01Z'],
        conv_rate: [0.5],
        acc_rate: [null],
        avg_daily_trips: [3],
      },
    });
    // assess
    const { Item } = await dynamo.doc.send(
      new GetCommand({ TableName: tableName, Key: { pk: 'driver_hourly_stats#driver_id=5' } }),
    );
    expect(Item).toEqual({
      pk: 'driver_hourly_stats#driver_id=5',
      view: 'driver_hourly_stats',
      entity: { driver_id: 5 },
      features: { conv_rate: 0.5, acc_rate: null, avg_daily_trips: 3 },
      event_ts: 86_400_000,
      created_ts: 86_401_000,
      expires_at: 86_400 + 86_400 + EXPIRY_GRACE_SECONDS,
    });
  });
});
