/** Registered models: create, read, describe, rename, delete, tag; and the latest version per stage. */
import { alreadyExists } from '../errors';
import { claimName, releaseName } from '../names';
import { absent, allOf, equals, increment, missing, remove, removeEntry, set, setEntry } from '../store';
import { canonicalStage, requireName, STAGES, validateKey } from '../validation';
import type { RegistryContext } from './context';
import {
  dedupeTags,
  latestPerStage,
  type ModelVersionJson,
  modelJson,
  type RegisteredModelJson,
  validateTag,
  versionJson,
} from './json';
import { type IndexedHead, loadHead, modelNames, modelNotFound, modelRef, modelSummary, type Tag } from './records';

/** A model record that is still the live holder of `name`. */
const liveUnder = (name: string) => allOf(equals('name', name), missing('deleted'));

/** Creates a registered model; `RESOURCE_ALREADY_EXISTS` if the name is taken. */
export async function createRegisteredModel(
  ctx: RegistryContext,
  input: { name: string; description?: string; tags?: readonly Tag[] },
): Promise<RegisteredModelJson> {
  const name = requireName(input.name);
  const tags = dedupeTags(input.tags);
  for (const t of tags) validateTag(t);
  const modelId = ctx.newId();
  const now = ctx.now();
  if (!(await claimName(ctx.store, modelNames(ctx.store), name, modelId, now))) {
    throw alreadyExists(`Registered Model (name=${name}) already exists.`);
  }
  // Tag index entries first, the model last: the model record makes it visible, with all its tags at once.
  await putTagEntries(ctx, modelId, name, Object.fromEntries(tags.map((t) => [t.key, t.value])));
  const head: IndexedHead = {
    modelId,
    name,
    description: input.description || undefined,
    createdAt: now,
    updatedAt: now,
    rev: 0,
    stages: {},
    aliases: {},
    outbox: {},
    tags: Object.fromEntries(tags.map((t) => [t.key, t.value])),
    latest: {},
    maxVersion: 0,
  };
  await ctx.store.put(modelRef(modelId), head, absent);
  return modelJson(head, tags, [], false);
}

/**
 * The tag index entries of a model (`modelsByTag`), carrying its name so the index lists by name.
 * They are written before the head's `tags`, so the index never misses a tag; a search reads the
 * head to confirm each entry.
 */
async function putTagEntries(ctx: RegistryContext, modelId: string, name: string, tags: Record<string, string>) {
  await ctx.store.putAll(
    Object.entries(tags).map(([key, value]) => ({ ref: { kind: 'modelTag', modelId, key }, record: { key, value, name } })),
  );
}

/** Gets a registered model with its tags, aliases and latest version per stage. */
export async function getRegisteredModel(ctx: RegistryContext, name: string): Promise<RegisteredModelJson> {
  const head = await loadHead(ctx.store, requireName(name));
  const { tags, versions } = await modelSummary(ctx.store, head);
  return modelJson(head, tags, versions, true);
}

/** Sets (or clears, with `''`) a registered model's description. */
export async function updateRegisteredModel(
  ctx: RegistryContext,
  input: { name: string; description?: string },
): Promise<RegisteredModelJson> {
  const name = requireName(input.name);
  const head = await loadHead(ctx.store, name);
  const description = input.description || undefined;
  const updated = await ctx.store.update(
    modelRef(head.modelId),
    [description ? set('description', description) : remove('description'), set('updatedAt', ctx.now()), increment('rev')],
    liveUnder(name),
  );
  if (!updated) throw modelNotFound(name);
  return getRegisteredModel(ctx, name);
}

/**
 * Renames a model. Versions and aliases belong to the model's immutable id, so they follow without
 * being rewritten. The new name is claimed before the old one is released.
 */
export async function renameRegisteredModel(
  ctx: RegistryContext,
  input: { name: string; newName: string },
): Promise<RegisteredModelJson> {
  const name = requireName(input.name);
  const newName = requireName(input.newName, 'new_name');
  const head = await loadHead(ctx.store, name);
  if (newName === name) return getRegisteredModel(ctx, name);
  const names = modelNames(ctx.store);
  if (!(await claimName(ctx.store, names, newName, head.modelId, ctx.now()))) {
    throw alreadyExists(`Registered Model (name=${newName}) already exists.`);
  }
  const renamed = await ctx.store.update(
    modelRef(head.modelId),
    [set('name', newName), set('updatedAt', ctx.now()), increment('rev')],
    liveUnder(name),
  );
  if (!renamed) {
    // Renamed or deleted under us: give the claimed name back.
    await releaseName(ctx.store, names, newName, head.modelId);
    throw modelNotFound(name);
  }
  await releaseName(ctx.store, names, name, head.modelId);
  // The tag index lists by name: move the entries to the new name (a search confirms against the head).
  await putTagEntries(ctx, head.modelId, newName, (renamed as IndexedHead).tags);
  return getRegisteredModel(ctx, newName);
}

/** Deletes a model with its versions, aliases and tags. */
export async function deleteRegisteredModel(ctx: RegistryContext, name: string): Promise<void> {
  requireName(name);
  const head = await loadHead(ctx.store, name);
  // Tombstone first so the model disappears at once; the clean-up below may be interrupted safely.
  const marked = await ctx.store.update(modelRef(head.modelId), [set('deleted', true), increment('rev')], liveUnder(name));
  if (!marked) throw modelNotFound(name);
  await releaseName(ctx.store, modelNames(ctx.store), name, head.modelId);
  const { entries } = await ctx.store.list({ of: 'modelRecords', modelId: head.modelId });
  await ctx.store.removeAll(entries.map((e) => e.ref));
}

/** The highest version in each requested stage (every stage when none is given). */
export async function getLatestVersions(
  ctx: RegistryContext,
  input: { name: string; stages?: readonly string[] },
): Promise<ModelVersionJson[]> {
  const name = requireName(input.name);
  const wanted = input.stages && input.stages.length > 0 ? input.stages.map(canonicalStage) : [...STAGES];
  const head = await loadHead(ctx.store, name);
  const { versions } = await modelSummary(ctx.store, head);
  const latest = latestPerStage(head, versions);
  return [...new Set(wanted)].flatMap((s) => {
    const v = latest.get(s);
    return v ? [versionJson(head, v)] : [];
  });
}

/** Sets a tag on a registered model (last write wins). */
export async function setRegisteredModelTag(
  ctx: RegistryContext,
  input: { name: string; key: string; value?: string },
): Promise<void> {
  const name = requireName(input.name);
  const tag = { key: input.key, value: input.value ?? '' };
  validateTag(tag);
  const head = await loadHead(ctx.store, name);
  await putTagEntries(ctx, head.modelId, head.name, { [tag.key]: tag.value });
  const updated = await ctx.store.update(modelRef(head.modelId), [setEntry('tags', tag.key, tag.value)], liveUnder(name));
  if (!updated) throw modelNotFound(name);
}

/** Deletes a tag of a registered model; a missing tag is a no-op, as MLflow. */
export async function deleteRegisteredModelTag(
  ctx: RegistryContext,
  input: { name: string; key: string },
): Promise<void> {
  const name = requireName(input.name);
  const head = await loadHead(ctx.store, name);
  validateKey('Tag key', input.key);
  // The tag's index entry stays (one per model and key at most; a search confirms every entry against
  // the head): removing it could race a writer setting the tag again and leave the index short.
  const updated = await ctx.store.update(modelRef(head.modelId), [removeEntry('tags', input.key)], liveUnder(name));
  if (!updated) throw modelNotFound(name);
}
