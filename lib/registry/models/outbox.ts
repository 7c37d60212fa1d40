/**
 * Promotion events and their outbox. An event is written into the model record's outbox in the same
 * conditional write as the promotion, published after it, and removed once the publisher accepted it.
 * A failed publish leaves the event in the outbox (the write stands, the caller gets its answer) and
 * the next write to the model, or {@link flushPendingEvents}, sends it again: at-least-once delivery,
 * deduplicated by consumers on `eventId`.
 */
import type { ModelVersionPromoted } from '../events';
import { exists, removeEntry } from '../store';
import { requireName } from '../validation';
import type { RegistryContext } from './context';
import { type Head, loadHead, modelRef, type VersionRecord } from './records';

/** Outbox entries older than this are re-sent by later writes (younger ones may still be in flight). */
const OUTBOX_RETRY_AFTER_MS = 30_000;

/** Where a version's artifacts are: its source, with `runs:/<run>/<path>` resolved through tracking. */
export async function artifactUri(ctx: RegistryContext, item: VersionRecord): Promise<string> {
  const m = /^runs:\/([^/]+)\/?(.*)$/.exec(item.source);
  if (m && ctx.resolveRunsUri) return (await ctx.resolveRunsUri(m[1]!, m[2]!)) ?? item.source;
  return item.source;
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
 * Re-sends promotion events a failed publish left in the model's outbox. Writes to the model do
 * this on their own; call it from a schedule to bound the delay for models nobody touches.
 */
export async function flushPendingEvents(ctx: RegistryContext, name: string, olderThanMs = 0): Promise<number> {
  const head = await loadHead(ctx.store, requireName(name));
  const due = Object.values(head.outbox).filter((e) => ctx.now() - e.timestamp >= olderThanMs);
  if (due.length > 0) await publish(ctx, head, due, false);
  return due.length;
}
