/**
 * The events the pipeline state machines pass their Lambda steps, validated before a step reads or
 * writes anything. The definitions build these events, so a malformed one is a definition (or a
 * hand-started invocation's) mistake; it fails as a `PipelineInputError` naming the field, never as
 * a `TypeError` from deep inside the step.
 *
 * @example
 * const request = parseStepEvent(stageEventSchema, event, 'Stage training data');
 */
import { z } from 'zod';
import { parseEvent } from '../shared/events';
import { PipelineInputError } from './errors';
import { thresholdsSchema } from './input';

const text = z.string().min(1);
const s3Uri = z.string().regex(/^s3:\/\/[^/]+\/.+$/, 'must be an s3://bucket/key URI');

/** "Validate data" and "Plan batch": the execution input (validated by the step) and name. */
export const planEventSchema = z.looseObject({ input: z.unknown(), execution: z.string() });

const s3Prefix = z.string().regex(/^s3:\/\/[^/]+\/.+\/$/, 'must be an s3://bucket/prefix/ URI ending in /');

/** "Stage training data": each split's UNLOAD prefix and channel prefix. */
export const stageEventSchema = z.looseObject({
  train: z.looseObject({ unloaded: s3Prefix, channel: s3Prefix }),
  holdout: z.looseObject({ unloaded: s3Prefix, channel: s3Prefix }),
  check: z
    .object({
      min_rows: z.number().int().nonnegative(),
      rows: z.number().int().nonnegative(),
      source: z.string(),
      why: z.string().optional(),
    })
    .optional(),
});

/** "Evaluate model". */
export const evaluateEventSchema = z.looseObject({
  model_uri: s3Uri,
  holdout_uri: s3Uri,
  thresholds: thresholdsSchema,
  model_name: text,
});

const rollbackEventSchema = z.looseObject({ rollback: z.literal(true), model_name: text, execution: text });
const registerRequestSchema = z.looseObject({
  model_name: text,
  execution: text,
  model_uri: s3Uri,
  training_job_name: text,
  hyperparameters: z.record(z.string(), z.string()),
  // null: a metric JSON could not carry (NaN for a constant holdout), logged as such.
  metrics: z.looseObject({
    rmse: z.number().nullable(),
    mae: z.number().nullable(),
    r2: z.number().nullable(),
    rows: z.number().nullable(),
  }),
  dataset: z.looseObject({ table: text, location: text, feature_service: text.optional() }),
  // The plan's reference to data-version.json (lib/pipelines/data-version.ts), never the list.
  data_version: z.looseObject({
    uri: s3Uri,
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a hex SHA-256'),
    objects: z.number().int().min(0),
  }),
  baseline_uri: s3Uri.optional(),
});

/** "Register model", or `{ rollback: true, … }` for "Roll back registration". */
export const registerEventSchema = z.union([rollbackEventSchema, registerRequestSchema]);

/** "Write baseline" of the training pipeline. */
export const baselineEventSchema = z.looseObject({
  model_name: text,
  model_uri: s3Uri,
  holdout_uri: s3Uri,
  counts_uri: s3Uri,
  features: z.array(text).min(1),
});

/** "Compute report" of the drift machine: the plan of "Resolve window" and the query's result. */
export const driftReportEventSchema = z.looseObject({
  plan: z.looseObject({
    model: text,
    version: text,
    baseline_uri: s3Uri,
    window: z.looseObject({ start: text, end: text }),
    features: z.array(text),
    report: z.looseObject({ json: s3Uri, html: s3Uri }),
  }),
  result: s3Uri,
});

/** One child execution of batch inference's Distributed Map: an ItemBatcher batch of objects. */
export const predictEventSchema = z.looseObject({
  model_uri: s3Uri,
  items: z.array(z.looseObject({ bucket: text, key: text, index: z.number().int().nonnegative() })).min(1),
  staging_prefix: s3Uri,
});

/** Validates a step's event; throws a `PipelineInputError` naming the step and the first bad field. */
export function parseStepEvent<T extends z.ZodType>(schema: T, event: unknown, step: string): z.infer<T> {
  return parseEvent(schema, event, step, PipelineInputError);
}
