/**
 * What the registry keeps per model, and how it finds it. A model lives under an immutable id; its
 * name is a separate unique-name record (`names.ts`), so a rename rewrites two name records and the
 * model record, never the versions. The model record ("head") owns every cross-version fact (the
 * stage of each version in Staging/Production and of versions moved recently, the aliases, the
 * highest version of each stage, a revision number, the promotion-event outbox), so each rule that
 * spans versions ("one Production version", "an alias points at one version") is one conditional
 * write of one record. A version's identity is its number, so creating it only if absent IS the
 * allocation: no counter to drift, no gap when a writer dies between two writes.
 *
 * The head has a constant size however many versions the model has: a version that left
 * Staging/Production (Archived, back to None, deleted) has its stage copied onto its own record and
 * dropped from the head once more than {@link COMPACT_AFTER} such entries have gathered
 * (`compactStages`). A version's stage is therefore the head's entry when there is one, else its own
 * record's `stage`, else `None`. The head also carries what a search page shows (tags, `latest`
 * version per stage, description, timestamps), so a page of models is one index query plus one batch
 * read of the latest versions.
 *
 * Heads written before `tags`/`latest`/`maxVersion` existed ("legacy" heads) are read through the
 * old path (tag records, a scan down the versions) and upgraded by the first `loadHead` of the model
 * (`upgradeHead`), conditioned on the revision it read.
 */
import type { ModelVersionPromoted } from '../events';
import type { NameSpace } from '../names';
import { MlflowError, notFound } from '../errors';
import { sleep } from '../retry';
import {
  allOf,
  anyOf,
  below,
  entryBelow,
  equals,
  exists,
  missing,
  missingEntry,
  type Position,
  type RecordStore,
  removeEntry,
  set,
  setEntry,
  type StoredRecord,
} from '../store';
import { ACTIVE_STAGES, parseVersion, requireName, type Stage } from '../validation';

/** `{key, value}` as MLflow serialises tags. */
export interface Tag {
  key: string;
  value: string;
}

/** MLflow's internal stage for soft-deleted versions: numbers are never reused. */
export const DELETED = 'Deleted_Internal';

/** The model record's entry for a version that left stage `None`. */
export interface StageEntry {
  stage: Stage | typeof DELETED;
  at: number;
}

/** The model record ("head"). */
export interface Head extends StoredRecord {
  modelId: string;
  name: string;
  description?: string;
  createdAt: number;
  updatedAt: number;
  /** Bumped by every read-modify-write of stages, aliases or outbox; writes are conditioned on it. */
  rev: number;
  stages: Record<string, StageEntry>;
  aliases: Record<string, number>;
  outbox: Record<string, ModelVersionPromoted>;
  /** A tombstone: the model disappears at once, its records are cleaned up after. */
  deleted?: boolean;
  /** The model's tags (absent on legacy heads: read the tag records). */
  tags?: Record<string, string>;
  /** The highest live version of each stage (absent on legacy heads). */
  latest?: Partial<Record<Stage, number>>;
  /** The highest version number the head has seen created (absent on legacy heads). */
  maxVersion?: number;
}

/** A head carrying tags, latest versions and the version high-water mark. */
export type IndexedHead = Head & Required<Pick<Head, 'tags' | 'latest' | 'maxVersion'>>;

export const isIndexed = (head: Head): head is IndexedHead =>
  head.tags !== undefined && head.latest !== undefined && head.maxVersion !== undefined;

/** What a caller gives for a new version. */
export interface VersionBase {
  source: string;
  runId?: string;
  runLink?: string;
  description?: string;
  tags: Record<string, string>;
}

export interface VersionRecord extends StoredRecord, VersionBase {
  version: number;
  createdAt: number;
  updatedAt: number;
  /** The idempotent registration that created it. */
  idem?: string;
  /** The stage the head's entry held when it was compacted away (see `compactStages`). */
  stage?: StageEntry['stage'];
  stageAt?: number;
  /** The head revision it was copied at: an older copy never overwrites a newer one. */
  stageRev?: number;
}

/** A version's stage entry: the head's, else the one compacted onto the version, else none (`None`). */
export function stageEntryOf(head: Head, item: VersionRecord): StageEntry | undefined {
  const entry = head.stages[item.version];
  if (entry) return entry;
  return item.stage === undefined ? undefined : { stage: item.stage, at: item.stageAt ?? 0 };
}

/** A version's stage, `Deleted_Internal` included. */
export const stageIn = (head: Head, item: VersionRecord): StageEntry['stage'] => stageEntryOf(head, item)?.stage ?? 'None';

export const isLive = (head: Head, item: VersionRecord): boolean => stageIn(head, item) !== DELETED;

export const modelNotFound = (name: string) => notFound(`Registered Model with name=${name} not found`);
export const versionNotFound = (name: string, version: number | string) =>
  notFound(`Model Version (name=${name}, version=${version}) not found`);

export const modelRef = (modelId: string) => ({ kind: 'model', modelId }) as const;
export const versionRef = (modelId: string, version: number) => ({ kind: 'modelVersion', modelId, version }) as const;

/** Registered model names; a model whose record is deleted or renamed no longer holds its old name. */
export const modelNames = (store: RecordStore): NameSpace => ({
  ref: (name) => ({ kind: 'modelName', name }),
  ownerField: 'modelId',
  async ownerState(modelId, name) {
    const head = (await store.get(modelRef(modelId))) as Head | undefined;
    if (!head) return 'never-appeared';
    return head.deleted === true || head.name !== name ? 'moved-on' : 'holds';
  },
});

/** The live model record for a name, or undefined. */
export async function findHead(store: RecordStore, name: string): Promise<Head | undefined> {
  const pointer = await store.get({ kind: 'modelName', name });
  if (!pointer) return undefined;
  const head = (await store.get(modelRef(pointer.modelId as string))) as Head | undefined;
  return head && !head.deleted && head.name === name ? head : undefined;
}

/** The live model record for a name (`RESOURCE_DOES_NOT_EXIST` otherwise), upgraded if legacy. */
export async function loadHead(store: RecordStore, name: string): Promise<IndexedHead> {
  for (;;) {
    const head = await findHead(store, name);
    if (!head) throw modelNotFound(name);
    if (isIndexed(head)) return head;
    const upgraded = await upgradeHead(store, head);
    if (upgraded) return upgraded;
  }
}

/**
 * Gives a legacy head its `tags`, `latest` and `maxVersion` (read from the tag records and every
 * version, once per model), conditioned on the revision it read so no stage move is missed; resolves
 * undefined when another writer changed the head first. Tag records are rewritten with the model's
 * name, which lists them in the tag index. A head then holding many stage entries is compacted.
 */
export async function upgradeHead(store: RecordStore, head: Head): Promise<IndexedHead | undefined> {
  const { entries } = await store.list({ of: 'modelRecords', modelId: head.modelId });
  const tags: Record<string, string> = {};
  const versions: VersionRecord[] = [];
  let maxVersion = 0;
  for (const { ref, record } of entries) {
    if (ref.kind === 'modelTag') tags[record.key as string] = record.value as string;
    else if (ref.kind === 'modelVersion') {
      maxVersion = Math.max(maxVersion, ref.version);
      if (isLive(head, record as VersionRecord)) versions.push(record as VersionRecord);
    }
  }
  await store.putAll(
    Object.entries(tags).map(([key, value]) => ({
      ref: { kind: 'modelTag', modelId: head.modelId, key },
      record: { key, value, name: head.name },
    })),
  );
  const latest = latestNumbers(head, versions);
  const upgraded = (await store.update(
    modelRef(head.modelId),
    [set('tags', tags), set('latest', latest), set('maxVersion', maxVersion)],
    allOf(equals('rev', head.rev), missing('latest'), missing('deleted')),
  )) as IndexedHead | undefined;
  if (upgraded) await compactStages(store, upgraded);
  return upgraded;
}

/** The highest version of each stage among `versions`. */
export function latestNumbers(head: Head, versions: readonly VersionRecord[]): Partial<Record<Stage, number>> {
  const latest: Partial<Record<Stage, number>> = {};
  for (const v of versions) {
    const s = stageIn(head, v);
    if (s !== DELETED && (latest[s] ?? 0) < v.version) latest[s] = v.version;
  }
  return latest;
}

/** Non-active stage entries a head may gather before they are moved onto their versions. */
export const COMPACT_AFTER = 32;
/** Stage entries moved per head write (an UpdateExpression is at most 4 KB). */
const COMPACT_CHUNK = 100;

/**
 * Moves the head's entries for versions outside Staging/Production onto the versions themselves, so
 * the head stays small: each version first gets the entry (only over an older copy), then the head
 * drops the entries if its revision is still the one they were read at. Entries of active stages
 * stay, so "archive the other holders" still sees every holder in the head. Interrupted, it leaves a version with a copy the head's entry still overrides: nothing is lost.
 */
export async function compactStages(store: RecordStore, head: IndexedHead, threshold = COMPACT_AFTER): Promise<void> {
  const movable = Object.entries(head.stages).filter(([, entry]) => !ACTIVE_STAGES.includes(entry.stage as Stage));
  if (movable.length <= threshold) return;
  for (let i = 0; i < movable.length; i += COMPACT_CHUNK) {
    const chunk = movable.slice(i, i + COMPACT_CHUNK);
    await Promise.all(
      chunk.map(([version, entry]) =>
        store.update(
          versionRef(head.modelId, Number(version)),
          [set('stage', entry.stage), set('stageAt', entry.at), set('stageRev', head.rev)],
          allOf(exists, anyOf(missing('stageRev'), below('stageRev', head.rev))),
        ),
      ),
    );
    const dropped = await store.update(
      modelRef(head.modelId),
      chunk.map(([version]) => removeEntry('stages', version)),
      equals('rev', head.rev),
    );
    if (!dropped) return; // the head moved on; a later write compacts again
  }
}

/** A live version of a live model (`RESOURCE_DOES_NOT_EXIST` otherwise). */
export async function loadVersion(
  store: RecordStore,
  name: string,
  version: string | number,
): Promise<{ head: IndexedHead; item: VersionRecord }> {
  requireName(name);
  if (version === undefined || version === '') requireName(undefined, 'version');
  const v = parseVersion(version);
  const head = await loadHead(store, name);
  const item = (await store.get(versionRef(head.modelId, v))) as VersionRecord | undefined;
  if (!item || !isLive(head, item)) throw versionNotFound(name, version);
  return { head, item };
}

/** A model's tags and live versions, in one listing. */
export async function loadModelRecords(
  store: RecordStore,
  head: Head,
): Promise<{ tags: Tag[]; versions: VersionRecord[] }> {
  const { entries } = await store.list({ of: 'modelRecords', modelId: head.modelId });
  const tags: Tag[] = [];
  const versions: VersionRecord[] = [];
  for (const { ref, record } of entries) {
    if (ref.kind === 'modelTag') tags.push({ key: record.key as string, value: record.value as string });
    else if (ref.kind === 'modelVersion' && isLive(head, record as VersionRecord)) versions.push(record as VersionRecord);
  }
  return { tags: isIndexed(head) ? tagList(head.tags) : tags, versions };
}

export const tagList = (tags: Record<string, string>): Tag[] => Object.entries(tags).map(([key, value]) => ({ key, value }));

/** A model's tags: the head's, or a legacy head's tag records. */
export async function tagsOf(store: RecordStore, head: Head): Promise<Record<string, string>> {
  if (head.tags) return head.tags;
  const { entries } = await store.list({ of: 'modelTags', modelId: head.modelId });
  return Object.fromEntries(entries.map(({ record }) => [record.key as string, record.value as string]));
}

/** A model's tags and the versions that can be the latest of a stage. */
export interface ModelSummary {
  tags: Tag[];
  versions: VersionRecord[];
}

/**
 * The summaries of a page of models: the versions every indexed head names as the latest of a stage,
 * in one batch read, and a legacy head's through {@link legacyModelSummary}.
 */
export async function modelSummaries(store: RecordStore, heads: readonly Head[]): Promise<ModelSummary[]> {
  const refs = heads
    .filter(isIndexed)
    .flatMap((h) => [...new Set(Object.values(h.latest))].map((v) => versionRef(h.modelId, v)));
  const versions = new Map<string, VersionRecord[]>();
  for (const { ref, record } of refs.length > 0 ? await store.getMany(refs) : []) {
    const modelId = (ref as { modelId: string }).modelId;
    versions.set(modelId, [...(versions.get(modelId) ?? []), record as VersionRecord]);
  }
  return Promise.all(
    heads.map(async (head) =>
      isIndexed(head)
        ? { tags: tagList(head.tags), versions: (versions.get(head.modelId) ?? []).filter((v) => isLive(head, v)) }
        : legacyModelSummary(store, head),
    ),
  );
}

/**
 * One model's summary, for `get-registered-model` and `get-latest-versions`: the head's latest
 * versions, plus the model's highest version when the head has not seen it yet (its creator has not
 * raised `maxVersion`, or died before it could), which this read then records.
 */
export async function modelSummary(store: RecordStore, head: IndexedHead): Promise<ModelSummary> {
  const [[summary], top] = await Promise.all([
    modelSummaries(store, [head]),
    store.list({ of: 'modelVersions', modelId: head.modelId, descending: true }, { limit: 1 }),
  ]);
  const highest = top.entries[0]?.record as VersionRecord | undefined;
  if (highest === undefined || highest.version <= head.maxVersion) return summary!;
  // Its creator died before recording it (or is recording it right now): record it.
  await recordNewVersion(store, head.modelId, highest.version);
  return { ...summary!, versions: isLive(head, highest) ? [...summary!.versions, highest] : summary!.versions };
}

/**
 * Records a new version in the head: the highest version number seen (only ever raised), and the
 * latest `None` version if the new version is still in `None` and above it. The latter is read,
 * checked and written on the head's revision, so a stage move of the version (which bumps it) in
 * between makes it read again: a version moved out of `None` first never becomes its latest, and
 * one created below a version a move already recorded is not lost.
 */
export async function recordNewVersion(store: RecordStore, modelId: string, version: number): Promise<void> {
  await store.update(modelRef(modelId), [set('maxVersion', version)], allOf(exists, below('maxVersion', version), missing('deleted')));
  for (let attempt = 0; attempt < 60; attempt++) {
    const head = (await store.get(modelRef(modelId))) as Head | undefined;
    if (!head || head.deleted || !isIndexed(head) || (head.latest.None ?? 0) >= version) return;
    const item = (await store.get(versionRef(modelId, version))) as VersionRecord | undefined;
    if (!item || stageIn(head, item) !== 'None') return;
    const written = await store.update(
      modelRef(modelId),
      [setEntry('latest', 'None', version)],
      allOf(
        equals('rev', head.rev),
        anyOf(missingEntry('latest', 'None'), entryBelow('latest', 'None', version)),
        missing('deleted'),
      ),
    );
    if (written) return;
    await sleep(Math.random() * 10);
  }
  throw new MlflowError('RESOURCE_CONFLICT', 'Too much concurrent modification of the registered model; try again.');
}

/** Versions read per page while looking for the highest version still in stage `None`. */
const NONE_SCAN_PAGE = 16;

/**
 * A legacy head's tags and the versions that can be the latest of a stage, without reading every
 * version: the head names every version that left `None`, so the highest of each other stage is a
 * point read; the highest `None` version is found from the top of the version list down.
 */
export async function legacyModelSummary(store: RecordStore, head: Head): Promise<ModelSummary> {
  const tagsRead = tagsOf(store, head);
  const top = new Map<string, number>();
  for (const [version, entry] of Object.entries(head.stages)) {
    if (entry.stage === DELETED || entry.stage === 'None') continue;
    top.set(entry.stage, Math.max(top.get(entry.stage) ?? 0, Number(version)));
  }
  const staged = (await store.getMany([...top.values()].map((v) => versionRef(head.modelId, v)))).map(
    (e) => e.record as VersionRecord,
  );
  const none = await highestIn(store, head, 'None', undefined, {});
  return { tags: tagList(await tagsRead), versions: none === undefined ? staged : [...staged, none] };
}

/**
 * The highest version below `below` whose stage (with `pending` entries applied over the head's) is
 * `stage`. The head holds every Staging/Production version, so those are answered from it; other
 * stages are looked for from `below` down, a page of versions at a time.
 */
export async function highestIn(
  store: RecordStore,
  head: Head,
  stage: Stage,
  below: number | undefined,
  pending: Record<string, StageEntry>,
): Promise<VersionRecord | undefined> {
  const entries = { ...head.stages, ...pending };
  const named = Object.entries(entries)
    .filter(([v, e]) => e.stage === stage && (below === undefined || Number(v) < below))
    .map(([v]) => Number(v));
  const highestNamed = named.length > 0 ? Math.max(...named) : 0;
  if (ACTIVE_STAGES.includes(stage)) {
    return highestNamed === 0 ? undefined : ((await store.get(versionRef(head.modelId, highestNamed))) as VersionRecord);
  }
  const view: Head = { ...head, stages: entries };
  // Versions not named by the head are in the stage compacted onto them, or in None.
  let after: Position | undefined;
  do {
    const page = await store.list(
      { of: 'modelVersions', modelId: head.modelId, descending: true, ...(below !== undefined && { below }) },
      { limit: NONE_SCAN_PAGE, ...(after && { after }) },
    );
    for (const { record } of page.entries) {
      if (stageIn(view, record as VersionRecord) === stage) return record as VersionRecord;
    }
    after = page.next;
  } while (after !== undefined);
  return undefined;
}
