/**
 * The training pipeline's first step ("Validate data"): validate the execution input, resolve the
 * dataset to a lake table, read and validate its CSV objects (recording the S3 version id of each
 * object read: the dataset version), write the data profile, and plan the rest of the run (the
 * Athena queries, the S3 locations, the training job name), so the state machine only moves
 * values from one step to the next.
 *
 * Nothing is written unless the input and the data are valid: a bad input or bad data fails the
 * step before the profile is written.
 *
 * @example
 * const plan = await planTrainingRun({ input, execution: 'run-1' }, deps);
 * plan.queries.features; // "UNLOAD (SELECT …) TO 's3://curated/features/winequality_red_raw/run-1/' …"
 */
import { createHash } from 'node:crypto';
import { type LakeTable, parseS3Uri, resolveDataset } from './catalog';
import { PipelineInputError } from './errors';
import { defaultModelName, parseTrainingInput, type Thresholds } from './input';
import type { ObjectStore } from './objects';
import { trainingQueries } from './sql';
import { type DataProfile, profileObjects } from './validate';

export interface TrainingPlanDeps {
  readonly objects: ObjectStore;
  readonly tables: readonly LakeTable[];
  readonly database: string;
  /** Buckets this step may read datasets from (the raw zone). */
  readonly readableBuckets: readonly string[];
  readonly artifactsBucket: string;
  /** `s3://curated/features/`: where the features step unloads Parquet. */
  readonly featuresLocation: string;
  /** @default () => new Date() */
  readonly now?: () => Date;
}

export interface DataVersion {
  readonly source: string;
  readonly objects: readonly { readonly key: string; readonly version_id?: string }[];
}

/** What the validate step returns: the plan every later state reads from `$.plan`. */
export interface TrainingPlan {
  readonly execution: string;
  readonly model_name: string;
  readonly dataset: { readonly table: string; readonly database: string; readonly location: string };
  readonly target: string;
  readonly features: readonly string[];
  readonly rows: number;
  /** Hyperparameters as SageMaker takes them: every value a string, `target` included. */
  readonly hyperparameters: Readonly<Record<string, string>>;
  readonly thresholds: Thresholds;
  readonly data_version: DataVersion;
  /** {@link data_version} as JSON for the trainer's `MLOPS_DATA_VERSION` (at most 512 characters). */
  readonly data_version_json: string;
  readonly training_job_name: string;
  readonly queries: { readonly features: string; readonly train: string; readonly holdout: string };
  readonly locations: {
    readonly profile: string;
    readonly data_version: string;
    readonly features: string;
    /** The training channel prefix and the object the staged training CSV is copied to. */
    readonly train: string;
    readonly train_object: string;
    readonly holdout: string;
    readonly holdout_object: string;
    readonly training_output: string;
  };
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
  const table = resolveDataset(input.dataset, deps.tables);
  const { bucket, key: prefix } = parseS3Uri(table.location, `the location of ${table.name}`);
  if (!deps.readableBuckets.includes(bucket)) {
    throw new PipelineInputError(
      `dataset ${table.name} lives in bucket ${bucket}; the training pipeline reads datasets from the raw zone (${deps.readableBuckets.join(', ')})`,
    );
  }
  const options = {
    target: input.target,
    minRows: input.min_rows,
    holdoutEvery: input.holdout_every,
    ranges: input.ranges,
  };

  const keys = await deps.objects.list(bucket, prefix);
  const objects = [];
  for (const key of keys) {
    const { body, versionId } = await deps.objects.get(bucket, key);
    objects.push({ key, text: Buffer.from(body).toString('utf8'), ...(versionId ? { versionId } : {}) });
  }
  const profile = profileObjects(table, objects, options);

  const modelName = input.model_name ?? defaultModelName(table.name);
  const runPrefix = `runs/${modelName}/${execution}`;
  const artifacts = (key: string) => `s3://${deps.artifactsBucket}/${runPrefix}/${key}`;
  const featuresLocation = `${deps.featuresLocation.replace(/\/+$/, '')}/${table.name}/${execution}/`;
  const dataVersion: DataVersion = {
    source: table.location,
    objects: profile.objects.map((o) => ({
      key: o.key,
      ...(o.version_id ? { version_id: o.version_id } : {}),
    })),
  };
  let dataVersionJson = JSON.stringify(dataVersion);
  if (dataVersionJson.length > MAX_ENVIRONMENT_VALUE) {
    // Too long for a SageMaker environment variable: the model records where the full list is.
    dataVersionJson = JSON.stringify({
      source: artifacts('data-version.json'),
      objects: [{ key: `${runPrefix}/data-version.json` }],
    });
  }
  const plan: TrainingPlan = {
    execution,
    model_name: modelName,
    dataset: { table: table.name, database: deps.database, location: table.location },
    target: input.target,
    features: table.columns.map((c) => c.name).filter((c) => c !== input.target),
    rows: profile.rows,
    hyperparameters: Object.fromEntries(
      Object.entries({ ...input.hyperparameters, target: input.target }).map(([k, v]) => [k, String(v)]),
    ),
    thresholds: input.thresholds,
    data_version: dataVersion,
    data_version_json: dataVersionJson,
    training_job_name: trainingJobName(execution),
    queries: trainingQueries({
      database: deps.database,
      table,
      target: input.target,
      featuresLocation,
      holdoutEvery: input.holdout_every,
    }),
    locations: {
      profile: artifacts('profile.json'),
      data_version: artifacts('data-version.json'),
      features: featuresLocation,
      train: artifacts('data/train/'),
      train_object: artifacts('data/train/train.csv'),
      holdout: artifacts('data/holdout/'),
      holdout_object: artifacts('data/holdout/holdout.csv'),
      training_output: artifacts('training/'),
    },
  };

  const now = (deps.now ?? (() => new Date()))();
  // Written last: only a run whose input and data are valid leaves anything behind.
  await deps.objects.put(
    deps.artifactsBucket,
    `${runPrefix}/profile.json`,
    `${JSON.stringify({ created_at: now.toISOString(), execution, data_version: dataVersion, ...profile }, null, 2)}\n`,
    'application/json',
  );
  await deps.objects.put(
    deps.artifactsBucket,
    `${runPrefix}/data-version.json`,
    `${JSON.stringify(dataVersion, null, 2)}\n`,
    'application/json',
  );
  return { plan, profile };
}
