/**
 * Promotion events and their outbox. An event is written into the model record's outbox in the same
 * conditional write as the promotion, published after it, and removed once the publisher accepted it.
 * A failed publish leaves the event in the outbox (the write stands, the caller gets its answer) and
 * the next write to the model, or {@link flushPendingEvents}, sends it again: at-least-once delivery,
 * deduplicated by consumers on `eventId`.
 */
import { VERSION_TAGS } from '../../shared/operations';
import type { ModelVersionPromoted } from '../events';
import { allOf, anyOf, below, equals, exists, missing, remove, removeEntry, set } from '../store';
import { requireName } from '../validation';
import type { RegistryContext } from './context';
import { type Head, loadHead, modelRef, type VersionRecord } from './records';

/** Outbox entries older than this are re-sent by later writes (younger ones may still be in flight). */
export const OUTBOX_RETRY_AFTER_MS = 30_000;

/** Where a version's artifacts are: its source, with `runs:/<run>/<path>` resolved through tracking. */
export async function artifactUri(ctx: RegistryContext, item: VersionRecord): Promise<string> {
  const m = /^runs:\/([^/]+)\/?(.*)$/.exec(item.source);
  if (m && ctx.resolveRunsUri) return (await ctx.resolveRunsUri(m[1]!, m[2]!)) ?? item.source;
  return item.source;
}

function pinned(item: VersionRecord): Pick<ModelVersionPromoted, 'artifactSha256' | 'artifactVersionId'> {
  const sha256 = item.tags?.[VERSION_TAGS.artifactSha256];
  const versionId = item.tags?.[VERSION_TAGS.artifactVersionId];
  return {
    ...(sha256 ? { artifactSha256: sha256 } : {}),
    ...(versionId ? { artifactVersionId: versionId } : {}),
  };
}

/** The event for `item` entering a stage or taking an alias that `previous` held. */
export async function promotionEvent(
  ctx: RegistryContext,
  head: Head,
  item: VersionRecord,
  now: number,
  target: { stage?: string; alias?: string },
  previous: number | undefined,
): Promise<ModelVersionPromoted> {
  return {
    eventId: ctx.newId(),
    modelName: head.name,
    version: String(item.version),
    source: item.source,
    artifactUri: await artifactUri(ctx, item),
    // What the deployer pins the served artifact to (read when the event is made, so a tag changed
    // later does not change what this promotion deploys).
    ...pinned(item),
    ...target,
    previousVersion: previous === undefined ? null : String(previous),
    timestamp: now,
  };
}

/**
 * Publishes `events` (already in the model's outbox) plus any older pending ones, then clears what
 * was accepted. A failure is logged and left for the next attempt: the promotion itself stands.
 */
export async function publish(
  ctx: RegistryContext,
  head: Head,
  events: ModelVersionPromoted[],
  includeStale = true,
): Promise<void> {
  const ids = new Set(events.map((e) => e.eventId));
  const stale = includeStale
    ? Object.values(head.outbox).filter(
        (e) => !ids.has(e.eventId) && ctx.now() - e.timestamp > OUTBOX_RETRY_AFTER_MS,
      )
    : [];
  const batch = [...events, ...stale];
  try {
    await ctx.events.publish(batch);
  } catch (error) {
    ctx.logger?.error('Publishing promotion events failed; they stay in the outbox and will be re-sent', {
      model: head.name,
      eventIds: batch.map((e) => e.eventId),
      error: String(error),
    });
    return;
  }
  await ctx.store.update(
    modelRef(head.modelId),
    batch.map((e) => removeEntry('outbox', e.eventId)),
    exists,
  );
}

/**
 * How long a flush holds a model's outbox (field {@link FLUSH_LEASE}): far longer than one PutEvents,
 * far shorter than the flush schedule, so a flush that died mid-way delays the next by one lease only.
 */
const FLUSH_LEASE_MS = 60_000;
const FLUSH_LEASE = 'flushLease';

/**
 * Re-sends promotion events a failed publish left in the model's outbox. Writes to the model do
 * this on their own; call it from a schedule to bound the delay for models nobody touches.
 *
 * Two flushes of one model never both publish: a flush first takes the model's lease (a conditional
 * write that only one of two concurrent flushes wins), then reads the outbox as it is under the
 * lease, so a flush that loaded the model before another one finished does not re-send what that one
 * already cleared. Resolves how many events it sent (0 when another flush holds the lease).
 */
export async function flushPendingEvents(ctx: RegistryContext, name: string, olderThanMs = 0): Promise<number> {
  const isDue = (e: ModelVersionPromoted) => ctx.now() - e.timestamp >= olderThanMs;
  const loaded = await loadHead(ctx.store, requireName(name));
  if (!Object.values(loaded.outbox).some(isDue)) return 0;
  const until = ctx.now() + FLUSH_LEASE_MS;
  const ref = modelRef(loaded.modelId);
  const claimed = (await ctx.store.update(
    ref,
    [set(FLUSH_LEASE, until)],
    allOf(exists, equals('name', loaded.name), anyOf(missing(FLUSH_LEASE), below(FLUSH_LEASE, ctx.now()))),
  )) as Head | undefined;
  if (!claimed || claimed.deleted === true) return 0;
  try {
    const due = Object.values(claimed.outbox ?? {}).filter(isDue);
    if (due.length > 0) await publish(ctx, claimed, due, false);
    return due.length;
  } finally {
    await ctx.store.update(ref, [remove(FLUSH_LEASE)], allOf(exists, equals(FLUSH_LEASE, until)));
  }
}

/**
 * {@link flushPendingEvents} for every registered model (what the scheduled flush runs); resolves
 * the events sent per model that had any.
 */
export async function flushAllPendingEvents(ctx: RegistryContext, olderThanMs: number): Promise<Record<string, number>> {
  const { entries } = await ctx.store.list({ of: 'models' });
  const sent: Record<string, number> = {};
  for (const { record } of entries) {
    const head = record as Partial<Head>;
    if (head.deleted === true || typeof head.name !== 'string') continue;
    try {
      const n = await flushPendingEvents(ctx, head.name, olderThanMs);
      if (n > 0) sent[head.name] = n;
    } catch (error) {
      // A model renamed or deleted since the (eventually consistent) listing has nothing to flush.
      if ((error as { errorCode?: string }).errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw error;
    }
  }
  return sent;
}
