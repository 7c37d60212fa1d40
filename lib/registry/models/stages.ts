/**
 * Stages and aliases: every change is one conditional write of the model record, guarded by its
 * revision `rev`, so racing writers never lose an update (the loser re-reads and re-applies). "Enter
 * Production and archive the others" is therefore atomic: two archiving transitions to Production
 * leave exactly one Production version.
 */
import type { ModelVersionPromoted } from '../events';
import { invalidParameter, MlflowError } from '../errors';
import { retryOnConflict } from '../retry';
import { allOf, type Change, equals, increment, missing, removeEntry, set, setEntry } from '../store';
import { ACTIVE_STAGES, canonicalStage, requireName, type Stage, validateAlias } from '../validation';
import type { RegistryContext } from './context';
import { type ModelVersionJson, stageOf, versionJson } from './json';
import { promotionEvent, publish } from './outbox';
import {
  compactStages,
  DELETED,
  highestIn,
  type IndexedHead,
  loadHead,
  loadVersion,
  modelRef,
  type StageEntry,
  stageIn,
  type VersionRecord,
} from './records';
import { getModelVersion } from './versions';

/** What one read-modify-write of the model record changes. */
interface HeadChange {
  stages?: Record<string, StageEntry>;
  setAliases?: Record<string, number>;
  dropAliases?: string[];
}

/**
 * The head's `latest` after `entries` apply: a version entering a stage above its latest becomes it;
 * when a stage's latest leaves it, the next one down is looked up (a read only then, and only of that
 * stage). `item` is the moved version, whose stage may be on its record rather than the head.
 */
async function latestAfter(
  ctx: RegistryContext,
  head: IndexedHead,
  item: VersionRecord,
  entries: Record<string, StageEntry>,
): Promise<Partial<Record<Stage, number>>> {
  const latest = { ...head.latest };
  const left = new Map<Stage, number>();
  for (const [version, entry] of Object.entries(entries)) {
    const v = Number(version);
    const before = v === item.version ? stageIn(head, item) : (head.stages[version]?.stage ?? 'None');
    if (before === entry.stage) continue;
    if (before !== DELETED && latest[before] === v) left.set(before, v);
  }
  for (const [stage, v] of left) {
    delete latest[stage];
    const next = await highestIn(ctx.store, head, stage, v, entries);
    if (next) latest[stage] = next.version;
  }
  for (const [version, entry] of Object.entries(entries)) {
    const s = entry.stage;
    if (s !== DELETED && (latest[s] ?? 0) < Number(version)) latest[s] = Number(version);
  }
  return latest;
}

/**
 * Applies `change` (and records `event` in the outbox, and the stages' new latest versions) if nobody
 * wrote the model since `head` was read. Resolves the new model record, or undefined when another
 * writer got there first. A head that gathered many stage entries is then compacted.
 */
async function writeHead(
  ctx: RegistryContext,
  head: IndexedHead,
  item: VersionRecord | undefined,
  now: number,
  change: HeadChange,
  event?: ModelVersionPromoted,
): Promise<IndexedHead | undefined> {
  const changes: Change[] = [set('updatedAt', now), increment('rev')];
  const entries = change.stages ?? {};
  if (item && Object.keys(entries).length > 0) {
    changes.push(set('latest', await latestAfter(ctx, head, item, entries)));
    // A moved version is one the head has seen, so its creator's later `raiseMaxVersion` is a no-op.
    if (item.version > head.maxVersion) changes.push(set('maxVersion', item.version));
  }
  for (const [version, entry] of Object.entries(entries)) changes.push(setEntry('stages', version, entry));
  for (const [alias, version] of Object.entries(change.setAliases ?? {})) changes.push(setEntry('aliases', alias, version));
  for (const alias of change.dropAliases ?? []) changes.push(removeEntry('aliases', alias));
  if (event) changes.push(setEntry('outbox', event.eventId, event));
  const next = (await ctx.store.update(
    modelRef(head.modelId),
    changes,
    allOf(equals('rev', head.rev), missing('deleted')),
  )) as IndexedHead | undefined;
  if (next && Object.keys(entries).length > 0) {
    try {
      await compactStages(ctx.store, next);
    } catch (error) {
      // The move stands; the entries stay in the head until a later write compacts them.
      ctx.logger?.warn('Compacting the model record failed', { model: head.name, error: String(error) });
    }
  }
  return next;
}

/**
 * Moves a version to a stage; with `archiveExistingVersions`, every other version in that stage
 * becomes `Archived` in the same conditional write. Entering `Staging`/`Production` emits a
 * promotion event.
 */
export async function transitionStage(
  ctx: RegistryContext,
  input: { name: string; version: string | number; stage: string; archiveExistingVersions?: boolean },
): Promise<ModelVersionJson> {
  const stage = canonicalStage(input.stage);
  if (input.archiveExistingVersions && !ACTIVE_STAGES.includes(stage)) {
    // MLflow raises this without an error code, hence INTERNAL_ERROR (500), kept for compatibility.
    throw new MlflowError(
      'INTERNAL_ERROR',
      `Model version transition cannot archive existing model versions because '${stage}' is not an Active stage. ` +
        `Valid stages are ['Staging', 'Production']`,
    );
  }
  const result = await retryOnConflict(async () => {
    const { head, item } = await loadVersion(ctx.store, input.name, input.version);
    const v = item.version;
    const now = ctx.now();
    const before = stageOf(head, item);
    const entries: Record<string, StageEntry> = { [v]: { stage, at: now } };
    const holders = Object.entries(head.stages)
      .filter(([other, e]) => e.stage === stage && Number(other) !== v)
      .map(([other]) => Number(other));
    if (input.archiveExistingVersions) {
      for (const other of holders) entries[other] = { stage: 'Archived', at: now };
    }
    const event =
      ACTIVE_STAGES.includes(stage) && before !== stage
        ? await promotionEvent(ctx, head, item, now, { stage }, holders.length ? Math.max(...holders) : undefined)
        : undefined;
    const next = await writeHead(ctx, head, item, now, { stages: entries }, event);
    return next && { head: next, item, event };
  }, `registered model ${input.name}`);
  if (result.event) await publish(ctx, result.head, [result.event]);
  return versionJson(result.head, result.item);
}

/** Soft-deletes a version (its number is never reused) and removes aliases pointing at it. */
export async function deleteModelVersion(
  ctx: RegistryContext,
  input: { name: string; version: string | number },
): Promise<void> {
  await retryOnConflict(async () => {
    const { head, item } = await loadVersion(ctx.store, input.name, input.version);
    const now = ctx.now();
    const dropAliases = Object.entries(head.aliases)
      .filter(([, v]) => v === item.version)
      .map(([alias]) => alias);
    return writeHead(ctx, head, item, now, { stages: { [item.version]: { stage: DELETED, at: now } }, dropAliases });
  }, `registered model ${input.name}`);
}

/** Points an alias at a version; moving a promotion alias (`champion`) emits an event. */
export async function setAlias(
  ctx: RegistryContext,
  input: { name: string; alias: string; version: string | number },
): Promise<void> {
  validateAlias(input.alias);
  const result = await retryOnConflict(async () => {
    const { head, item } = await loadVersion(ctx.store, input.name, input.version);
    const now = ctx.now();
    const previous = head.aliases[input.alias];
    const event =
      ctx.promotionAliases.includes(input.alias) && previous !== item.version
        ? await promotionEvent(ctx, head, item, now, { alias: input.alias }, previous)
        : undefined;
    const next = await writeHead(ctx, head, item, now, { setAliases: { [input.alias]: item.version } }, event);
    return next && { head: next, event };
  }, `registered model ${input.name}`);
  if (result.event) await publish(ctx, result.head, [result.event]);
}

/** Removes an alias; removing an absent alias is a no-op, as MLflow. */
export async function deleteAlias(ctx: RegistryContext, input: { name: string; alias: string }): Promise<void> {
  validateAlias(input.alias);
  await retryOnConflict(
    async () =>
      writeHead(ctx, await loadHead(ctx.store, requireName(input.name)), undefined, ctx.now(), {
        dropAliases: [input.alias],
      }),
    `registered model ${input.name}`,
  );
}

/** The version an alias points at; `INVALID_PARAMETER_VALUE` (400, as MLflow) if unset. */
export async function getByAlias(ctx: RegistryContext, input: { name: string; alias: string }): Promise<ModelVersionJson> {
  validateAlias(input.alias);
  const head = await loadHead(ctx.store, requireName(input.name));
  const version = head.aliases[input.alias];
  if (version === undefined) throw invalidParameter(`Registered model alias ${input.alias} not found.`);
  return getModelVersion(ctx, { name: head.name, version });
}
