/**
 * `registered-models/search` and `model-versions/search`: MLflow's filter grammar (`../search.ts`)
 * evaluated over the candidates an index gives (name, tag, an exact `name` or `run_id` clause),
 * ordered and paged with index positions or MLflow's offset page tokens.
 */
import { invalidParameter, MlflowError } from '../errors';
import {
  checkMaxResults,
  clauseMatches,
  type FilterClause,
  paginate,
  parseFilter,
  parseOrderBy,
  sortBy,
} from '../search';
import { InvalidPosition, type Listed, type Listing, type Position, type RecordStore } from '../store';
import type { RegistryContext } from './context';
import { lastUpdated, type ModelVersionJson, modelJson, type RegisteredModelJson, versionJson } from './json';
import {
  findHead,
  type Head,
  isIndexed,
  isLive,
  loadHead,
  loadModelRecords,
  modelRef,
  modelSummaries,
  tagsOf,
  type VersionRecord,
  versionRef,
} from './records';
import { putVersionTagEntries } from './versions';

interface SearchInput {
  filter?: string;
  maxResults?: number;
  orderBy?: readonly string[];
  pageToken?: string;
}

const liveHeads = async (store: RecordStore): Promise<Head[]> =>
  (await store.list({ of: 'models' })).entries.map((e) => e.record as Head).filter((h) => !h.deleted);

/** The live heads among `modelIds`, in that order (one batch read). */
async function headsOf(store: RecordStore, modelIds: readonly string[]): Promise<Head[]> {
  const unique = [...new Set(modelIds)];
  const found = new Map(
    (unique.length > 0 ? await store.getMany(unique.map(modelRef)) : []).map((e) => [(e.record as Head).modelId, e.record as Head]),
  );
  return unique.flatMap((id) => {
    const head = found.get(id);
    return head && !head.deleted ? [head] : [];
  });
}

/** Whether a model matches every clause: name clauses on its name, tag clauses on its tags. */
async function modelMatches(store: RecordStore, head: Head, clauses: readonly FilterClause[]): Promise<boolean> {
  if (!clauses.every((c) => c.entity !== 'attribute' || clauseMatches(c, head.name))) return false;
  if (!clauses.some((c) => c.entity === 'tag')) return true;
  const tags = await tagsOf(store, head);
  return clauses.every((c) => c.entity !== 'tag' || clauseMatches(c, tags[c.key]));
}

async function modelsJson(store: RecordStore, heads: readonly Head[]): Promise<RegisteredModelJson[]> {
  const summaries = await modelSummaries(store, heads);
  return heads.map((h, i) => modelJson(h, summaries[i]!.tags, summaries[i]!.versions, true));
}

/**
 * Searches registered models by `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`) and `tags.<k>`. In name
 * order (MLflow's default) a page is read from an index a page at a time: the name index, or with a
 * `tags.<k> = 'v'` clause the tag index; other orders read every candidate (all models, or those the
 * tag index or an exact name gives) and page with MLflow's offset tokens.
 */
export async function searchRegisteredModels(
  ctx: RegistryContext,
  input: SearchInput,
): Promise<{ registered_models: RegisteredModelJson[]; next_page_token?: string }> {
  const maxResults = checkMaxResults(input.maxResults, 100, 1000);
  const clauses = parseFilter(input.filter);
  for (const c of clauses) {
    if (c.entity === 'attribute' && c.key !== 'name') {
      throw invalidParameter(`Invalid attribute key '${c.key}' specified. Valid keys are '{'name'}'`);
    }
    if (c.entity !== 'attribute' && c.entity !== 'tag') {
      throw invalidParameter(`Invalid entity type '${c.entity}'. Registered models can be searched by name and tags.`);
    }
  }
  const order = parseOrderBy(input.orderBy, (k) =>
    ['name', 'timestamp', 'last_updated_timestamp', 'creation_timestamp'].includes(k),
  );
  const exact = clauses.find((c) => c.entity === 'attribute' && c.op === '=');
  const tagEquals = clauses.find((c) => c.entity === 'tag' && c.op === '=');
  if (tagEquals) await ensureTagIndex(ctx);
  const byName = order.every((o) => o.key === 'name' && o.ascending) && order.length <= 1;
  if (exact === undefined && byName) {
    return searchByIndex(ctx, clauses, tagEquals, maxResults, input.pageToken);
  }
  let heads: Head[];
  if (exact) {
    const head = await findHead(ctx.store, String(exact.value));
    heads = head ? [head] : [];
  } else if (tagEquals) {
    const { entries } = await ctx.store.list({ of: 'modelsByTag', key: tagEquals.key, value: String(tagEquals.value) });
    heads = await headsOf(ctx.store, entries.map((e) => (e.ref as { modelId: string }).modelId));
  } else {
    heads = await liveHeads(ctx.store);
  }
  const matching = (await Promise.all(heads.map((h) => modelMatches(ctx.store, h, clauses)))).map((ok, i) => ok && heads[i]!);
  heads = matching.filter((h): h is Head => h !== false);
  sortBy(heads, [...order, { key: 'name', ascending: true }], (h, key) =>
    key === 'name' ? h.name : key === 'creation_timestamp' ? h.createdAt : h.updatedAt,
  );
  const { page, nextPageToken } = paginate(heads, maxResults, input.pageToken);
  return { registered_models: await modelsJson(ctx.store, page), ...(nextPageToken && { next_page_token: nextPageToken }) };
}

/** The upgrade that gives every legacy model its tag index entries (see {@link ensureTagIndex}). */
const TAG_INDEX_UPGRADE = { kind: 'upgrade', name: 'modelTagIndex' } as const;

/**
 * Tag index entries carry the model's name, which tag records written before the index did not: the
 * first tag search on such a table upgrades every legacy model (`loadHead` does), then records that
 * the index is complete, so later searches trust it. Models written since are indexed as they are written.
 */
async function ensureTagIndex(ctx: RegistryContext): Promise<void> {
  if (await ctx.store.get(TAG_INDEX_UPGRADE)) return;
  for (const head of await liveHeads(ctx.store)) {
    if (isIndexed(head)) continue;
    try {
      await loadHead(ctx.store, head.name);
    } catch (error) {
      // Deleted or renamed since the listing: its successor is indexed when written.
      if (!(error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST')) throw error;
    }
  }
  await ctx.store.put(TAG_INDEX_UPGRADE, { doneAt: ctx.now() });
}

/** Characters of a LIKE pattern before its first wildcard: every match starts with them. */
const likePrefix = (pattern: string): string => /^[^%_]*/.exec(pattern)![0];

const encodeToken = (position: Position): string => Buffer.from(JSON.stringify({ after: position })).toString('base64');

function decodeToken(token: string | undefined): Position | undefined {
  if (!token) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8'));
  } catch {
    throw invalidParameter('Invalid page token, could not base64-decode');
  }
  const after = (decoded as { after?: unknown } | null)?.after;
  if (typeof after !== 'object' || after === null || Array.isArray(after)) {
    throw invalidParameter('Invalid page token, it does not continue this search');
  }
  return after as Position;
}

/**
 * Reads `listing` a page at a time from the position in `pageToken` until `accept` has kept
 * `maxResults` entries or the listing ends; each read asks for no more than the page still needs, so
 * the position after it is exactly where the next page starts (the token it resolves).
 */
async function pageThrough<T>(
  store: RecordStore,
  listing: Listing,
  maxResults: number,
  pageToken: string | undefined,
  accept: (entries: Listed[]) => Promise<T[]>,
): Promise<{ found: T[]; next?: string }> {
  let after = decodeToken(pageToken);
  const found: T[] = [];
  do {
    let page: Awaited<ReturnType<RecordStore['list']>>;
    try {
      page = await store.list(listing, { limit: maxResults - found.length, ...(after && { after }) });
    } catch (error) {
      if (error instanceof InvalidPosition) throw invalidParameter('Invalid page token, it does not continue this search');
      throw error;
    }
    found.push(...(await accept(page.entries)));
    after = page.next;
  } while (found.length < maxResults && after !== undefined);
  return { found, ...(after && { next: encodeToken(after) }) };
}

/**
 * Registered models in name order straight from an index, a page at a time (`Limit` + the index
 * position as the page token), so a search costs its page, not the number of models: the name index
 * (a `LIKE 'prefix%'` clause narrows it to names starting with the prefix), or the tag index for a
 * `tags.<k> = 'v'` clause (its entries are confirmed against the models' heads, read in one batch).
 * Other clauses filter each page.
 */
async function searchByIndex(
  ctx: RegistryContext,
  clauses: FilterClause[],
  tagEquals: FilterClause | undefined,
  maxResults: number,
  pageToken: string | undefined,
): Promise<{ registered_models: RegisteredModelJson[]; next_page_token?: string }> {
  const like = clauses.find((c) => c.entity === 'attribute' && c.op === 'LIKE');
  const namePrefix = like === undefined ? '' : likePrefix(String(like.value));
  const listing: Listing = tagEquals
    ? { of: 'modelsByTag', key: tagEquals.key, value: String(tagEquals.value) }
    : { of: 'models', ...(namePrefix && { namePrefix }) };
  const { found: heads, next } = await pageThrough(ctx.store, listing, maxResults, pageToken, async (entries) => {
    const candidates = tagEquals
      ? await headsOf(ctx.store, entries.map((e) => (e.ref as { modelId: string }).modelId))
      : entries.map((e) => e.record as Head).filter((h) => !h.deleted);
    const ok = await Promise.all(candidates.map((h) => modelMatches(ctx.store, h, clauses)));
    return candidates.filter((_, i) => ok[i]);
  });
  return { registered_models: await modelsJson(ctx.store, heads), ...(next && { next_page_token: next }) };
}

/** Searches versions by `name`, `run_id`, `source_path`, `version_number` and `tags.<k>`. */
export async function searchModelVersions(
  ctx: RegistryContext,
  input: SearchInput,
): Promise<{ model_versions: ModelVersionJson[]; next_page_token?: string }> {
  const maxResults = checkMaxResults(input.maxResults, 200_000, 200_000);
  const clauses = parseFilter(input.filter);
  const attributes = ['name', 'run_id', 'source_path', 'version_number'];
  for (const c of clauses) {
    if ((c.entity === 'attribute' && !attributes.includes(c.key)) || (c.entity !== 'attribute' && c.entity !== 'tag')) {
      throw invalidParameter(
        `Invalid filter key '${c.key}'. Model versions can be searched by ${attributes.join(', ')} and tags.<key>.`,
      );
    }
  }
  const order = parseOrderBy(input.orderBy, (k) =>
    ['name', 'version_number', 'creation_timestamp', 'timestamp', 'last_updated_timestamp'].includes(k),
  );
  const byName = clauses.find((c) => c.entity === 'attribute' && c.key === 'name' && c.op === '=');
  const newestFirst = order.every((o) => o.key === 'version_number' && !o.ascending) && order.length <= 1;
  if (byName && newestFirst) return searchVersionsOfModel(ctx, String(byName.value), clauses, maxResults, input.pageToken);
  const candidates = await versionCandidates(ctx, clauses);
  const matches = candidates.filter(({ head, item }) =>
    clauses.every((c) => clauseMatches(c, versionAttribute(head, item, c))),
  );
  sortBy(
    matches,
    [...order, { key: 'name', ascending: true }, { key: 'version_number', ascending: false }],
    ({ head, item }, key) =>
      key === 'name'
        ? head.name
        : key === 'version_number'
          ? item.version
          : key === 'creation_timestamp'
            ? item.createdAt
            : lastUpdated(head, item),
  );
  const { page, nextPageToken } = paginate(matches, maxResults, input.pageToken);
  return {
    model_versions: page.map(({ head, item }) => versionJson(head, item)),
    ...(nextPageToken && { next_page_token: nextPageToken }),
  };
}

/**
 * One model's versions, newest first (MLflow's order for one name), read a page at a time from the
 * model's version list (`Limit` + its position as the page token); other clauses filter each page.
 */
async function searchVersionsOfModel(
  ctx: RegistryContext,
  name: string,
  clauses: FilterClause[],
  maxResults: number,
  pageToken: string | undefined,
): Promise<{ model_versions: ModelVersionJson[]; next_page_token?: string }> {
  const head = await findHead(ctx.store, name);
  if (!head) {
    decodeToken(pageToken);
    return { model_versions: [] };
  }
  const listing: Listing = { of: 'modelVersions', modelId: head.modelId, descending: true };
  const { found, next } = await pageThrough(ctx.store, listing, maxResults, pageToken, async (entries) =>
    entries
      .map((e) => e.record as VersionRecord)
      .filter((item) => isLive(head, item) && clauses.every((c) => clauseMatches(c, versionAttribute(head, item, c))))
      .map((item) => versionJson(head, item)),
  );
  return { model_versions: found, ...(next && { next_page_token: next }) };
}

/** The versions a search must look at, narrowed by an exact `name`, a `tags.<k> = 'v'` or an exact `run_id` clause. */
async function versionCandidates(
  ctx: RegistryContext,
  clauses: FilterClause[],
): Promise<{ head: Head; item: VersionRecord }[]> {
  const store = ctx.store;
  const byName = clauses.find((c) => c.entity === 'attribute' && c.key === 'name' && c.op === '=');
  const byRun = clauses.find((c) => c.entity === 'attribute' && c.key === 'run_id' && c.op === '=');
  const byTag = clauses.find((c) => c.entity === 'tag' && c.op === '=');
  let heads: Head[];
  if (byName) {
    const head = await findHead(store, String(byName.value));
    heads = head ? [head] : [];
  } else if (byTag) {
    return versionsByTag(ctx, byTag.key, String(byTag.value));
  } else if (byRun) {
    const { entries } = await store.list({ of: 'versionsOfRun', runId: String(byRun.value) });
    const ids = [...new Set(entries.map((e) => (e.ref as { modelId: string }).modelId))];
    heads = (await store.getMany(ids.map(modelRef))).map((e) => e.record as Head).filter((h) => !h.deleted);
  } else {
    heads = await liveHeads(store);
  }
  const out: { head: Head; item: VersionRecord }[] = [];
  for (const head of heads) {
    for (const item of (await loadModelRecords(store, head)).versions) out.push({ head, item });
  }
  return out;
}

/**
 * The live versions the version tag index lists under `key` = `value`: their models' heads and the
 * versions in one batch read each (the caller confirms the tag on each version).
 */
async function versionsByTag(
  ctx: RegistryContext,
  key: string,
  value: string,
): Promise<{ head: Head; item: VersionRecord }[]> {
  await ensureVersionTagIndex(ctx);
  const refs = (await ctx.store.list({ of: 'versionsByTag', key, value })).entries.map(
    (e) => e.ref as { modelId: string; version: number },
  );
  const heads = new Map((await headsOf(ctx.store, refs.map((r) => r.modelId))).map((h) => [h.modelId, h]));
  const wanted = refs.filter((r) => heads.has(r.modelId));
  const items = wanted.length > 0 ? await ctx.store.getMany(wanted.map((r) => versionRef(r.modelId, r.version))) : [];
  return items.flatMap(({ ref, record }) => {
    const head = heads.get((ref as { modelId: string }).modelId)!;
    return isLive(head, record as VersionRecord) ? [{ head, item: record as VersionRecord }] : [];
  });
}

/** The upgrade that gives every version tag written before the version tag index its entry. */
const VERSION_TAG_INDEX_UPGRADE = { kind: 'upgrade', name: 'versionTagIndex' } as const;

/** As {@link ensureTagIndex}, for version tags: the first version tag search indexes every tagged version. */
async function ensureVersionTagIndex(ctx: RegistryContext): Promise<void> {
  if (await ctx.store.get(VERSION_TAG_INDEX_UPGRADE)) return;
  for (const head of await liveHeads(ctx.store)) {
    const { entries } = await ctx.store.list({ of: 'modelVersions', modelId: head.modelId });
    for (const { record } of entries) {
      const item = record as VersionRecord;
      if (Object.keys(item.tags ?? {}).length > 0) await putVersionTagEntries(ctx, head.modelId, item.version, item.tags);
    }
  }
  await ctx.store.put(VERSION_TAG_INDEX_UPGRADE, { doneAt: ctx.now() });
}

function versionAttribute(head: Head, item: VersionRecord, c: FilterClause): string | number | undefined {
  if (c.entity === 'tag') return item.tags[c.key];
  switch (c.key) {
    case 'name':
      return head.name;
    case 'run_id':
      return item.runId ?? '';
    case 'source_path':
      return item.source;
    default:
      return typeof c.value === 'string' ? String(item.version) : item.version;
  }
}
