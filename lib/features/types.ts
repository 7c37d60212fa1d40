/**
 * Types of the feature store's definitions: what `defineRepo` validates and every other module of
 * the feature store reads. Names follow Feast's vocabulary (entity, join key, feature view, push
 * source, feature service) so that Feast users recognise them and Feast clients can talk to the
 * server unchanged.
 */

/**
 * Value types a feature or join key can have; the names are Feast's `ValueType`s.
 * `UNIX_TIMESTAMP` values travel as epoch seconds on the wire (as Feast's server returns them).
 */
export type ValueType = 'INT32' | 'INT64' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOL' | 'UNIX_TIMESTAMP';

/** All value types, for validation and schemas. */
export const VALUE_TYPES: readonly ValueType[] = [
  'INT32',
  'INT64',
  'FLOAT',
  'DOUBLE',
  'STRING',
  'BOOL',
  'UNIX_TIMESTAMP',
];

/** A business object features describe (a wine, a driver), identified by one join key. */
export interface Entity {
  /** The entity's name, unique in the repo. */
  readonly name: string;
  /** The column that identifies an instance of the entity in requests and tables. */
  readonly joinKey: string;
  /** The join key's type; requests with values of another type are rejected. */
  readonly valueType: ValueType;
  readonly description?: string;
}

/** One feature of a feature view. */
export interface Feature {
  readonly name: string;
  readonly dtype: ValueType;
  readonly description?: string;
}

/** File formats of lake tables the kit reads (Athena) and writes (push to offline). */
export type LakeFormat = 'parquet' | 'json';

/**
 * A table in the lake: registered in Glue as `database.table`, its files under `location` (a key
 * prefix inside the offline bucket) in `format`.
 */
export interface LakeTable {
  readonly database: string;
  readonly table: string;
  /** Key prefix of the table's files inside the offline bucket, without leading or trailing slash. */
  readonly location: string;
  readonly format: LakeFormat;
  /** The column holding each row's event time (when the feature values were true). */
  readonly timestampField: string;
  /**
   * The column holding each row's creation time; breaks ties between rows with the same event time
   * (the later-created row wins, as in Feast).
   * @default - no created column; ties are broken arbitrarily
   */
  readonly createdTimestampColumn?: string;
}

/** A group of features of the same entities, read from one lake table and served together. */
export interface FeatureView {
  readonly name: string;
  /** Names of the entities whose join keys identify a row. */
  readonly entities: readonly string[];
  readonly features: readonly Feature[];
  /**
   * How long a feature value stays valid after its event time, in seconds. Online reads older than
   * this report `OUTSIDE_MAX_AGE`; training retrieval ignores rows older than this. 0 means forever.
   */
  readonly ttlSeconds: number;
  /** The batch source in the lake. */
  readonly source: LakeTable;
  /**
   * The push source that streams rows into this view.
   * @default - the view cannot be pushed to
   */
  readonly pushSource?: string;
  /** @default true */
  readonly online?: boolean;
  readonly description?: string;
}

/**
 * A named entry point for pushing rows (Feast's `PushSource`): pushes go to the online store of
 * every view fed by it and, when asked, to its batch table in the lake.
 */
export interface PushSource {
  readonly name: string;
  /** Where offline pushes are appended (JSON lines). */
  readonly batchSource: LakeTable;
}

/** A projection of a feature view inside a feature service: the view and a subset of its features. */
export interface FeatureViewProjection {
  readonly featureView: string;
  /** @default - all the view's features */
  readonly features?: readonly string[];
}

/** A named set of features a model consumes (Feast's `FeatureService`). */
export interface FeatureService {
  readonly name: string;
  readonly projections: readonly FeatureViewProjection[];
  readonly description?: string;
}

/** Everything `defineRepo` takes. */
export interface RepoDefinition {
  /** The project name, used in Feast's error messages ("… does not exist in project p"). */
  readonly project: string;
  readonly entities: readonly Entity[];
  readonly featureViews: readonly FeatureView[];
  readonly pushSources?: readonly PushSource[];
  readonly featureServices?: readonly FeatureService[];
}

/** A validated repo with lookups by name; build it with `defineRepo`. */
export interface FeatureRepo {
  readonly project: string;
  readonly entities: ReadonlyMap<string, Entity>;
  readonly featureViews: ReadonlyMap<string, FeatureView>;
  readonly pushSources: ReadonlyMap<string, PushSource>;
  readonly featureServices: ReadonlyMap<string, FeatureService>;
}
