/**
 * What the registry keeps per model, and how it finds it. A model lives under an immutable id; its
 * name is a separate unique-name record (`names.ts`), so a rename rewrites two name records and the
 * model record, never the versions. The model record owns every cross-version fact (the stage of each
 * version that left `None`, the aliases, a revision number, the promotion-event outbox), so each rule
 * that spans versions ("one Production version", "an alias points at one version") is one conditional
 * write of one record. A version's identity is its number, so creating it only if absent IS the
 * allocation: no counter to drift, no gap when a writer dies between two writes.
 */
import { notFound } from '../errors';
import type { ModelVersionPromoted } from '../events';
import type { NameSpace } from '../names';
import type { Position, RecordStore, StoredRecord } from '../store';
import { parseVersion, requireName, type Stage } from '../validation';

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
}

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
}

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

export async function loadHead(store: RecordStore, name: string): Promise<Head> {
  const head = await findHead(store, name);
  if (!head) throw modelNotFound(name);
  return head;
}

/** A live version of a live model (`RESOURCE_DOES_NOT_EXIST` otherwise). */
export async function loadVersion(
  store: RecordStore,
  name: string,
  version: string | number,
): Promise<{ head: Head; item: VersionRecord }> {
  requireName(name);
  if (version === undefined || version === '') requireName(undefined, 'version');
  const v = parseVersion(version);
  const head = await loadHead(store, name);
  const item = (await store.get(versionRef(head.modelId, v))) as VersionRecord | undefined;
  if (!item || head.stages[v]?.stage === DELETED) throw versionNotFound(name, version);
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
    else if (ref.kind === 'modelVersion' && head.stages[ref.version]?.stage !== DELETED) {
      versions.push(record as VersionRecord);
    }
  }
  return { tags, versions };
}

/** Versions read per page while looking for the highest version still in stage `None`. */
const NONE_SCAN_PAGE = 16;

/**
 * A model's tags and the versions that can be the latest of a stage, without reading every version
 * (`loadModelRecords` does, which grew with the model: 650 ms p50 at 2,100 versions). The head
 * names every version that left `None`, so the highest of each other stage is a point read; the
 * highest `None` version is found from the top of the version list down, past the versions the
 * head names (a page, unless most recent versions were all moved).
 */
export async function loadModelSummary(
  store: RecordStore,
  head: Head,
): Promise<{ tags: Tag[]; versions: VersionRecord[] }> {
  const tagsRead = store.list({ of: 'modelTags', modelId: head.modelId });
  const top = new Map<string, number>();
  for (const [version, entry] of Object.entries(head.stages)) {
    if (entry.stage === DELETED || entry.stage === 'None') continue;
    top.set(entry.stage, Math.max(top.get(entry.stage) ?? 0, Number(version)));
  }
  const staged = (await store.getMany([...top.values()].map((v) => versionRef(head.modelId, v)))) as VersionRecord[];
  let none: VersionRecord | undefined;
  let after: Position | undefined;
  do {
    const page = await store.list(
      { of: 'modelVersions', modelId: head.modelId, descending: true },
      { limit: NONE_SCAN_PAGE, ...(after && { after }) },
    );
    none = page.entries
      .map((e) => e.record as VersionRecord)
      .find((r) => head.stages[r.version] === undefined || head.stages[r.version]!.stage === 'None');
    after = page.next;
  } while (none === undefined && after !== undefined);
  const tags = (await tagsRead).entries.map(({ record }) => ({ key: record.key as string, value: record.value as string }));
  return { tags, versions: none === undefined ? staged : [...staged, none] };
}
