/**
 * The training pipeline's first step ("Validate data"): validate the execution input, resolve the
 * dataset to a lake table, validate its CSV objects (each header from a ranged GET, every cell by one
 * Athena aggregate: ./validate-sql.ts), write the data version (each object's S3 version and ETag:
 * ./data-version.ts) and the data profile, and plan the rest of the run (the
 * Athena queries, the S3 locations, the training job name), so the state machine only moves
 * values from one step to the next.
 *
 * Nothing is written unless the input and the data are valid: a bad input or bad data fails the
 * step before the profile is written.
 *
 * @example
 * const plan = await planTrainingRun({ input, execution: 'run-1' }, deps);
 * plan.queries.features.head; // "UNLOAD (SELECT …) TO 's3://curated/features/winequality_red_raw/run-1/" (+ attempt-0-0 + tail)
 */
import { createHash } from 'node:crypto';
import type { FeatureRepo } from '../features/definitions';
import { offlineTableSpecs } from '../features/definitions';
import { featureServiceColumns, pointInTimeJoinSql } from '../features/retrieval';
import { lakeRelation } from '../features/stack-support';
import { ARTIFACT_PREFIXES, type RunLocations, runLocations } from './artifact-layout';
import {
  type DataVersion,
  type DataVersionRef,
  type ObjectVersion,
  trainerDataVersion,
  writeDataVersion,
} from './data-version';
import { type LakeAccess, type LakeTable, parseS3Uri, resolveDataset } from './catalog';
import { PipelineInputError } from './errors';
import {
  DEFAULT_TRAINING_LIMITS,
  defaultModelName,
  parseTrainingInput,
  type Thresholds,
  type TrainingInput,
  type TrainingResourceLimits,
  type TrainingResources,
  trainingResources,
  type TrainingTrigger,
} from './input';
import { featureServiceQueries, ident, type TrainingQueries, trainingQueries } from './sql';
import { type DataProfile, profileLabels } from './validate';
import { type AggregateQuery, profileTable } from './validate-sql';

/** The feature store as the training pipeline reads it: the repo and where its offline tables live. */
export interface FeatureStoreSource {
  readonly repo: FeatureRepo;
  /** `s3://curated/features/`: the prefix the repo's offline table locations are relative to. */
  readonly location: string;
}

/** `readableBuckets`: where datasets may be read from (the raw zone). */
export interface TrainingPlanDeps extends LakeAccess {
  readonly artifactsBucket: string;
  /** `s3://curated/features/`: where the features step unloads Parquet. */
  readonly featuresLocation: string;
  /** Lets an input name a `feature_service` instead of a dataset. @default - datasets only */
  readonly featureStore?: FeatureStoreSource;
  /** What a run may ask for (`pipelines.trainingLimits`). @default DEFAULT_TRAINING_LIMITS */
  readonly trainingLimits?: TrainingResourceLimits;
  /** @default () => new Date() */
  readonly now?: () => Date;
  /** Runs "Validate data"'s aggregate in Athena (lib/pipelines/validate-sql.ts). */
  readonly aggregate: AggregateQuery;
}

export type { DataVersion, DataVersionRef, ObjectVersion };

/** What the validate step returns: the plan every later state reads from `$.plan`. */
export interface TrainingPlan {
  readonly execution: string;
  readonly model_name: string;
  /** The dataset (with a feature service: the labels table, and the service's name). */
  readonly dataset: {
    readonly table: string;
    readonly database: string;
    readonly location: string;
    readonly feature_service?: string;
  };
  readonly target: string;
  readonly features: readonly string[];
  /** Rows validated: the dataset's, or with a feature service the labelled events. */
  readonly rows: number;
  /** What "Stage training data" checks the exported splits against. */
  readonly check: {
    readonly min_rows: number;
    readonly rows: number;
    readonly source: string;
    readonly why?: string;
  };
  /** Hyperparameters as SageMaker takes them: every value a string, `target` included. */
  readonly hyperparameters: Readonly<Record<string, string>>;
  readonly thresholds: Thresholds;
  /**
   * The data version: where the list of input objects (versions, ETags) was written once, its
   * SHA-256 and how many objects it lists — never the list itself, which grows with the dataset
   * (see ./data-version.ts).
   */
  readonly data_version: DataVersionRef;
  /** The trainer's `MLOPS_DATA_VERSION`: {@link data_version}'s object as the one input (at most 512 characters). */
  readonly data_version_json: string;
  /** The event that started the run (the retraining rule), or null; "Register model" tags the run with it. */
  readonly trigger: TrainingTrigger | null;
  readonly training_job_name: string;
  /** The training job's instance type (`ml.…`), count and volume, within the environment's limits. */
  readonly resources: TrainingResources;
  readonly queries: TrainingQueries;
  /**
   * The run's objects, one prefix per writer (see ./artifact-layout.ts), the feature set's, and
   * where the split UNLOADs write their Parquet parts (`splits`, which "Stage training data" copies).
   */
  readonly locations: RunLocations & { readonly features: string; readonly splits: SplitLocations };
}

/** SageMaker's limit on an environment variable's value. */
export const MAX_ENVIRONMENT_VALUE = 512;

/**
 * A training job name from an execution name: SageMaker allows 63 letters, digits and hyphens; a
 * Step Functions execution name allows 80 characters and `_`. A shortened name keeps a hash of the
 * whole so two long execution names never map to one job.
 */
export const TRAINING_JOB_NAME_PREFIX = 'train-';

export function trainingJobName(execution: string): string {
  const clean = `${TRAINING_JOB_NAME_PREFIX}${execution}`
    .replace(/[^A-Za-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (clean.length <= 63 && clean === `${TRAINING_JOB_NAME_PREFIX}${execution}`) return clean;
  const hash = createHash('sha256').update(execution).digest('hex').slice(0, 8);
  return `${clean.slice(0, 63 - 9).replace(/-+$/, '')}-${hash}`;
}

const EXECUTION_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export async function planTrainingRun(
  request: { readonly input: unknown; readonly execution: unknown },
  deps: TrainingPlanDeps,
): Promise<{ plan: TrainingPlan; profile: DataProfile }> {
  const execution = String(request.execution ?? '');
  // The execution name becomes S3 keys, SQL literals and a job name; the console allows more
  // characters than those can all take, so the pipeline asks for the safe set.
  if (!EXECUTION_NAME.test(execution)) {
    throw new PipelineInputError(
      `the execution name must be 1-80 letters, digits, "-" or "_" (it names the run's S3 prefixes and training job), but ${JSON.stringify(execution)} was provided`,
    );
  }
  const input = parseTrainingInput(request.input);
  const resources = trainingResources(input, deps.trainingLimits ?? DEFAULT_TRAINING_LIMITS);
  const source = input.feature_service
    ? await featureServiceSource(input, input.feature_service, execution, deps)
    : await datasetSource(input, input.dataset!, execution, deps);
  const { table, profile } = source;

  const modelName = input.model_name ?? defaultModelName(source.name);
  const runPrefix = `${ARTIFACT_PREFIXES.runs}${modelName}/${execution}`;
  const locations = runLocations(deps.artifactsBucket, modelName, execution);
  const now = (deps.now ?? (() => new Date()))();
  // Written once the input and data are valid: only such a run leaves anything behind.
  const dataVersion = await writeDataVersion(deps.objects, locations.data_version, source.dataVersion);
  const plan: TrainingPlan = {
    execution,
    model_name: modelName,
    dataset: {
      table: table.name,
      database: deps.database,
      location: table.location,
      ...(input.feature_service ? { feature_service: input.feature_service } : {}),
    },
    target: input.target,
    features: source.features,
    rows: profile.rows,
    check: {
      min_rows: input.min_rows,
      rows: profile.rows,
      source: source.describe,
      ...(source.why ? { why: source.why } : {}),
    },
    hyperparameters: Object.fromEntries(
      Object.entries({ ...input.hyperparameters, target: input.target }).map(([k, v]) => [k, String(v)]),
    ),
    thresholds: input.thresholds,
    data_version: dataVersion,
    data_version_json: trainerDataVersion(dataVersion),
    trigger: input.trigger ?? null,
    training_job_name: trainingJobName(execution),
    resources,
    queries: source.queries,
    locations: { ...locations, features: source.featuresLocation, splits: splitLocations(source.splitsLocation) },
  };

  await deps.objects.putOnce(
    deps.artifactsBucket,
    `${runPrefix}/profile.json`,
    `${JSON.stringify({ created_at: now.toISOString(), execution, data_version: dataVersion, ...profile }, null, 2)}\n`,
    'application/json',
  );
  return { plan, profile };
}

/** Where a run's training data comes from, validated and planned. */
interface PlannedSource {
  /** Names the default model: the dataset's table, or the feature service. */
  readonly name: string;
  /** The table validated: the dataset, or the labels. */
  readonly table: LakeTable;
  readonly profile: DataProfile;
  readonly dataVersion: DataVersion;
  readonly features: readonly string[];
  readonly queries: TrainingQueries;
  readonly featuresLocation: string;
  /** Where the split UNLOADs write (`train/`, `holdout/` under it). */
  readonly splitsLocation: string;
  /** What the validated rows are, for messages about the exported splits. */
  readonly describe: string;
  /** Why rows can be missing from the splits, when they can. */
  readonly why?: string;
}

/** The bucket and prefix of a table in the readable zone; throws for a table elsewhere. */
function readableLocation(table: LakeTable, what: string, deps: TrainingPlanDeps) {
  const { bucket, key: prefix } = parseS3Uri(table.location, `the location of ${table.name}`);
  if (!deps.readableBuckets.includes(bucket)) {
    throw new PipelineInputError(
      `${what} ${table.name} lives in bucket ${bucket}; the training pipeline reads ${what}s from the raw zone (${deps.readableBuckets.join(', ')})`,
    );
  }
  return { bucket, prefix };
}

/** Reads every data object under a table's location (with its version), from the readable zone. */
async function readTable(table: LakeTable, what: string, deps: TrainingPlanDeps) {
  const { bucket, prefix } = readableLocation(table, what, deps);
  const keys = await deps.objects.list(bucket, prefix);
  // A few at a time, in key order: a dataset of thousands of small objects is read in seconds.
  return inParallel(keys, HEAD_CONCURRENCY, async (key) => {
    const { body, versionId, etag } = await deps.objects.get(bucket, key);
    return {
      key,
      text: Buffer.from(body).toString('utf8'),
      ...(versionId ? { versionId } : {}),
      ...(etag ? { etag } : {}),
    };
  });
}

/** `task` over `items`, at most `limit` at once; the results in the items' order. */
async function inParallel<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await task(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const versionsOf = (profile: DataProfile): ObjectVersion[] =>
  profile.objects.map((o) => ({
    key: o.key,
    ...(o.version_id ? { version_id: o.version_id } : {}),
    ...(o.etag ? { etag: o.etag } : {}),
  }));

const runFeaturesLocation = (deps: TrainingPlanDeps, name: string, execution: string) =>
  `${deps.featuresLocation.replace(/\/+$/, '')}/${name}/${execution}/`;

/** The UNLOAD prefixes of a run's splits, each a folder of Parquet parts. */
export interface SplitLocations {
  readonly train: string;
  readonly holdout: string;
}

/** Top-level folder of the feature-set bucket (the curated zone) the split UNLOADs write under. */
export const SPLITS_DIR = 'splits/';

/** `s3://<curated>/splits/<name>/<execution>/`: beside `features/`, in the bucket it lives in. */
const runSplitsLocation = (deps: TrainingPlanDeps, name: string, execution: string) =>
  `s3://${parseS3Uri(deps.featuresLocation, 'the features location').bucket}/${SPLITS_DIR}${name}/${execution}/`;

const splitLocations = (location: string): SplitLocations => ({ train: `${location}train/`, holdout: `${location}holdout/` });

async function datasetSource(
  input: TrainingInput,
  dataset: string,
  execution: string,
  deps: TrainingPlanDeps,
): Promise<PlannedSource> {
  const table = resolveDataset(dataset, deps.tables);
  const options = {
    target: input.target,
    minRows: input.min_rows,
    holdoutEvery: input.holdout_every,
    ranges: input.ranges,
  };
  // Never read into the Lambda: each object's first bytes, then one Athena aggregate over the table.
  const { bucket, prefix } = readableLocation(table, 'dataset', deps);
  const profile = await profileTable(table, options, {
    objects: deps.objects,
    aggregate: deps.aggregate,
    database: deps.database,
    bucket,
    keys: await deps.objects.list(bucket, prefix),
  });
  const featuresLocation = runFeaturesLocation(deps, table.name, execution);
  const splitsLocation = runSplitsLocation(deps, table.name, execution);
  return {
    name: table.name,
    table,
    profile,
    dataVersion: { source: table.location, objects: versionsOf(profile) },
    features: table.columns.map((c) => c.name).filter((c) => c !== input.target),
    queries: trainingQueries({
      database: deps.database,
      table,
      target: input.target,
      featuresLocation,
      holdoutEvery: input.holdout_every,
      splitsLocation,
    }),
    featuresLocation,
    splitsLocation,
    describe: `rows of dataset ${table.name}`,
  };
}

/** Entity value types whose keys are numbers in the labels CSV (the rest are strings or booleans). */
const INTEGER_KEY = /^INT(32|64)$/;

/** Objects read, or versions looked up, at once. */
const HEAD_CONCURRENCY = 16;

/** Training sets built from a feature service land beside per-dataset ones, under this name. */
export const TRAINING_SETS_DIR = 'training-sets';

async function featureServiceSource(
  input: TrainingInput,
  service: string,
  execution: string,
  deps: TrainingPlanDeps,
): Promise<PlannedSource> {
  const store = deps.featureStore;
  if (!store) {
    throw new PipelineInputError(
      'feature_service was given, but this pipeline has no feature store; name a dataset instead',
    );
  }
  const { repo } = store;
  if (!repo.featureServices.has(service)) {
    throw new PipelineInputError(
      `feature_service must name a feature service of the repo, but ${JSON.stringify(service)} was provided; ` +
        `services are: ${[...repo.featureServices.keys()].join(', ') || '(none)'}`,
    );
  }
  const columns = featureServiceColumns(repo, service);
  const table = resolveDataset(input.labels!, deps.tables);
  const timestampColumn = input.timestamp_column ?? 'event_timestamp';
  const clash = columns.features.filter(
    (f) => f === input.target || f === timestampColumn || columns.keys.some((k) => k.name === f),
  );
  if (clash.length > 0) {
    throw new PipelineInputError(
      `feature ${clash.map((c) => `"${c}"`).join(', ')} of ${service} has the name of a labels column (target, event time or join key); rename one`,
    );
  }
  const profile = profileLabels(table, await readTable(table, 'labels table', deps), {
    target: input.target,
    keys: columns.keys.map((k) => ({ name: k.name, numeric: INTEGER_KEY.test(k.valueType) })),
    timestampColumn,
    minRows: input.min_rows,
    ranges: input.ranges,
  });

  // The offline tables the service reads: each object's version is part of the data version.
  const { bucket, key: root } = parseS3Uri(store.location, 'the feature store location');
  const read = new Set(columns.tables.map((t) => t.table));
  const specs = offlineTableSpecs(repo, root).filter((spec) => read.has(spec.table));
  const features = [];
  for (const spec of specs) {
    // A push table holds one object per offline push: HEAD them a few at a time, not one by one.
    const keys = await deps.objects.list(bucket, spec.location);
    const objects: ObjectVersion[] = await inParallel(keys, HEAD_CONCURRENCY, async (key) => {
      const { versionId, etag } = await deps.objects.head(bucket, key);
      return { key, ...(versionId ? { version_id: versionId } : {}), ...(etag ? { etag } : {}) };
    });
    features.push({ source: `s3://${bucket}/${spec.location}`, objects });
  }

  const featuresLocation = runFeaturesLocation(deps, `${TRAINING_SETS_DIR}/${service}`, execution);
  const splitsLocation = runSplitsLocation(deps, `${TRAINING_SETS_DIR}/${service}`, execution);
  const joinSql = pointInTimeJoinSql({
    repo,
    featureService: service,
    events: {
      relation: `${ident(deps.database)}.${ident(table.name)}`,
      timestampColumn,
      columns: [input.target],
    },
    relationOf: lakeRelation(deps.database),
  });
  return {
    name: service,
    table,
    profile,
    dataVersion: { source: table.location, objects: versionsOf(profile), features },
    features: columns.features,
    queries: featureServiceQueries({
      joinSql,
      keys: columns.keys.map((k) => k.name),
      timestampColumn,
      features: columns.features,
      target: input.target,
      featuresLocation,
      holdoutEvery: input.holdout_every,
      splitsLocation,
    }),
    featuresLocation,
    splitsLocation,
    describe: `labelled events of ${table.name}`,
    why: `the others have no value of some feature of ${service} within its view's TTL before the event`,
  };
}
