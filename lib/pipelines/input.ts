/**
 * The execution inputs of the training and batch-inference state machines, validated once in each
 * machine's first step so a bad input fails before anything is read, written or started.
 *
 * Objects are strict: an unknown key is an error, because a misspelt `treshold` would otherwise be
 * ignored and the model registered without the check the caller asked for.
 *
 * @example
 * parseTrainingInput({ dataset: 'winequality_red_raw', target: 'quality', thresholds: { max_rmse: 0.8 } });
 */
import { z } from 'zod';
import { ContractError, parseHyperparameters } from '../trainer/contract';
import { PipelineInputError } from './errors';

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,127}$/;

/** A Glue table name or an `s3://` prefix. */
const datasetSchema = z
  .string({
    error: 'dataset is required: a table of the lake (e.g. "winequality_red_raw") or its s3:// location',
  })
  .refine((d) => IDENTIFIER.test(d) || /^s3:\/\/[^/]+\/.*$/.test(d), {
    error: (issue) =>
      `dataset must be a Glue table name (lower-case letters, digits and _) or an s3:// prefix, but ${JSON.stringify(issue.input)} was provided`,
  });

export const thresholdsSchema = z.strictObject({
  /** The candidate's holdout RMSE must be at most this. */
  max_rmse: z.number().positive().optional(),
  /** The candidate's holdout MAE must be at most this. */
  max_mae: z.number().positive().optional(),
  /** The candidate's holdout R² must be at least this. */
  min_r2: z.number().max(1).optional(),
});

export type Thresholds = z.infer<typeof thresholdsSchema>;

const rangeSchema = z
  .strictObject({ min: z.number().optional(), max: z.number().optional() })
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
    error: 'a range must have min <= max',
  });

export type ColumnRange = z.infer<typeof rangeSchema>;

/** What started a retraining run: the event's detail type, its report and its id. */
export const triggerSchema = z.strictObject({
  reason: z.string().min(1, 'trigger.reason must name the event (e.g. DriftDetected)').max(128),
  /** null when the event named no report (EventBridge puts null for a missing path). */
  report_uri: z.string().regex(/^s3:\/\/[^/]+\/.+$/, 'trigger.report_uri must be the s3:// URI of the report').nullable(),
  event_id: z.string().min(1, 'trigger.event_id must be the triggering event id').max(128),
});

export type TrainingTrigger = z.infer<typeof triggerSchema>;

/** The SageMaker input modes a run may use (Pipe: the trainer reads files, not a stream). */
export const TRAINING_INPUT_MODES = ['File', 'FastFile'] as const;
export type TrainingInputMode = (typeof TRAINING_INPUT_MODES)[number];

const FEATURE_SERVICE = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;

export const trainingInputSchema = z.strictObject({
  /** The training data as one lake table (features and target side by side). */
  dataset: datasetSchema.optional(),
  /**
   * The training data from the feature store instead: the feature service's features joined point
   * in time onto the rows of the {@link labels} table.
   */
  feature_service: z
    .string()
    .regex(FEATURE_SERVICE, {
      error: (issue) =>
        `feature_service must name a feature service of the repo, but ${JSON.stringify(issue.input)} was provided`,
    })
    .optional(),
  /** With `feature_service`: the lake table of labelled events (join keys, event time, target). */
  labels: z
    .string()
    .regex(IDENTIFIER, {
      error: (issue) =>
        `labels must be a Glue table name (lower-case letters, digits and _), but ${JSON.stringify(issue.input)} was provided`,
    })
    .optional(),
  /**
   * With `feature_service`: the labels' event time column; features are taken as of this time.
   * @default 'event_timestamp'
   */
  timestamp_column: z
    .string()
    .regex(IDENTIFIER, {
      error: (issue) =>
        `timestamp_column must be a column name, but ${JSON.stringify(issue.input)} was provided`,
    })
    .optional(),
  target: z.string({ error: 'target is required: the column to predict' }).regex(IDENTIFIER, {
    error: (issue) => `target must be a column name, but ${JSON.stringify(issue.input)} was provided`,
  }),
  /**
   * The registered model's name.
   * @default the dataset's table name without a `_raw` suffix, with `-` for `_`
   */
  model_name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'model_name must be 1-100 letters, digits, ".", "_" or "-"')
    .optional(),
  /** Trainer hyperparameters (numbers or numeric strings); `target` comes from the field above. */
  hyperparameters: z.record(z.string(), z.union([z.number(), z.string()])).default({}),
  thresholds: thresholdsSchema.default({}),
  /** Fewer rows than this fail validation. @default 50 */
  min_rows: z.number().int().min(10).default(50),
  /** One row in `holdout_every` (by a hash of the row, the same on every run) is held out for evaluation. @default 5 */
  holdout_every: z.number().int().min(2).max(100).default(5),
  /**
   * The training job's instance type (`m5.xlarge`; `ml.` optional), one of the environment's
   * `pipelines.trainingLimits.instanceTypes`. @default `pipelines.trainingInstanceType`
   */
  instance_type: z
    .string()
    .regex(/^(ml\.)?[a-z0-9]+\.[a-z0-9]+$/, {
      error: (issue) =>
        `instance_type must be a SageMaker instance type such as m5.xlarge, but ${JSON.stringify(issue.input)} was provided`,
    })
    .optional(),
  /** Instances the training job runs on, at most `pipelines.trainingLimits.maxInstanceCount`. @default 1 */
  instance_count: z
    .number({ error: (issue) => `instance_count must be a whole number, but ${JSON.stringify(issue.input)} was provided` })
    .int({ error: (issue) => `instance_count must be a whole number, but ${JSON.stringify(issue.input)} was provided` })
    .min(1, { error: (issue) => `instance_count must be at least 1, but ${JSON.stringify(issue.input)} was provided` })
    .optional(),
  /** The job's volume in GB, at most `pipelines.trainingLimits.maxVolumeSizeGb`. @default 10 */
  volume_size_gb: z
    .number({ error: (issue) => `volume_size_gb must be a whole number, but ${JSON.stringify(issue.input)} was provided` })
    .int({ error: (issue) => `volume_size_gb must be a whole number, but ${JSON.stringify(issue.input)} was provided` })
    .min(1, { error: (issue) => `volume_size_gb must be at least 1, but ${JSON.stringify(issue.input)} was provided` })
    .optional(),
  /**
   * How the training job gets its channels: `File` copies them onto the volume before the trainer
   * starts, `FastFile` streams them from S3 as the trainer reads; one of the environment's
   * `pipelines.trainingLimits.inputModes`. @default the first of them
   */
  input_mode: z
    .enum(TRAINING_INPUT_MODES, {
      error: (issue) => `input_mode must be File or FastFile, but ${JSON.stringify(issue.input)} was provided`,
    })
    .optional(),
  /** Allowed value ranges per column, checked on every row. @default none */
  ranges: z.record(z.string(), rangeSchema).default({}),
  /**
   * Why this run started when an event started it (the retraining rule): carried into the plan and
   * the registry run's tags, so a version names the drift or quality report that caused it.
   * @default none (a scheduled or hand-started run)
   */
  trigger: triggerSchema.optional(),
});

export type TrainingInput = z.infer<typeof trainingInputSchema>;

/** Formats zod issues as one sentence per problem, naming where each is. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => {
      const where = i.path.map(String).join('.');
      if (i.code === 'unrecognized_keys') {
        const keys = (i as { keys: string[] }).keys.map((k) => `"${k}"`).join(', ');
        return `${where ? `${where}: ` : ''}unknown field${(i as { keys: string[] }).keys.length > 1 ? 's' : ''} ${keys}`;
      }
      return where && !i.message.startsWith(where) ? `${where}: ${i.message}` : i.message;
    })
    .join('; ');
}

/** Validates a training execution input; throws {@link PipelineInputError} naming every problem. */
export function parseTrainingInput(raw: unknown): TrainingInput {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new PipelineInputError(
      `the training input must be a JSON object, but ${JSON.stringify(raw)} was provided`,
    );
  }
  const parsed = trainingInputSchema.safeParse(raw);
  if (!parsed.success)
    throw new PipelineInputError(`invalid training input: ${describeIssues(parsed.error)}`);
  const input = parsed.data;
  checkSource(input);
  if ('target' in input.hyperparameters) {
    throw new PipelineInputError(
      'hyperparameters must not hold "target": name the column in the top-level "target" field',
    );
  }
  try {
    // The trainer's own check, run now: an unknown or out-of-range hyperparameter would otherwise
    // surface as a failed training job after the features were built.
    parseHyperparameters({ ...input.hyperparameters, target: input.target });
  } catch (err) {
    if (err instanceof ContractError) throw new PipelineInputError(`invalid training input: ${err.message}`);
    throw err;
  }
  return input;
}

/** What an environment lets a run ask for (`pipelines.trainingLimits`), and what it gets unasked. */
export const trainingResourcesSchema = z.object({
  defaultInstanceType: z.string(),
  instanceTypes: z.array(z.string()).min(1),
  maxInstanceCount: z.number().int().min(1),
  maxVolumeSizeGb: z.number().int().min(1),
  /** The input modes a run may ask for; the first is the default. @default ['File'] */
  inputModes: z.array(z.enum(TRAINING_INPUT_MODES)).min(1).optional(),
});
export type TrainingResourceLimits = z.infer<typeof trainingResourcesSchema>;

/** `TRAINING_LIMITS` for a handler's environment schema: a malformed value fails the cold start. */
export const trainingLimitsVariable = z
  .string()
  .transform((json, ctx): TrainingResourceLimits => {
    try {
      return trainingResourcesSchema.parse(JSON.parse(json));
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `must be JSON training limits (${(err as Error).message})` });
      return z.NEVER;
    }
  });

/** The training job's `ResourceConfig` values, as the plan carries them to "Train model". */
export interface TrainingResources {
  readonly instance_type: string;
  readonly instance_count: number;
  readonly volume_size_gb: number;
  /** `AlgorithmSpecification.TrainingInputMode`. */
  readonly input_mode: TrainingInputMode;
  /**
   * The training channel's `S3DataDistributionType`: `ShardedByS3Key` when the job has more than
   * one instance (each host gets its share of the parts, not a copy of all), else `FullyReplicated`.
   */
  readonly train_distribution: 'FullyReplicated' | 'ShardedByS3Key';
}

/** Until a deployment says otherwise: one m5.large with 10 GB, and nothing else. */
export const DEFAULT_TRAINING_LIMITS: TrainingResourceLimits = {
  defaultInstanceType: 'm5.large',
  instanceTypes: ['m5.large'],
  maxInstanceCount: 1,
  maxVolumeSizeGb: 10,
  inputModes: ['File'],
};

/**
 * The instance type, count and volume a run asked for, checked against its environment's limits;
 * throws {@link PipelineInputError} naming every value over them.
 */
export function trainingResources(input: TrainingInput, limits: TrainingResourceLimits): TrainingResources {
  const type = (input.instance_type ?? limits.defaultInstanceType).replace(/^ml\./, '');
  const count = input.instance_count ?? 1;
  const volume = input.volume_size_gb ?? Math.min(10, limits.maxVolumeSizeGb);
  const modes = limits.inputModes ?? ['File'];
  const mode = input.input_mode ?? modes[0]!;
  const problems: string[] = [];
  if (!limits.instanceTypes.includes(type))
    problems.push(`instance_type must be one of ${limits.instanceTypes.join(', ')} in this environment, but ${JSON.stringify(input.instance_type)} was provided`);
  if (count > limits.maxInstanceCount)
    problems.push(`instance_count must be at most ${limits.maxInstanceCount} in this environment, but ${count} was provided`);
  if (volume > limits.maxVolumeSizeGb)
    problems.push(`volume_size_gb must be at most ${limits.maxVolumeSizeGb} in this environment, but ${volume} was provided`);
  if (!modes.includes(mode))
    problems.push(`input_mode must be one of ${modes.join(', ')} in this environment, but ${JSON.stringify(mode)} was provided`);
  if (problems.length > 0) throw new PipelineInputError(`invalid training input: ${problems.join('; ')}`);
  return {
    instance_type: `ml.${type}`,
    instance_count: count,
    volume_size_gb: volume,
    input_mode: mode,
    train_distribution: count > 1 ? 'ShardedByS3Key' : 'FullyReplicated',
  };
}

/** Exactly one source of training data: a dataset, or a feature service with its labels. */
function checkSource(input: TrainingInput): void {
  const problems: string[] = [];
  if (input.dataset !== undefined && input.feature_service !== undefined) {
    problems.push('give either dataset or feature_service, not both');
  } else if (input.dataset === undefined && input.feature_service === undefined) {
    problems.push(
      'dataset is required: a table of the lake (e.g. "winequality_red_raw") or its s3:// location; ' +
        'or name a feature_service and its labels table',
    );
  }
  if (input.feature_service !== undefined && input.labels === undefined) {
    problems.push('labels is required with feature_service: the lake table of labelled events to join features onto');
  }
  if (input.feature_service === undefined) {
    for (const field of ['labels', 'timestamp_column'] as const) {
      if (input[field] !== undefined) problems.push(`${field} only applies with feature_service`);
    }
  }
  if (problems.length > 0) throw new PipelineInputError(`invalid training input: ${problems.join('; ')}`);
}

/** The default registered-model name for a dataset (`winequality_red_raw` → `winequality-red`). */
export function defaultModelName(table: string): string {
  return table.replace(/_raw$/, '').replace(/_/g, '-');
}

export const batchInputSchema = z.strictObject({
  model: z.strictObject({
    /** `s3://…/model.tar.gz` as the training job wrote it. */
    uri: z.string().regex(/^s3:\/\/[^/]+\/.+\.tar\.gz$/, 'model.uri must be the s3:// URI of a model.tar.gz'),
  }),
  input: z.union(
    [
      z.strictObject({ table: z.string().regex(IDENTIFIER, 'input.table must be a Glue table name') }),
      z.strictObject({
        prefix: z.string().regex(/^s3:\/\/[^/]+\/.*$/, 'input.prefix must be an s3:// prefix'),
      }),
    ],
    { error: 'input must be {"table": "<glue table>"} or {"prefix": "s3://bucket/prefix/"}' },
  ),
  /** Where the Parquet predictions go; the execution name is appended so each run has its own prefix. */
  output: z.string().regex(/^s3:\/\/[^/]+\/.*$/, 'output must be an s3:// prefix'),
  /**
   * How the rows are predicted: `sql`, one Athena UNLOAD computing `intercept + Σ coef·x` (a table
   * input whose model features are numeric columns); `lambda`, the Distributed Map of predict
   * functions (any input); `auto`, `sql` where it applies, else `lambda`.
   */
  engine: z.enum(['auto', 'sql', 'lambda'], { error: 'engine must be "auto", "sql" or "lambda"' }).default('auto'),
});

export type BatchInput = z.infer<typeof batchInputSchema>;

/** Validates a batch-inference execution input; throws {@link PipelineInputError}. */
export function parseBatchInput(raw: unknown): BatchInput {
  const parsed = batchInputSchema.safeParse(raw);
  if (!parsed.success) throw new PipelineInputError(`invalid batch input: ${describeIssues(parsed.error)}`);
  return parsed.data;
}
