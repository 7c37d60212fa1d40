/**
 * The Athena SQL of the pipelines, in the portable subset both Athena (Trino) and the local DuckDB
 * engine run: quoted identifiers, `CAST`, `%`, the row hash of {@link rowHash} and `UNLOAD … WITH
 * (format = 'PARQUET')` (the local engine translates the last two to DuckDB's `md5` and `COPY`).
 *
 * Every identifier comes from the lake catalog and every location from the deployment, never from
 * free text in the execution input, so nothing here is a way to inject SQL.
 *
 * @example
 * const q = trainingQueries({ database: 'mlops_local', table, target: 'quality', featuresLocation, holdoutEvery: 5 });
 * unloadAt(q.features, 'attempt-0-0'); // "UNLOAD (SELECT … ) TO 's3://curated/features/…/attempt-0-0/' WITH (format = 'PARQUET')"
 * unloadAt(q.train, 'attempt-0-0');    // "UNLOAD (SELECT … ORDER BY …) TO 's3://curated/splits/…/train/attempt-0-0/' WITH (format = 'PARQUET')"
 */
import { ident, literal } from '../shared/sql';
import { type AttemptUnload, attemptUnload } from '../shared/unload';
import type { LakeTable } from './catalog';
import { valueCountsQuery } from './value-counts';

export { ident };
export type { AttemptUnload };

export interface TrainingQueryOptions {
  readonly database: string;
  readonly table: LakeTable;
  readonly target: string;
  /** `s3://…/` the curated Parquet feature set is unloaded to (empty: one prefix per execution). */
  readonly featuresLocation: string;
  /** Every n-th row is held out. */
  readonly holdoutEvery: number;
  /**
   * `s3://…/` the splits are unloaded under, as Parquet parts in `train/` and `holdout/` (one prefix
   * per execution, empty: Athena's UNLOAD refuses a location that holds objects).
   */
  readonly splitsLocation: string;
}

/**
 * The three UNLOADs are cut around their attempt's folder (see lib/shared/unload.ts): each attempt of
 * a step writes to `<location>attempt-<redrive>-<retry>/`, empty, as Athena's UNLOAD requires.
 */
export interface TrainingQueries {
  /** UNLOAD of the whole feature set with `row_id` and `split` to Parquet in the curated zone. */
  readonly features: AttemptUnload;
  /**
   * UNLOAD of the training rows (features then target, DOUBLE) to Parquet parts under the splits
   * location's `train/<attempt>/`: as many files as Athena's workers write (locally, one per part
   * size), which "Stage training data" copies into the training channel.
   */
  readonly train: AttemptUnload;
  /** The same UNLOAD of the holdout rows to `holdout/<attempt>/`: the evaluation set. */
  readonly holdout: AttemptUnload;
  /** Each feature's value counts over the training rows (one scan): the drift baseline's input. */
  readonly baseline: string;
}

/**
 * A row's 60-bit hash, in Athena's functions: the first 15 hex digits of the MD5 of `canonical`.
 * Rows are split by it instead of by `row_number() OVER (ORDER BY …)`, a window with no partition
 * that Athena runs on one worker over the whole table, three times per execution: each row's split
 * now depends on that row alone, so the query scales out and stays the same on every run. The local
 * engine rewrites the MD5 part to DuckDB's `md5` (see `lib/local/athena/sql.ts`), same digits.
 */
export function rowHash(canonical: string): string {
  return `from_base(substr(to_hex(md5(to_utf8(${canonical}))), 1, 15), 16)`;
}

/**
 * A number as text both engines write alike: through DECIMAL, since Athena writes a DOUBLE cast to
 * VARCHAR as `1.5E0` and DuckDB as `1.5`. NULL becomes '' so a NULL cannot shift a value into the
 * next column's place.
 */
const numberText = (column: string) => `coalesce(CAST(CAST(${ident(column)} AS DECIMAL(38, 9)) AS VARCHAR), '')`;

/**
 * The split key of a table with no id column: all of a row's values. Identical rows share a hash and
 * so a split, which cannot change a result.
 */
function numbered(options: TrainingQueryOptions): string {
  const { database, table } = options;
  const columns = table.columns.map((c) => ident(c.name));
  const canonical = `concat_ws('|', ${table.columns.map((c) => numberText(c.name)).join(', ')})`;
  return `SELECT ${columns.join(', ')}, ${rowHash(canonical)} AS row_id FROM ${ident(database)}.${ident(table.name)}`;
}

export function trainingQueries(options: TrainingQueryOptions): TrainingQueries {
  const features = options.table.columns.filter((c) => c.name !== options.target).map((c) => c.name);
  return splitQueries({
    numbered: numbered(options),
    features,
    target: options.target,
    carried: [],
    featuresLocation: options.featuresLocation,
    holdoutEvery: options.holdoutEvery,
    splitsLocation: options.splitsLocation,
  });
}

export interface FeatureServiceQueryOptions {
  /** The point-in-time join (`pointInTimeJoinSql`) of the service's features onto the labels. */
  readonly joinSql: string;
  /** The join keys, then the labels' event time column: carried into the curated feature set. */
  readonly keys: readonly string[];
  readonly timestampColumn: string;
  readonly features: readonly string[];
  readonly target: string;
  readonly featuresLocation: string;
  readonly holdoutEvery: number;
  /** See {@link TrainingQueryOptions.splitsLocation}. */
  readonly splitsLocation: string;
}

/**
 * The same three queries over a feature service's point-in-time training set. Labelled events for
 * which a feature has no value within its view's TTL are left out of every split (the trainer takes
 * no missing values); the "Stage training data" step counts what is left against `min_rows`.
 * The split key is the join keys and event time (as epoch milliseconds, which both engines write
 * alike): every label of one entity at one instant lands in the same split.
 */
export function featureServiceQueries(options: FeatureServiceQueryOptions): TrainingQueries {
  const keyText = options.keys.map((k) => `coalesce(CAST(${ident(k)} AS VARCHAR), '')`);
  const epochMillis = `CAST(date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', CAST(${ident(options.timestampColumn)} AS TIMESTAMP)) AS VARCHAR)`;
  const canonical = `concat_ws('|', ${[...keyText, `coalesce(${epochMillis}, '')`].join(', ')})`;
  const complete = [...options.features, options.target].map((c) => `${ident(c)} IS NOT NULL`);
  const carried = [...options.keys, options.timestampColumn];
  const numbered =
    `SELECT ${[...carried, ...options.features, options.target].map(ident).join(', ')}, ` +
    `${rowHash(canonical)} AS row_id ` +
    `FROM (${options.joinSql}) joined WHERE ${complete.join(' AND ')}`;
  return splitQueries({
    numbered,
    features: options.features,
    target: options.target,
    carried,
    featuresLocation: options.featuresLocation,
    holdoutEvery: options.holdoutEvery,
    splitsLocation: options.splitsLocation,
  });
}

const folder = (location: string) => (location.endsWith('/') ? location : `${location}/`);

function splitQueries(options: {
  /** A SELECT with the feature, target and carried columns and a non-negative `row_id` (the row hash). */
  readonly numbered: string;
  readonly features: readonly string[];
  readonly target: string;
  /** Columns kept in the curated feature set but not in the splits (keys, event time). */
  readonly carried: readonly string[];
  readonly featuresLocation: string;
  readonly holdoutEvery: number;
  readonly splitsLocation: string;
}): TrainingQueries {
  const typed = [...options.features, options.target].map((c) => `CAST(${ident(c)} AS DOUBLE) AS ${ident(c)}`);
  const every = Math.trunc(options.holdoutEvery);
  const split = `CASE WHEN row_id % ${every} = 0 THEN 'holdout' ELSE 'train' END`;
  const base = options.numbered;
  // A distributed sort (unlike a window without a partition); the columns break ties between
  // different rows of one key, so the channel's order, and so the fit, is the same on every run.
  const order = ['row_id', ...[...options.features, options.target].map(ident)].join(', ');
  const selectSplit = (which: 'train' | 'holdout') =>
    `SELECT ${typed.join(', ')} FROM (${base}) numbered WHERE ${split} = ${literal(which)} ORDER BY ${order}`;
  const location = folder(options.featuresLocation);
  const kept = [...options.carried.map(ident), ...typed];
  const unloadSplit = (which: 'train' | 'holdout') =>
    attemptUnload(selectSplit(which), `${folder(options.splitsLocation)}${which}/`, 'PARQUET');
  return {
    features: attemptUnload(
      `SELECT CAST(row_id AS BIGINT) AS row_id, ${kept.join(', ')}, ${split} AS split FROM (${base}) numbered`,
      location,
      'PARQUET',
    ),
    train: unloadSplit('train'),
    holdout: unloadSplit('holdout'),
    baseline: valueCountsQuery({
      from: `(${selectSplit('train')}) "train"`,
      columns: options.features.map((f) => ({ name: f, expr: ident(f) })),
    }),
  };
}

/**
 * The UNLOAD that turns one batch execution's staged JSON predictions into Parquet, under
 * `<outputLocation><attempt>/` (lib/shared/unload.ts).
 */
export function batchUnloadQuery(options: {
  readonly database: string;
  readonly stagingTable: string;
  readonly execution: string;
  readonly outputLocation: string;
}): AttemptUnload {
  return attemptUnload(
    `SELECT source, row_number, prediction, record FROM ${ident(options.database)}.${ident(options.stagingTable)} ` +
      `WHERE execution = ${literal(options.execution)} ORDER BY source, row_number`,
    folder(options.outputLocation),
    'PARQUET',
  );
}

/**
 * A finite double as a SQL DOUBLE literal that reads back as the same double in Trino and DuckDB:
 * the shortest round-trip digits in exponent form (`1.5e-1`; a decimal literal would be DECIMAL).
 */
export function doubleLiteral(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`a model coefficient must be a finite number, but ${x} was provided`);
  return Object.is(x, -0) ? '-0e0' : x.toExponential();
}

/** A linear model's terms and the columns its features are read from, in the model's order. */
export interface LinearSql {
  readonly intercept: number;
  readonly coefficients: readonly number[];
  /** The table column of each feature (same length as `coefficients`). */
  readonly columns: readonly string[];
}

/**
 * `intercept + Σ coef·x` as SQL, summed left to right exactly as `predictRow` (lib/model/format.ts)
 * sums: `((b + w0·x0) + w1·x1) + …`, every value a DOUBLE, so each row's prediction is the same
 * double the model server and the predict function compute.
 */
export function linearPredictionSql(model: LinearSql): string {
  if (model.columns.length !== model.coefficients.length) {
    throw new Error(`a linear model needs one column per coefficient, but ${model.columns.length} columns and ${model.coefficients.length} coefficients were provided`);
  }
  let sum = `(${doubleLiteral(model.intercept)})`;
  model.columns.forEach((c, j) => {
    sum = `(${sum} + (${doubleLiteral(model.coefficients[j]!)}) * ${featureValue(c)})`;
  });
  return sum;
}

const featureValue = (column: string) => `TRY_CAST(${ident(column)} AS DOUBLE)`;

export interface BatchSqlOptions {
  readonly database: string;
  readonly table: string;
  /** The model's feature names, in order (the output's column names). */
  readonly features: readonly string[];
  readonly model: LinearSql;
}

/**
 * The SQL path's check, run before anything is written: the table's row count and how many rows
 * lack a numeric value for some feature (`row_count`, `incomplete`).
 */
export function batchSqlCheckQuery(o: BatchSqlOptions): string {
  const incomplete = o.model.columns.map((c) => `${featureValue(c)} IS NULL`).join(' OR ');
  return `SELECT count(*) AS row_count, count_if(${incomplete}) AS incomplete FROM ${ident(o.database)}.${ident(o.table)}`;
}

/** The SQL path's UNLOAD: each row's features (as DOUBLE) and its prediction, as Parquet, per attempt. */
export function batchSqlUnloadQuery(o: BatchSqlOptions & { readonly outputLocation: string }): AttemptUnload {
  const features = o.model.columns.map((c, j) => `${featureValue(c)} AS ${ident(o.features[j]!)}`);
  return attemptUnload(
    `SELECT ${[...features, `${linearPredictionSql(o.model)} AS ${ident('prediction')}`].join(', ')} ` +
      `FROM ${ident(o.database)}.${ident(o.table)}`,
    folder(o.outputLocation),
    'PARQUET',
  );
}
