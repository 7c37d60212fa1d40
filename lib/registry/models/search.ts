/**
 * `registered-models/search` and `model-versions/search`: MLflow's filter grammar (`../search.ts`)
 * evaluated over the candidates an exact `name` or `run_id` clause narrows to, ordered and paged with
 * MLflow's offset page tokens.
 */
import { invalidParameter } from '../errors';
import {
  checkMaxResults,
  clauseMatches,
  type FilterClause,
  paginate,
  parseFilter,
  parseOrderBy,
  sortBy,
} from '../search';
import { InvalidPosition, type Position, type RecordStore } from '../store';
import type { RegistryContext } from './context';
import { lastUpdated, type ModelVersionJson, modelJson, type RegisteredModelJson, versionJson } from './json';
import { findHead, type Head, loadModelRecords, loadModelSummary, modelRef, type VersionRecord } from './records';

interface SearchInput {
  filter?: string;
  maxResults?: number;
  orderBy?: readonly string[];
  pageToken?: string;
}

const liveHeads = async (store: RecordStore): Promise<Head[]> =>
  (await store.list({ of: 'models' })).entries.map((e) => e.record as Head).filter((h) => !h.deleted);

/** Searches registered models by `name` (`=`, `!=`, `LIKE`, `ILIKE`, `IN`) and `tags.<k>`. */
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
  const tagClauses = clauses.filter((c) => c.entity === 'tag');
  const byName = order.every((o) => o.key === 'name' && o.ascending) && order.length <= 1;
  if (exact === undefined && tagClauses.length === 0 && byName) {
    return searchByNameIndex(ctx, clauses, maxResults, input.pageToken);
  }
  let heads: Head[];
  if (exact) {
    const head = await findHead(ctx.store, String(exact.value));
    heads = head ? [head] : [];
  } else {
    heads = await liveHeads(ctx.store);
  }
  heads = heads.filter((h) => clauses.every((c) => c.entity !== 'attribute' || clauseMatches(c, h.name)));
  const contents = new Map<string, Awaited<ReturnType<typeof loadModelRecords>>>();
  if (tagClauses.length > 0) {
    for (const h of heads) contents.set(h.modelId, await loadModelRecords(ctx.store, h));
    heads = heads.filter((h) => {
      const tags = contents.get(h.modelId)!.tags;
      return tagClauses.every((c) => clauseMatches(c, tags.find((t) => t.key === c.key)?.value));
    });
  }
  sortBy(heads, [...order, { key: 'name', ascending: true }], (h, key) =>
    key === 'name' ? h.name : key === 'creation_timestamp' ? h.createdAt : h.updatedAt,
  );
  const { page, nextPageToken } = paginate(heads, maxResults, input.pageToken);
  const models: RegisteredModelJson[] = [];
  for (const h of page) {
    const p = contents.get(h.modelId) ?? (await loadModelSummary(ctx.store, h));
    models.push(modelJson(h, p.tags, p.versions, true));
  }
  return { registered_models: models, ...(nextPageToken && { next_page_token: nextPageToken }) };
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
    throw invalidParameter('Invalid page token, it does not continue a search by name');
  }
  return after as Position;
}

/**
 * Registered models by name order straight from the name index, a page at a time
 * (`Limit` + the index position as the page token), so a search costs its page, not the number of
 * models. A `LIKE 'prefix%'` clause narrows the index read to names starting with the prefix;
 * other name clauses filter each page. Tag filters and other orders take the full read above.
 */
async function searchByNameIndex(
  ctx: RegistryContext,
  clauses: FilterClause[],
  maxResults: number,
  pageToken: string | undefined,
): Promise<{ registered_models: RegisteredModelJson[]; next_page_token?: string }> {
  const like = clauses.find((c) => c.entity === 'attribute' && c.op === 'LIKE');
  const namePrefix = like === undefined ? '' : likePrefix(String(like.value));
  let after = decodeToken(pageToken);
  const heads: Head[] = [];
  do {
    let page: Awaited<ReturnType<RecordStore['list']>>;
    try {
      page = await ctx.store.list(
        { of: 'models', ...(namePrefix && { namePrefix }) },
        // Never more than the page still needs, so the position after it is where the next page starts.
        { limit: maxResults - heads.length, ...(after && { after }) },
      );
    } catch (error) {
      if (error instanceof InvalidPosition) throw invalidParameter('Invalid page token, it does not continue this search');
      throw error;
    }
    for (const { record } of page.entries) {
      const head = record as Head;
      if (!head.deleted && clauses.every((c) => clauseMatches(c, head.name))) heads.push(head);
    }
    after = page.next;
  } while (heads.length < maxResults && after !== undefined);
  const models = await Promise.all(
    heads.map(async (h) => {
      const { tags, versions } = await loadModelSummary(ctx.store, h);
      return modelJson(h, tags, versions, true);
    }),
  );
  return { registered_models: models, ...(after && { next_page_token: encodeToken(after) }) };
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
  const candidates = await versionCandidates(ctx.store, clauses);
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

/** The versions a search must look at, narrowed by an exact `name` or `run_id` clause. */
async function versionCandidates(
  store: RecordStore,
  clauses: FilterClause[],
): Promise<{ head: Head; item: VersionRecord }[]> {
  const byName = clauses.find((c) => c.entity === 'attribute' && c.key === 'name' && c.op === '=');
  const byRun = clauses.find((c) => c.entity === 'attribute' && c.key === 'run_id' && c.op === '=');
  let heads: Head[];
  if (byName) {
    const head = await findHead(store, String(byName.value));
    heads = head ? [head] : [];
  } else if (byRun) {
    const { entries } = await store.list({ of: 'versionsOfRun', runId: String(byRun.value) });
    const ids = [...new Set(entries.map((e) => (e.ref as { modelId: string }).modelId))];
    heads = ((await store.getMany(ids.map(modelRef))) as Head[]).filter((h) => !h.deleted);
  } else {
    heads = await liveHeads(store);
  }
  const out: { head: Head; item: VersionRecord }[] = [];
  for (const head of heads) {
    for (const item of (await loadModelRecords(store, head)).versions) out.push({ head, item });
  }
  return out;
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
