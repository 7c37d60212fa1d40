/**
 * Model versions: registration (numbered max + 1, optionally idempotent), read, describe, delete, tag.
 * A version number is allocated by creating the version record only if absent, retried on conflict,
 * so concurrent creates get 1..n with no duplicate and no gap.
 */
import { createHash } from 'node:crypto';
import { MlflowError } from '../errors';
import { retryOnConflict, sleep } from '../retry';
import { absent, allOf, anyOf, below, equals, exists, missing, remove, removeEntry, set, setEntry } from '../store';
import { requireName, validateKey, validateSource } from '../validation';
import type { RegistryContext } from './context';
import { dedupeTags, type ModelVersionJson, validateTag, versionJson } from './json';
import { artifactUri } from './outbox';
import {
  type Head,
  isLive,
  loadHead,
  loadVersion,
  modelRef,
  recordNewVersion,
  type Tag,
  type VersionBase,
  type VersionRecord,
  versionNotFound,
  versionRef,
} from './records';

/** How long a pending idempotent registration blocks others before it is presumed dead (> Lambda timeout). */
const CLAIM_LEASE_MS = 60_000;
/** A claim that never recorded its version may be dropped by storage after this long. */
const CLAIM_EXPIRY_MS = 86_400_000;

const idempotencyHash = (runId: string, source: string): string =>
  createHash('sha256').update(`${runId}\n${source}`).digest('hex');

/**
 * Registers a new version (status `READY`, stage `None`) numbered max + 1.
 *
 * With `idempotent` and a `runId`, registering the same `(name, runId, source)` again returns the
 * existing version instead of creating another: a pipeline step retried after a timeout does not
 * leave a duplicate. Without it (MLflow's behaviour) every call creates a version.
 */
export async function createModelVersion(
  ctx: RegistryContext,
  input: { name: string; source: string; runId?: string; runLink?: string; description?: string; tags?: readonly Tag[] },
  options: { idempotent?: boolean } = {},
): Promise<ModelVersionJson> {
  const name = requireName(input.name);
  const source = requireName(input.source, 'source');
  validateSource(source);
  const tags = dedupeTags(input.tags);
  for (const t of tags) validateTag(t);
  const head = await loadHead(ctx.store, name);
  const base: VersionBase = {
    source,
    runId: input.runId || undefined,
    runLink: input.runLink || undefined,
    description: input.description || undefined,
    tags: Object.fromEntries(tags.map((t) => [t.key, t.value])),
  };
  const item =
    options.idempotent && base.runId
      ? await createIdempotent(ctx, head, base, idempotencyHash(base.runId, source))
      : await allocateVersion(ctx, head, base);
  // The head learns of the version (highest, latest None) and the model's last-updated time only
  // moves forward; no revision bump, nothing to lose.
  await Promise.all([
    recordNewVersion(ctx.store, head.modelId, item.version),
    ctx.store.update(modelRef(head.modelId), [set('updatedAt', item.createdAt)], allOf(exists, below('updatedAt', item.createdAt))),
  ]);
  return versionJson({ ...head, name }, item);
}

/**
 * Creates version `max + 1` if absent. A writer that loses number N knows N is taken, so it tries
 * N + 1 straight away (no re-read), with a little jitter to break lockstep; it never skips a number it
 * has not seen taken, so there are no gaps. Every few losses it re-reads the maximum to catch up.
 */
function allocateVersion(ctx: RegistryContext, head: Head, base: VersionBase, idem?: string): Promise<VersionRecord> {
  let next: number | undefined;
  let losses = 0;
  return retryOnConflict(
    async () => {
      if (next === undefined || losses % 8 === 0) {
        const { entries } = await ctx.store.list(
          { of: 'modelVersions', modelId: head.modelId, descending: true },
          { limit: 1 },
        );
        next = Math.max(next ?? 0, ((entries[0]?.record.version as number | undefined) ?? 0) + 1);
      }
      const version = next;
      const now = ctx.now();
      const item: VersionRecord = { ...base, version, createdAt: now, updatedAt: now, idem };
      // Index entries before the version, so the tag index never misses it (one left by a lost number
      // is confirmed against that number's actual version by a search).
      await putVersionTagEntries(ctx, head.modelId, version, base.tags);
      if (await ctx.store.put(versionRef(head.modelId, version), item, absent)) return item;
      next = version + 1;
      losses++;
      await sleep(Math.random() * 5);
      return undefined;
    },
    `registered model ${head.name}`,
    { maxAttempts: 500, backoff: false },
  );
}

/**
 * Idempotent registration: claim the registration, look for a version an earlier (possibly crashed)
 * attempt created, allocate only if there is none, then record the version on the claim.
 */
async function createIdempotent(ctx: RegistryContext, head: Head, base: VersionBase, hash: string): Promise<VersionRecord> {
  const ref = { kind: 'registration', modelId: head.modelId, hash } as const;
  const findExisting = async () => {
    const { entries } = await ctx.store.list({ of: 'modelVersions', modelId: head.modelId, registration: hash });
    return entries
      .map((e) => e.record as VersionRecord)
      .find((i) => isLive(head, i));
  };
  const owner = ctx.newId();
  for (let attempt = 0; attempt < 50; attempt++) {
    const now = ctx.now();
    const claimed = await ctx.store.put(
      ref,
      { owner, claimedAt: now, expiresAt: now + CLAIM_EXPIRY_MS },
      // Free, or held by an attempt that neither finished nor renewed within its lease.
      anyOf(absent, allOf(missing('version'), below('claimedAt', now - CLAIM_LEASE_MS))),
    );
    if (claimed) {
      const item = (await findExisting()) ?? (await allocateVersion(ctx, head, base, hash));
      await ctx.store.update(ref, [set('version', item.version), remove('expiresAt')], equals('owner', owner));
      return item;
    }
    const existing = await findExisting();
    if (existing) return existing;
    const claim = await ctx.store.get(ref);
    if (claim?.version !== undefined) {
      // The version this claim recorded was deleted since: the next registration may take the claim.
      await ctx.store.remove(ref, equals('version', claim.version));
      continue;
    }
    // Another attempt holds the claim and is registering right now: wait for it.
    await sleep(50 + Math.random() * 100);
  }
  throw new MlflowError(
    'RESOURCE_CONFLICT',
    `A registration of run ${base.runId} (source ${base.source}) into ${head.name} is in progress; try again.`,
  );
}

/** Gets one version. */
export async function getModelVersion(
  ctx: RegistryContext,
  input: { name: string; version: string | number },
): Promise<ModelVersionJson> {
  const { head, item } = await loadVersion(ctx.store, input.name, input.version);
  return versionJson(head, item);
}

/** Sets (or clears) a version's description. */
export async function updateModelVersion(
  ctx: RegistryContext,
  input: { name: string; version: string | number; description?: string },
): Promise<ModelVersionJson> {
  const { head, item } = await loadVersion(ctx.store, input.name, input.version);
  const description = input.description || undefined;
  const updated = await ctx.store.update(
    versionRef(head.modelId, item.version),
    [description ? set('description', description) : remove('description'), set('updatedAt', ctx.now())],
    exists,
  );
  if (!updated) throw versionNotFound(head.name, item.version);
  return versionJson(head, updated as VersionRecord);
}

/** Where a version's artifacts can be downloaded: the source, with `runs:/` resolved. */
export async function getDownloadUri(
  ctx: RegistryContext,
  input: { name: string; version: string | number },
): Promise<string> {
  const { item } = await loadVersion(ctx.store, input.name, input.version);
  return artifactUri(ctx, item);
}

/** The tag index entries of a version (`versionsByTag`), written before the version's own tags. */
export async function putVersionTagEntries(
  ctx: RegistryContext,
  modelId: string,
  version: number,
  tags: Record<string, string>,
): Promise<void> {
  await ctx.store.putAll(
    Object.entries(tags).map(([key, value]) => ({ ref: { kind: 'versionTag', modelId, version, key }, record: { key, value } })),
  );
}

/** Sets a tag on a version (last write wins). */
export async function setModelVersionTag(
  ctx: RegistryContext,
  input: { name: string; version: string | number; key: string; value?: string },
): Promise<void> {
  const tag = { key: input.key, value: input.value ?? '' };
  validateTag(tag);
  const { head, item } = await loadVersion(ctx.store, input.name, input.version);
  await putVersionTagEntries(ctx, head.modelId, item.version, { [tag.key]: tag.value });
  await ctx.store.update(versionRef(head.modelId, item.version), [setEntry('tags', tag.key, tag.value)], exists);
}

/** Deletes a version's tag; a missing tag is a no-op. Its index entry stays (see `deleteRegisteredModelTag`). */
export async function deleteModelVersionTag(
  ctx: RegistryContext,
  input: { name: string; version: string | number; key: string },
): Promise<void> {
  validateKey('Tag key', input.key);
  const { head, item } = await loadVersion(ctx.store, input.name, input.version);
  await ctx.store.update(versionRef(head.modelId, item.version), [removeEntry('tags', input.key)], exists);
}
