/**
 * The storage port of the registry and tracking cores: records addressed by what they are (a model,
 * one of its versions, a run's param …), written with named preconditions, listed by named listings.
 * The cores state their consistency rules here, once, in these terms; an adapter encodes them (the
 * DynamoDB adapter in `lib/adapters/dynamodb` as keys, condition and update expressions) and must
 * honour every precondition atomically per record. There are no multi-record transactions: every
 * invariant of the registry is held by a conditional write of ONE record (see `models/index.ts`).
 */

/** What a record is; the adapter derives its physical key (and index entries) from this alone. */
export type RecordRef =
  | { readonly kind: 'modelName'; readonly name: string }
  | { readonly kind: 'model'; readonly modelId: string }
  /** A model's tag as an index entry (`modelsByTag`); the model record's `tags` map is what is read. */
  | { readonly kind: 'modelTag'; readonly modelId: string; readonly key: string }
  | { readonly kind: 'modelVersion'; readonly modelId: string; readonly version: number }
  /** A version's tag as an index entry (`versionsByTag`); the version record's `tags` map is what is read. */
  | { readonly kind: 'versionTag'; readonly modelId: string; readonly version: number; readonly key: string }
  /** A pending or done idempotent registration of one (run, source) into a model. */
  | { readonly kind: 'registration'; readonly modelId: string; readonly hash: string }
  /** That a one-time upgrade of the stored records (by name) has run to its end. */
  | { readonly kind: 'upgrade'; readonly name: string }
  | { readonly kind: 'experimentSequence' }
  | { readonly kind: 'experimentName'; readonly name: string }
  | { readonly kind: 'experiment'; readonly experimentId: string }
  | { readonly kind: 'run'; readonly runId: string }
  | { readonly kind: 'runParam'; readonly runId: string; readonly key: string }
  | { readonly kind: 'runTag'; readonly runId: string; readonly key: string }
  | { readonly kind: 'runLatestMetric'; readonly runId: string; readonly key: string }
  /** One logged point; the point is its own identity, so a resent point overwrites its twin. */
  | {
      readonly kind: 'metricPoint';
      readonly runId: string;
      readonly key: string;
      readonly timestamp: number;
      readonly step: number;
      readonly value: number;
    };

/** A record's fields. `expiresAt` (epoch ms) lets the storage drop the record after that time. */
export type StoredRecord = Record<string, unknown>;

/**
 * A condition on the stored record, checked atomically with the write.
 * Build them with {@link absent}, {@link exists}, {@link equals}, {@link missing}, {@link below},
 * {@link atMost}, {@link allOf}, {@link anyOf}.
 */
export type Precondition =
  | { readonly absent: true }
  | { readonly exists: true }
  | { readonly field: string; readonly equals: unknown }
  | { readonly field: string; readonly entry?: string; readonly missing: true }
  | { readonly field: string; readonly entry?: string; readonly below: number }
  | { readonly field: string; readonly atMost: number }
  | { readonly allOf: readonly Precondition[] }
  | { readonly anyOf: readonly Precondition[] };

export const absent: Precondition = { absent: true };
export const exists: Precondition = { exists: true };
export const equals = (field: string, value: unknown): Precondition => ({ field, equals: value });
export const missing = (field: string): Precondition => ({ field, missing: true });
export const below = (field: string, value: number): Precondition => ({ field, below: value });
/** The key `entry` of the map field `field` is absent. */
export const missingEntry = (field: string, entry: string): Precondition => ({ field, entry, missing: true });
/** The key `entry` of the map field `field` holds a number below `value`. */
export const entryBelow = (field: string, entry: string, value: number): Precondition => ({ field, entry, below: value });
export const atMost = (field: string, value: number): Precondition => ({ field, atMost: value });
export const allOf = (...all: Precondition[]): Precondition => ({ allOf: all });
export const anyOf = (...any: Precondition[]): Precondition => ({ anyOf: any });

/**
 * One change of a record. `entry` addresses a key of a map field (`stages['3']`). An update of an
 * absent record creates it unless its precondition requires it to exist.
 */
export type Change =
  | { readonly set: string; readonly entry?: string; readonly to: unknown }
  | { readonly remove: string; readonly entry?: string }
  /** Adds `by`, counting an absent field as 0. */
  | { readonly increment: string; readonly by: number };

export const set = (field: string, to: unknown): Change => ({ set: field, to });
export const setEntry = (field: string, entry: string, to: unknown): Change => ({ set: field, entry, to });
export const remove = (field: string): Change => ({ remove: field });
export const removeEntry = (field: string, entry: string): Change => ({ remove: field, entry });
export const increment = (field: string, by = 1): Change => ({ increment: field, by });

/** The listings the cores read. Base-record listings are strongly consistent; `models`, `experiments`,
 * `runsOfExperiment` and `versionsOfRun` are index listings and eventually consistent. */
export type Listing =
  /** Every registered model record, deleted ones included, by name; with `namePrefix`, only names that start with it. */
  | { readonly of: 'models'; readonly namePrefix?: string }
  /** A model's tag records only (a constant-cost read, however many versions the model has). */
  | { readonly of: 'modelTags'; readonly modelId: string }
  /** Tag records (`key` = `value`, carrying the model's `name`) of every model, by model name; an
   * index listing, eventually consistent. */
  | { readonly of: 'modelsByTag'; readonly key: string; readonly value: string }
  /** A model's own records: the model, its tags, versions and registrations. */
  | { readonly of: 'modelRecords'; readonly modelId: string }
  /** A model's versions, lowest number first (or highest with `descending`), optionally only those
   * registered idempotently under `registration`, or only those numbered below `below`. */
  | {
      readonly of: 'modelVersions';
      readonly modelId: string;
      readonly descending?: boolean;
      readonly registration?: string;
      readonly below?: number;
    }
  /** Version tag records (`key` = `value`) of every model, by model id and version; an index
   * listing, eventually consistent. */
  | { readonly of: 'versionsByTag'; readonly key: string; readonly value: string }
  /** Versions registered from a run (refs only carry the model). */
  | { readonly of: 'versionsOfRun'; readonly runId: string }
  | { readonly of: 'experiments' }
  | { readonly of: 'runsOfExperiment'; readonly experimentId: string }
  /** Latest-metric records of an experiment's runs whose value of metric `key` is `op` `value`, by
   * value (records written before they carried `experimentId` are not listed); an index listing. */
  | {
      readonly of: 'runsByMetric';
      readonly experimentId: string;
      readonly key: string;
      readonly op: '<' | '<=' | '>' | '>=' | '=';
      readonly value: number;
    }
  /** A run's own records: the run, its params, tags and latest metrics. */
  | { readonly of: 'runRecords'; readonly runId: string }
  /** Every point of a metric, oldest timestamp first, then step. */
  | { readonly of: 'metricHistory'; readonly runId: string; readonly key: string };

export interface Listed {
  readonly ref: RecordRef;
  readonly record: StoredRecord;
}

/** Where the next page of a listing starts; opaque JSON to the core. */
export type Position = Readonly<Record<string, unknown>>;

/** A position (from a client's page token) that is not one of the listing's own. */
export class InvalidPosition extends Error {
  override readonly name = 'InvalidPosition';
}

export interface ListOptions {
  /** At most this many entries; with it, the answer may carry a `next` position. */
  readonly limit?: number;
  readonly after?: Position;
}

/**
 * The storage port. Reads are strongly consistent unless the listing says otherwise; a write with a
 * precondition that does not hold changes nothing and resolves `false`/`undefined` (never throws for it).
 */
export interface RecordStore {
  get(ref: RecordRef): Promise<StoredRecord | undefined>;
  /** The records that exist among `refs`, in no particular order. */
  getMany(refs: readonly RecordRef[]): Promise<Listed[]>;
  /** Writes the whole record when `when` holds (always without it). */
  put(ref: RecordRef, record: StoredRecord, when?: Precondition): Promise<boolean>;
  /** Unconditional puts, not atomic together: each record lands or the call throws. */
  putAll(entries: readonly { ref: RecordRef; record: StoredRecord }[]): Promise<void>;
  /** Applies `changes` when `when` holds; resolves the record as it is after the write. */
  update(ref: RecordRef, changes: readonly Change[], when?: Precondition): Promise<StoredRecord | undefined>;
  remove(ref: RecordRef, when?: Precondition): Promise<boolean>;
  removeAll(refs: readonly RecordRef[]): Promise<void>;
  /** Without `limit`, every entry (no `next`). */
  list(listing: Listing, options?: ListOptions): Promise<{ entries: Listed[]; next?: Position }>;
}
