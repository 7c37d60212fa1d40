/**
 * The scheduled outbox flush on dynalite: each pending promotion event is sent once however often
 * and however concurrently the flush runs, and the scheduled handler (`lambdas/registry-outbox.ts`)
 * sends them through the real EventBridge client.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoRegistryStore } from '../../lib/adapters/dynamodb/registry-store';
import { type ModelVersionPromoted, ModelRegistry, OUTBOX_RETRY_AFTER_MS, RecordingPublisher } from '../../lib/registry';
import { call, type Harness, harness, type LocalDynamo, startDynamo, startFakeEventBridge } from './support';

let dynamo: LocalDynamo;
let h: Harness;
let now = 1_700_000_000_000;
const clock = () => now;

beforeAll(async () => {
  dynamo = await startDynamo();
  h = await harness(dynamo, { clock });
});

afterAll(async () => {
  await dynamo?.stop();
});

beforeEach(() => {
  h.events.published.length = 0;
  h.events.failing = false;
  now += 1000;
});

/** Promotions of a model made while the bus was down: Staging, Production, then the champion alias. */
const PROMOTIONS = [
  ['model-versions/transition-stage', { version: '1', stage: 'Staging' }],
  ['model-versions/transition-stage', { version: '1', stage: 'Production' }],
  ['registered-models/alias', { version: '1', alias: 'champion' }],
] as const;

/** A model whose first `count` promotions failed to publish (they wait in its outbox). */
async function pendingPromotions(name: string, count: number): Promise<void> {
  await call(h.handler, 'POST', 'registered-models/create', { json: { name } });
  await call(h.handler, 'POST', 'model-versions/create', { json: { name, source: `s3://art/${name}/1` } });
  h.events.failing = true;
  for (const [path, body] of PROMOTIONS.slice(0, count)) {
    const res = await call(h.handler, 'POST', path, { json: { name, ...body } });
    expect(res.status).toBe(200);
  }
  h.events.failing = false;
}

const what = (e: ModelVersionPromoted) => e.stage ?? e.alias;

/** A publisher that holds every publish until released, so two flushes overlap for certain. */
class GatedPublisher extends RecordingPublisher {
  private release!: () => void;
  readonly gate = new Promise<void>((resolve) => {
    this.release = resolve;
  });
  entered = 0;
  override async publish(events: readonly ModelVersionPromoted[]): Promise<void> {
    this.entered++;
    await this.gate;
    await super.publish(events);
  }
  open(): void {
    this.release();
  }
}

const tableOf = () => process.env.REGISTRY_TABLE_NAME!;

describe('scheduled outbox flush', () => {
  it('sends each pending event once when flushed twice in a row', async () => {
    // prepare
    await pendingPromotions('flush-twice', 2);
    expect(h.events.published).toEqual([]);
    now += OUTBOX_RETRY_AFTER_MS;
    // act
    const first = await h.services.registry.flushAllPendingEvents(OUTBOX_RETRY_AFTER_MS);
    const second = await h.services.registry.flushAllPendingEvents(OUTBOX_RETRY_AFTER_MS);
    // assess
    expect(first['flush-twice']).toBe(2);
    expect(second['flush-twice']).toBeUndefined();
    expect(h.events.published.map((e) => [e.modelName, what(e)]).sort()).toEqual([
      ['flush-twice', 'Production'],
      ['flush-twice', 'Staging'],
    ]);
  });

  it('leaves events younger than the retry age to the write that is still publishing them', async () => {
    await pendingPromotions('flush-young', 1);
    const sent = await h.services.registry.flushAllPendingEvents(OUTBOX_RETRY_AFTER_MS);
    expect(sent['flush-young']).toBeUndefined();
    expect(h.events.published).toEqual([]);
  });

  it('does not double-publish when two flushes of one model run at once', async () => {
    // prepare: two registries (two Lambda invocations) over the same table, both publishers gated
    await pendingPromotions('flush-race', 3);
    now += OUTBOX_RETRY_AFTER_MS;
    const publishers = [new GatedPublisher(), new GatedPublisher()];
    const [a, b] = publishers.map(
      (events) => new ModelRegistry({ store: new DynamoRegistryStore(dynamo.client, tableOf()), events, clock }),
    );
    // act: both start; neither publish finishes before both have tried to take the model
    const flushes = [a!.flushPendingEvents('flush-race'), b!.flushPendingEvents('flush-race')];
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const p of publishers) p.open();
    const counts = await Promise.all(flushes);
    // assess: one flush sent all three, the other none; the outbox is empty afterwards
    expect(counts.sort()).toEqual([0, 3]);
    expect(publishers.map((p) => p.entered).sort()).toEqual([0, 1]);
    const sent = publishers.flatMap((p) => p.published).map(what).sort();
    expect(sent).toEqual(['Production', 'Staging', 'champion']);
    expect(await h.services.registry.flushPendingEvents('flush-race')).toBe(0);
  });

  it('takes over a lease a crashed flush left once it has expired', async () => {
    await pendingPromotions('flush-stale-lease', 1);
    now += OUTBOX_RETRY_AFTER_MS;
    const stuck = new GatedPublisher();
    const crashed = new ModelRegistry({ store: new DynamoRegistryStore(dynamo.client, tableOf()), events: stuck, clock });
    void crashed.flushPendingEvents('flush-stale-lease'); // never released: holds the lease
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stuck.entered).toBe(1);
    expect(await h.services.registry.flushPendingEvents('flush-stale-lease')).toBe(0);
    now += 61_000;
    expect(await h.services.registry.flushPendingEvents('flush-stale-lease')).toBe(1);
    expect(h.events.published.map(what)).toEqual(['Staging']);
  });

  it('the scheduled handler sends pending events through EventBridge PutEvents, once', async () => {
    // prepare: a model whose promotion failed to publish, old enough for the flush
    const bus = await startFakeEventBridge();
    try {
      const realNow = Date.now();
      const registry = new ModelRegistry({
        store: new DynamoRegistryStore(dynamo.client, tableOf()),
        events: h.events,
        clock: () => realNow - OUTBOX_RETRY_AFTER_MS - 5000,
      });
      await registry.createRegisteredModel({ name: 'flush-handler' });
      await registry.createModelVersion({ name: 'flush-handler', source: 's3://art/flush-handler/1' });
      h.events.failing = true;
      await registry.setAlias({ name: 'flush-handler', alias: 'champion', version: '1' });
      h.events.failing = false;
      process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
      process.env.EVENT_BUS_NAME = 'platform-bus';
      const { handler } = await import('../../lambdas/registry-outbox');
      // act
      const first = await handler();
      const second = await handler();
      // assess
      expect(first.sent['flush-handler']).toBe(1);
      expect(second.sent['flush-handler']).toBeUndefined();
      const mine = bus.entries.filter((e) => JSON.parse(e.Detail).modelName === 'flush-handler');
      expect(mine).toEqual([expect.objectContaining({ DetailType: 'ModelVersionPromoted', EventBusName: 'platform-bus' })]);
    } finally {
      await bus.stop();
    }
  });
});
