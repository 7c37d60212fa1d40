/**
 * Where a training run's artifacts live in the artifacts bucket: one top-level prefix per writer,
 * so each writer's grant names only its own prefix and no writer can put an object where another's
 * belongs (issue 18). Every object is written once (`If-None-Match: *`, enforced by the bucket
 * policy `DataLake` attaches); the training job's model is the one write S3 cannot make
 * conditional (SageMaker uploads it), so only the training role may write under `models/`.
 *
 * | prefix        | writer                        | objects (per `<model>/<execution>/`)                 | readers                                      |
 * |---------------|-------------------------------|------------------------------------------------------|----------------------------------------------|
 * | `runs/`       | "Validate data"               | `profile.json`, `data-version.json`                  | operators                                    |
 * | `data/`       | "Stage training data"         | `train/part-NNNNN.parquet`, `holdout/part-NNNNN.parquet` | the training job, evaluate, baseline     |
 * | `models/`     | the training job (SageMaker)  | `<job>/output/model.tar.gz`                          | evaluate, baseline, register, batch, serving |
 * | `baselines/`  | "Write baseline"              | `<job>/output/baseline.json`                         | drift, release                               |
 * | `releases/`   | the release machine           | `<model>/<source env>/v<n>/…` (lib/release)          | serving, drift                               |
 *
 * Model servers read only `model.tar.gz` objects: never the splits under `data/`.
 *
 * @example
 * runLocations('artifacts', 'wine-quality', 'run-1').train; // s3://artifacts/data/wine-quality/run-1/train/
 */

/** The writers' prefixes. */
export const ARTIFACT_PREFIXES = {
  runs: 'runs/',
  data: 'data/',
  models: 'models/',
  baselines: 'baselines/',
} as const;

/** A run's locations, as the training plan names them. */
export interface RunLocations {
  readonly profile: string;
  readonly data_version: string;
  /** The training and holdout channel prefixes: the splits' Parquet parts are copied under them. */
  readonly train: string;
  readonly holdout: string;
  /** SageMaker's `S3OutputPath`: it writes `<job>/output/model.tar.gz` under it. */
  readonly training_output: string;
}

/** Every location of one run, as `s3://` URIs. */
export function runLocations(bucket: string, model: string, execution: string): RunLocations {
  const under = (prefix: string) => (key: string) => `s3://${bucket}/${prefix}${model}/${execution}/${key}`;
  const run = under(ARTIFACT_PREFIXES.runs);
  const data = under(ARTIFACT_PREFIXES.data);
  return {
    profile: run('profile.json'),
    data_version: run('data-version.json'),
    train: data('train/'),
    holdout: data('holdout/'),
    training_output: under(ARTIFACT_PREFIXES.models)(''),
  };
}

/**
 * The baseline's key for a model's: the same path under `baselines/` instead of `models/`, named
 * `baseline.json`; `undefined` for a key outside `models/`.
 *
 * @example
 * baselineKeyFor('models/m/e/job/output/model.tar.gz'); // 'baselines/m/e/job/output/baseline.json'
 */
export function baselineKeyFor(modelKey: string): string | undefined {
  if (!modelKey.startsWith(ARTIFACT_PREFIXES.models)) return undefined;
  const dir = modelKey.slice(ARTIFACT_PREFIXES.models.length).replace(/[^/]*$/, '');
  return `${ARTIFACT_PREFIXES.baselines}${dir}baseline.json`;
}
