/**
 * The storage port's contract, run against the DynamoDB adapter on dynalite (the real path) and the
 * in-memory test double the core unit tests use: the same preconditions hold or fail the same way,
 * the same listings list the same records in the same order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import {
  absent,
  allOf,
  anyOf,
  atMost,
  below,
  entryBelow,
  equals,
  exists,
  increment,
  missing,
  missingEntry,
  type RecordRef,
  type RecordStore,
  remove,
  removeEntry,
  set,
  setEntry,
} from '../../lib/registry/store';
import { MemoryRecordStore } from './memory-store';
import { type LocalDynamo, startDynamo } from './support';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynamo();
});

afterAll(async () => {
  await dynamo?.stop();
});

const stores: [string, () => Promise<RecordStore>][] = [
  ['DynamoDB adapter on dynalite', async () => new DynamoRegistryStore(dynamo.client, await dynamo.newTable())],
  ['in-memory test double', async () => new MemoryRecordStore()],
];

const model: RecordRef = { kind: 'model', modelId: 'm1' };
const head = { modelId: 'm1', name: 'fraud', rev: 0, stages: {}, aliases: {}, outbox: {}, createdAt: 1, updatedAt: 1 };

describe.each(stores)('%s', (_, open) => {
  it('puts only where the precondition holds, and reads back the fields alone', async () => {
    const store = await open();
    expect(await store.put(model, head, absent)).toBe(true);
    expect(await store.put(model, { ...head, name: 'other' }, absent)).toBe(false);
    expect(await store.get(model)).toEqual(head);
    expect(await store.get({ kind: 'model', modelId: 'nope' })).toBeUndefined();
    expect(await store.put(model, { ...head, rev: 1 }, equals('rev', 0))).toBe(true);
    expect(await store.put(model, { ...head, rev: 2 }, equals('rev', 0))).toBe(false);
  });

  it('updates with named preconditions and returns the record after the write', async () => {
    const store = await open();
    await store.put(model, head);
    const live = allOf(equals('rev', 0), missing('deleted'));
    const next = await store.update(
      model,
      [set('updatedAt', 5), increment('rev'), setEntry('stages', '1', { stage: 'Production', at: 5 }), setEntry('aliases', 'champion', 1)],
      live,
    );
    expect(next).toEqual({ ...head, updatedAt: 5, rev: 1, stages: { '1': { stage: 'Production', at: 5 } }, aliases: { champion: 1 } });
    // the same revision again loses: nothing changes
    expect(await store.update(model, [set('updatedAt', 9)], live)).toBeUndefined();
    expect((await store.get(model))?.updatedAt).toBe(5);
    expect(await store.update(model, [removeEntry('aliases', 'champion'), remove('description')], exists)).toMatchObject({ aliases: {} });
    expect(await store.update(model, [set('deleted', true)], equals('name', 'fraud'))).toMatchObject({ deleted: true });
    expect(await store.update(model, [set('rev', 7)], missing('deleted'))).toBeUndefined();
    expect(await store.update({ kind: 'model', modelId: 'gone' }, [set('x', 1)], exists)).toBeUndefined();
  });

  it('increments an absent record into existence (the experiment sequence)', async () => {
    const store = await open();
    const seq: RecordRef = { kind: 'experimentSequence' };
    expect((await store.update(seq, [increment('n')]))?.n).toBe(1);
    expect((await store.update(seq, [increment('n')]))?.n).toBe(2);
  });

  it('removes only where the precondition holds', async () => {
    const store = await open();
    const name: RecordRef = { kind: 'modelName', name: 'fraud' };
    await store.put(name, { modelId: 'm1', createdAt: 1 });
    expect(await store.remove(name, equals('modelId', 'm2'))).toBe(false);
    expect(await store.remove(name, equals('modelId', 'm1'))).toBe(true);
    expect(await store.remove(name, exists)).toBe(false);
  });

  it('evaluates the latest-metric rule: step, then timestamp, then value only move forward', async () => {
    const store = await open();
    const ref: RecordRef = { kind: 'runLatestMetric', runId: 'r1', key: 'rmse' };
    const newer = (m: { step: number; timestamp: number; value: number }) =>
      anyOf(
        absent,
        below('step', m.step),
        allOf(equals('step', m.step), below('timestamp', m.timestamp)),
        allOf(equals('step', m.step), equals('timestamp', m.timestamp), atMost('value', m.value)),
      );
    const log = (m: { step: number; timestamp: number; value: number }) => store.put(ref, { key: 'rmse', ...m }, newer(m));
    expect(await log({ step: 1, timestamp: 10, value: 0.5 })).toBe(true);
    expect(await log({ step: 0, timestamp: 99, value: 0.1 })).toBe(false);
    expect(await log({ step: 1, timestamp: 9, value: 0.1 })).toBe(false);
    expect(await log({ step: 1, timestamp: 10, value: 0.4 })).toBe(false);
    expect(await log({ step: 1, timestamp: 10, value: 0.6 })).toBe(true);
    expect(await log({ step: 2, timestamp: 1, value: 0.9 })).toBe(true);
    expect(await store.get(ref)).toEqual({ key: 'rmse', step: 2, timestamp: 1, value: 0.9 });
  });

  it('lists a model\'s records by kind, its versions in number order, and by registration', async () => {
    const store = await open();
    await store.put(model, head);
    await store.putAll([
      { ref: { kind: 'modelTag', modelId: 'm1', key: 'team' }, record: { key: 'team', value: 'risk' } },
      { ref: { kind: 'modelVersion', modelId: 'm1', version: 2 }, record: { version: 2, runId: 'r9', idem: 'h' } },
      { ref: { kind: 'modelVersion', modelId: 'm1', version: 10 }, record: { version: 10 } },
      { ref: { kind: 'modelVersion', modelId: 'm2', version: 1 }, record: { version: 1, runId: 'r9' } },
    ]);
    await store.put({ kind: 'registration', modelId: 'm1', hash: 'h' }, { owner: 'o', claimedAt: 1, expiresAt: 86_400_001 });
    const kinds = (await store.list({ of: 'modelRecords', modelId: 'm1' })).entries.map((e) => e.ref);
    expect(kinds).toEqual(
      expect.arrayContaining([
        model,
        { kind: 'modelTag', modelId: 'm1', key: 'team' },
        { kind: 'modelVersion', modelId: 'm1', version: 2 },
        { kind: 'modelVersion', modelId: 'm1', version: 10 },
        { kind: 'registration', modelId: 'm1', hash: 'h' },
      ]),
    );
    expect(kinds).toHaveLength(5);
    const versions = async (options: { descending?: boolean; registration?: string }, limit?: number) =>
      (await store.list({ of: 'modelVersions', modelId: 'm1', ...options }, { limit })).entries.map((e) => e.record.version);
    expect(await versions({})).toEqual([2, 10]);
    expect(await versions({ descending: true }, 1)).toEqual([10]);
    expect(await versions({ registration: 'h' })).toEqual([2]);
    const ofRun = (await store.list({ of: 'versionsOfRun', runId: 'r9' })).entries.map((e) => e.ref);
    expect(ofRun).toEqual(
      expect.arrayContaining([
        { kind: 'modelVersion', modelId: 'm1', version: 2 },
        { kind: 'modelVersion', modelId: 'm2', version: 1 },
      ]),
    );
    // a claim that recorded its version no longer expires
    const claim: RecordRef = { kind: 'registration', modelId: 'm1', hash: 'h' };
    expect(await store.update(claim, [set('version', 2), remove('expiresAt')], equals('owner', 'o'))).toEqual({
      owner: 'o',
      claimedAt: 1,
      version: 2,
    });
    await store.removeAll(kinds);
    expect((await store.list({ of: 'modelRecords', modelId: 'm1' })).entries).toEqual([]);
  });

  it('checks preconditions on one entry of a map field', async () => {
    const store = await open();
    await store.put(model, { ...head, latest: { Staging: 4 } });
    expect(await store.update(model, [setEntry('latest', 'None', 3)], entryBelow('latest', 'None', 3))).toBeUndefined();
    expect(await store.update(model, [setEntry('latest', 'None', 3)], missingEntry('latest', 'None'))).toMatchObject({
      latest: { Staging: 4, None: 3 },
    });
    expect(await store.update(model, [setEntry('latest', 'None', 5)], missingEntry('latest', 'None'))).toBeUndefined();
    expect(await store.update(model, [setEntry('latest', 'None', 5)], entryBelow('latest', 'None', 5))).toMatchObject({
      latest: { None: 5 },
    });
    expect(await store.update(model, [setEntry('latest', 'None', 4)], entryBelow('latest', 'None', 4))).toBeUndefined();
  });

  it('lists versions below a number, models by tag in name order, and reads many records with their refs', async () => {
    const store = await open();
    await store.putAll([
      ...[1, 2, 3, 9, 10, 11].map((version) => ({
        ref: { kind: 'modelVersion', modelId: 'm1', version } as RecordRef,
        record: { version },
      })),
      { ref: { kind: 'modelTag', modelId: 'm1', key: 'team' }, record: { key: 'team', value: 'risk', name: 'zebra' } },
      { ref: { kind: 'modelTag', modelId: 'm2', key: 'team' }, record: { key: 'team', value: 'risk', name: 'aardvark' } },
      { ref: { kind: 'modelTag', modelId: 'm3', key: 'team' }, record: { key: 'team', value: 'growth', name: 'bee' } },
      // a tag record written before the tag index (no name) is not listed
      { ref: { kind: 'modelTag', modelId: 'm4', key: 'team' }, record: { key: 'team', value: 'risk' } },
    ]);
    const below = async (n: number, limit?: number) =>
      (await store.list({ of: 'modelVersions', modelId: 'm1', descending: true, below: n }, { limit })).entries.map(
        (e) => e.record.version,
      );
    expect(await below(10)).toEqual([9, 3, 2, 1]);
    expect(await below(10, 2)).toEqual([9, 3]);
    expect(await below(1)).toEqual([]);
    const tagged = (await store.list({ of: 'modelsByTag', key: 'team', value: 'risk' })).entries.map((e) => e.ref);
    expect(tagged).toEqual([
      { kind: 'modelTag', modelId: 'm2', key: 'team' },
      { kind: 'modelTag', modelId: 'm1', key: 'team' },
    ]);
    const first = await store.list({ of: 'modelsByTag', key: 'team', value: 'risk' }, { limit: 1 });
    expect(first.next).toBeDefined();
    const many = await store.getMany([
      { kind: 'modelVersion', modelId: 'm1', version: 9 },
      { kind: 'modelVersion', modelId: 'm1', version: 4 },
    ]);
    expect(many).toEqual([{ ref: { kind: 'modelVersion', modelId: 'm1', version: 9 }, record: { version: 9 } }]);
  });

  it('lists models and experiments under their current name, runs by start time', async () => {
    const store = await open();
    await store.put(model, head);
    await store.put({ kind: 'model', modelId: 'm2' }, { ...head, modelId: 'm2', name: 'churn' });
    await store.update(model, [set('name', 'aardvark')]);
    expect((await store.list({ of: 'models' })).entries.map((e) => e.record.name)).toEqual(['aardvark', 'churn']);
    for (const [runId, startTime] of [['b', 20], ['a', 30], ['c', 10]] as const) {
      await store.put({ kind: 'run', runId }, { runId, experimentId: '1', startTime });
    }
    await store.put({ kind: 'run', runId: 'x' }, { runId: 'x', experimentId: '2', startTime: 1 });
    const runs = (await store.list({ of: 'runsOfExperiment', experimentId: '1' })).entries.map((e) => e.ref);
    expect(runs).toEqual([
      { kind: 'run', runId: 'c' },
      { kind: 'run', runId: 'b' },
      { kind: 'run', runId: 'a' },
    ]);
  });

  it("lists a run's records and pages a metric's history oldest first", async () => {
    const store = await open();
    await store.put({ kind: 'run', runId: 'r1' }, { runId: 'r1', experimentId: '0', startTime: 1 });
    await store.putAll([
      { ref: { kind: 'runParam', runId: 'r1', key: 'alpha' }, record: { key: 'alpha', value: '0.5' } },
      { ref: { kind: 'runTag', runId: 'r1', key: 'mlflow.runName' }, record: { key: 'mlflow.runName', value: 'x' } },
      { ref: { kind: 'runLatestMetric', runId: 'r1', key: 'a#b' }, record: { key: 'a#b', value: 1, timestamp: 3, step: 0 } },
      ...[3, 1, 2].map((t) => ({
        ref: { kind: 'metricPoint', runId: 'r1', key: 'a#b', timestamp: t, step: 0, value: t / 10 } as const,
        record: { value: t / 10, timestamp: t, step: 0 },
      })),
    ]);
    const kinds = (await store.list({ of: 'runRecords', runId: 'r1' })).entries.map((e) => e.ref.kind).sort();
    expect(kinds).toEqual(['run', 'runLatestMetric', 'runParam', 'runTag']);
    const history = { of: 'metricHistory', runId: 'r1', key: 'a#b' } as const;
    const first = await store.list(history, { limit: 2 });
    expect(first.entries.map((e) => e.record.timestamp)).toEqual([1, 2]);
    expect(first.entries[0]!.ref).toEqual({ kind: 'metricPoint', runId: 'r1', key: 'a#b', timestamp: 1, step: 0, value: 0.1 });
    const second = await store.list(history, { limit: 2, after: first.next });
    expect(second.entries.map((e) => e.record.timestamp)).toEqual([3]);
    expect((await store.list(history)).entries).toHaveLength(3);
  });
});
